"""Presets: the reference hyper-parameters of each experiment (PROTOCOL.md section 1).

A preset fixes the model, the input format (image shape, normalisation, augmentation) and the
three recipes (baseline, OE fine-tune, OE from scratch). Anything can be overridden by a flag;
the resolved values are saved with every run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import UserInputError

CIFAR_MEAN = (125.3 / 255, 123.0 / 255, 113.9 / 255)
CIFAR_STD = (63.0 / 255, 62.1 / 255, 66.7 / 255)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Recipe:
    """One optimisation schedule: SGD (Nesterov) with a per-iteration cosine to `lr * 1e-6`."""

    epochs: int
    lr: float


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    model: str
    model_kwargs: dict = field(default_factory=dict)
    image_shape: tuple[int, int, int] = (32, 32, 3)
    mean: tuple[float, ...] = CIFAR_MEAN
    std: tuple[float, ...] = CIFAR_STD
    crop_padding: int = 0
    flip: bool = False
    baseline: Recipe = Recipe(100, 0.1)
    tune: Recipe = Recipe(10, 0.001)
    scratch: Recipe = Recipe(100, 0.1)
    batch_size: int = 128
    oe_batch_size: int = 256
    weight_decay: float = 5e-4
    momentum: float = 0.9
    lam: float = 0.5
    eval_batch_size: int = 200
    # Default data specs (None: the user names them on the command line).
    train: str | None = None
    test: str | None = None
    outliers: str | None = None
    ood: tuple[str, ...] = ()


_CIFAR = dict(
    image_shape=(32, 32, 3), mean=CIFAR_MEAN, std=CIFAR_STD, crop_padding=4, flip=True,
    baseline=Recipe(100, 0.1), tune=Recipe(10, 0.001), scratch=Recipe(100, 0.1),
    batch_size=128, oe_batch_size=256, weight_decay=5e-4,
)
_CIFAR_OOD = ("noise:gaussian", "noise:rademacher", "noise:blobs")

PRESETS: dict[str, Preset] = {}


def _add(preset: Preset) -> None:
    PRESETS[preset.name] = preset


_add(Preset("cifar10-wrn", "CIFAR-10, WRN-40-2 (dropout 0.3)", "wrn",
            dict(depth=40, widen_factor=2, dropout=0.3), ood=_CIFAR_OOD, **_CIFAR))
_add(Preset("cifar100-wrn", "CIFAR-100, WRN-40-2 (dropout 0.3)", "wrn",
            dict(depth=40, widen_factor=2, dropout=0.3), ood=_CIFAR_OOD, **_CIFAR))
_add(Preset("cifar10-allconv", "CIFAR-10, AllConvNet", "allconv", ood=_CIFAR_OOD, **_CIFAR))
_add(Preset("cifar100-allconv", "CIFAR-100, AllConvNet", "allconv", ood=_CIFAR_OOD, **_CIFAR))
_add(Preset(
    "svhn-wrn", "SVHN, WRN-16-4 (dropout 0.4), inputs in [0, 1], no augmentation", "wrn",
    dict(depth=16, widen_factor=4, dropout=0.4), mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0),
    baseline=Recipe(20, 0.01), tune=Recipe(5, 0.0001), scratch=Recipe(20, 0.01),
))
_add(Preset(
    "tinyimagenet-wrn", "Tiny ImageNet 64x64, WRN-40-2 (dropout 0.3)", "wrn",
    dict(depth=40, widen_factor=2, dropout=0.3), image_shape=(64, 64, 3),
    mean=IMAGENET_MEAN, std=IMAGENET_STD, crop_padding=8, flip=True, oe_batch_size=180,
))
_add(Preset(
    "mnist-convnet", "MNIST 28x28 grey, LeNet-style ConvNet, inputs in [0, 1]", "convnet",
    image_shape=(28, 28, 1), mean=(0.0,), std=(1.0,),
    baseline=Recipe(10, 0.01), tune=Recipe(5, 0.01), scratch=Recipe(10, 0.01),
    batch_size=50, oe_batch_size=100, weight_decay=0.0,
))
# The offline quickstart: scikit-learn's digits at 16x16, a small CNN, inputs in [-1, 1].
_add(Preset(
    "quickstart", "scikit-learn digits 16x16 grey, small CNN (offline demo, CPU-sized)",
    "small-cnn", dict(width=32), image_shape=(16, 16, 1), mean=(0.5,), std=(0.5,),
    baseline=Recipe(15, 0.05), tune=Recipe(10, 0.01), scratch=Recipe(15, 0.05),
    batch_size=50, oe_batch_size=100, weight_decay=5e-4,
    train="digits:train", test="digits:test", outliers="skimage-photos",
    ood=("skimage-textures", "sklearn-photos", "lfw-faces", "noise:gaussian", "noise:rademacher",
         "noise:blobs"),
))


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise UserInputError(
            f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)} (see `oe presets`)"
        )
    return PRESETS[name]
