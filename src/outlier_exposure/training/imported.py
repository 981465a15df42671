"""`oe import`: a snapshot of the reference code turned into a run folder of this package.

The authors' scripts (hendrycks/outlier-exposure: CIFAR/baseline.py, oe_tune.py, oe_scratch.py;
wetliu/energy_ood: CIFAR/train.py) save `torch.save(net.state_dict(), ...)` after every epoch,
e.g. `cifar10_wrn_baseline_epoch_99.pt`, `cifar10_wrn_oe_tune_epoch_9.pt`,
`cifar10_allconv_oe_scratch_epoch_99.pt`, `cifar10_wrn_s1_energy_ft_epoch_9.pt`. Our WRN and
AllConvNet are the reference modules layer for layer, so such a file loads after three fixes of
its layout only (`reference_layout`): the `module.` prefix of a DataParallel snapshot goes, the
AllConvNet's `features.` Sequential is our `body.`, and the `num_batches_tracked` counters that
snapshots of PyTorch < 0.4.1 lack are taken from a fresh model (they only matter for
momentum=None batch norm, which no model here uses).

The file is read with `torch.load(weights_only=True)`: no pickled code runs. Everything is
checked before anything is written, and the run folder is built under a temporary name and
renamed at the end, so a refused import leaves nothing behind.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

import torch

from ..data.storage.download import hash_file
from ..errors import UserInputError
from . import runs
from .config import RunConfig, config_from_preset
from .setup import build_model

# SHA-256 of the authors' published files, by file name: a file of that name whose digest
# differs is refused (pass --sha256 to import a file of your own under the same name). Source:
# pytorch-ood's model registry, kkirchheim/pytorch-ood src/pytorch_ood/model/registry.py
# (commit 25b29117e37ea6c0756f2d834454a577bdac809f), entries wrn-40-2/{cifar10,cifar100}/
# {crossentropy, oe, energy/s1}; their URLs are the files below in hendrycks/outlier-exposure
# (CIFAR/snapshots/oe_tune/) and wetliu/energy_ood (CIFAR/snapshots/pretrained/, energy_ft/).
KNOWN_DIGESTS: dict[str, str] = {
    # hendrycks/outlier-exposure, OE fine-tunes of WRN-40-2 (CIFAR/snapshots/oe_tune/)
    "cifar10_wrn_oe_tune_epoch_9.pt":
        "b473f1c463c9fe16057647746907b68b6ade615f93ac4bdf005263ed69d542d0",
    "cifar100_wrn_oe_tune_epoch_9.pt":
        "1d4dd53f7605d66f64bcdf146ed9327ecbebbd5da42a9f7d70b9d6a28ee9bb51",
    # wetliu/energy_ood, the WRN-40-2 baselines it fine-tunes (CIFAR/snapshots/pretrained/)
    "cifar10_wrn_pretrained_epoch_99.pt":
        "0b59e178577382a0cf5d1e079d1d019f6a33b0801b7d123a59e51b4b32972637",
    "cifar100_wrn_pretrained_epoch_99.pt":
        "3751f516b81ef9d27290f08a3de78d65a3771f477bd6a6caefa81b330dc34baf",
    # wetliu/energy_ood, energy fine-tunes, seed 1 (CIFAR/snapshots/energy_ft/)
    "cifar10_wrn_s1_energy_ft_epoch_9.pt":
        "78a288517f9e9f3501c1e881aee8daa1d9c64a23805023fc013a28946274c54b",
    "cifar100_wrn_s1_energy_ft_epoch_9.pt":
        "4899110e41b8c96a01ec52e779e3336436da69db201f6162b2dce9a207f0f51f",
}

# Where the reference's key names differ from ours: (its prefix, ours). The reference's
# AllConvNets (CIFAR and Tiny ImageNet) hold their layers as `features`, a method name here.
# A key is renamed only when the renamed key is one the model has.
KEY_RENAMES: tuple[tuple[str, str], ...] = (("features.", "body."),)
DATA_PARALLEL_PREFIX = "module."
SHOWN = 5  # keys listed per kind of mismatch in the error
_HEX64 = re.compile(r"[0-9a-f]{64}")


def check_digest(path: Path, actual: str, expected: str | None) -> str:
    """The digest the file must have (--sha256, else the table's for its name), checked."""
    source = "--sha256"
    if expected is None and path.name in KNOWN_DIGESTS:
        expected, source = KNOWN_DIGESTS[path.name], f"the published {path.name}"
    if expected is None:
        return "none"
    expected = expected.strip().lower()
    if not _HEX64.fullmatch(expected):
        raise UserInputError(f"--sha256 {expected!r} is not a SHA-256 digest (64 hex digits)")
    if actual != expected:
        hint = ("check the download, or pass --sha256 with your own file's digest if it is not "
                "the published one" if source != "--sha256" else "check the file and the digest")
        raise UserInputError(
            f"{path} has SHA-256 {actual}, but {source} has {expected}; {hint} (nothing was "
            "written)")
    return source


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The file's tensors by name, read without running pickled code."""
    if not path.is_file():
        raise UserInputError(f"{path} does not exist; pass the .pt file the reference saved")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt, not a torch file, or holding objects beyond tensors
        raise UserInputError(
            f"{path} could not be read as a state dict ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}); pass a file saved with "
            "torch.save(net.state_dict(), ...)") from None
    if not isinstance(state, dict) or not state or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise UserInputError(
            f"{path} holds a {type(state).__name__}, not a state dict (parameter name -> "
            "tensor); pass a file saved with torch.save(net.state_dict(), ...)")
    return state


def reference_layout(state: dict[str, torch.Tensor], ours: set[str]) -> dict[str, torch.Tensor]:
    """The reference's key names in ours (the model's keys `ours`): no DataParallel prefix,
    `KEY_RENAMES` where they give one of our keys."""
    if all(k.startswith(DATA_PARALLEL_PREFIX) for k in state):
        state = {k[len(DATA_PARALLEL_PREFIX):]: v for k, v in state.items()}
    out = {}
    for key, value in state.items():
        for theirs, mine in KEY_RENAMES:
            renamed = mine + key[len(theirs):]
            if key not in ours and key.startswith(theirs) and renamed in ours:
                key = renamed
                break
        out[key] = value
    return out


def infer_num_classes(state: dict[str, torch.Tensor], cfg: RunConfig,
                      one: dict[str, torch.Tensor]) -> int | None:
    """The class count of the snapshot: the output size of the tensors that depend on it.
    `one`: the model's state dict with 2 classes (compared with one of 3 classes)."""
    two = build_model(replace(cfg, num_classes=3)).state_dict()
    # The tensors whose shape changes with the class count (the classifier's weight and bias).
    for key in (k for k in one if k in two and one[k].shape != two[k].shape):
        if key in state and state[key].dim() == one[key].dim():
            return int(state[key].shape[0])
    return None  # no such key: the mismatch check names it


def match_model(state: dict[str, torch.Tensor], cfg: RunConfig, path: Path) -> dict:
    """`state` completed to the model's keys; ONE error naming every kind of mismatch.
    `cfg.num_classes` None: the file has no classifier to count them from."""
    model = build_model(replace(cfg, num_classes=cfg.num_classes or 10))
    expected = model.state_dict()
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in expected]
    shapes = [f"{k} {tuple(state[k].shape)} (expected {tuple(v.shape)})"
              for k, v in expected.items() if k in state and state[k].shape != v.shape]
    if missing or unexpected or shapes:
        parts = [f"{what}: {', '.join(keys[:SHOWN])}{' ...' if len(keys) > SHOWN else ''} "
                 f"({len(keys)})" for what, keys in (
                     ("missing keys", missing), ("unexpected keys", unexpected),
                     ("mismatched shapes", shapes)) if keys]
        classes = f"{cfg.num_classes} classes" if cfg.num_classes else "its classifier"
        raise UserInputError(
            f"{path} does not fit model {cfg.model} {cfg.model_kwargs} with {classes} "
            f"({cfg.preset} preset): {'; '.join(parts)}. Pass the --preset (or --model, "
            "--model-arg) the snapshot was trained with; nothing was written")
    full = {k: state.get(k, v) for k, v in expected.items()}
    model.load_state_dict(full)
    return {k: v.detach().cpu() for k, v in model.state_dict().items()}


def import_run(path: str | Path, preset: str, mode: str, out: str | Path, *,
               sha256: str | None = None, loss: str | None = None,
               **overrides) -> Path:
    """Turn the reference snapshot `path` into the run folder `out` (model.pt, config.json from
    `preset` and `mode`, environment.json, log.jsonl saying where it came from); return `out`.

    `overrides` are run-config fields (train, test, model, model_kwargs, ...); `loss`
    defaults to "energy" for energy_ood's `*_energy_ft_*` files, so `oe eval` scores them with
    the energy score as their authors did."""
    path, out = Path(path), Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserInputError(f"--out {out} already exists and is not empty; choose another "
                             "folder (nothing was changed)")
    if loss is None and mode == "oe-tune" and "_energy_ft_" in path.name:
        loss = "energy"
    state = read_state_dict(path)
    digest = hash_file(path)
    checked = check_digest(path, digest, sha256)
    fields = {k: v for k, v in overrides.items() if v is not None}
    cfg = config_from_preset(preset, mode, loss=loss, **fields)
    two_classes = build_model(replace(cfg, num_classes=2)).state_dict()  # our keys and shapes
    state = reference_layout(state, set(two_classes))
    cfg = replace(cfg, num_classes=infer_num_classes(state, cfg, two_classes))
    weights = match_model(state, cfg, path)
    record = {"imported_from": str(path.resolve()), "sha256": digest, "sha256_checked": checked,
              "mode": cfg.mode, "preset": cfg.preset, "num_classes": cfg.num_classes}
    _write_folder(out, cfg, weights, record)
    return out


def _write_folder(out: Path, cfg: RunConfig, weights: dict, record: dict) -> None:
    """The run folder, built beside `out` under a temporary name and renamed at the end."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.import-"))
    try:
        runs.write_json(tmp / runs.CONFIG, cfg.to_dict())
        runs.write_json(tmp / runs.ENVIRONMENT, dict(runs.environment("cpu"),
                                                     imported_from=record["imported_from"]))
        runs.save_torch(tmp / runs.MODEL, weights)
        runs.append_log(tmp, {"event": "imported", **record})
        os.chmod(tmp, 0o777 & ~runs.umask())  # mkdtemp makes it private; a run folder is not
        os.replace(tmp, out)  # also onto an empty folder of that name
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
