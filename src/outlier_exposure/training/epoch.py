"""One epoch of the image loop, step by step.

Each step (docs/protocol.md section 1) sets the cosine learning rate, concatenates the
in-distribution batch and a freshly drawn outlier batch into ONE forward pass (batch-norm sees
both), and takes an SGD step. The epoch ends when the in-distribution data runs out.
"""

from __future__ import annotations

import math
from contextlib import closing, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch

from . import distributed, precision, probe, runs
from .checkpoint import discard_run_record
from .config import RunConfig
from .progress import progress_bar
from .setup import TrainingState, cosine_lr, outlier_preprocess_of, preprocess_of
from ..data.batches import EpochBatches, Preprocess
from ..data.formats.lazy import LazyImages
from ..data.imageset import ImageSet
from ..data.placement import BatchPrefetcher, place
from ..errors import UserInputError
from ..losses import training_loss

# The running sums of an epoch, in this order.
SUMS = ("loss", "loss_in", "loss_oe", "correct", "examples")


def step_lr(cfg: RunConfig, step: int, total_steps: int) -> float:
    """The learning rate of update number `step` (0-based) of a run of `total_steps` updates.

    The reference steps its LambdaLR scheduler before the update, so update `step` uses the
    schedule's value at step + 1 (its last update runs at the floor)."""
    return cosine_lr(step + 1, total_steps, cfg.lr, cfg.lr_floor())


@dataclass
class Trainer:
    """What every step needs: the run, the module being trained, its state and the data."""

    cfg: RunConfig
    ctx: distributed.Context
    device: torch.device
    trained: torch.nn.Module   # state.model, maybe wrapped for several processes, maybe compiled
    state: TrainingState
    x: object                  # the training images where cfg.data_on puts them (placement.py)
                               # or, for a lazy (streamed) set, the LazyImages itself
    y: torch.Tensor            # their labels, on the device
    batches: EpochBatches
    pre: Preprocess
    pre_outliers: Preprocess   # the outliers' own augmentation (RunConfig.outlier_flip, ...)

    @classmethod
    def start(cls, cfg: RunConfig, ctx: distributed.Context, device: torch.device,
              state: TrainingState, train_set: ImageSet) -> Trainer:
        trained = distributed.wrap_model(state.model, ctx, device, cfg.sync_bn)
        if cfg.compile:
            trained = torch.compile(trained)
        pre = preprocess_of(cfg)
        x = place(train_set, device, cfg.data_on)
        if x is None:  # a lazy set: each epoch reads its batches through a BatchPrefetcher
            x = train_set.x
        y = torch.from_numpy(np.asarray(train_set.y, dtype=np.int64)).to(device)
        batches = EpochBatches(len(train_set), cfg.batch_size, state.generators["order"])
        if state.outliers is not None:  # "reference" order starts a new run every epoch
            state.outliers.stream.steps_per_epoch = len(batches)
        return cls(cfg, ctx, device, trained, state, x, y, batches, pre,
                   outlier_preprocess_of(cfg))

    @property
    def steps_per_epoch(self) -> int:
        return len(self.batches)

    @property
    def streamed(self) -> bool:
        return isinstance(self.x, LazyImages)

    def _epoch_batches(self) -> tuple[list[torch.Tensor], Iterable, object]:
        """The epoch's index batches, their pixels (None: indexed from `x` at the step) and what
        to close when the epoch ends or is interrupted.

        The batch order is drawn here, at the start of the epoch, from the "order" generator
        either way, so a streamed run sees the batches (and then draws the augmentation) of the
        in-memory run."""
        batches = list(self.batches)
        if not self.streamed:
            return batches, [None] * len(batches), nullcontext()
        prefetcher = BatchPrefetcher(self.x, batches, self.device)
        return batches, iter(prefetcher), closing(prefetcher)

    def epoch(self, epoch: int, *, progress: bool,
              on_step: Callable[[int], None] | None) -> tuple[list[float], float]:
        """Train one epoch; return its sums (SUMS) over all ranks and its last learning rate."""
        cfg = self.cfg
        self.trained.train()
        if cfg.linear_probe:  # the frozen body normalises with its pretrained statistics
            probe.train_head_only(self.state.model)
        # Running sums stay on the device: reading them every step would sync with the GPU.
        sums = torch.zeros(len(SUMS), device=self.device)
        bar = progress_bar(total=self.y.shape[0], desc=f"{cfg.mode} {epoch + 1}/{cfg.epochs}",
                           enabled=progress)
        total_steps = cfg.epochs * self.steps_per_epoch
        batches, pixels, ending = self._epoch_batches()
        # The bar's counter moves every step; its loss/acc figures every tenth step and at the
        # last one, which closing then draws (progress.py: the bar ends at n == total).
        with ending, closing(bar) if bar is not None else nullcontext():
            for i, (idx, x) in enumerate(zip(batches, pixels, strict=True)):
                step = epoch * self.steps_per_epoch + i
                lr = step_lr(cfg, step, total_steps)
                sums += self.step(idx.to(self.device), lr, x)
                if bar is not None:
                    bar.update(idx.shape[0])
                    if i % 10 == 0 or i == self.steps_per_epoch - 1:
                        s = sums.tolist()  # a sync, every tenth step only
                        bar.set_postfix(loss=f"{s[0] / s[4]:.3f}", acc=f"{s[3] / s[4]:.3f}",
                                        lr=f"{lr:.2e}", refresh=False)
                if on_step is not None:
                    on_step(step)
        return distributed.sum_across_ranks(sums, self.ctx).tolist(), lr

    def step(self, idx: torch.Tensor, lr: float, x: torch.Tensor | None = None) -> torch.Tensor:
        """One SGD step on the batch `idx` (its pixels `x` when already read, as a streamed set's
        are); return its contribution to the epoch's SUMS."""
        optimiser, scaler = self.state.optimiser, self.state.scaler
        for group in optimiser.param_groups:
            group["lr"] = lr
        inputs, targets = self.batch(idx, x)
        with precision.autocast(self.cfg.precision, self.device):
            logits = self.trained(inputs)
        loss = training_loss(self.cfg, logits.float(), targets)  # cfg.loss: oe | energy
        optimiser.zero_grad(set_to_none=True)
        scaler.scale(loss.total).backward()
        scaler.step(optimiser)
        scaler.update()
        n = targets.shape[0]
        with torch.no_grad():
            correct = (logits[:n].argmax(1) == targets).sum()
            return torch.stack([loss.total.detach() * n, loss.in_dist.detach() * n,
                                loss.outlier.detach() * n, correct.float(),
                                torch.tensor(float(n), device=self.device)])

    def batch(self, idx: torch.Tensor,
              x: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """This rank's inputs (its in-distribution shard, then its outlier shard) and targets.

        Every rank prepares the whole global batch (same random crops and flips as one process
        would draw), then keeps its own shard of it. `x`: the batch's uint8 pixels on the
        device when already read (streamed sets); else they are indexed from `self.x`."""
        augment = self.state.generators["augment"]
        pixels = self._pixels(idx) if x is None else x
        inputs = self.pre(pixels, augment=True, generator=augment)
        targets = self.y[idx]
        inputs, targets = distributed.shard(inputs, self.ctx), distributed.shard(targets, self.ctx)
        source = self.state.outliers
        if source is not None:
            normalised = source.images.normalised
            out_inputs = self.pre_outliers(source.next(), augment=not normalised,
                                           generator=augment, normalised=normalised)
            inputs = torch.cat([inputs, distributed.shard(out_inputs, self.ctx)])
        return inputs, targets


    def _pixels(self, idx: torch.Tensor) -> torch.Tensor:
        """The batch's uint8 pixels on the device, read from wherever the set lives."""
        if self.streamed:  # outside an epoch's prefetcher (e.g. a test asking for one batch)
            return torch.from_numpy(self.x[idx.cpu().numpy()]).to(self.device)
        return self.x[idx]


def check_finite(sums: list[float], epoch: int, cfg: RunConfig, run_dir: Path) -> None:
    if all(math.isfinite(v) for v in sums):
        return
    if (Path(run_dir) / runs.CHECKPOINT).exists():
        kept = (f"The checkpoint of epoch {epoch} in {run_dir} is kept (it was finite); "
                "start a new run with a lower --lr")
    else:  # nothing trained yet: leave no run behind that --resume would repeat
        discard_run_record(run_dir)
        kept = (f"Nothing was trained, so the run's record in {run_dir} was removed: run the "
                "command again with a lower --lr")
    raise UserInputError(
        f"the loss became NaN or infinite in epoch {epoch + 1} (lr {cfg.lr}); {kept}")


def epoch_record(sums: list[float], epoch: int, steps_per_epoch: int, lr: float,
                 seconds: float) -> dict:
    """The epoch's line in RUN/log.jsonl: means per example, the last lr, the speed."""
    seen = sums[4]
    return {
        "epoch": epoch + 1, "step": (epoch + 1) * steps_per_epoch, "lr": lr,
        "loss": sums[0] / seen, "loss_in": sums[1] / seen, "loss_oe": sums[2] / seen,
        "train_acc": sums[3] / seen, "seconds": seconds, "images_per_s": seen / seconds,
    }
