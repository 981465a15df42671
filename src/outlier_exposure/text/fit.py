"""The epoch loop shared by text classifiers and language models: Adam, a cosine learning rate
stepped once per epoch, a log line and an atomic checkpoint after every epoch, resume.

Learning rate of epoch e (0-based) of E: `lr * (1 + cos(pi * e / E)) / 2`, the values
`CosineAnnealingLR(T_max=E)` gives when stepped after each epoch, as the reference does.
Resume restores the weights, Adam's moments and every random generator of the last finished
epoch (training/rng.py, shared with the image loop), so a resumed run ends with the weights of
an uninterrupted one.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Callable

import torch

from ..training import rng, runs
from ..errors import UserInputError
from .config import TextConfig


def cosine_epoch_lr(epoch: int, epochs: int, lr: float) -> float:
    return lr * 0.5 * (1.0 + math.cos(math.pi * epoch / epochs))


EpochFn = Callable[[int, torch.optim.Optimizer], dict]


def resume_from(run_dir: Path, resume: bool, model: torch.nn.Module,
                generators: dict[str, torch.Generator]) -> tuple[dict | None, int]:
    """Where a text run continues: the last finished epoch's checkpoint (its weights and random
    generators already restored; the caller restores its optimiser) and that epoch, or (None, 0)
    for a new run. A resumed run's log is cut back to that epoch."""
    ckpt, start = None, 0
    if resume and (run_dir / runs.CHECKPOINT).exists():
        ckpt = runs.load_torch(run_dir / runs.CHECKPOINT)
        model.load_state_dict(ckpt["model"])
        rng.restore(generators, ckpt["rng"])
        start = int(ckpt["epoch"])
    if resume:
        runs.truncate_log(run_dir, start)
    return ckpt, start


def check_finite(values, epoch: int, cfg: TextConfig, run_dir: Path) -> None:
    """A NaN or infinite epoch statistic stops the run, keeping the previous epoch's checkpoint."""
    if not all(math.isfinite(v) for v in values):
        raise UserInputError(
            f"the loss became NaN or infinite in epoch {epoch + 1} (lr {cfg.lr}); lower --lr "
            f"and rerun. The checkpoint of epoch {epoch} in {run_dir} is kept"
        )


def fit(run_dir: Path, cfg: TextConfig, model: torch.nn.Module, *,
        generators: dict[str, torch.Generator], epoch_fn: EpochFn, resume: bool) -> None:
    """Run the remaining epochs; `epoch_fn(epoch, optimiser)` trains one and returns its stats
    (means over the epoch; "loss" must be among them)."""
    run_dir = Path(run_dir)
    optimiser = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    ckpt, start = resume_from(run_dir, resume, model, generators)
    if ckpt is not None:
        optimiser.load_state_dict(ckpt["optimiser"])
    if start >= cfg.epochs and (run_dir / runs.MODEL).exists():
        return
    for epoch in range(start, cfg.epochs):
        lr = cosine_epoch_lr(epoch, cfg.epochs, cfg.lr)
        for group in optimiser.param_groups:
            group["lr"] = lr
        model.train()
        started = time.perf_counter()
        stats = epoch_fn(epoch, optimiser)
        check_finite(stats.values(), epoch, cfg, run_dir)
        record = {"epoch": epoch + 1, "lr": lr, **stats,
                  "seconds": time.perf_counter() - started}
        runs.append_log(run_dir, record)
        runs.save_torch(run_dir / runs.CHECKPOINT, {
            "epoch": epoch + 1, "model": model.state_dict(), "optimiser": optimiser.state_dict(),
            "rng": rng.capture(generators),
        })
    runs.save_torch(run_dir / runs.MODEL, {k: v.cpu() for k, v in model.state_dict().items()})
