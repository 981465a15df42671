"""Pretrained weights from a local file, read without running code and checked before loading.

`read_weights(path)` gives the file's tensors by name: ``.safetensors`` files through
safetensors, anything else through ``torch.load(weights_only=True)``, which refuses files
holding pickled Python objects (unpickling can run arbitrary code). Common checkpoint
containers ({"state_dict": ...}, {"model": ...}, DDP's "module." prefix) are unwrapped.

`load_pretrained(model, state, source)` loads them into a model: every tensor must fit,
except the classifier head, which may differ in its number of classes (ImageNet weights into a
10-class run) and then keeps its fresh initialisation. Anything else that does not fit is one
error listing what is missing, unexpected or of another shape.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

from outlier_exposure.errors import UserInputError
from outlier_exposure.models.external import ExternalClassifier

# Keys under which training scripts nest the state dict (timm's train.py, Lightning-style and
# hand-written loops, ours); the first that holds a dict of tensors wins.
_CONTAINER_KEYS = ("state_dict", "model", "model_state_dict", "module")
# Prefixes wrappers add to every key: DistributedDataParallel / DataParallel, torch.compile.
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")
_SHOW = 5  # how many keys of each kind an error lists


def read_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a weights file by name, read without unpickling any Python objects."""
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"weights file {path} does not exist; pass the path of a .pt, "
                             ".pth, .bin, .ckpt or .safetensors file.")
    raw = _read_safetensors(path) if path.suffix == ".safetensors" else _read_torch(path)
    return _strip_wrapper_prefixes(_unwrap(raw, path))


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        from safetensors.torch import load_file
    except ImportError:
        raise UserInputError(f"{path} is a safetensors file, which needs the safetensors "
                             "package: pip install safetensors") from None
    try:
        return load_file(str(path), device="cpu")
    except Exception as exc:  # noqa: BLE001  (safetensors raises its own SafetensorError)
        raise UserInputError(f"weights file {path} could not be read as safetensors "
                             f"({_first_line(exc)}); it is corrupt or not a safetensors file."
                             ) from None


def _read_torch(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # weights_only raises UnpicklingError both for a forbidden object and for bytes that
        # are no pickle at all; only the first names an "Unsupported global".
        found = re.search(r"GLOBAL (\S+) was not an allowed global", str(exc))
        if found:
            raise UserInputError(
                f"weights file {path} holds pickled Python objects (e.g. {found[1]}), which are "
                "not loaded because unpickling can run code; save model.state_dict() with "
                "torch.save, or use safetensors.") from None
        raise _unreadable(path, exc) from None
    except Exception as exc:  # noqa: BLE001  (truncated zip, empty file, not a torch file)
        raise _unreadable(path, exc) from None


def _unreadable(path: Path, exc: BaseException) -> UserInputError:
    return UserInputError(f"weights file {path} could not be read ({type(exc).__name__}: "
                          f"{_first_line(exc)}); it is corrupt, truncated or not a torch file.")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "no details"


def _is_tensor_dict(obj: Any) -> bool:
    return isinstance(obj, dict) and bool(obj) and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


def _unwrap(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    """The state dict inside a checkpoint container (nested at most a few levels)."""
    for _ in range(3):
        if _is_tensor_dict(obj) or not isinstance(obj, dict):
            break
        inner = next((obj[k] for k in _CONTAINER_KEYS if isinstance(obj.get(k), dict)), None)
        if inner is None:
            break
        obj = inner
    if not _is_tensor_dict(obj):
        what = (f"a dict with non-tensor values (keys {sorted(map(str, obj))[:_SHOW]})"
                if isinstance(obj, dict) else f"a {type(obj).__name__}")
        raise UserInputError(
            f"weights file {path} holds {what}, not a state dict (parameter name -> tensor) "
            f"or a checkpoint with one under {list(_CONTAINER_KEYS)}; save model.state_dict().")
    return obj


def _strip_wrapper_prefixes(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    changed = True
    while changed:
        changed = False
        for prefix in _WRAPPER_PREFIXES:
            if all(k.startswith(prefix) for k in state):
                state = {k[len(prefix):]: v for k, v in state.items()}
                changed = True
    return state


# --- loading ----------------------------------------------------------------------------------

def load_pretrained(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> str:
    """Load `state` into `model`; a one-line summary of what was loaded and what was not.

    The classifier head may be absent from `state` or have another number of classes: it then
    keeps its fresh initialisation. Any other difference raises one UserInputError.
    """
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    state = _in_model_layout(model, state, expected)
    head_path, head_keys = _head_keys(model)

    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in expected]
    reshaped = [k for k in state if k in expected and tuple(state[k].shape) != expected[k]]
    replaced = [k for k in head_keys if k in reshaped or k in missing]
    missing = [k for k in missing if k not in replaced]
    reshaped = [k for k in reshaped if k not in replaced]
    if missing or unexpected or reshaped:
        raise UserInputError(_misfit_message(model, source, state, expected, missing,
                                             unexpected, reshaped))

    model.load_state_dict({k: v for k, v in state.items() if k not in replaced}, strict=False)
    loaded = len(state) - len([k for k in replaced if k in state])
    summary = f"loaded {loaded} tensors from {source}"
    if replaced:
        change = _head_change(model, state, head_keys)
        summary += f"; the classifier head {head_path} was replaced ({change})"
    return summary


def _in_model_layout(model: nn.Module, state: dict[str, torch.Tensor],
                     expected: dict[str, tuple]) -> dict[str, torch.Tensor]:
    """For an ExternalClassifier, accept our keys ("net.fc.weight", a model.pt of a run) or the
    library's own ("fc.weight"): whichever layout matches more of the model's keys."""
    if not isinstance(model, ExternalClassifier):
        return state
    prefixed = {"net." + k: v for k, v in state.items()}
    hits = sum(k in expected for k in state)
    return prefixed if sum(k in expected for k in prefixed) > hits else state


def _head_keys(model: nn.Module) -> tuple[str, list[str]]:
    """(dotted path, state-dict keys) of the classifier head."""
    if isinstance(model, ExternalClassifier):
        path = "net." + model.head_name
        shown = model.head_name
    else:
        path = _last_linear_path(model)
        shown = path
    if path is None:
        return "", []
    head = model.get_submodule(path)
    return shown, [f"{path}.{n}" for n, _ in head.named_parameters(recurse=False)]


def _last_linear_path(model: nn.Module) -> str | None:
    """The classifier head of a built-in model: the last Linear from feature_dim to
    num_classes when the model says those, else the last Linear."""
    linears = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    fitting = [(n, m) for n, m in linears
               if m.in_features == getattr(model, "feature_dim", m.in_features)
               and m.out_features == getattr(model, "num_classes", m.out_features)]
    chosen = fitting or linears
    return chosen[-1][0] if chosen else None


def _head_change(model: nn.Module, state: dict[str, torch.Tensor], head_keys: list[str]) -> str:
    current = model.state_dict()
    weight = next((k for k in head_keys if k.endswith(".weight")), None)
    if weight is None or weight not in state:
        return "the file has no head; it keeps its fresh initialisation"
    return (f"{state[weight].shape[0]} -> {current[weight].shape[0]} classes; it keeps its "
            "fresh initialisation")


def _misfit_message(model: nn.Module, source: str, state: dict, expected: dict,
                    missing: list[str], unexpected: list[str], reshaped: list[str]) -> str:
    name = getattr(model, "name", None) or type(model).__name__
    external = isinstance(model, ExternalClassifier)

    def strip(key: str) -> str:  # an ExternalClassifier's keys as the library names them
        return key.removeprefix("net.") if external else key

    parts = []
    if missing:
        parts.append(f"{len(missing)} missing ({_listing([strip(k) for k in missing])})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected ({_listing([strip(k) for k in unexpected])})")
    if reshaped:
        shapes = [f"{strip(k)}: {tuple(state[k].shape)} in the file, {expected[k]} in the model"
                  for k in reshaped]
        parts.append(f"{len(reshaped)} with another shape ({_listing(shapes)})")
    return (f"the weights in {source} do not fit model {name}: {', '.join(parts)}; were they "
            "saved from this architecture?")


def _listing(items: list[str]) -> str:
    shown = ", ".join(items[:_SHOW])
    return shown + (", ..." if len(items) > _SHOW else "")
