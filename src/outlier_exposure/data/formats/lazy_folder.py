"""Image folders too big to decode at once (ImageNet-22K: about 13 million JPEGs), read lazily.

A folder set of modest size is decoded once, at the target size, into the disk cache
(`storage/cache.py`) and memory-mapped. That does not scale to ImageNet-22K: at 64x64x3 the decoded
array would be about 150 GB, and decoding it would take most of a day before training starts.
Above `LAZY_FOLDER_FILES` files, a folder set is instead a `FolderImages`: a `LazyImages` that
decodes and resizes only the images of the batch asked for (`x[idx]`), every time.

Listing: `image_paths` walks the folder with `os.walk` (directory entries only, no `stat` per
file) and keeps the relative paths in a `PathTable`, one UTF-8 blob plus offsets, about 40
bytes per file (13M files: about 0.5 GB), where a list of `Path` objects would take several GB.
The listing is redone on every load (a minute or two for ImageNet-22K on a local disk).

Decoding a batch uses a small thread pool (PIL releases the GIL while it decodes and resizes),
so the one background thread that prefetches outlier batches is not limited to one core; the
pool lives in `lazy.ThreadedImages`, shared with the streamed labelled folders of
`sources.load_folder(stream=True)` (which decode with the eager folder reader's own rule).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from ...errors import UserInputError
from .lazy import DECODE_THREADS, ThreadedImages
from .archives import decode_files
from ..sources import IMAGE_EXTENSIONS

# Folder sets with more image files than this are read lazily (64x64x3 uint8: 12 KB an image,
# so the decoded cache of a set this size would already take 1.2 GB).
LAZY_FOLDER_FILES = 100_000


def image_paths(root: Path) -> list[str]:
    """Image files anywhere under `root`, as relative POSIX paths sorted as strings.

    Hidden files and folders (name starting with '.') are skipped; symlinked folders are
    followed (ImageNet copies are often assembled from links). Same files and order as
    `archives.images_under`, without a `stat` per file.
    """
    root = Path(root)
    if not root.is_dir():
        raise UserInputError(f"image folder not found: {root}")
    found = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        rel = os.path.relpath(dirpath, root)
        prefix = "" if rel == "." else Path(rel).as_posix() + "/"
        found += [prefix + f for f in filenames
                  if not f.startswith(".") and os.path.splitext(f)[1].lower() in IMAGE_EXTENSIONS]
    found.sort()
    return found


class PathTable:
    """An immutable list of strings stored as one UTF-8 blob and int64 end offsets."""

    def __init__(self, items: Sequence[str]):
        encoded = [s.encode("utf-8") for s in items]
        self._blob = b"".join(encoded)
        self._ends = np.cumsum([len(e) for e in encoded], dtype=np.int64)

    def __len__(self) -> int:
        return len(self._ends)

    def __getitem__(self, i: int) -> str:
        start = int(self._ends[i - 1]) if i > 0 else 0
        return self._blob[start:int(self._ends[i])].decode("utf-8")


class FolderImages(ThreadedImages):
    """The image files of a folder as a lazy (N, h, w, C) uint8 array, decoded on read.

    Each file is read with PIL, converted to `mode` ("RGB": C = 3, "L": C = 1) and brought to
    `size` with `resize.resize_rule(size, rule)`, exactly as the eager folder reader does, so
    `x[idx]` equals the rows of the eagerly decoded array. A file PIL cannot read raises
    UserInputError naming it when a batch that holds it is read.
    """

    def __init__(self, root: str | Path, files: Sequence[str], size: tuple[int, int], rule: str,
                 mode: str = "RGB", name: str | None = None, threads: int = DECODE_THREADS):
        if mode not in ("RGB", "L"):
            raise ValueError(f"mode must be RGB or L, got {mode!r}")
        self.root = Path(root)
        self.files = files if isinstance(files, PathTable) else PathTable(files)
        self.size, self.rule, self.mode = (int(size[0]), int(size[1])), rule, mode
        self.threads = max(1, int(threads))
        self._len = len(self.files)
        self._image_shape = (*self.size, 3 if mode == "RGB" else 1)
        self.name = name or self.root.name
        self._pool, self._pid = None, None

    def _decode(self, idx: np.ndarray) -> np.ndarray:
        paths = [self.root / self.files[int(i)] for i in idx]
        x, _ = decode_files(paths, self.size, self.rule, mode=self.mode, source=str(self.root))
        return x
