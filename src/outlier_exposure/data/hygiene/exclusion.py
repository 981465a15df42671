"""Exclusion files: one outlier index per line, what `oe outliers check --write FILE` writes and
`SPEC@exclude:FILE` reads.

Format: UTF-8 text; each line holds one 0-based index (a position in the set the spec names,
after any modifiers to the left of `@exclude`), or is blank, or is a comment from `#` to the end
of the line (a comment may also follow an index). Indices may repeat and come in any order.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from dataclasses import replace

import numpy as np

from ...errors import UserInputError
from ..formats.lazy import LazyImages
from ..formats.tinyimages import KeptRecords
from ..imageset import ImageSet


def read_exclusion(path: str | Path, n: int, spec: str = "") -> np.ndarray:
    """The sorted unique indices of an exclusion file for a set of n images; one
    UserInputError naming the file (and the line) for a missing file, a line that is not an
    index, or an index outside 0..n-1."""
    path = Path(path)
    where = f"{spec}: exclusion file {path}" if spec else f"exclusion file {path}"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserInputError(f"{where} not found; write one with `oe outliers check "
                             "OUTLIERS --against SPEC --write FILE`, or fix the path") from None
    except (OSError, UnicodeDecodeError) as err:
        raise UserInputError(f"{where} cannot be read as text ({err}); it should hold one "
                             "outlier index per line") from None
    indices = []
    for number, line in enumerate(text.splitlines(), start=1):
        token = line.split("#", 1)[0].strip()
        if not token:
            continue
        if not token.isdecimal():
            raise UserInputError(f"{where}, line {number}: {token[:40]!r} is not an outlier "
                                 "index (one 0-based integer per line; '#' starts a comment)")
        index = int(token)
        if index >= n:
            raise UserInputError(f"{where}, line {number}: index {index} is out of range for "
                                 f"the {n} images of the set (0..{n - 1}); was the file made "
                                 "for this outlier set, with the same modifiers?")
        indices.append(index)
    return np.unique(np.array(indices, dtype=np.int64))


def check_destination(path: str | Path) -> Path:
    """Refuse a `--write` path that cannot take the file, before the (long) check runs."""
    path = Path(path)
    if path.is_dir():
        raise UserInputError(f"--write {path} is a folder; give a file name, e.g. "
                             f"{path / 'exclude.txt'}")
    if not path.parent.is_dir():
        raise UserInputError(f"--write {path}: folder {path.parent} does not exist; create it "
                             "first")
    if not os.access(path.parent, os.W_OK):
        raise UserInputError(f"--write {path}: folder {path.parent} is not writable; give "
                             "another path")
    return path


def write_exclusion(path: str | Path, indices: np.ndarray, header: str) -> Path:
    """Write sorted unique indices, one per line, after '# '-prefixed header lines; atomically
    (a temporary file in the same folder, then a rename), so that a reader never sees half a
    file and an interrupted write leaves the old file."""
    path = check_destination(path)
    lines = [f"# {line}" for line in header.splitlines()]
    lines += [str(int(i)) for i in np.unique(np.asarray(indices, dtype=np.int64))]
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        os.replace(tmp, path)
    except OSError as err:
        raise UserInputError(f"--write {path}: cannot write the exclusion list "
                             f"({err.strerror or err}); free some space or give another "
                             "path") from None
    finally:
        if tmp is not None and Path(tmp).exists():
            Path(tmp).unlink(missing_ok=True)
    return path


class KeptImages(LazyImages):
    """A lazy set without some of its positions, still lazy: position k is the k-th position of
    `base` not excluded (`KeptRecords`: it holds the excluded positions only, so 80 Million Tiny
    Images minus a few thousand costs a few KB, not an index of 79 million kept records)."""

    def __init__(self, base: LazyImages, excluded: np.ndarray):
        self.base, self.kept = base, KeptRecords(len(base), excluded)
        self._len, self._image_shape = len(self.kept), tuple(base.shape[1:])
        self.name = base.name

    def _gather(self, idx: np.ndarray) -> np.ndarray:
        return self.base[self.kept(idx)]


def exclude_images(images: ImageSet, excluded: np.ndarray) -> ImageSet:
    """The set without the positions `excluded` (sorted unique, in range), order kept. A lazy
    set stays lazy; an array (or memmap) is indexed."""
    if isinstance(images.x, LazyImages):
        x = KeptImages(images.x, excluded)
        keep = None
    else:
        keep = np.setdiff1d(np.arange(len(images), dtype=np.int64), excluded, assume_unique=True)
        x = images.x[keep]
    y = images.y
    if y is not None:
        y = y[keep] if keep is not None else np.delete(np.asarray(y), excluded)
    return replace(images, x=x, y=y)
