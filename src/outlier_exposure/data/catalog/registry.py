"""Named datasets: where each lives under a data root, how to get it, and how to load it.

A registered dataset is usable wherever a data spec is, as `NAME[:SPLIT]` (`cifar10:train`,
`svhn:test`, `textures`); `oe datasets` lists them all with their state. The entries (facts:
URLs, checksums, layouts, preprocessing) are in entries.py, their readers in recipes.py; this
module is the machinery.

Data roots are decided in storage/roots.py (`resolve_data_root`; shared with the text sets):
dataset NAME lives in `ROOT/NAME/`; the project's offline sets (`cifar10-subset`, `dtd10`, ...;
`shared=True`) under the shared root, their files checked against the folder's
`sha256_manifest.tsv` (or the digests recorded here when a folder has no manifest).

Loading never downloads unless asked (`oe datasets --download NAME`, or `roots.data_settings(
download=True)`, which the `--download` flag of data-loading commands sets). A missing dataset
raises UserInputError naming the folder, the files it lacks and the command or manual steps that
get them; a file whose checksum is wrong raises too (digests are cached per size and mtime, so
this costs one hash per file, once). Several sets are checked at once before a long job, every
missing one named in one message, by plan.py (preflight.py maps data specs to it).

Registration point: `register(Dataset(...))`, called by the modules in `_PLUGINS` when first
needed. entries.py registers the public sets, the offline sets, and 80 Million Tiny Images /
300K Random Images from the facts and readers of formats/tinyimages.py (`RECORD_SETS`).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import MutableMapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Mapping

from ...errors import UserInputError
from ..imageset import ImageSet
from ..storage.download import check_file, expected_digest, extract, fetch, file_digest
from ..storage.roots import DATA_ROOT_ENV, SHARED_DATA_ENV, data_root, download_missing, resolve_data_root

MANIFEST = "sha256_manifest.tsv"
# Modules that register datasets when imported (add yours here; a missing one is skipped).
_PLUGINS = ("outlier_exposure.data.catalog.entries", "outlier_exposure.data.catalog.openood",
            "outlier_exposure.data.catalog.openood_cifar")


@dataclass(frozen=True)
class FileReq:
    """A file (or, with a trailing '/', a folder that must hold files) a split needs.

    path is relative to the dataset's folder; md5/sha256 when a published digest exists.
    """

    path: str
    md5: str | None = None
    sha256: str | None = None

    @property
    def is_dir(self) -> bool:
        return self.path.endswith("/")


@dataclass(frozen=True)
class Download:
    """One file to fetch into the dataset's folder, and whether to unpack it there.

    extract_to: None keeps the file as is; "" unpacks into the dataset folder, "sub" into
    its subfolder. md5/sha256/size verify it; with none of them it is fetched unverified
    (a warning says so). The archive is kept, so `oe datasets --verify` can check it later.
    approx_size: its size in bytes where known but not checked (the digest is), for the
    download plan; `size` is checked.
    """

    url: str
    filename: str
    md5: str | None = None
    sha256: str | None = None
    size: int | None = None
    extract_to: str | None = None
    approx_size: int | None = None

    @property
    def checked_by(self) -> str:
        """How the file is verified: "sha256", "md5", "size only" or "nothing"."""
        found = expected_digest(self.md5, self.sha256)
        return found[0] if found else ("size only" if self.size else "nothing")


Reader = Callable[[Path, str, tuple[int, int]], ImageSet]


@dataclass(frozen=True)
class Dataset:
    """A named dataset.

    splits: split name -> the files that split needs. read(folder, split, (h, w)) returns
    uint8 images at size (h, w) following the dataset's preprocessing (see entries.py); the
    channel count is matched later by `spec.fit_to_shape`. manual: the steps to get it when
    there is no download ("{dir}" stands for its folder). shared: under the shared-data root.
    folder: its folder relative to the root (default: the name).
    """

    name: str
    title: str
    splits: Mapping[str, tuple[FileReq, ...]]
    default_split: str
    read: Reader
    downloads: tuple[Download, ...] = ()
    manual: str = ""
    shared: bool = False
    folder: str | None = None
    role: str = "OOD test"
    notes: str = ""


_REGISTRY: dict[str, Dataset] = {}
_plugins_loaded = False


def register(dataset: Dataset) -> Dataset:
    """Add (or replace) a named dataset; returns it."""
    if dataset.default_split not in dataset.splits:
        raise ValueError(f"{dataset.name}: default split {dataset.default_split!r} is not one of its splits")
    _REGISTRY[dataset.name] = dataset
    return dataset


def _load_plugins() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for module in _PLUGINS:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as err:
            if err.name != module:  # the module exists but something it needs is missing
                raise


def datasets() -> dict[str, Dataset]:
    """Every registered dataset by name, in registration order."""
    _load_plugins()
    return dict(_REGISTRY)


def get(name: str) -> Dataset:
    found = datasets().get(name)
    if found is None:
        raise UserInputError(
            f"unknown dataset {name!r}; registered: {', '.join(datasets())} (see `oe datasets`)"
        )
    return found


# ---------------------------------------------------------------------------------------------
# Folders (the roots themselves are decided in storage/roots.py)


def dataset_dir(name: str) -> Path:
    ds = get(name)
    return data_root(ds.shared) / (ds.name if ds.folder is None else ds.folder)


# ---------------------------------------------------------------------------------------------
# Presence and checksums


def _manifest(root: Path) -> dict[str, str]:
    """path -> sha256 from ROOT/sha256_manifest.tsv (empty when there is none)."""
    path = root / MANIFEST
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return {}
    table = {}
    for line in lines[1:]:
        parts = line.split("\t")
        if len(parts) >= 2:
            table[parts[0]] = parts[1].strip().lower()
    return table


def _expected(ds: Dataset, req: FileReq, folder: Path) -> tuple[str | None, str | None]:
    """(md5, sha256) a file must have; for shared sets the folder's manifest comes first."""
    if ds.shared:
        listed = _manifest(folder).get(req.path)
        if listed:
            return None, listed
    return req.md5, req.sha256


def _present(path: Path, is_dir: bool) -> bool:
    if is_dir:
        return path.is_dir() and any(True for _ in path.iterdir())
    return path.is_file()


def _split_names(ds: Dataset, split: str | None) -> list[str]:
    if split is None:
        return list(ds.splits)
    if split not in ds.splits:
        raise UserInputError(
            f"dataset {ds.name} has no split {split!r}; its splits: {', '.join(ds.splits)} "
            f"(e.g. {ds.name}:{ds.default_split})"
        )
    return [split]


def _requirements(ds: Dataset, split: str | None) -> list[FileReq]:
    seen, reqs = set(), []
    for s in _split_names(ds, split):
        for req in ds.splits[s]:
            if req.path not in seen:
                seen.add(req.path)
                reqs.append(req)
    return reqs


def missing_files(name: str, split: str | None = None) -> list[str]:
    ds = get(name)
    folder = dataset_dir(name)
    return [r.path for r in _requirements(ds, split) if not _present(folder / r.path, r.is_dir)]


def bad_files(name: str, split: str | None = None, *, force: bool = False,
              archives: bool = False) -> list[str]:
    """'path: reason' for each present file whose checksum is wrong.

    force: re-hash even when a cached digest matches the file's size and mtime.
    archives: also check downloaded archives still in the folder.
    """
    ds = get(name)
    folder = dataset_dir(name)
    checks = [(r.path, *_expected(ds, r, folder)) for r in _requirements(ds, split) if not r.is_dir]
    if archives:
        listed = {c[0] for c in checks}
        checks += [(d.filename, d.md5, d.sha256) for d in _downloads_for(ds, split)
                   if d.filename not in listed]
    bad = []
    for path, md5, sha256 in checks:
        file = folder / path
        if file.is_file():
            reason = check_file(file, md5, sha256, force=force)
            if reason:
                bad.append(f"{path}: {reason}")
    return bad


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            try:
                total += os.stat(os.path.join(dirpath, f)).st_size
            except OSError:
                pass
    return total


@dataclass
class Status:
    """What `oe datasets` shows for one dataset."""

    name: str
    state: str  # present | verified | partial | missing | bad checksum
    size: int
    folder: Path
    splits_present: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    bad: list[str] = field(default_factory=list)
    unverified: list[str] = field(default_factory=list)


def status(name: str, verify: bool = False) -> Status:
    """Presence and size of a dataset's files; with verify, their checksums (re-hashed)."""
    ds = get(name)
    folder = dataset_dir(name)
    reqs = _requirements(ds, None)
    missing = [r.path for r in reqs if not _present(folder / r.path, r.is_dir)]
    present_splits = [s for s, rs in ds.splits.items() if not any(r.path in missing for r in rs)]
    size = sum(_size(folder / r.path) for r in reqs if r.path not in missing)
    bad, unverified = [], []
    if verify:
        bad = bad_files(name, force=True, archives=True)
        for r in reqs:
            if r.path not in missing and (r.is_dir or expected_digest(*_expected(ds, r, folder)) is None):
                unverified.append(r.path)
    if bad:
        state = "bad checksum"
    elif not present_splits:
        state = "missing"
    elif missing:
        state = "partial"
    else:
        state = "verified" if verify and not unverified else "present"
    return Status(name, state, size, folder, present_splits, missing, bad, unverified)


# ---------------------------------------------------------------------------------------------
# Getting a dataset


def how_to_get(name: str, split: str | None = None) -> str:
    """The command, or the manual steps, that put a dataset in place."""
    ds = get(name)
    folder = dataset_dir(name)
    if ds.downloads:
        target = name if split is None else f"{name}:{split}"
        root, origin = resolve_data_root(ds.shared)
        root_flag = f" --data-root {root}" if origin == "--data-root" else ""
        notes = [f"{d.filename} has no published checksum: "
                 + ("checked by size only" if d.size else "fetched unverified")
                 for d in ds.downloads if expected_digest(d.md5, d.sha256) is None]
        note = f" ({'; '.join(notes)})" if notes else ""
        return f"run `oe datasets --download {target}{root_flag}`{note}"
    return ds.manual.format(dir=folder) if ds.manual else f"put its files in {folder}"


def _root_note(shared: bool) -> str:
    root, origin = resolve_data_root(shared)
    return (f"(Data root {root}, from {origin}; point elsewhere with --data-root DIR or env "
            f"{SHARED_DATA_ENV if shared else DATA_ROOT_ENV}.)")


def _missing_message(ds: Dataset, split: str, folder: Path, missing: list[str]) -> str:
    """What `load` says about one missing split (several sets at once: plan.py)."""
    return (f"dataset {ds.name} ({ds.title}), split {split}, is not in {folder}: missing "
            f"{', '.join(missing)}. To get it, {how_to_get(ds.name, split)}. "
            f"{_root_note(ds.shared)}")


def _downloads_for(ds: Dataset, split: str | None) -> list[Download]:
    """Archives serve every split; a plain file serves the splits that list it."""
    if split is None:
        return list(ds.downloads)
    needed = {r.path for r in ds.splits[split]}
    return [d for d in ds.downloads if d.extract_to is not None or d.filename in needed]


def downloads_for(name: str, split: str | None = None) -> list[Download]:
    """The downloads that `download(name, split)` fetches (all of them for split None)."""
    ds = get(name)
    _split_names(ds, split)
    return _downloads_for(ds, split)


def download(name: str, split: str | None = None, *, progress: bool = True,
             log: Callable[[str], None] = print) -> Path:
    """Fetch, verify and unpack a dataset (or just the files one split needs); returns its folder.

    Files already there with the right checksum are kept; a file with a wrong one is deleted
    and fetched again. Raises UserInputError for datasets that must be fetched by hand.
    """
    ds = get(name)
    splits = _split_names(ds, split)
    folder = dataset_dir(name)
    if not ds.downloads:
        raise UserInputError(f"dataset {name} has no download; {how_to_get(name)}")
    if not any(missing_files(name, s) or bad_files(name, s) for s in splits):
        log(f"{name}: already in {folder}")
        return folder
    for item in _downloads_for(ds, split):
        dest = folder / item.filename
        if dest.is_file():
            reason = check_file(dest, item.md5, item.sha256)
            if reason is None and (item.size is None or dest.stat().st_size == item.size):
                log(f"{name}: using {dest} (already downloaded)")
            else:
                log(f"{name}: {dest} is damaged ({reason or 'wrong size'}); deleting it and downloading again")
                dest.unlink()
        if not dest.is_file():
            log(f"{name}: downloading {item.url} -> {dest}")
            if item.checked_by in ("size only", "nothing"):
                log(f"{name}: warning: {item.filename} has no published checksum: it is checked "
                    + (f"by its size only ({item.size:,} bytes)" if item.size else "not at all"))
            fetch(item.url, dest, md5=item.md5, sha256=item.sha256, size=item.size,
                  progress=progress, log=lambda note: log(f"{name}: {note}"))
            if expected_digest(item.md5, item.sha256) is None:
                log(f"{name}: warning: {item.filename} has no published checksum, so it was not "
                    f"verified; its sha256 is {file_digest(dest)}")
        if item.extract_to is not None:
            log(f"{name}: unpacking {dest.name}")
            extract(dest, folder / item.extract_to)
    still = [m for s in splits for m in missing_files(name, s)]
    if still:
        raise UserInputError(
            f"dataset {name}: after downloading, {', '.join(sorted(set(still)))} is still missing "
            f"from {folder} (the archive's layout may have changed); {ds.manual.format(dir=folder) or 'check the folder'}"
        )
    bad = [b for s in splits for b in bad_files(name, s)]
    if bad:
        raise UserInputError(f"dataset {name}: wrong checksum after download: {'; '.join(bad)}")
    log(f"{name}: ready in {folder}")
    return folder


# ---------------------------------------------------------------------------------------------
# Loading


def load(name: str, split: str | None = None, shape: tuple[int, int, int] = (32, 32, 3),
         seed: int = 1) -> ImageSet:
    """The images of a registered dataset at the model's (H, W); see the module docstring."""
    ds = get(name)
    split = ds.default_split if split is None else split
    _split_names(ds, split)
    folder = dataset_dir(name)
    missing = missing_files(name, split)
    if missing and download_missing() and ds.downloads:
        download(name, split)
        missing = missing_files(name, split)
    if missing:
        raise UserInputError(_missing_message(ds, split, folder, missing))
    bad = bad_files(name, split)
    if bad:
        raise UserInputError(
            f"dataset {name}: wrong checksum in {folder}: {'; '.join(bad)}. The file is damaged "
            f"or a different version: delete it and {how_to_get(name, split)}"
        )
    images = ds.read(folder, split, (int(shape[0]), int(shape[1])))
    label = name if split == ds.default_split else f"{name}-{split}"
    return replace(images, name=label)


def builtin_loaders() -> dict[str, Callable[..., ImageSet]]:
    """name -> loader(split, shape, seed), the form `spec.load_spec` takes as `builtin`."""
    def loader_for(name: str):
        def loader(split, shape, seed=1):
            return load(name, split, shape, seed)

        loader.__name__ = f"load_{name}"
        return loader

    return {name: loader_for(name) for name in datasets()}


class LiveBuiltins(MutableMapping):
    """The `builtin` mapping for `load_spec`: given sets plus every registered dataset.

    Registered names are looked up when used, not copied, so datasets registered later (or by
    a plugin module) are found too; names set here directly win over registered ones.
    """

    def __init__(self, base: Mapping[str, Callable[..., ImageSet]] = ()) -> None:
        self._own = dict(base)

    def _all(self) -> dict[str, Callable[..., ImageSet]]:
        return {**builtin_loaders(), **self._own}

    def __getitem__(self, name: str) -> Callable[..., ImageSet]:
        if name in self._own:
            return self._own[name]
        return self._all()[name]

    def __setitem__(self, name: str, loader: Callable[..., ImageSet]) -> None:
        self._own[name] = loader

    def __delitem__(self, name: str) -> None:
        del self._own[name]

    def __iter__(self):
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())
