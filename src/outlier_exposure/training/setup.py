"""What a training run is made of before its first step: the device, the data, the model and
its optimiser, the random generators and the outlier batches.

`resolve_device`, `build_model` and `preprocess_of` are also how evaluation, calibration, text
and deployment open a run, so they live here and not in the loop.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from . import precision, probe, runs
from .config import AUTO_MARGIN, RunConfig
from .config_ranges import MAX_CLASSES
from .holdout import held_out_images, split_for_training
from .run_files import check_finite_weights, load_into, load_model_state
from ..data.batches import OutlierStream, Preprocess
from ..data.datasets import load_images, load_labelled
from ..data.placement import OutlierPrefetcher, place
from ..data.imageset import ImageSet
from ..errors import UserInputError
from ..models import create_model, load_pretrained, read_weights


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
    """lr * (f + (1 - f) * (1 + cos(pi * step / total)) / 2), f = min_factor: the reference's
    LambdaLR factor, evaluated in its order, with f = 1e-6 / lr (RunConfig.lr_floor)."""
    progress = min(step, total_steps) / total_steps
    return lr * (min_factor + (1.0 - min_factor) * 0.5 * (1.0 + math.cos(math.pi * progress)))


def preprocess_of(cfg: RunConfig) -> Preprocess:
    return Preprocess(mean=tuple(cfg.mean), std=tuple(cfg.std), crop_padding=cfg.crop_padding,
                      flip=cfg.flip, channels_last=cfg.channels_last,
                      input_size=cfg.input_size, random_resized_crop=cfg.random_resized_crop)


def outlier_preprocess_of(cfg: RunConfig) -> Preprocess:
    """The outlier batches' preprocessing: the run's normalisation, the outliers' augmentation
    (None, in a run from before these fields: as the in-distribution)."""
    pad = cfg.crop_padding if cfg.outlier_crop_padding is None else cfg.outlier_crop_padding
    flip = cfg.flip if cfg.outlier_flip is None else cfg.outlier_flip
    return replace(preprocess_of(cfg), crop_padding=pad, flip=flip)


def build_model(cfg: RunConfig) -> torch.nn.Module:
    try:
        return create_model(cfg.model, cfg.num_classes, in_channels=cfg.image_shape[2],
                            **cfg.model_kwargs)
    except (MemoryError, RuntimeError) as exc:
        # Options that ask for more memory than there is (width=10**9, a huge class count):
        # the user's numbers, not a bug. Other RuntimeErrors are bugs and propagate.
        text = str(exc).lower()
        if not isinstance(exc, MemoryError) and "allocate" not in text and \
                "out of memory" not in text:
            raise
        raise UserInputError(
            f"model {cfg.model} {cfg.model_kwargs} with {cfg.num_classes} classes does not fit in "
            f"memory ({type(exc).__name__}); check --model-arg and the labels of --train "
            f"{cfg.train}") from None


def baseline_weights(cfg: RunConfig) -> dict | None:
    """The weights an OE fine-tune of a baseline run starts from, checked against the
    fine-tune's data (None for any other run: a fine-tune of `--weights` loads them itself)."""
    if cfg.mode != "oe-tune" or not cfg.init_from:
        return None
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
    weights = load_model_state(cfg.init_from)  # a state dict, or a UserInputError
    check_finite_weights(weights, Path(cfg.init_from) / runs.MODEL)
    return weights


@dataclass
class TrainingData:
    """The run's images. `cfg` is the run's config with its class count filled in."""

    cfg: RunConfig
    train_set: ImageSet          # minus any calibration hold-out
    outliers: ImageSet | None    # None for a baseline
    held_out: np.ndarray | None  # the calibration hold-out's indices, recorded in the run
    n_total: int                 # training images before the hold-out
    # The hold-out's images, read once here when the run measures on them (--max-accuracy-drop,
    # --m-in/--m-out auto), so that no one loads the training set again for them; else None.
    held_out_images: ImageSet | None = None


def load_data(cfg: RunConfig) -> TrainingData:
    """Training set (minus any calibration hold-out), outliers, and the run's class count.

    --data-on stream decodes folder sets a batch at a time, device/host decode them into
    memory, auto streams those larger than the memory budget (sources.memory_budget)."""
    stream = {"stream": True, "device": False, "host": False}.get(cfg.data_on)
    train_set = load_labelled(cfg.train, cfg.image_shape, seed=cfg.seed, role="--train",
                              stream=stream)
    num_classes = int(train_set.y.max()) + 1
    if num_classes > MAX_CLASSES:  # a damaged label file: refused before a huge head is built
        raise UserInputError(
            f"--train {cfg.train} has a label {num_classes - 1}: more than {MAX_CLASSES} classes, "
            "so the label array is damaged or is not class indices 0..K-1; fix the labels")
    if cfg.num_classes is None:
        cfg = replace(cfg, num_classes=num_classes)
    elif num_classes > cfg.num_classes:
        raise UserInputError(
            f"--train {cfg.train} has labels up to {num_classes - 1}, but the run has "
            f"{cfg.num_classes} classes"
        )
    n_total, full_set = len(train_set), train_set
    # --calibration: train on the complement of the held-out split (recorded in the run).
    train_set, held_out = split_for_training(cfg, train_set)
    measures = cfg.max_accuracy_drop is not None or AUTO_MARGIN in (cfg.m_in, cfg.m_out)
    held_images = held_out_images(full_set, held_out) if measures and held_out is not None \
        else None
    outliers = None
    if cfg.mode != "baseline":
        outliers = load_images(cfg.outliers, cfg.image_shape, seed=cfg.seed, role="--outliers",
                               noise_range=cfg.noise_range, stream=stream)
    return TrainingData(cfg, train_set, outliers, held_out, n_total, held_images)


class OutlierSource:
    """The outlier batch of each step, from a set on the device/host or read from disk."""

    def __init__(self, images: ImageSet, stream: OutlierStream, device, where: str):
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


@dataclass
class TrainingState:
    """Everything that changes as the run trains: what a checkpoint keeps and a resume restores
    (checkpoint.py, restore.py)."""

    model: torch.nn.Module
    optimiser: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    generators: dict[str, torch.Generator]   # "order", "augment", "outliers"
    outliers: OutlierSource | None


def start_state(cfg: RunConfig, outliers: ImageSet | None, device: torch.device,
                init_weights: dict | None, *, pretrained: Path | None = None) -> TrainingState:
    """The model (fresh, the baseline's weights `init_weights`, or the `pretrained` weights
    file), SGD over what trains (all, or the head of a linear probe), the loss scaler and the
    generators."""
    torch.manual_seed(cfg.seed)  # model init and dropout: the same on every rank
    model = build_model(cfg)
    if init_weights is not None:  # the baseline's model.pt (baseline_weights)
        load_into(model, init_weights, Path(cfg.init_from or "the baseline") / runs.MODEL,
                  "fine-tune another baseline, or retrain this one")
    elif pretrained is not None:
        note = load_pretrained(model, read_weights(pretrained), str(pretrained))
        print(f"weights: {note}", file=sys.stderr)
    model.to(device)
    if cfg.channels_last:
        model.to(memory_format=torch.channels_last)
    optimiser = torch.optim.SGD(
        probe.trainable(model, cfg.linear_probe), lr=cfg.lr, momentum=cfg.momentum,
        nesterov=cfg.nesterov, weight_decay=cfg.weight_decay,
    )
    generators = {
        "order": torch.Generator().manual_seed(cfg.seed),
        "augment": torch.Generator().manual_seed(cfg.seed + 1),
        "outliers": torch.Generator().manual_seed(cfg.seed + 2),
    }
    source = None
    if outliers is not None:
        stream = OutlierStream(len(outliers), cfg.oe_batch_size, generators["outliers"],
                               order=cfg.outlier_order, random_offset=cfg.outlier_random_offset)
        source = OutlierSource(outliers, stream, device, cfg.data_on)
    return TrainingState(model, optimiser, precision.grad_scaler(cfg.precision, device),
                         generators, source)
