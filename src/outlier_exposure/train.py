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
from .config import RunConfig
from .data.batches import EpochBatches, OutlierStream, Preprocess, to_device_tensor
from .data.datasets import load_images, load_labelled
from .errors import UserInputError
from .losses import oe_loss
from .models import create_model
from .progress import progress_bar


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
                      flip=cfg.flip)


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


def train_run(
    cfg: RunConfig,
    run_dir: str | Path,
    *,
    resume: bool = False,
    device: str | None = "auto",
    progress: bool = True,
    on_step: Callable[[int], None] | None = None,
) -> Path:
    """Train the run described by `cfg` into `run_dir`; return `run_dir`.

    `resume=True` continues from the last finished epoch (its checkpoint) and ends with the
    weights an uninterrupted run would have (same data order, augmentation and dropout draws).
    `on_step(global_step)` is called after each optimiser step.
    """
    run_dir = Path(run_dir)
    runs.check_run_dir(run_dir, resume)
    if resume:
        cfg = runs.load_config(run_dir)
    cfg.check()
    dev = resolve_device(device)

    train_set = load_labelled(cfg.train, cfg.image_shape, seed=cfg.seed, role="--train")
    num_classes = int(train_set.y.max()) + 1
    if cfg.num_classes is None:
        cfg = replace(cfg, num_classes=num_classes)
    elif num_classes > cfg.num_classes:
        raise UserInputError(
            f"--train {cfg.train} has labels up to {num_classes - 1}, but the run has "
            f"{cfg.num_classes} classes"
        )
    outliers = None
    if cfg.mode != "baseline":
        outliers = load_images(cfg.outliers, cfg.image_shape, seed=cfg.seed, role="--outliers")
    init_weights = _baseline_weights(cfg) if cfg.mode == "oe-tune" else None

    if not resume:
        runs.write_json(run_dir / runs.CONFIG, cfg.to_dict())
        runs.write_json(run_dir / runs.ENVIRONMENT, runs.environment(str(dev)))

    torch.manual_seed(cfg.seed)  # model init and dropout
    model = build_model(cfg)
    if init_weights is not None:
        model.load_state_dict(init_weights)
    model.to(dev)
    optimiser = torch.optim.SGD(
        model.parameters(), lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
        weight_decay=cfg.weight_decay,
    )
    generators = {
        "order": torch.Generator().manual_seed(cfg.seed),
        "augment": torch.Generator().manual_seed(cfg.seed + 1),
        "outliers": torch.Generator().manual_seed(cfg.seed + 2),
    }
    batches = EpochBatches(len(train_set), cfg.batch_size, generators["order"])
    stream = (OutlierStream(len(outliers), cfg.oe_batch_size, generators["outliers"])
              if outliers is not None else None)

    start_epoch = 0
    if resume and (run_dir / runs.CHECKPOINT).exists():
        ckpt = runs.load_torch(run_dir / runs.CHECKPOINT)
        model.load_state_dict(ckpt["model"])
        optimiser.load_state_dict(ckpt["optimiser"])
        _set_rng_state(generators, ckpt["rng"])
        if stream is not None:
            stream.load_state_dict(ckpt["outlier_stream"])
        start_epoch = int(ckpt["epoch"])
    if resume:
        runs.truncate_log(run_dir, start_epoch)
    if start_epoch >= cfg.epochs and (run_dir / runs.MODEL).exists():
        return run_dir

    pre = preprocess_of(cfg)
    x_train = to_device_tensor(train_set, dev)
    y_train = torch.from_numpy(np.asarray(train_set.y, dtype=np.int64)).to(dev)
    x_out = to_device_tensor(outliers, dev) if outliers is not None else None
    steps_per_epoch = len(batches)
    total_steps = cfg.epochs * steps_per_epoch

    for epoch in range(start_epoch, cfg.epochs):
        model.train()
        started = time.perf_counter()
        # Running sums stay on the device: reading them every step would sync with the GPU.
        sums = torch.zeros(4, device=dev)  # loss, in-dist loss, outlier loss, correct
        seen = 0
        bar = progress_bar(total=len(train_set), desc=f"{cfg.mode} {epoch + 1}/{cfg.epochs}",
                           enabled=progress)
        for i, idx in enumerate(batches):
            step = epoch * steps_per_epoch + i
            # The reference steps its LambdaLR scheduler before the update, so update number
            # `step` (0-based) uses the schedule's value at step + 1.
            lr = cosine_lr(step + 1, total_steps, cfg.lr, cfg.lr_min_factor)
            for group in optimiser.param_groups:
                group["lr"] = lr
            idx = idx.to(dev)
            inputs = pre(x_train[idx], augment=True, generator=generators["augment"])
            targets = y_train[idx]
            if stream is not None:
                out_idx = stream.next().to(dev)
                out_inputs = pre(x_out[out_idx], augment=not outliers.normalised,
                                 generator=generators["augment"], normalised=outliers.normalised)
                inputs = torch.cat([inputs, out_inputs])
            logits = model(inputs)
            loss = oe_loss(logits, targets, cfg.lam)
            optimiser.zero_grad(set_to_none=True)
            loss.total.backward()
            optimiser.step()

            n = targets.shape[0]
            seen += n
            with torch.no_grad():
                correct = (logits[:n].argmax(1) == targets).sum()
                sums += torch.stack([loss.total.detach() * n, loss.in_dist.detach() * n,
                                     loss.outlier.detach() * n, correct.float()])
            if bar is not None:
                bar.update(n)
                if i % 10 == 0 or i == steps_per_epoch - 1:
                    s = sums.tolist()  # a sync, every tenth step only
                    bar.set_postfix(loss=f"{s[0] / seen:.3f}", acc=f"{s[3] / seen:.3f}",
                                    lr=f"{lr:.2e}", refresh=False)
            if on_step is not None:
                on_step(step)
        if bar is not None:
            bar.close()

        s = sums.tolist()
        if not all(math.isfinite(v) for v in s):
            raise UserInputError(
                f"the loss became NaN or infinite in epoch {epoch + 1} (lr {cfg.lr}); lower --lr "
                f"and rerun. The checkpoint of epoch {epoch} in {run_dir} is kept"
            )
        elapsed = time.perf_counter() - started
        record = {
            "epoch": epoch + 1, "step": (epoch + 1) * steps_per_epoch, "lr": lr,
            "loss": s[0] / seen, "loss_in": s[1] / seen, "loss_oe": s[2] / seen,
            "train_acc": s[3] / seen, "seconds": elapsed, "images_per_s": seen / elapsed,
        }
        runs.append_log(run_dir, record)
        checkpoint = {
            "epoch": epoch + 1,
            "model": model.state_dict(),
            "optimiser": optimiser.state_dict(),
            "rng": _rng_state(generators),
        }
        if stream is not None:
            checkpoint["outlier_stream"] = stream.state_dict()
        runs.save_torch(run_dir / runs.CHECKPOINT, checkpoint)

    runs.save_torch(run_dir / runs.MODEL, {k: v.cpu() for k, v in model.state_dict().items()})
    return run_dir
