"""`cifar10-wrn` end to end on a GPU, on the packed offline CIFAR-10 data (benchmarks/pack_cifar.py):
the paper's WRN-40-2 recipe (100-epoch baseline, 10-epoch OE fine-tune at lr 0.001, batch 128 +
256 outliers, the reference protocol) with our speed settings (bf16 autocast, channels-last,
torch.compile), timed per stage, beside the fp32 reference-style pipeline (per-image PIL
transforms in DataLoader workers, benchmarks/bench_train_step.py) measured in the same process.

    python3 benchmarks/gpu_reproduce.py --data /tmp/cifar.npz --out /tmp/gpu-run
    python3 benchmarks/gpu_reproduce.py --data /tmp/smoke.npz --out /tmp/smoke --smoke  # CPU, seconds

Data (the unpacked .npz): 20,000 CIFAR-10 training images, 5,000 test images, 6,000 Tiny ImageNet
OE images (uniformly drawn: a small set, not 80M's keyword-ordered records), and the OOD sets
Gaussian, Rademacher, Blobs, DTD textures and Tiny ImageNet held-out classes (draws of
len(test) // 5). These are the offline benchmark's sets, not the paper's (50,000 CIFAR images,
80M Tiny Images outliers, its seven OOD sets): the figures check that the recipe runs at the
expected speed and trains, not the paper's numbers.

`--smoke`: one epoch of each stage on a few images with a WRN-10-1, fp32 on the CPU, no compile:
checks that the script runs (the test suite calls it through gpu_reproduce.sh --smoke).
Prints, per stage, its wall time, training images/s, test error and mean FPR95, then the
reference-style images/s and as the last line `ratio: X` (our OE-step images/s over the
reference-style pipeline's, in- and out-of-distribution images counted alike).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

import outlier_exposure as oe
from outlier_exposure.models import create_model
from outlier_exposure.training import runs

sys.path.insert(0, str(Path(__file__).parent))
import bench_train_step  # noqa: E402  (the reference-style pipeline, measured the same way)

PRESET = "cifar10-wrn"


def overrides(data: Path, smoke: bool) -> dict:
    """Everything the run takes from the pack instead of the preset, plus the speed settings."""
    noise_n = ":64" if smoke else ""
    values = dict(
        train=f"npz:{data}:x_train,y_train", test=f"npz:{data}:x_test,y_test",
        ood=[f"noise:gaussian{noise_n}", f"noise:rademacher{noise_n}", f"noise:blobs{noise_n}",
             f"npz:{data}:x_dtd", f"npz:{data}:x_heldout"],
        ood_draw_size="exact", outlier_order="uniform",
        precision="bf16", channels_last=True, compile=True,
    )
    if smoke:
        values.update(epochs=1, batch_size=16, oe_batch_size=16, eval_batch_size=32,
                      precision="fp32", channels_last=False, compile=False,
                      model="wrn", model_kwargs=dict(depth=10, widen_factor=1, dropout=0.3))
    return values


def training_rate(run: Path) -> float:
    """In-distribution images/s over the run's epochs (RUN/log.jsonl)."""
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    seen = sum(r["images_per_s"] * r["seconds"] for r in records)
    return seen / sum(r["seconds"] for r in records)


def reference_rate(device: torch.device, smoke: bool) -> float:
    """Images/s (in + out) of the fp32 reference-style OE step with WRN-40-2."""
    args = argparse.Namespace(batch=16 if smoke else 128, oe_batch=16 if smoke else 256,
                              workers=0 if smoke else 8, steps=2 if smoke else 40,
                              warmup=1 if smoke else 5)
    rng = np.random.default_rng(0)
    x_in = rng.integers(0, 256, (2000, 32, 32, 3), dtype=np.uint8)
    y_in = rng.integers(0, 10, 2000).astype(np.int64)
    x_out = rng.integers(0, 256, (4000, 32, 32, 3), dtype=np.uint8)
    torch.manual_seed(0)
    model = create_model("wrn-10-1" if smoke else "wrn-40-2", 10).to(device).train()
    optimiser = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True,
                                weight_decay=5e-4)
    seconds = bench_train_step.run_reference(model, optimiser, x_in, y_in, x_out, args, device)
    return args.steps * (args.batch + args.oe_batch) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the unpacked .npz")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--device", default=None, help="default: cuda, or cpu with --smoke")
    args = parser.parse_args()
    device = args.device or ("cpu" if args.smoke else "cuda")
    values = overrides(args.data.resolve(), args.smoke)
    where = torch.cuda.get_device_name(0) if device.startswith("cuda") else "CPU"
    print(f"machine: {where}; torch {torch.__version__}; preset {PRESET}; "
          f"precision {values['precision']}, channels-last {values['channels_last']}, "
          f"compile {values['compile']}", flush=True)

    stages, started = {}, time.perf_counter()
    base = oe.train(args.out / "baseline", PRESET, device=device, progress=False, **values)
    stages["baseline"] = time.perf_counter() - started
    tuned_at = time.perf_counter()
    # The fine-tune keeps the baseline's data and speed settings; the preset gives its schedule.
    tune_values = {k: v for k, v in values.items()
                   if k in ("epochs", "oe_batch_size", "outlier_order")}
    tuned = oe.finetune(base, args.out / "oe", outliers=f"npz:{args.data.resolve()}:x_oe",
                        device=device, progress=False, **tune_values)
    stages["oe-tune"] = time.perf_counter() - tuned_at
    results = {}
    for name, run in (("baseline", base), ("oe", tuned)):
        evaluated_at = time.perf_counter()
        results[name] = oe.evaluate(run, device=device)
        stages[f"eval {name}"] = time.perf_counter() - evaluated_at

    for name, seconds in stages.items():
        print(f"{name:14s} {seconds:8.1f} s")
    cfg = runs.load_config(tuned)
    rates = {name: training_rate(run) for name, run in (("baseline", base), ("oe", tuned))}
    ours_step = rates["oe"] * (cfg.batch_size + cfg.oe_batch_size) / cfg.batch_size
    for name in ("baseline", "oe"):
        r = results[name]
        print(f"{name:9s} train {rates[name]:9.0f} img/s  test error {100 * r['test_error']:6.2f}  "
              f"mean FPR95 {100 * r['mean']['fpr']:6.2f}  AUROC {100 * r['mean']['auroc']:6.2f}")
    reference = reference_rate(torch.device(device), args.smoke)
    print(f"OE step, ours ({values['precision']}, channels-last {values['channels_last']}, compile "
          f"{values['compile']}): {ours_step:.0f} img/s; reference-style fp32 PIL + DataLoader: "
          f"{reference:.0f} img/s")
    print(f"{time.perf_counter() - started:.0f} s in all")
    print(f"ratio: {ours_step / reference:.2f}")


if __name__ == "__main__":
    main()
