"""Classifiers from torchvision, timm or the user's own code, behind our model protocol.

Names (the prefix picks the source; the rest is passed on as given, case included):

- ``"torchvision:NAME"``: any name `torchvision.models.get_model` knows (``torchvision:resnet18``).
  Built with ``weights=None``: nothing is downloaded; pretrained weights come from a local file
  (`models.weights`).
- ``"timm:NAME"``: any timm architecture (``timm:convnext_tiny``), built with
  ``pretrained=False`` and ``in_chans=in_channels``.
- ``"python:package.module:factory"``: a callable returning an `nn.Module`, called with
  ``num_classes=`` (and ``in_channels=`` when its signature names it) plus the user's kwargs.

`ExternalClassifier` gives each of them what the rest of the package relies on: `.num_classes`,
`.feature_dim`, `.features(x)` (the input of the final linear layer) and `forward(x)` (logits),
with ``classifier_head(model)(model.features(x)) == model(x)``. The library model lives in
`self.net`, so our state-dict keys are ``"net." +`` the library's own keys, and a checkpoint of
either layout can be loaded (`models.weights.load_pretrained`).

torch, torchvision and timm are imported inside the functions: `import outlier_exposure`
must stay light, and timm is optional.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from outlier_exposure.errors import UserInputError

PREFIXES = ("torchvision:", "timm:", "python:")
# How the features are computed: timm's own pre-logits path, the wrapped model's own
# `features` (our protocol), or the head's input captured by a hook during a forward pass.
_TIMM, _OWN, _HOOK = "timm", "own", "hook"
_PREPROCESSING_KEYS = ("mean", "std", "input_size", "crop_pct", "interpolation")


def is_external(name: Any) -> bool:
    """Whether `name` names a torchvision, timm or user-code model (by its prefix)."""
    return isinstance(name, str) and name.strip().lower().startswith(PREFIXES)


def _split(name: str) -> tuple[str, str]:
    """'timm:resnet18' -> ('timm', 'resnet18'); the prefix is case-insensitive, the rest kept."""
    prefix, _, rest = name.strip().partition(":")
    rest = rest.strip()
    if not rest:
        raise UserInputError(f"model {name!r} names no architecture after {prefix + ':'!r}, "
                             "e.g. 'torchvision:resnet18', 'timm:convnext_tiny' or "
                             "'python:mypackage.models:make_net'.")
    return prefix.lower(), rest


class ExternalClassifier(nn.Module):
    """A library or user classifier with our model protocol.

    The head is found once and kept by its dotted path (`head_name`), not as an attribute:
    registering it twice would duplicate its keys in the state dict.
    """

    def __init__(self, net: nn.Module, name: str, head_name: str, feature_source: str,
                 num_classes: int, feature_dim: int):
        super().__init__()
        self.net = net
        self.name = name
        self.head_name = head_name
        self.num_classes = num_classes
        self.feature_dim = feature_dim
        self._feature_source = feature_source
        self._captured: list[torch.Tensor] | None = None  # set only while `features` runs
        if feature_source == _HOOK:
            # A bound method (not a closure), so that copy.deepcopy rebinds it to the copy.
            self.head().register_forward_pre_hook(self._capture_head_input)

    def head(self) -> nn.Linear:
        """The final linear layer (features -> logits)."""
        return self.net.get_submodule(self.head_name)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _logits_of(self.net(x))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations (B, feature_dim): exactly what the head receives."""
        if self._feature_source == _TIMM:
            return self.net.forward_head(self.net.forward_features(x), pre_logits=True)
        if self._feature_source == _OWN:
            return self.net.features(x)
        # Torchvision-style models have no features method: run the whole model and keep what
        # the head was given. The list is fresh per call, so nothing outlives the call; under
        # torch.jit.trace the hook runs while tracing and the tensor is part of the trace.
        captured: list[torch.Tensor] = []
        self._captured = captured
        try:
            self.net(x)
        finally:
            self._captured = None
        if not captured:
            raise RuntimeError(f"the head {self.head_name} of {self.name} was not called "
                               "during the forward pass")
        return captured[-1]

    def _capture_head_input(self, module: nn.Module, args: tuple) -> None:
        if self._captured is not None:
            self._captured.append(args[0])

    def extra_repr(self) -> str:
        return f"name={self.name!r}, head={self.head_name!r}, feature_dim={self.feature_dim}"


def _logits_of(out: Any) -> torch.Tensor:
    """The logits of a model output: the tensor itself, or the `.logits` of a structured
    output (torchvision's Inception/GoogLeNet return one with auxiliary logits in training)."""
    if isinstance(out, torch.Tensor):
        return out
    logits = getattr(out, "logits", None)
    if isinstance(logits, torch.Tensor):
        return logits
    raise UserInputError(f"the model returned a {type(out).__name__}, not a logits tensor; "
                         "wrap it so that forward(x) returns (B, num_classes) logits")


def build_external(name: str, num_classes: int, in_channels: int = 3, **kw) -> ExternalClassifier:
    """Build the model `name` ('torchvision:...', 'timm:...' or 'python:module:factory')."""
    source, arch = _split(name)
    if source == "timm":
        return _build_timm(name, arch, num_classes, in_channels, kw)
    if source == "torchvision":
        return _build_torchvision(name, arch, num_classes, in_channels, kw)
    return _build_python(name, arch, num_classes, in_channels, kw)


# --- timm -------------------------------------------------------------------------------------

def _import_timm(name: str):
    try:
        import timm
    except ImportError:
        raise UserInputError(f"model {name!r} needs the timm package: pip install -e \".[timm]\" "
                             "(or pip install timm)") from None
    return timm


def _check_timm_name(timm, name: str, arch: str) -> None:
    base = arch.split(".", 1)[0]  # 'resnet18.a1_in1k' -> 'resnet18' (a pretrained tag)
    if not timm.is_model(base):
        raise UserInputError(f"unknown timm model {arch!r} in {name!r}; list the names with "
                             "python -c \"import timm; print(timm.list_models('resnet*'))\".")


def _build_timm(name: str, arch: str, num_classes: int, in_channels: int,
                kw: dict) -> ExternalClassifier:
    timm = _import_timm(name)
    _check_timm_name(timm, name, arch)
    net = _construct(name, lambda: timm.create_model(
        arch, pretrained=False, num_classes=num_classes, in_chans=in_channels, **kw))
    head = net.get_classifier()
    # pre_logits is the head's input; for models with a hidden head layer it differs from
    # num_features, so the head's in_features is the feature size.
    return _wrap(net, name, _linear_head(name, net, head, num_classes), _TIMM, num_classes)


# --- torchvision ------------------------------------------------------------------------------

def _build_torchvision(name: str, arch: str, num_classes: int, in_channels: int,
                       kw: dict) -> ExternalClassifier:
    import torchvision

    if arch not in torchvision.models.list_models():
        raise UserInputError(f"unknown torchvision model {arch!r} in {name!r}; list the names "
                             "with python -c \"import torchvision; "
                             "print(torchvision.models.list_models())\".")
    if in_channels != 3:
        raise UserInputError(f"model {name!r} takes 3-channel images only, not {in_channels}; "
                             f"use a timm model (it takes in_chans), e.g. 'timm:{arch}', or "
                             "3-channel data.")
    net = _construct(name, lambda: torchvision.models.get_model(
        arch, weights=None, num_classes=num_classes, **kw))
    return _wrap(net, name, _last_linear(name, net, num_classes), _HOOK, num_classes)


# --- user code --------------------------------------------------------------------------------

def _factory(name: str, target: str) -> Callable[..., nn.Module]:
    """The callable 'package.module:factory' names, or UserInputError saying what is wrong."""
    module_name, _, attr = target.rpartition(":")
    if not module_name or not attr:
        raise UserInputError(f"model {name!r} must look like 'python:package.module:factory' "
                             "(a module path, a colon, a callable returning an nn.Module).")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UserInputError(f"model {name!r}: module {module_name!r} could not be imported "
                             f"({exc}); it must be importable, e.g. on PYTHONPATH or installed."
                             ) from None
    factory = getattr(module, attr, None)
    if factory is None or not callable(factory):
        raise UserInputError(f"model {name!r}: module {module_name!r} has no callable "
                             f"{attr!r}; name a function or class that returns an nn.Module.")
    return factory


def _takes(fn: Callable, param: str) -> bool:
    try:
        return param in inspect.signature(fn).parameters
    except (TypeError, ValueError):  # builtins without a signature
        return False


def _build_python(name: str, target: str, num_classes: int, in_channels: int,
                  kw: dict) -> ExternalClassifier:
    factory = _factory(name, target)
    # in_channels only when named: many factories forward **kwargs to a constructor that would
    # reject it.
    extra = {"in_channels": in_channels} if _takes(factory, "in_channels") else {}
    net = _construct(name, lambda: factory(num_classes=num_classes, **extra, **kw))
    if not isinstance(net, nn.Module):
        raise UserInputError(f"model {name!r}: the factory returned a {type(net).__name__}, "
                             "not a torch.nn.Module.")
    if all(hasattr(net, a) for a in ("features", "feature_dim", "num_classes")):
        if net.num_classes != num_classes:
            raise UserInputError(f"model {name!r} has num_classes={net.num_classes}, but the "
                                 f"run needs {num_classes}; the factory must use num_classes.")
        head = _matching_linears(net, net.feature_dim, num_classes)
        if not head:
            raise UserInputError(f"model {name!r} has no nn.Linear from its feature_dim "
                                 f"({net.feature_dim}) to num_classes ({num_classes}); "
                                 "forward(x) must be a linear layer of features(x).")
        return _wrap(net, name, head[-1], _OWN, num_classes)
    return _wrap(net, name, _last_linear(name, net, num_classes), _HOOK, num_classes)


# --- shared -----------------------------------------------------------------------------------

def _construct(name: str, make: Callable[[], nn.Module]) -> nn.Module:
    """Run a constructor; a TypeError there means options it does not take."""
    try:
        return make()
    except TypeError as exc:
        raise UserInputError(f"model {name!r} could not be built with these options ({exc}); "
                             "check the keyword arguments against its constructor.") from None


def _matching_linears(net: nn.Module, in_features: int, out_features: int) -> list[nn.Linear]:
    return [m for m in net.modules() if isinstance(m, nn.Linear)
            and m.in_features == in_features and m.out_features == out_features]


def _last_linear(name: str, net: nn.Module, num_classes: int) -> nn.Linear:
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise UserInputError(f"model {name!r} has no nn.Linear classifier head; this package "
                             "needs logits = Linear(features).")
    return _linear_head(name, net, linears[-1], num_classes)


def _linear_head(name: str, net: nn.Module, head: Any, num_classes: int) -> nn.Linear:
    if not isinstance(head, nn.Linear) or head.out_features != num_classes:
        raise UserInputError(
            f"model {name!r} does not end in one nn.Linear to {num_classes} classes (its "
            f"classifier is a {type(head).__name__}); this package needs logits = "
            "Linear(features) for its post-hoc scores: pick another architecture.")
    return head


def _wrap(net: nn.Module, name: str, head: nn.Linear, feature_source: str,
          num_classes: int) -> ExternalClassifier:
    path = next(n for n, m in net.named_modules() if m is head)
    # classifier_head() picks the last Linear of this shape: it must be this head.
    if _matching_linears(net, head.in_features, num_classes)[-1] is not head:
        raise UserInputError(f"model {name!r} has another linear layer of the head's shape "
                             f"after its head {path}; its features cannot be told apart.")
    return ExternalClassifier(net, name, path, feature_source, num_classes, head.in_features)


# --- preprocessing ----------------------------------------------------------------------------

def model_preprocessing(name: str, **kw) -> dict | None:
    """What the model expects of its inputs (for pretrained weights), without downloading:
    {"mean", "std", "input_size", "crop_pct", "interpolation"}, or None when it says nothing."""
    source, arch = _split(name)
    if source == "timm":
        return _timm_preprocessing(name, arch, kw)
    if source == "torchvision":
        return _torchvision_preprocessing(name, arch)
    _factory(name, arch)  # the same checks and errors as building the model
    # The module the name gives (not the factory's __module__: it may be re-exported there).
    module = importlib.import_module(arch.rpartition(":")[0])
    given = getattr(module, "PREPROCESSING", None)
    if given is None:
        return None
    if not isinstance(given, dict) or set(_PREPROCESSING_KEYS) - set(given):
        raise UserInputError(f"model {name!r}: PREPROCESSING in {module.__name__} must be a "
                             f"dict with keys {list(_PREPROCESSING_KEYS)}.")
    return _preprocessing(**{k: given[k] for k in _PREPROCESSING_KEYS})


def _preprocessing(mean, std, input_size, crop_pct, interpolation) -> dict:
    return {"mean": tuple(float(v) for v in mean), "std": tuple(float(v) for v in std),
            "input_size": int(input_size), "crop_pct": float(crop_pct),
            "interpolation": str(interpolation)}


def _timm_preprocessing(name: str, arch: str, kw: dict) -> dict | None:
    timm = _import_timm(name)
    _check_timm_name(timm, name, arch)
    cfg = timm.get_pretrained_cfg(arch)
    cfg = cfg.to_dict() if cfg is not None else None
    if cfg is None:  # no registered weights: the cfg the model builds for itself
        cfg = _construct(name, lambda: timm.create_model(arch, pretrained=False, **kw)
                         ).pretrained_cfg
    if not cfg or "mean" not in cfg or "input_size" not in cfg:
        return None
    size = cfg["input_size"][-2]  # (C, H, W) -> H
    if "img_size" in kw:  # the model is built for this size, whatever the weights used
        size = kw["img_size"] if isinstance(kw["img_size"], int) else kw["img_size"][0]
    return _preprocessing(cfg["mean"], cfg["std"], size, cfg.get("crop_pct") or 0.875,
                          cfg.get("interpolation") or "bicubic")


def _torchvision_preprocessing(name: str, arch: str) -> dict | None:
    import torchvision

    if arch not in torchvision.models.list_models():
        raise UserInputError(f"unknown torchvision model {arch!r} in {name!r}; list the names "
                             "with torchvision.models.list_models().")
    try:
        weights = torchvision.models.get_model_weights(arch)
    except ValueError:  # an architecture without a weights enum
        return None
    t = weights.DEFAULT.transforms()  # a transform object: building it downloads nothing
    if not all(hasattr(t, a) for a in ("mean", "std", "crop_size", "resize_size")):
        return None
    crop, resize = t.crop_size[0], t.resize_size[0]
    interpolation = getattr(t, "interpolation", "bilinear")
    return _preprocessing(t.mean, t.std, crop, crop / resize,
                          getattr(interpolation, "value", interpolation))
