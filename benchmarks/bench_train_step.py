"""Training-step throughput: our device-side data path vs a reference-style pipeline.

Both run the same OE step (in-distribution batch + outlier batch concatenated, one forward and
backward pass, SGD with Nesterov momentum) with the same model and batch sizes:

- reference style (the authors' scripts): a Dataset that turns each uint8 image into a PIL
  image, applies torchvision's RandomCrop(32, padding=4) + RandomHorizontalFlip + ToTensor +
  Normalize, in DataLoader worker processes; one loader for the in-distribution set and one for
  the outliers, zipped.
- ours: both sets held as uint8 tensors on the device; crop, flip and normalisation applied to
  whole batches there (`outlier_exposure.data.batches`).

    python benchmarks/bench_train_step.py                 # CPU: small CNN, 128 + 256
    python benchmarks/bench_train_step.py --model wrn-40-2 --device cuda --steps 50

`--data-only` skips the model and times producing the batches alone. On a 2-core CPU the small
CNN's forward and backward pass (~400 ms per 384 images) dwarfs either data path, so the full
step ratio stays near 1 there; the data-path ratio shows what a GPU, whose step is ~100x
shorter, gets from it.

Prints images/s (in-distribution + outlier images per second) of each and, as its last line,
`ratio: X` (reference time / our time for the same number of steps).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch
import torchvision.transforms as T
from PIL import Image

from outlier_exposure.data.batches import Preprocess
from outlier_exposure.losses import oe_loss
from outlier_exposure.models import create_model
from outlier_exposure.training.config import CIFAR_MEAN, CIFAR_STD


class PILImages(torch.utils.data.Dataset):
    """Per-image PIL transforms, as torchvision's CIFAR10 dataset applies them."""

    def __init__(self, x: np.ndarray, y: np.ndarray, transform):
        self.x, self.y, self.transform = x, y, transform

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.transform(Image.fromarray(self.x[i])), int(self.y[i])


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


SKIP_MODEL = False  # --data-only: time the data path alone


def _step(model, optimiser, inputs, targets):
    if SKIP_MODEL:
        return
    loss = oe_loss(model(inputs), targets, 0.5).total
    optimiser.zero_grad(set_to_none=True)
    loss.backward()
    optimiser.step()


def run_reference(model, optimiser, x_in, y_in, x_out, args, device) -> float:
    transform = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor(),
                           T.Normalize(CIFAR_MEAN, CIFAR_STD)])
    loader = dict(shuffle=True, num_workers=args.workers, pin_memory=device.type == "cuda",
                  drop_last=True, persistent_workers=args.workers > 0)
    ins = torch.utils.data.DataLoader(PILImages(x_in, y_in, transform), args.batch, **loader)
    outs = torch.utils.data.DataLoader(PILImages(x_out, np.zeros(len(x_out)), transform),
                                       args.oe_batch, **loader)
    it_in, it_out = iter(ins), iter(outs)
    for _ in range(args.warmup):  # also starts the workers
        (xi, yi), (xo, _) = next(it_in), next(it_out)
        _step(model, optimiser, torch.cat([xi, xo]).to(device), yi.to(device))
    _sync(device)
    started = time.perf_counter()
    for _ in range(args.steps):
        (xi, yi), (xo, _) = next(it_in), next(it_out)
        inputs = torch.cat([xi, xo]).to(device, non_blocking=True)
        _step(model, optimiser, inputs, yi.to(device, non_blocking=True))
    _sync(device)
    return time.perf_counter() - started


def run_ours(model, optimiser, x_in, y_in, x_out, args, device) -> float:
    pre = Preprocess(mean=CIFAR_MEAN, std=CIFAR_STD, crop_padding=4, flip=True)
    xi_all = torch.from_numpy(x_in).to(device)
    yi_all = torch.from_numpy(y_in).to(device)
    xo_all = torch.from_numpy(x_out).to(device)
    gen = torch.Generator().manual_seed(0)

    def one_step():
        idx = torch.randint(0, len(x_in), (args.batch,), generator=gen).to(device)
        out_idx = torch.randint(0, len(x_out), (args.oe_batch,), generator=gen).to(device)
        inputs = torch.cat([pre(xi_all[idx], augment=True, generator=gen),
                            pre(xo_all[out_idx], augment=True, generator=gen)])
        _step(model, optimiser, inputs, yi_all[idx])

    for _ in range(args.warmup):
        one_step()
    _sync(device)
    started = time.perf_counter()
    for _ in range(args.steps):
        one_step()
    _sync(device)
    return time.perf_counter() - started


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="small-cnn")
    p.add_argument("--device", default="cpu")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--oe-batch", type=int, default=256)
    p.add_argument("--workers", type=int, default=2, help="DataLoader workers of the reference")
    p.add_argument("--data-only", action="store_true",
                   help="skip the model: time producing the batches alone")
    args = p.parse_args()
    global SKIP_MODEL
    SKIP_MODEL = args.data_only
    device = torch.device(args.device)
    rng = np.random.default_rng(0)
    # CIFAR-shaped data; real images change nothing in the timing
    x_in = rng.integers(0, 256, (10000, 32, 32, 3), dtype=np.uint8)
    y_in = rng.integers(0, 10, 10000).astype(np.int64)
    x_out = rng.integers(0, 256, (20000, 32, 32, 3), dtype=np.uint8)

    times = {}
    for name, runner in (("reference", run_reference), ("ours", run_ours)):
        torch.manual_seed(0)
        model = create_model(args.model, 10).to(device).train()
        optimiser = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True,
                                    weight_decay=5e-4)
        times[name] = runner(model, optimiser, x_in, y_in, x_out, args, device)

    images = args.steps * (args.batch + args.oe_batch)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else \
        f"{platform.machine()} CPU, {os.cpu_count()} cores, {torch.get_num_threads()} threads"
    print(f"machine: {where}; torch {torch.__version__}")
    print(f"settings: model {args.model}, batch {args.batch} + {args.oe_batch} outliers, "
          f"{args.steps} timed steps after {args.warmup} warm-up, fp32, reference "
          f"DataLoader workers {args.workers}"
          + ("; DATA PATH ONLY (no forward/backward)" if args.data_only else ""))
    for name, seconds in times.items():
        print(f"{name}: {images / seconds:.0f} img/s ({seconds:.2f} s)")
    print(f"ratio: {times['reference'] / times['ours']:.2f}")


if __name__ == "__main__":
    main()
