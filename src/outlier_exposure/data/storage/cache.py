"""A disk cache of decoded datasets, so image folders and .mat files are decoded once.

Decoding 100,000 JPEGs (Tiny ImageNet) or a 1.3 GB MATLAB file (SVHN extra) takes from
seconds to minutes; the decoded uint8 array is then saved as .npy and memory-mapped by
later loads. An entry is valid while its *stamp* matches: a hash of the recipe (reader,
size, options) and of every source file's path, size and mtime, so editing, adding or
removing a source file rebuilds it.

Entries live in `CACHE_ROOT/decoded/` (env OE_CACHE_DIR, else ~/.cache/outlier_exposure),
outside the data folders, which may be read-only. A cache that cannot be written is skipped.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Callable, Iterable, Mapping

import numpy as np

from .download import cache_root


def stamp(recipe: str, sources: Iterable[Path]) -> str:
    """sha256 of the recipe and of each source's absolute path, size and mtime."""
    h = hashlib.sha256(recipe.encode())
    for path in sources:
        st = os.stat(path)
        h.update(f"\n{Path(path).resolve()}\t{st.st_size}\t{st.st_mtime_ns}".encode())
    return h.hexdigest()


def _entry(key: str) -> Path:
    return cache_root() / "decoded" / key


def cached_arrays(
    key: str, stamp_value: str, build: Callable[[], Mapping[str, np.ndarray | None]]
) -> dict[str, np.ndarray | None]:
    """The arrays `build()` makes, from the cache when `stamp_value` matches the entry's.

    The array named "x" comes back memory-mapped (read-only); the others are read whole.
    """
    folder = _entry(key)
    meta_file = folder / "meta.json"
    try:
        meta = json.loads(meta_file.read_text())
    except (OSError, ValueError):
        meta = None
    if meta is not None and meta.get("stamp") == stamp_value:
        try:
            return {
                name: (None if not present else
                       np.load(folder / f"{name}.npy", mmap_mode="r" if name == "x" else None,
                               allow_pickle=False))
                for name, present in meta["arrays"].items()
            }
        except (OSError, ValueError, KeyError):
            pass  # a damaged entry is rebuilt below
    arrays = dict(build())
    try:
        folder.mkdir(parents=True, exist_ok=True)
        meta_file.unlink(missing_ok=True)  # invalid while the arrays are being replaced
        for name, value in arrays.items():
            if value is not None:
                tmp = folder / f"{name}.{os.getpid()}.tmp.npy"
                np.save(tmp, np.ascontiguousarray(value))
                os.replace(tmp, folder / f"{name}.npy")
        tmp = folder / f"meta.{os.getpid()}.tmp"
        tmp.write_text(json.dumps({"stamp": stamp_value,
                                   "arrays": {k: v is not None for k, v in arrays.items()}}))
        os.replace(tmp, meta_file)
    except OSError:
        return arrays
    if arrays.get("x") is not None:
        arrays["x"] = np.load(folder / "x.npy", mmap_mode="r", allow_pickle=False)
    return arrays
