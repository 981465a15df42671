"""Model registry: `create_model(name, num_classes, in_channels=3, **kw)` and `model_names()`.

Names:
- ``"wrn"``: WideResNet; kwargs `depth` (required), `widen_factor` (1), `dropout` (0.0).
- ``"wrn-DEPTH-K"``, e.g. ``"wrn-40-2"``, ``"wrn-16-4"``: WideResNet with depth and widen factor
  from the name; kwargs may add `dropout`.
- ``"allconv"``: the reference CIFAR AllConvNet (32x32).
- ``"allconv-64"``: the reference Tiny ImageNet AllConvNet (64x64; ReLU, an extra 2x2 pool).
- ``"convnet"``: the reference MNIST ConvNet (28x28; pass ``in_channels=1``).
- ``"small-cnn"``: a small fast CNN for CPU runs; kwarg `width` (32).
- ``"resnet18-32"``: OpenOOD v1.5's CIFAR ResNet-18 for 32x32 inputs (3x3 stem, no max-pool);
  its state-dict keys are OpenOOD's, so OpenOOD's released checkpoints load with `--weights`.
- ``"torchvision:NAME"`` (e.g. ``"torchvision:resnet18"``), ``"timm:NAME"`` (e.g.
  ``"timm:convnext_tiny"``; needs timm) and ``"python:package.module:factory"`` (your own
  nn.Module): any classifier of those libraries or your code, built without downloading
  anything (`external.py`); kwargs go to its constructor. Load pretrained weights from a local
  file with `load_pretrained(model, read_weights(path), path)` (`weights.py`), and ask
  `model_preprocessing(name)` for the input normalisation and size the weights expect.

Every model has `.num_classes`, `.feature_dim`, `.features(x)` (penultimate activations,
(B, feature_dim)) and `forward(x)` (logits, (B, num_classes)), with `forward(x)` a final
linear layer of `features(x)`.
"""

import inspect
import re
from collections.abc import Callable

from torch import nn

from outlier_exposure.errors import UserInputError
from outlier_exposure.models.allconv import AllConvNet
from outlier_exposure.models.allconv_tin import AllConvNet64
from outlier_exposure.models.convnet import ConvNet
from outlier_exposure.models.external import (
    ExternalClassifier,
    build_external,
    is_external,
    model_preprocessing,
)
from outlier_exposure.models.resnet_cifar import ResNet18_32
from outlier_exposure.models.small_cnn import SmallCNN
from outlier_exposure.models.weights import load_pretrained, read_weights
from outlier_exposure.models.wrn import WideResNet

__all__ = [
    "AllConvNet",
    "AllConvNet64",
    "ConvNet",
    "ExternalClassifier",
    "ResNet18_32",
    "SmallCNN",
    "WideResNet",
    "create_model",
    "is_external",
    "load_pretrained",
    "model_names",
    "model_preprocessing",
    "read_weights",
]

_REGISTRY: dict[str, Callable[..., nn.Module]] = {
    "allconv": AllConvNet,
    "allconv-64": AllConvNet64,
    "convnet": ConvNet,
    "resnet18-32": ResNet18_32,
    "small-cnn": SmallCNN,
    "wrn": WideResNet,
}
# The WRNs of the reference experiments; any other "wrn-DEPTH-K" is accepted too.
_WRN_SHORTHANDS = ("wrn-16-4", "wrn-40-2")
_WRN_PATTERN = re.compile(r"wrn-(\d+)-(\d+)")
# Set by create_model itself, never through **kw.
_POSITIONAL = ("num_classes", "in_channels")


def model_names() -> list[str]:
    """The model names `create_model` knows (plus any "wrn-DEPTH-K" and any
    "torchvision:NAME", "timm:NAME" or "python:module:factory")."""
    return sorted(_REGISTRY) + list(_WRN_SHORTHANDS)


def create_model(name: str, num_classes: int, in_channels: int = 3, **kw) -> nn.Module:
    """Build model `name` for `num_classes` classes on `in_channels`-channel images.

    Raises UserInputError for an unknown name, a kwarg the model does not take, or a bad value.
    """
    if is_external(name):  # case kept: python module paths are case-sensitive
        return build_external(name, num_classes, in_channels, **kw)
    key = name.strip().lower() if isinstance(name, str) else None
    match = _WRN_PATTERN.fullmatch(key) if key else None
    if match:
        clash = sorted({"depth", "widen_factor"} & kw.keys())
        if clash:
            raise UserInputError(
                f"model {name!r} already fixes depth and widen_factor; drop {clash} or use "
                "name 'wrn' with depth=..., widen_factor=...."
            )
        kw = {"depth": int(match[1]), "widen_factor": int(match[2]), **kw}
        key = "wrn"
    if key not in _REGISTRY:
        raise UserInputError(
            f"unknown model {name!r}; known models: {', '.join(model_names())} "
            "(or any 'wrn-DEPTH-K', e.g. 'wrn-28-10', or 'torchvision:NAME', 'timm:NAME', "
            "'python:package.module:factory')."
        )
    builder = _REGISTRY[key]
    _check_kwargs(name, builder, kw)
    return builder(num_classes=num_classes, in_channels=in_channels, **kw)


def _check_kwargs(name: str, builder: Callable[..., nn.Module], kw: dict) -> None:
    params = inspect.signature(builder).parameters
    accepted = [p for p in params if p not in _POSITIONAL]
    unknown = sorted(set(kw) - set(accepted))
    if unknown:
        raise UserInputError(
            f"model {name!r} does not take {unknown}; it takes {accepted or 'no options'}. "
            f"Known models: {', '.join(model_names())}."
        )
    missing = [
        p for p, spec in params.items()
        if p not in _POSITIONAL and spec.default is inspect.Parameter.empty and p not in kw
    ]
    if missing:
        raise UserInputError(
            f"model {name!r} needs {missing} as keyword arguments, e.g. "
            "create_model('wrn', 10, depth=40, widen_factor=2), or use a shorthand like 'wrn-40-2'."
        )
