"""GPU OE-step throughput of WRN-40-2 (128 + 256) in several settings, and the projected wall
time of the CIFAR-10 recipe. Called by benchmarks/gpu.sh; the data path is the package's own
(uint8 sets on the device, batched crop/flip/normalise there).

The projection: a 100-epoch baseline is 100 * ceil(50000 / 128) = 39,100 steps of 128 images,
a 10-epoch OE fine-tune 3,910 steps of 128 + 256. Baseline steps are timed separately.
"""

from __future__ import annotations

import argparse
import time

import torch

from outlier_exposure.training import precision as precisions
from outlier_exposure.data.batches import Preprocess
from outlier_exposure.losses import oe_loss
from outlier_exposure.models import create_model
from outlier_exposure.training.config import CIFAR_MEAN, CIFAR_STD


def rate(setting: dict, steps: int, warmup: int, outliers: bool) -> float:
    device = torch.device("cuda")
    torch.manual_seed(0)
    model = create_model("wrn-40-2", 10, dropout=0.3).to(device).train()
    if setting["channels_last"]:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True,
                          weight_decay=5e-4)
    run = torch.compile(model) if setting["compile"] else model
    pre = Preprocess(CIFAR_MEAN, CIFAR_STD, crop_padding=4, flip=True,
                     channels_last=setting["channels_last"])
    x_in = torch.randint(0, 256, (50000, 32, 32, 3), dtype=torch.uint8, device=device)
    y_in = torch.randint(0, 10, (50000,), device=device)
    x_out = torch.randint(0, 256, (300000, 32, 32, 3), dtype=torch.uint8, device=device)
    gen = torch.Generator(device=device).manual_seed(0)
    n_out = 256 if outliers else 0

    def step():
        idx = torch.randint(0, 50000, (128,), device=device, generator=gen)
        inputs = pre(x_in[idx], augment=True, generator=gen)
        if n_out:
            oidx = torch.randint(0, 300000, (n_out,), device=device, generator=gen)
            inputs = torch.cat([inputs, pre(x_out[oidx], augment=True, generator=gen)])
        with precisions.autocast(setting["precision"], device):
            logits = run(inputs)
        loss = oe_loss(logits.float(), y_in[idx], 0.5).total
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(warmup):
        step()
    torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    torch.cuda.synchronize()
    return steps * (128 + n_out) / (time.perf_counter() - started)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--warmup", type=int, default=10)
    args = p.parse_args()
    settings = {
        "fp32": dict(precision="fp32", channels_last=False, compile=False),
        "bf16": dict(precision="bf16", channels_last=False, compile=False),
        "bf16+channels-last": dict(precision="bf16", channels_last=True, compile=False),
        "bf16+channels-last+compile": dict(precision="bf16", channels_last=True, compile=True),
    }
    results = {}
    for name, setting in settings.items():
        oe = rate(setting, args.steps, args.warmup, outliers=True)
        base = rate(setting, args.steps, args.warmup, outliers=False)
        results[name] = (oe, base)
        print(f"{name:28s} OE step {oe:8.0f} img/s   baseline step {base:8.0f} img/s", flush=True)
    for name, (oe, base) in results.items():
        minutes = (39100 * 128 / base + 3910 * 384 / oe) / 60
        print(f"projected CIFAR-10 recipe ({name}): {minutes:.1f} min "
              f"(100-epoch baseline + 10-epoch OE fine-tune, training steps only)")
    print("reference (authors' 2018 GPU, fp32, per-image PIL loading): 31.7 + 10.4 = 42.1 min")


if __name__ == "__main__":
    main()
