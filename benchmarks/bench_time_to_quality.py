"""Time to quality on the offline CIFAR-10 benchmark: our CPU recipe (`offline-cifar10`) against the
paper's WRN-40-2 recipe (`cifar10-wrn`: lr 0.1, batch 128, Nesterov, decay 5e-4, dropout 0.3)
scaled to the same wall time, both trained here on the same data.

    python3 benchmarks/bench_time_to_quality.py --data-root ../shared/data [--minutes M]

Each baseline trains on the 20,000 CIFAR-10 images; every `--evals` of an epoch (reference: a
quarter epoch) its test accuracy and mean FPR95 (MSP, anomalies positive, a seeded
`--eval-images` (2,000) of the test set and the first as many of each OOD set of the preset: a curve, not the
10-draw protocol) are measured, off the clock. Ours runs its preset schedule; the reference runs the cosine schedule of as many
epochs as fit in the same wall time (at least one), from its measured speed.

Prints both curves (minutes of training -> accuracy, mean FPR95), then as its last line
`ratio: X`: the reference recipe's minutes to reach our final accuracy over ours. When the
reference reaches it inside its budget that time is measured; otherwise it is PROJECTED, by
fitting accuracy = a + b * log(minutes) to its measured points and solving for our accuracy,
or, when that fit is meaningless (beyond 10x the measured time), the measured time is a LOWER
BOUND and the line reads `ratio: >=X` (the line above says which).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time
from dataclasses import replace

import numpy as np
import torch

from outlier_exposure.data.datasets import load_images, load_labelled
from outlier_exposure.data.storage.roots import set_data_root
from outlier_exposure.evaluation.protocol import predict_logits
from outlier_exposure.metrics import detection_metrics
from outlier_exposure.scores import compute_score
from outlier_exposure.training import distributed
from outlier_exposure.training.config import config_from_preset
from outlier_exposure.training.epoch import Trainer
from outlier_exposure.training.setup import load_data, start_state

DATA = dict(train="cifar10-subset:train", test="cifar10-subset:test@random5000")


class Curve:
    """Accuracy and mean FPR95 of a training run, against its training seconds."""

    def __init__(self, cfg, device, images: int):
        self.cfg, self.device = cfg, device
        test = load_labelled(cfg.test, cfg.image_shape, seed=cfg.seed, role="test")
        # A seeded sample, not a prefix: the offline test images are sorted by class.
        keep = np.sort(np.random.default_rng(0).choice(len(test), min(images, len(test)),
                                                       replace=False))
        self.test = replace(test, x=test.x[keep], y=test.y[keep])
        self.ood = [load_images(spec, cfg.image_shape, seed=cfg.seed, role="ood",
                                n=images, noise_range=cfg.noise_range)
                    for spec in cfg.ood]
        self.ood = [replace(ood, x=ood.x[:images]) for ood in self.ood]
        self.points: list[tuple[float, float, float]] = []

    def measure(self, model, seconds: float) -> None:
        with torch.no_grad():
            logits = predict_logits(model, self.test, self.cfg, self.device, 500)
            accuracy = float((logits.argmax(1).numpy() == self.test.y).mean())
            s_in = compute_score("msp", logits).numpy()
            fprs = [detection_metrics(s_in, compute_score(
                "msp", predict_logits(model, ood, self.cfg, self.device, 500)).numpy())["fpr"]
                for ood in self.ood]
        model.train()
        self.points.append((seconds / 60, accuracy, float(np.mean(fprs))))


def train_with_curve(cfg, evals_per_epoch: int, device, images: int) -> Curve:
    """Train `cfg`'s baseline, measuring the curve `evals_per_epoch` times an epoch."""
    ctx, dev = distributed.setup(device)
    data = load_data(cfg)
    cfg = data.cfg
    state = start_state(cfg, None, dev, None)
    trainer = Trainer.start(cfg, ctx, dev, state, data.train_set)
    curve = Curve(cfg, dev, images)
    every = max(1, -(-trainer.steps_per_epoch // evals_per_epoch))  # the last at the epoch's end
    clock = {"train": 0.0, "since": time.perf_counter()}

    def on_step(step: int) -> None:
        if (step + 1) % every and (step + 1) % trainer.steps_per_epoch:
            return
        clock["train"] += time.perf_counter() - clock["since"]
        curve.measure(state.model, clock["train"])
        clock["since"] = time.perf_counter()

    for epoch in range(cfg.epochs):
        trainer.epoch(epoch, progress=False, on_step=on_step)
    return curve


def minutes_to(curve: Curve, accuracy: float) -> tuple[float, str]:
    """(minutes to reach `accuracy`, how it was found): measured on the curve; else projected by
    a log fit of it; else, when the curve is too short or flat for a fit to mean anything (a
    projection beyond 10x its measured time), its measured time as a lower bound."""
    for minutes, acc, _ in curve.points:
        if acc >= accuracy:
            return minutes, "measured"
    t = np.log([p[0] for p in curve.points])
    a = np.array([p[1] for p in curve.points])
    b, c = np.polyfit(t, a, 1) if len(t) > 1 else (0.0, a[0])
    last = curve.points[-1][0]
    projected = math.exp((accuracy - c) / b) if b > 0 else math.inf
    if projected <= 10 * last:
        return projected, "PROJECTED (log fit of its curve)"
    return last, "LOWER BOUND (not reached in its run; its curve is too short to project)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--minutes", type=float, default=None,
                        help="the reference's wall time (default: what ours took)")
    parser.add_argument("--ours-epochs", type=int, default=None, help="default: the preset's")
    parser.add_argument("--evals", type=int, default=2, help="curve points per epoch (ours)")
    parser.add_argument("--eval-images", type=int, default=2000,
                        help="test images, and images of each OOD set, per curve point")
    args = parser.parse_args()
    set_data_root(args.data_root)
    device = torch.device("cpu")
    print(f"machine: {platform.machine()} CPU, {os.cpu_count()} cores, "
          f"{torch.get_num_threads()} threads; torch {torch.__version__}")

    ours_cfg = config_from_preset("offline-cifar10", "baseline", epochs=args.ours_epochs, **DATA)
    ours = train_with_curve(ours_cfg, args.evals, device, args.eval_images)
    budget = args.minutes or ours.points[-1][0]

    ref_cfg = config_from_preset("cifar10-wrn", "baseline", ood=list(ours_cfg.ood),
                                 ood_draw_size="exact", **DATA)
    # Its speed, from 20 steps, sets how many epochs of the cosine schedule fit in the budget.
    ref_epoch_minutes = _epoch_minutes(ref_cfg, device)
    ref_epochs = max(1, int(budget // ref_epoch_minutes))
    reference = train_with_curve(replace(ref_cfg, epochs=ref_epochs), 4, device,
                                 args.eval_images)

    for name, cfg, curve in (("ours", ours_cfg, ours), ("reference", ref_cfg, reference)):
        print(f"{name}: {cfg.model} {cfg.model_kwargs}, lr {cfg.lr}, batch {cfg.batch_size}, "
              f"{curve.cfg.epochs} epochs")
        for minutes, acc, fpr in curve.points:
            print(f"  {minutes:6.2f} min  accuracy {100 * acc:5.1f}%  mean FPR95 {100 * fpr:5.1f}")
    target = ours.points[-1][1]
    ref_minutes, how = minutes_to(reference, target)
    print(f"reference minutes to {100 * target:.1f}% accuracy: {ref_minutes:.1f} ({how}); "
          f"ours: {ours.points[-1][0]:.1f}; reference epoch: {ref_epoch_minutes:.1f} min")
    bound = ">=" if how.startswith("LOWER") else ""
    print(f"ratio: {bound}{ref_minutes / ours.points[-1][0]:.2f}")


def _epoch_minutes(cfg, device, steps: int = 20) -> float:
    """Minutes one epoch of `cfg` takes here, timed over `steps` steps after 3 warm-up ones."""
    ctx, dev = distributed.setup(device)
    data = load_data(cfg)
    state = start_state(data.cfg, None, dev, None)
    trainer = Trainer.start(data.cfg, ctx, dev, state, data.train_set)
    batches = iter(trainer.batches)
    for i in range(3 + steps):
        if i == 3:
            started = time.perf_counter()
        trainer.step(next(batches).to(dev), cfg.lr)
    per_step = (time.perf_counter() - started) / steps
    return per_step * trainer.steps_per_epoch / 60


if __name__ == "__main__":
    main()
