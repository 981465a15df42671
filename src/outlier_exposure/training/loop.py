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
from dataclasses import replace
from pathlib import Path
from typing import Callable

from . import distributed, precision, runs
from .checkpoint import save_epoch, save_model, write_run_record
from .config import RunConfig
from .energy_margins import resolve_margins
from .epoch import Trainer, check_finite, epoch_record
from .guard import AccuracyGuard
from .lock import locks_run_folder
from .pretrained import weights_file
from .restore import restore
from .resume_plan import settle_run
from .setup import baseline_weights, load_data, resolve_device, start_state
from .tensorboard import TensorBoardLog


# The lock is held from before the check that the folder holds no run until the last file is
# written: two `oe train --out RUN` started together cannot both pass the check (lock.py).
@locks_run_folder("train")
def train_run(
    cfg: RunConfig,
    run_dir: str | Path,
    *,
    resume: bool = False,
    device: str | None = "auto",
    progress: bool = True,
    on_step: Callable[[int], None] | None = None,
    tensorboard: bool = False,
    epochs: int | None = None,
    allow_changed_data: bool = False,
) -> Path:
    """Train the run described by `cfg` into `run_dir`; return `run_dir`.

    `resume=True` continues from the last finished epoch (its checkpoint) and ends with the
    weights an uninterrupted run would have (same data order, augmentation and dropout draws).
    `on_step(global_step)` is called after each optimiser step.
    `tensorboard=True` also writes each epoch's record to RUN/tensorboard (tensorboard.py).
    Under `torchrun` (WORLD_SIZE > 1) every process trains its shard of each global batch and
    rank 0 alone writes the run folder (distributed.py).
    With `resume`: `epochs` (a new length), `allow_changed_data` (resume_plan.py).
    """
    run_dir = Path(run_dir)
    runs.check_run_dir(run_dir, resume)
    cfg, plan = settle_run(cfg, run_dir, resume, epochs, allow_changed_data)  # all checked
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
    # --m-in/--m-out auto: read from the starting weights once, before the run is recorded, so
    # config.json holds the numbers and a resume reuses them (every rank reads the same sample).
    cfg = resolve_margins(cfg, data, state.model, dev, verbose=main)
    data = replace(data, cfg=cfg)
    distributed.barrier(ctx)  # every rank has checked the folder before rank 0 writes to it
    if main and not resume:
        write_run_record(run_dir, data, dev, ctx, pretrained)

    start_epoch, saved_guard = restore(run_dir, state, plan)  # (0, None) for a new run
    if plan and main:
        plan.record()  # --resume --epochs N: the new count, once the checkpoint has loaded
    if resume and main:
        runs.truncate_log(run_dir, start_epoch)
    if start_epoch >= cfg.epochs and (run_dir / runs.MODEL).exists():
        return run_dir
    # --max-accuracy-drop (guard.py): None without it; measures the starting weights now.
    guard = (AccuracyGuard.start(cfg, run_dir, data.held_out_images, state.model, dev, start_epoch,
                                 saved_guard, verbose=progress) if main else None)

    trainer = Trainer.start(cfg, ctx, dev, state, data.train_set)
    for epoch in range(start_epoch, cfg.epochs):
        started = time.perf_counter()
        sums, lr = trainer.epoch(epoch, progress=progress and main, on_step=on_step)
        check_finite(sums, epoch, cfg, run_dir)
        if main:
            record = epoch_record(sums, epoch, trainer.steps_per_epoch, lr,
                                  time.perf_counter() - started)
            extra = guard.after_epoch(epoch + 1, state.model) if guard else None
            save_epoch(run_dir, record, state, tb, extra)
            if guard:
                guard.write()

    if state.outliers is not None:
        state.outliers.close()
    tb.close()
    if main:
        if guard:  # model.pt: the epoch the guard kept
            guard.finish(state.model)
        save_model(run_dir, state.model)
    distributed.barrier(ctx)  # no rank returns before the model file exists
    return run_dir
