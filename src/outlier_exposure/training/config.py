"""The resolved configuration of one run: defaults, then the preset's overrides, then flags.

Saved as RUN/config.json. The defaults are the paper's CIFAR-10 recipe (WRN-40-2, SGD with
Nesterov momentum, 100 epochs at lr 0.1 on a cosine down to 1e-6, outliers read in the
reference's order; the OE fine-tune 10 epochs at lr 0.001); a preset
(training/presets.py) states only what differs from them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UserInputError
from .config_base import ConfigBase, fine_tune_values, resolve_preset
from .config_ranges import check_ranges
from .presets import get_preset

MODES = ("baseline", "oe-tune", "oe-scratch")
OUTLIER_ORDERS = ("reference", "uniform")
PROTOCOLS = ("paper", "openood")  # evaluation/evaluate.py
# Values of fields that config.json files written before the field existed must read as (the
# behaviour those runs had); other missing fields take the dataclass default.
LEGACY_DEFAULTS = {"outlier_order": "uniform"}
CONFIG_FILE = "config.json"
# `--m-in auto` / `--m-out auto`: a margin read from the baseline's energies when the fine-tune
# starts (energy_margins.py); config.json then holds the number.
AUTO_MARGIN = "auto"
CIFAR_MEAN = (125.3 / 255, 123.0 / 255, 113.9 / 255)
CIFAR_STD = (63.0 / 255, 62.1 / 255, 66.7 / 255)


@dataclass
class RunConfig(ConfigBase):
    mode: str  # baseline | oe-tune | oe-scratch
    preset: str
    train: str
    test: str
    outliers: str | None = None
    model: str = "wrn"
    model_kwargs: dict = field(default_factory=lambda: dict(depth=40, widen_factor=2, dropout=0.3))
    image_shape: tuple[int, int, int] = (32, 32, 3)
    # Pretrained weights the run starts from (models/weights.py: a state dict in .pt/.pth or
    # .safetensors, read without unpickling code); None: the model's own random init. An OE
    # fine-tune of a baseline run starts from the baseline's weights instead.
    weights: str | None = None
    # Train only the classifier head (a linear probe): the rest of the model is frozen and kept
    # in eval mode, so its batch-norm statistics stay the pretrained ones.
    linear_probe: bool = False
    # The model's input side when it differs from the stored images' (image_shape): evaluation
    # takes the centre crop, training a RandomResizedCrop (random_resized_crop) or the padded
    # random crop. None: the images as stored (every paper preset).
    input_size: int | None = None
    random_resized_crop: bool = False
    mean: tuple[float, ...] = CIFAR_MEAN
    std: tuple[float, ...] = CIFAR_STD
    crop_padding: int = 4
    flip: bool = True
    # Augmentation of the outlier batches, which the reference sets per dataset: as the
    # in-distribution for CIFAR, flip only for SVHN and MNIST, none for Tiny ImageNet's
    # ImageNet-22K. None: as the in-distribution (preset_config fills it in; files written before
    # these fields existed read as None and keep training as they did).
    outlier_crop_padding: int | None = None
    outlier_flip: bool | None = None
    # Which outliers each step sees: "reference" reads consecutive records (the reference's
    # shuffle=False loader) starting each epoch at a random record when outlier_random_offset,
    # else at the first record (the reference's ImageNet-22K folder ignores its offset);
    # "uniform" draws shuffled passes over the whole set (batches.OutlierStream).
    outlier_order: str = "reference"
    outlier_random_offset: bool = True
    epochs: int = 100
    lr: float = 0.1
    batch_size: int = 128
    oe_batch_size: int = 256
    weight_decay: float = 5e-4
    momentum: float = 0.9
    lam: float = 0.5
    seed: int = 1
    num_classes: int | None = None
    # The cosine ends at the absolute lr_min (the reference's LambdaLR factor 1e-6 / lr). Runs
    # written before it record lr_min_factor, a floor relative to lr, which then wins (lr_floor).
    lr_min: float = 1e-6
    lr_min_factor: float | None = None
    nesterov: bool = True
    init_from: str | None = None  # the baseline run an OE fine-tune starts from
    ood: list[str] = field(default_factory=list)
    # OOD examples per draw (evaluation/draws.py DRAW_SIZE_RULES): "exact" len(test) // 5, or
    # the reference's batch rule ("reference-image": whole batches of 200; the paper presets).
    ood_draw_size: str = "exact"
    # The evaluation protocol `oe eval` uses unless told: "paper" (the 2019 protocol, 1:5 draws,
    # evaluation/protocol.py) or "openood" (OpenOOD v1.5: full sets in near/far groups,
    # evaluation/openood.py; the presets that train as OpenOOD does).
    protocol: str = "paper"
    eval_batch_size: int = 200
    # Value range of synthetic noise in the model's input space: the reference makes its noise
    # in [-1, 1] for normalised CIFAR / Tiny ImageNet inputs and in [0, 1] for SVHN / MNIST.
    noise_range: tuple[float, float] = (-1.0, 1.0)
    # Training examples held out for temperature tuning (`--calibration`), e.g. "last:5000";
    # None: train on everything. See holdout.py.
    calibration_holdout: str | None = None
    # A fine-tune's accuracy guard (guard.py, `oe tune --max-accuracy-drop P`): keep the epoch
    # with the best validation criterion whose hold-out accuracy is at most P percentage points
    # below the starting weights'. None: no guard, the last epoch.
    max_accuracy_drop: float | None = None
    # Speed settings (issue 4); fp32 without them is the reference.
    precision: str = "fp32"  # fp32 | bf16 | fp16 (autocast)
    channels_last: bool = False
    compile: bool = False  # torch.compile
    sync_bn: bool = False  # SyncBatchNorm across processes (GPUs only)
    data_on: str = "auto"  # device | host | auto: where the uint8 training sets live
    # Fine-tuning loss (losses.training_loss): "oe" (the paper) or "energy" (Liu et al. 2020,
    # margins m_in / m_out on E = -logsumexp(z), weight energy_weight; presets set the margins).
    loss: str = "oe"
    m_in: float | str = -23.0  # or AUTO_MARGIN until the fine-tune starts
    m_out: float | str = -5.0
    energy_weight: float = 0.1
    # How auto margins were read (energy_margins.py: rule, quantiles, data); None: given.
    energy_margins: dict | None = None

    @classmethod
    def from_dict(cls, data, where: str = "config"):
        # A run folder written before `outlier_order` existed drew its outliers uniformly: it
        # keeps doing so on resume and in the fine-tunes that inherit from it.
        return super().from_dict({**LEGACY_DEFAULTS, **data}, where)

    def lr_floor(self) -> float:
        """Where the cosine ends, as a multiple of lr (setup.cosine_lr): the reference's
        `1e-6 / learning_rate`, or the recorded factor of a run from before lr_min."""
        if self.lr_min_factor is not None:
            return self.lr_min_factor
        return self.lr_min / self.lr

    def check(self) -> None:
        self.check_types()
        check_ranges(self)  # finite numbers in range (config_ranges.py)
        if self.mode not in MODES:
            raise UserInputError(f"mode {self.mode!r} is not one of {', '.join(MODES)}")
        if self.mode != "baseline" and not self.outliers:
            raise UserInputError(
                f"{self.mode} needs an outlier set: pass --outliers SPEC (e.g. noise:gaussian "
                "or npz:PATH)"
            )
        for name in ("batch_size", "oe_batch_size"):
            if getattr(self, name) < 1:
                raise UserInputError(f"--{name.replace('_', '-')} must be >= 1")
        # --epochs 0 with --weights: the weights as they are, as a run folder (a classifier
        # trained elsewhere, to evaluate, compare and fine-tune like any run).
        if self.epochs < (0 if self.weights else 1):
            raise UserInputError("--epochs must be >= 1 (0 only with --weights: the weights as "
                                 "they are)")
        if not 0 <= self.lr_min <= self.lr:
            raise UserInputError(
                f"lr_min {self.lr_min} must lie in [0, --lr {self.lr}]: it is where the cosine "
                "schedule ends; raise --lr or lower lr_min")
        self._check_outliers()
        from .precision import check as check_precision  # imports torch: only when checking

        check_precision(self.precision)
        self._check_input_size()
        self._check_guard()
        if self.protocol not in PROTOCOLS:
            raise UserInputError(f"protocol {self.protocol!r}: choose {' or '.join(PROTOCOLS)}")
        if self.data_on not in ("auto", "device", "host", "stream"):
            raise UserInputError(f"--data-on {self.data_on!r}: choose auto, device, host or stream")
        if len(self.mean) != self.image_shape[2] or len(self.std) != self.image_shape[2]:
            raise UserInputError("mean/std need one value per image channel")
        self._check_loss()

    def _check_outliers(self) -> None:
        if self.outlier_order not in OUTLIER_ORDERS:
            raise UserInputError(f"--outlier-order {self.outlier_order!r}: choose "
                                 f"{' or '.join(OUTLIER_ORDERS)}")
        if self.outlier_crop_padding is not None and self.outlier_crop_padding < 0:
            raise UserInputError(
                f"outlier_crop_padding {self.outlier_crop_padding} must be >= 0 (0: no crop)")

    def _check_input_size(self) -> None:
        if self.input_size is None:
            return
        h, w, _ = self.image_shape
        if not 1 <= self.input_size <= min(h, w):
            raise UserInputError(
                f"input size {self.input_size} must lie in [1, {min(h, w)}]: the model's input is "
                f"cropped from images stored at {h}x{w}; raise --image-size or store larger images")

    def _check_guard(self) -> None:
        budget = self.max_accuracy_drop
        if budget is None:
            return
        if not math.isfinite(budget) or budget < 0:
            raise UserInputError(f"--max-accuracy-drop {budget}: give the largest hold-out "
                                 "accuracy loss to accept, in percentage points (>= 0), e.g. 1")
        if self.mode != "oe-tune":
            raise UserInputError("--max-accuracy-drop guards a fine-tune: use it with "
                                 "`oe tune BASELINE_RUN`")
        if not self.calibration_holdout:
            raise UserInputError(
                "--max-accuracy-drop measures accuracy on the calibration hold-out, and this "
                "fine-tune has none: train its baseline with one (`oe train --calibration ... "
                "--out BASE`, the preset's split, or `--calibration random:0.1`), then "
                "`oe tune BASE --max-accuracy-drop P`")

    def _check_loss(self) -> None:
        from ..losses import LOSSES  # imports torch: only when checking

        if self.loss not in LOSSES:
            raise UserInputError(f"--loss {self.loss!r}: choose one of {', '.join(LOSSES)}")
        auto = self._check_margins()
        if auto and self.loss != "energy":
            raise UserInputError(f"--{auto[0].replace('_', '-')} auto reads a margin of the "
                                 "energy loss from the baseline: add --loss energy")
        if self.loss == "energy":
            if self.mode != "oe-tune":
                raise UserInputError("--loss energy is a fine-tune: use it with `oe tune BASELINE`")
            if not auto and not self.m_in < self.m_out:
                raise UserInputError(
                    f"--m-in {self.m_in} must be below --m-out {self.m_out}: in-distribution "
                    "energies are pushed under m_in, outlier energies over m_out")
            if self.energy_weight < 0:
                raise UserInputError(f"--energy-weight must be >= 0, got {self.energy_weight}")

    def _check_margins(self) -> list[str]:
        """The margins that are `auto` (each margin is a finite number or AUTO_MARGIN)."""
        auto = []
        for name in ("m_in", "m_out"):
            value = getattr(self, name)
            if value == AUTO_MARGIN:
                auto.append(name)
            elif isinstance(value, str):  # numbers are finite: check_ranges ran first
                raise UserInputError(f"--{name.replace('_', '-')} {value!r}: give a number "
                                     f"(e.g. -23) or {AUTO_MARGIN}")
        return auto


# Where a mode's defaults differ from the baseline's: the paper's fine-tune schedule.
MODE_DEFAULTS = {"oe-tune": dict(epochs=10, lr=0.001)}

# What an OE fine-tune takes from its preset's fine-tune recipe instead of from its baseline:
# the outliers, the optimisation schedule and the loss; the class count is counted again from
# the training data. Everything else is the baseline's: data, model, input format, batch size,
# weight decay, seed, OOD sets, speed settings, and calibration_holdout (so the fine-tune never
# trains on the images held out for calibration).
TUNE_RESETS = (
    "outliers", "epochs", "lr", "lr_min", "lr_min_factor", "momentum", "nesterov", "oe_batch_size",
    "lam", "loss", "m_in", "m_out", "energy_weight", "energy_margins", "num_classes",
    "outlier_order", "outlier_random_offset", "outlier_crop_padding", "outlier_flip", "weights",
)


def config_from_preset(preset_name: str, mode: str, **overrides: Any) -> RunConfig:
    """The preset's values for `mode`, with every non-None override applied; checked."""
    cfg = preset_config(preset_name, mode, **overrides)
    cfg.check()
    return cfg


def preset_config(preset_name: str, mode: str, *, require_data: bool = True,
                  **overrides: Any) -> RunConfig:
    """`config_from_preset` without the value checks (which load torch): for listing presets.
    `require_data=False` lets a preset without data of its own (`pretrained`) resolve, with
    train and test None."""
    p = get_preset(preset_name)
    if mode not in MODES:
        raise UserInputError(f"mode {mode!r} is not one of {', '.join(MODES)}")
    overrides = dict(overrides)
    image_size = overrides.pop("image_size", None)
    values = resolve_preset(RunConfig, p, mode, overrides, MODE_DEFAULTS)
    if image_size is not None:
        values.update(sized_inputs(values, image_size))
    if values.get("weights") and overrides.get("mean") is None:
        values.update(pretrained_normalisation(values.get("model", RunConfig.model),
                                               values.get("model_kwargs") or {}))
    # Outlier augmentation not named by the preset or a flag: the in-distribution's.
    for outlier_field, own in (("outlier_crop_padding", "crop_padding"), ("outlier_flip", "flip")):
        if values.get(outlier_field) is None:
            values[outlier_field] = values.get(own, getattr(RunConfig, own))
    for required in ("train", "test"):
        values.setdefault(required, None)
        if not values.get(required) and require_data:
            raise UserInputError(
                f"preset {p.name!r} has no default --{required} data; name it with a spec, "
                f"e.g. --{required} npz:PATH:x_{required},y_{required}"
            )
    return RunConfig(**values)


def sized_inputs(values: dict, image_size: int) -> dict:
    """`--image-size N`: the model sees N x N. A preset that crops its inputs out of larger stored
    images (ImageNet-style: 224 out of 256) keeps its ratio (N = 224 -> stored 256); any other
    stores its images at N x N."""
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
        raise UserInputError(f"--image-size must be a positive integer, got {image_size!r}")
    stored_h, _, channels = values.get("image_shape", RunConfig.image_shape)
    input_size = values.get("input_size")
    if input_size:
        stored = round(image_size * stored_h / input_size)
        return {"image_shape": (stored, stored, channels), "input_size": image_size}
    return {"image_shape": (image_size, image_size, channels), "input_size": None}


def pretrained_normalisation(model: str, model_kwargs: dict) -> dict:
    """The mean and std a torchvision / timm model's pretrained weights were trained with (its
    weights' metadata or timm's pretrained config), which a run starting from `--weights` must
    use; {} for other models (the preset's values stand)."""
    from ..models import is_external, model_preprocessing  # imports torch: only with --weights

    if not is_external(model):
        return {}
    meta = model_preprocessing(model, **model_kwargs)
    if not meta:
        return {}
    return {"mean": tuple(meta["mean"]), "std": tuple(meta["std"])}


def load_config(run_dir: Path) -> RunConfig:
    """The configuration saved in a run folder."""
    run_dir = Path(run_dir)
    path = run_dir / CONFIG_FILE
    if not path.exists():
        raise UserInputError(
            f"{run_dir} is not a run folder (no {CONFIG_FILE}); pass the --out folder of "
            "`oe train` or `oe tune`"
        )
    cfg = RunConfig.from_file(path)
    try:  # the values too: a hand-edited file may hold any number
        cfg.check()
    except UserInputError as exc:
        raise UserInputError(f"{path}: {exc}. The file was edited or is damaged: restore it "
                             "from a copy, or start a new run") from None
    return cfg


def tune_config(baseline_dir: Path, **overrides: Any) -> RunConfig:
    """The OE fine-tune of a baseline run: the baseline's configuration with `TUNE_RESETS` taken
    from the preset's fine-tune recipe; non-None `overrides` win."""
    base = load_config(baseline_dir)
    inherited = fine_tune_values(base, TUNE_RESETS + ("init_from",))
    inherited.update({k: v for k, v in overrides.items() if v is not None})
    return config_from_preset(base.preset, "oe-tune", init_from=str(baseline_dir), **inherited)
