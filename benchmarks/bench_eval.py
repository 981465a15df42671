"""Evaluation throughput: scoring images/s in fp32 against bf16 autocast.

    python benchmarks/bench_eval.py --device cuda --model wrn-40-2     # the GPU figure
    python benchmarks/bench_eval.py                                    # CPU, small CNN

Both runs score the same CIFAR-shaped uint8 images through `evaluate.predict_logits` (the data
path `oe eval` uses), check that the MSP scores agree (max abs difference printed), and print
as the last line `ratio: X` (fp32 time / bf16 time). On CPUs without native bf16 the ratio
can be below 1: bf16 pays off on GPUs (and recent Xeons).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch

from outlier_exposure.training.config import config_from_preset
from outlier_exposure.data.sources import ImageSet
from outlier_exposure.evaluation.protocol import predict_logits
from outlier_exposure.models import create_model
from outlier_exposure.scores import compute_score


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="small-cnn")
    p.add_argument("--device", default="cpu")
    p.add_argument("--n", type=int, default=5000)
    p.add_argument("--batch", type=int, default=500)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    device = torch.device(args.device)
    cfg = config_from_preset("cifar10-wrn", "baseline", num_classes=10)
    images = ImageSet(x=np.random.default_rng(0).integers(0, 256, (args.n, 32, 32, 3),
                                                           dtype=np.uint8), y=None, name="bench")
    torch.manual_seed(0)
    model = create_model(args.model, 10).to(device).eval()

    def timed(precision: str) -> tuple[float, torch.Tensor]:
        predict_logits(model, ImageSet(x=images.x[:args.batch], y=None, name="w"), cfg, device,
                       args.batch, precision)  # warm-up
        best, logits = float("inf"), None
        for _ in range(args.repeats):
            if device.type == "cuda":
                torch.cuda.synchronize()
            started = time.perf_counter()
            logits = predict_logits(model, images, cfg, device, args.batch, precision)
            best = min(best, time.perf_counter() - started)
        return best, logits

    t32, l32 = timed("fp32")
    t16, l16 = timed("bf16")
    diff = (compute_score("msp", l32) - compute_score("msp", l16)).abs().max().item()
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else \
        f"{platform.machine()} CPU, {os.cpu_count()} cores, {torch.get_num_threads()} threads"
    print(f"machine: {where}; torch {torch.__version__}")
    print(f"settings: model {args.model}, {args.n} images 32x32x3, batch {args.batch}, "
          f"best of {args.repeats}, including host->device copy and normalisation")
    print(f"fp32: {args.n / t32:.0f} img/s; bf16: {args.n / t16:.0f} img/s; "
          f"max |MSP fp32 - MSP bf16| = {diff:.2e}")
    print(f"ratio: {t32 / t16:.2f}")


if __name__ == "__main__":
    main()
