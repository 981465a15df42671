"""One training loop for the baseline, OE fine-tune and OE from scratch.

Reference recipe (PROTOCOL.md section 1): SGD with Nesterov momentum, weight decay, learning
rate on a cosine from `lr` to `lr * 1e-6` stepped every iteration; an epoch ends when the
in-distribution data runs out; with outliers, each step concatenates the in-distribution batch
and a freshly drawn outlier batch into ONE forward pass (batch-norm sees both).
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from . import runs
from .holdout import save_split, split_for_training
from .config import RunConfig
from . import distributed, precision
from ..data.batches import EpochBatches, OutlierStream, Preprocess
from ..data.datasets import load_images, load_labelled
from ..data.placement import OutlierPrefetcher, place
from ..errors import UserInputError
from ..losses import training_loss
from ..models import create_model
from .progress import progress_bar
from .tensorboard import TensorBoardLog


def resolve_device(name: str | None) -> torch.device:
    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserInputError(f"--device {name!r} is not a device; use cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserInputError(f"--device {name}: no CUDA GPU is visible; use --device cpu")
    return device


def cosine_lr(step: int, total_steps: int, lr: float, min_factor: float) -> float:
    """lr * (f + (1 - f) * (1 + cos(pi * step / total)) / 2), f = min_factor (reference: 1e-6)."""
    progress = min(step, total_steps) / total_steps
    return lr * (min_factor + (1.0 - min_factor) * 0.5 * (1.0 + math.cos(math.pi * progress)))


def preprocess_of(cfg: RunConfig) -> Preprocess:
    return Preprocess(mean=tuple(cfg.mean), std=tuple(cfg.std), crop_padding=cfg.crop_padding,
                      flip=cfg.flip, channels_last=cfg.channels_last)


def build_model(cfg: RunConfig) -> torch.nn.Module:
    return create_model(cfg.model, cfg.num_classes, in_channels=cfg.image_shape[2],
                        **cfg.model_kwargs)


def _baseline_weights(cfg: RunConfig) -> dict:
    """The weights an OE fine-tune starts from, checked against the fine-tune's data."""
    base_cfg = runs.load_config(Path(cfg.init_from))
    if base_cfg.num_classes != cfg.num_classes:
        raise UserInputError(
            f"the baseline run {cfg.init_from} has {base_cfg.num_classes} classes but the "
            f"fine-tuning data {cfg.train} has {cfg.num_classes}; fine-tune on the baseline's "
            "own training data"
        )
    if (base_cfg.model, base_cfg.model_kwargs) != (cfg.model, cfg.model_kwargs):
        raise UserInputError(
            f"the baseline run {cfg.init_from} used model {base_cfg.model} "
            f"{base_cfg.model_kwargs}, not {cfg.model} {cfg.model_kwargs}"
        )
    return runs.load_final_weights(Path(cfg.init_from))


def _rng_state(generators: dict[str, torch.Generator]) -> dict:
    state = {name: g.get_state() for name, g in generators.items()}
    state["torch"] = torch.get_rng_state()
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(generators: dict[str, torch.Generator], state: dict) -> None:
    for name, g in generators.items():
        g.set_state(state[name])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _load_data(cfg: RunConfig):
    """Training set (minus any calibration hold-out), outliers, and the run's class count."""
    train_set = load_labelled(cfg.train, cfg.image_shape, seed=cfg.seed, role="--train")
    num_classes = int(train_set.y.max()) + 1
    if cfg.num_classes is None:
        cfg = replace(cfg, num_classes=num_classes)
    elif num_classes > cfg.num_classes:
        raise UserInputError(
            f"--train {cfg.train} has labels up to {num_classes - 1}, but the run has "
            f"{cfg.num_classes} classes"
        )
    n_total = len(train_set)
    # --calibration: train on the complement of the held-out split (recorded in the run).
    train_set, held_out = split_for_training(cfg, train_set)
    outliers = None
    if cfg.mode != "baseline":
        outliers = load_images(cfg.outliers, cfg.image_shape, seed=cfg.seed, role="--outliers",
                               noise_range=cfg.noise_range)
    return cfg, train_set, outliers, held_out, n_total


class _Outliers:
    """The outlier batch of each step, from a set on the device/host or read from disk."""

    def __init__(self, images, stream: OutlierStream, device, where: str):
        self.images, self.stream = images, stream
        self.placed = place(images, device, where)
        self.prefetcher = (OutlierPrefetcher(images.x, stream, device)
                           if self.placed is None else None)
        self.device = device

    def next(self) -> torch.Tensor:
        if self.prefetcher is not None:
            return self.prefetcher.next()
        return self.placed[self.stream.next().to(self.device)]

    def state_dict(self) -> dict:
        state = {"stream": self.stream.state_dict()}
        if self.prefetcher is not None:
            state["prefetch"] = self.prefetcher.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        self.stream.load_state_dict(state["stream"])
        if self.prefetcher is not None:
            self.prefetcher.load_state_dict(state["prefetch"])

    def close(self) -> None:
        if self.prefetcher is not None:
            self.prefetcher.close()


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
    `tensorboard=True` also writes each epoch's record to RUN/tensorboard (tensorboard_log.py).
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
    cfg, train_set, outliers, held_out, n_total = _load_data(cfg)
    init_weights = _baseline_weights(cfg) if cfg.mode == "oe-tune" else None
    distributed.barrier(ctx)  # every rank has checked the folder before rank 0 writes to it
    if main and not resume:
        runs.write_json(run_dir / runs.CONFIG, cfg.to_dict())
        runs.write_json(run_dir / runs.ENVIRONMENT,
                        dict(runs.environment(str(dev)), world_size=ctx.world_size))
        save_split(run_dir, cfg, held_out, n_total)

    torch.manual_seed(cfg.seed)  # model init and dropout: the same on every rank
    model = build_model(cfg)
    if init_weights is not None:
        model.load_state_dict(init_weights)
    model.to(dev)
    if cfg.channels_last:
        model.to(memory_format=torch.channels_last)
    optimiser = torch.optim.SGD(
        model.parameters(), lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
        weight_decay=cfg.weight_decay,
    )
    scaler = precision.grad_scaler(cfg.precision, dev)
    generators = {
        "order": torch.Generator().manual_seed(cfg.seed),
        "augment": torch.Generator().manual_seed(cfg.seed + 1),
        "outliers": torch.Generator().manual_seed(cfg.seed + 2),
    }
    batches = EpochBatches(len(train_set), cfg.batch_size, generators["order"])
    out_source = None
    if outliers is not None:
        stream = OutlierStream(len(outliers), cfg.oe_batch_size, generators["outliers"])
        out_source = _Outliers(outliers, stream, dev, cfg.data_on)

    start_epoch = 0
    if resume and (run_dir / runs.CHECKPOINT).exists():
        ckpt = runs.load_torch(run_dir / runs.CHECKPOINT)
        model.load_state_dict(ckpt["model"])
        optimiser.load_state_dict(ckpt["optimiser"])
        if "scaler" in ckpt:
            scaler.load_state_dict(ckpt["scaler"])
        _set_rng_state(generators, ckpt["rng"])
        if out_source is not None:
            out_source.load_state_dict(ckpt["outliers"])
        start_epoch = int(ckpt["epoch"])
    if resume and main:
        runs.truncate_log(run_dir, start_epoch)
    if start_epoch >= cfg.epochs and (run_dir / runs.MODEL).exists():
        return run_dir

    # The module that is trained: maybe wrapped for several processes, maybe compiled.
    trained = distributed.wrap_model(model, ctx, dev, cfg.sync_bn)
    if cfg.compile:
        trained = torch.compile(trained)
    pre = preprocess_of(cfg)
    x_train = place(train_set, dev, cfg.data_on)
    y_train = torch.from_numpy(np.asarray(train_set.y, dtype=np.int64)).to(dev)
    steps_per_epoch = len(batches)
    total_steps = cfg.epochs * steps_per_epoch

    for epoch in range(start_epoch, cfg.epochs):
        trained.train()
        started = time.perf_counter()
        # Running sums stay on the device: reading them every step would sync with the GPU.
        sums = torch.zeros(5, device=dev)  # loss, in-dist loss, outlier loss, correct, examples
        bar = progress_bar(total=len(train_set), desc=f"{cfg.mode} {epoch + 1}/{cfg.epochs}",
                           enabled=progress and main)
        for i, idx in enumerate(batches):
            step = epoch * steps_per_epoch + i
            # The reference steps its LambdaLR scheduler before the update, so update number
            # `step` (0-based) uses the schedule's value at step + 1.
            lr = cosine_lr(step + 1, total_steps, cfg.lr, cfg.lr_min_factor)
            for group in optimiser.param_groups:
                group["lr"] = lr
            # Every rank prepares the whole global batch (same random crops and flips as one
            # process would draw), then keeps its own shard of it.
            idx = idx.to(dev)
            inputs = pre(x_train[idx], augment=True, generator=generators["augment"])
            targets = y_train[idx]
            inputs, targets = distributed.shard(inputs, ctx), distributed.shard(targets, ctx)
            if out_source is not None:
                out_inputs = pre(out_source.next(), augment=not outliers.normalised,
                                 generator=generators["augment"], normalised=outliers.normalised)
                inputs = torch.cat([inputs, distributed.shard(out_inputs, ctx)])
            with precision.autocast(cfg.precision, dev):
                logits = trained(inputs)
            loss = training_loss(cfg, logits.float(), targets)  # cfg.loss: oe | energy
            optimiser.zero_grad(set_to_none=True)
            scaler.scale(loss.total).backward()
            scaler.step(optimiser)
            scaler.update()

            n = targets.shape[0]
            with torch.no_grad():
                correct = (logits[:n].argmax(1) == targets).sum()
                sums += torch.stack([loss.total.detach() * n, loss.in_dist.detach() * n,
                                     loss.outlier.detach() * n, correct.float(),
                                     torch.tensor(float(n), device=dev)])
            if bar is not None:
                bar.update(idx.shape[0])
                if i % 10 == 0 or i == steps_per_epoch - 1:
                    s = sums.tolist()  # a sync, every tenth step only
                    bar.set_postfix(loss=f"{s[0] / s[4]:.3f}", acc=f"{s[3] / s[4]:.3f}",
                                    lr=f"{lr:.2e}", refresh=False)
            if on_step is not None:
                on_step(step)
        if bar is not None:
            bar.close()

        s = distributed.sum_across_ranks(sums, ctx).tolist()
        if not all(math.isfinite(v) for v in s):
            raise UserInputError(
                f"the loss became NaN or infinite in epoch {epoch + 1} (lr {cfg.lr}); lower --lr "
                f"and rerun. The checkpoint of epoch {epoch} in {run_dir} is kept"
            )
        elapsed = time.perf_counter() - started
        seen = s[4]
        record = {
            "epoch": epoch + 1, "step": (epoch + 1) * steps_per_epoch, "lr": lr,
            "loss": s[0] / seen, "loss_in": s[1] / seen, "loss_oe": s[2] / seen,
            "train_acc": s[3] / seen, "seconds": elapsed, "images_per_s": seen / elapsed,
        }
        if main:
            runs.append_log(run_dir, record)
            tb.write(record)
            checkpoint = {
                "epoch": epoch + 1,
                "model": model.state_dict(),
                "optimiser": optimiser.state_dict(),
                "scaler": scaler.state_dict(),
                "rng": _rng_state(generators),
            }
            if out_source is not None:
                checkpoint["outliers"] = out_source.state_dict()
            runs.save_torch(run_dir / runs.CHECKPOINT, checkpoint)

    if out_source is not None:
        out_source.close()
    tb.close()
    if main:
        runs.save_torch(run_dir / runs.MODEL,
                        {k: v.cpu() for k, v in model.state_dict().items()})
    distributed.barrier(ctx)  # no rank returns before the model file exists
    return run_dir
