"""What a data spec reads from disk, and a fingerprint of it: is this still the data a run
trained on? Also the cheap "is it there at all" check a command makes before a long job.

A run records the fingerprint of its training data and outliers when it starts
(training/resume_plan.py, `data_record`); `--resume` compares it with the files as they are now, so a run is
never continued on other data without saying so.

The fingerprint of a file is its size and the sha256 of its bytes (of its first and last MiB
for files over 16 MiB: those are large array files, where a change of content almost always
changes the size or an end, and hashing hundreds of GB on every resume would cost minutes).
The fingerprint of a folder is the sorted list of its files' relative names and sizes (not
their contents: an image folder may hold a million files). Synthetic noise and the offline
sets shipped with scikit-learn / scikit-image have no files: they depend only on the seed and
the installed packages.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ..errors import UserInputError
from .catalog import registry
from .modifiers import split_modifiers
from .spec import parse_spec
from .storage.download import hash_file
from .validation import is_validation_spec, parse_validation_spec

FULL_HASH_LIMIT = 16 * 2 ** 20
EDGE = 2 ** 20


def source_paths(text: str | None) -> list[Path]:
    """The files and folders a spec reads ([] for noise, the offline sets, no spec)."""
    if not text:
        return []
    base, modifiers = split_modifiers(text)
    # SPEC@exclude:FILE reads FILE too: a changed exclusion list is other training data
    excluded = [Path(m[len("exclude:"):]) for m in modifiers if m.startswith("exclude:")]
    return _base_paths(base) + excluded


def _base_paths(base: str) -> list[Path]:
    if is_validation_spec(base):
        source = parse_validation_spec(base)[1]
        return source_paths(source) if source else []
    spec = parse_spec(base)
    if spec.kind in ("npz", "npy", "folder"):
        paths = [Path(spec.target)]
        if spec.options.get("labels"):
            paths.append(Path(spec.options["labels"]))
        return paths
    if spec.kind == "builtin" and spec.target in registry.datasets():
        folder = registry.dataset_dir(spec.target)
        reqs = registry._requirements(registry.get(spec.target), spec.options.get("split"))
        return [folder / req.path.rstrip("/") for req in reqs]
    return []


def check_exists(text: str | None, role: str) -> None:
    """Refuse a spec whose file or folder is not there, naming `role` (e.g. --test): a cheap
    check before training, so that a missing test set is not found only at `oe eval`.
    Registered datasets are checked by catalog/preflight.py (which says how to get them)."""
    if not text:
        return
    from .catalog.preflight import require_data

    base, _ = split_modifiers(text)
    if is_validation_spec(base):
        return check_exists(parse_validation_spec(base)[1], role)
    spec = parse_spec(base)
    if spec.kind == "builtin":
        from .datasets import BUILTIN  # datasets.py imports the loaders: only when checking

        if spec.target not in BUILTIN:
            raise UserInputError(f"{role} {text}: no data set is named {spec.target!r}; "
                                 "`oe datasets` lists them")
        require_data([text], f"{role} {text}")
        return
    for path in source_paths(text):
        if not path.exists():
            raise UserInputError(f"{role} {text}: {path} does not exist (working directory "
                                 f"{Path.cwd()}); check the path")


def fingerprint(text: str | None) -> dict[str, dict]:
    """{path: fingerprint} of every file or folder the spec reads (see the module docstring)."""
    try:
        paths = source_paths(text)
    except UserInputError:  # a spec only its loader resolves (an alias): nothing to compare
        return {}
    return {str(path): _fingerprint_path(path) for path in paths}


def differences(recorded: dict, now: dict) -> list[str]:
    """What changed between two `fingerprint`s, one phrase per path."""
    found = []
    for path in sorted(set(recorded) | set(now)):
        before, after = recorded.get(path), now.get(path)
        if before == after:
            continue
        if after is None or after.get("missing"):
            found.append(f"{path} is gone")
        elif before is None:
            found.append(f"{path} is new")
        elif before.get("size") != after.get("size"):
            found.append(f"{path} changed size ({before.get('size')} -> {after.get('size')} "
                         "bytes)")
        elif before.get("files") != after.get("files"):
            found.append(f"{path} now holds {after.get('files')} files (was "
                         f"{before.get('files')}) or other names")
        else:
            found.append(f"{path} changed content (same size, other bytes)")
    return found


def _fingerprint_path(path: Path) -> dict:
    try:
        if path.is_dir():
            return _fingerprint_folder(path)
        size = path.stat().st_size
        return {"size": size, "sha256": _sha256(path, size)}
    except FileNotFoundError:
        return {"missing": True}


def _sha256(path: Path, size: int) -> str:
    if size <= FULL_HASH_LIMIT:
        return hash_file(path)
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read(EDGE))
        f.seek(size - EDGE)
        h.update(f.read(EDGE))
    return "edges:" + h.hexdigest()


def _fingerprint_folder(path: Path) -> dict:
    entries = []
    for dirpath, dirnames, files in os.walk(path):
        dirnames.sort()
        for name in sorted(files):
            full = os.path.join(dirpath, name)
            try:
                size = os.stat(full).st_size
            except OSError:
                continue
            entries.append(f"{os.path.relpath(full, path)}\t{size}")
    listing = "\n".join(entries).encode()
    return {"files": len(entries), "size": sum(int(e.rsplit("\t", 1)[1]) for e in entries),
            "listing_sha256": hashlib.sha256(listing).hexdigest()}


def absolute_spec(text: str | None) -> str | None:
    """`text` with its relative file paths made absolute (from the working directory), so that
    a run's config.json names the same files from any directory; specs without paths, and
    paths that do not exist (the loader will say so), are returned as they are."""
    if not text:
        return text
    try:
        return _absolute_spec(text)
    except UserInputError:  # not a spec this grammar reads (an alias such as val:openood, a
        return text         # typo): kept as written, for the loader to resolve or refuse


def _absolute_spec(text: str) -> str:
    base, modifiers = split_modifiers(text)
    suffix = text[len(base):]  # the modifiers, as written (an exclusion file's path absolute)
    if any(m.startswith("exclude:") for m in modifiers):
        suffix = "".join("@" + _absolute_exclusion(m) for m in modifiers)
    if is_validation_spec(base):
        source = parse_validation_spec(base)[1]  # val:KIND:SOURCE: the source's paths
        if not source or not base.endswith(source):
            return base + suffix
        return base[: len(base) - len(source)] + absolute_spec(source) + suffix
    spec = parse_spec(base)
    if spec.kind not in ("npz", "npy", "folder"):
        return base + suffix
    head, _, rest = base.strip().partition(":")
    target = _absolute(spec.target)
    tail = rest[len(spec.target):]
    if spec.options.get("labels"):
        tail = ":" + _absolute(spec.options["labels"])
    rewritten = f"{head}:{target}{tail}"
    again = parse_spec(rewritten)
    if (again.kind, again.target, dict(again.options)) != (
            spec.kind, target, {**spec.options, **({"labels": tail[1:]} if
                                                    spec.options.get("labels") else {})}):
        return base + suffix  # the grammar would read the new text otherwise: keep the user's
    return rewritten + suffix


def _absolute_exclusion(modifier: str) -> str:
    """`exclude:FILE` with FILE absolute (unless that path holds '@', which ends a modifier)."""
    if not modifier.startswith("exclude:"):
        return modifier
    path = _absolute(modifier[len("exclude:"):])
    return modifier if "@" in path else f"exclude:{path}"


def _absolute(path: str) -> str:
    return os.path.abspath(path) if not os.path.isabs(path) and os.path.exists(path) else path
