"""The resolved configuration of one run: preset defaults, then flags. Saved as config.json."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ..errors import UserInputError
from .presets import get_preset

MODES = ("baseline", "oe-tune", "oe-scratch")


@dataclass
class RunConfig:
    mode: str  # baseline | oe-tune | oe-scratch
    preset: str
    train: str
    test: str
    outliers: str | None
    model: str
    model_kwargs: dict
    image_shape: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    crop_padding: int
    flip: bool
    epochs: int
    lr: float
    batch_size: int
    oe_batch_size: int
    weight_decay: float
    momentum: float
    lam: float
    seed: int = 1
    num_classes: int | None = None
    lr_min_factor: float = 1e-6
    nesterov: bool = True
    init_from: str | None = None  # the baseline run an OE fine-tune starts from
    ood: list[str] = field(default_factory=list)
    eval_batch_size: int = 200
    noise_range: tuple[float, float] = (-1.0, 1.0)
    # Training examples held out for temperature tuning (`--calibration`), e.g. "last:5000";
    # None: train on everything. See calibration_split.py.
    calibration_holdout: str | None = None
    # Speed settings (issue 4); fp32 without them is the reference.
    precision: str = "fp32"  # fp32 | bf16 | fp16 (autocast)
    channels_last: bool = False
    compile: bool = False  # torch.compile
    sync_bn: bool = False  # SyncBatchNorm across processes (GPUs only)
    data_on: str = "auto"  # device | host | auto: where the uint8 training sets live
    # Fine-tuning loss (losses.training_loss): "oe" (the paper) or "energy" (Liu et al. 2020,
    # margins m_in / m_out on E = -logsumexp(z), weight energy_weight; presets set the margins).
    loss: str = "oe"
    m_in: float = -23.0
    m_out: float = -5.0
    energy_weight: float = 0.1

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for key in ("image_shape", "mean", "std", "noise_range"):
            if key in values:
                values[key] = tuple(values[key])
        return cls(**values)

    def check(self) -> None:
        if self.mode not in MODES:
            raise UserInputError(f"mode {self.mode!r} is not one of {', '.join(MODES)}")
        if self.mode != "baseline" and not self.outliers:
            raise UserInputError(
                f"{self.mode} needs an outlier set: pass --outliers SPEC (e.g. noise:gaussian "
                "or npz:PATH)"
            )
        for name in ("epochs", "batch_size", "oe_batch_size"):
            if getattr(self, name) < 1:
                raise UserInputError(f"--{name.replace('_', '-')} must be >= 1")
        if self.lr <= 0:
            raise UserInputError("--lr must be > 0")
        from .precision import check as check_precision

        check_precision(self.precision)
        if self.data_on not in ("auto", "device", "host"):
            raise UserInputError(f"--data-on {self.data_on!r}: choose auto, device or host")
        if len(self.mean) != self.image_shape[2] or len(self.std) != self.image_shape[2]:
            raise UserInputError("mean/std need one value per image channel")
        from ..losses import LOSSES

        if self.loss not in LOSSES:
            raise UserInputError(f"--loss {self.loss!r}: choose one of {', '.join(LOSSES)}")
        if self.loss == "energy":
            if self.mode != "oe-tune":
                raise UserInputError("--loss energy is a fine-tune: use it with `oe tune BASELINE`")
            if not self.m_in < self.m_out:
                raise UserInputError(
                    f"--m-in {self.m_in} must be below --m-out {self.m_out}: in-distribution "
                    "energies are pushed under m_in, outlier energies over m_out")
            if self.energy_weight < 0:
                raise UserInputError(f"--energy-weight must be >= 0, got {self.energy_weight}")


def config_from_preset(preset_name: str, mode: str, **overrides: Any) -> RunConfig:
    """The preset's values for `mode`, with every non-None override applied."""
    p = get_preset(preset_name)
    recipe = {"baseline": p.baseline, "oe-tune": p.tune, "oe-scratch": p.scratch}.get(mode)
    if recipe is None:
        raise UserInputError(f"mode {mode!r} is not one of {', '.join(MODES)}")
    values: dict[str, Any] = dict(
        mode=mode, preset=p.name, train=p.train, test=p.test, outliers=p.outliers,
        model=p.model, model_kwargs=dict(p.model_kwargs), image_shape=p.image_shape,
        mean=p.mean, std=p.std, crop_padding=p.crop_padding, flip=p.flip,
        epochs=recipe.epochs, lr=recipe.lr, batch_size=p.batch_size,
        oe_batch_size=p.oe_batch_size, weight_decay=p.weight_decay, momentum=p.momentum,
        lam=p.lam, ood=list(p.ood), eval_batch_size=p.eval_batch_size,
        noise_range=p.noise_range, m_in=p.energy_m_in, m_out=p.energy_m_out,
    )
    values.update({k: v for k, v in overrides.items() if v is not None})
    for required in ("train", "test"):
        if not values.get(required):
            raise UserInputError(
                f"preset {p.name!r} has no default --{required} data; name it with a spec, "
                f"e.g. --{required} npz:PATH:x_{required},y_{required}"
            )
    if mode == "baseline":
        values["outliers"] = None
    cfg = RunConfig(**values)
    cfg.check()
    return cfg
