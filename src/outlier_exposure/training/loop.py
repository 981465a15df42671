"""One training loop for the baseline, OE fine-tune and OE from scratch.

Reference recipe (docs/protocol.md section 1): SGD with Nesterov momentum, weight decay, learning
rate on a cosine from `lr` down to 1e-6 (absolute) stepped every iteration; an epoch ends when the
in-distribution data runs out; with outliers, each step concatenates the in-distribution batch
and a freshly drawn outlier batch into ONE forward pass (batch-norm sees both).

The pieces: setup.py (device, data, model, optimiser, generators, outlier stream), restore.py
(resuming from a checkpoint), epoch.py (the steps of one epoch), checkpoint.py (what is written
into the run folder).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from . import distributed, precision, runs
from .checkpoint import save_epoch, save_model, write_run_record
from .config import RunConfig
from .epoch import Trainer, check_finite, epoch_record
from .pretrained import weights_file
from .restore import restore
from .setup import baseline_weights, load_data, resolve_device, start_state
from .tensorboard import TensorBoardLog


def train_run(
    cfg: RunConfig,
    run_dir: str | Path,
    *,
    resume: bool = False,
    device: str | None = "auto",
    progress: bool = True,
    on_step: Callable[[int], None] | None = None,
    tensorboard: bool = False,
) -> Path:
    """Train the run described by `cfg` into `run_dir`; return `run_dir`.

    `resume=True` continues from the last finished epoch (its checkpoint) and ends with the
    weights an uninterrupted run would have (same data order, augmentation and dropout draws).
    `on_step(global_step)` is called after each optimiser step.
    `tensorboard=True` also writes each epoch's record to RUN/tensorboard (tensorboard.py).
    Under `torchrun` (WORLD_SIZE > 1) every process trains its shard of each global batch and
    rank 0 alone writes the run folder (distributed.py).
    """
    run_dir = Path(run_dir)
    runs.check_run_dir(run_dir, resume)
    if resume:
        cfg = runs.load_config(run_dir)
    cfg.check()
    ctx, dev = distributed.setup(resolve_device(device))
    precision.check_device(cfg.precision, dev)
    main = ctx.is_main
    tb = TensorBoardLog(run_dir, enabled=tensorboard and main)  # fails now if not installed
    data = load_data(cfg)
    cfg = data.cfg  # with the class count of the data
    init_weights = baseline_weights(cfg)
    # The --weights file, found (or fetched) before anything is written; a resumed run takes its
    # weights from its checkpoint, so the file need not be there any more.
    resuming = resume and (run_dir / runs.CHECKPOINT).exists()
    pretrained = weights_file(cfg.model, cfg.weights) if cfg.weights and not resuming else None
    # The model is built (and the weights loaded) before anything is written: an unreadable or
    # ill-fitting file leaves no half-made run folder behind.
    state = start_state(cfg, data.outliers, dev, init_weights, pretrained=pretrained)
    distributed.barrier(ctx)  # every rank has checked the folder before rank 0 writes to it
    if main and not resume:
        write_run_record(run_dir, data, dev, ctx, pretrained)

    start_epoch = restore(run_dir, state) if resume else 0
    if resume and main:
        runs.truncate_log(run_dir, start_epoch)
    if start_epoch >= cfg.epochs and (run_dir / runs.MODEL).exists():
        return run_dir

    trainer = Trainer.start(cfg, ctx, dev, state, data.train_set)
    for epoch in range(start_epoch, cfg.epochs):
        started = time.perf_counter()
        sums, lr = trainer.epoch(epoch, progress=progress and main, on_step=on_step)
        check_finite(sums, epoch, cfg, run_dir)
        if main:
            record = epoch_record(sums, epoch, trainer.steps_per_epoch, lr,
                                  time.perf_counter() - started)
            save_epoch(run_dir, record, state, tb)

    if state.outliers is not None:
        state.outliers.close()
    tb.close()
    if main:
        save_model(run_dir, state.model)
    distributed.barrier(ctx)  # no rank returns before the model file exists
    return run_dir
