"""The two big outlier sets of the paper: 80 Million Tiny Images and 300K Random Images.

80 Million Tiny Images, `tiny_images.bin` (Torralba, Fergus, Freeman 2008): no header,
79,302,017 records of 3072 bytes; each record is one 32x32x3 uint8 image stored column-major,
i.e. `record.reshape((32, 32, 3), order="F")` gives (H, W, C). The file is 244 GB, so it is
memory-mapped and read batch by batch (`RecordImages`), never loaded.

Random access without per-record seeks: a batch of indices is sorted, gathered from the memmap
in one fancy-index (the kernel sees increasing offsets), and put back in the requested order.
The reference reads each outlier with its own seek + read; see benchmarks/bench_outliers.py.

CIFAR exclusion: the authors' `utils/80mn_cifar_idxs.txt` lists, one per line, the 1-based
indices of the 80M records that are CIFAR-10/100 images (132,409 unique). With CIFAR as
in-distribution those records are left out. The reference does so by redrawing a random index
whenever it lands on one; here the excluded view is the set of kept records in file order,
position k being the k-th kept record (`KeptRecords`), so every kept image is drawn equally.

The authors withdrew 80M Tiny Images in 2020; this module reads a user's own copy and never
assumes one. 300K Random Images (`300K_random_images.npy`, (300000, 32, 32, 3) uint8) is the
cleaned subset the authors published later; it is memory-mapped with `np.load(mmap_mode="r")`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .lazy import LazyImages
from ..imageset import ImageSet
from ...errors import UserInputError

RECORD_BYTES = 3072
RECORD_SHAPE = (32, 32, 3)
TINY_IMAGES_RECORDS = 79_302_017
CIFAR_EXCLUSION_UNIQUE = 132_409
RANDOM_300K_SHAPE = (300_000, 32, 32, 3)

TINY_IMAGES_FILE = "tiny_images.bin"
CIFAR_IDXS_FILE = "80mn_cifar_idxs.txt"
RANDOM_300K_FILE = "300K_random_images.npy"

TINY_IMAGES_URL = "https://archive.org/download/80-million-tiny-images-2-of-2/tiny_images.bin"
CIFAR_IDXS_URL = "https://raw.githubusercontent.com/hendrycks/outlier-exposure/master/utils/80mn_cifar_idxs.txt"
RANDOM_300K_URL = "https://people.eecs.berkeley.edu/~hendrycks/300K_random_images.npy"


def records_to_images(raw: np.ndarray) -> np.ndarray:
    """(B, 3072) uint8 column-major records -> (B, 32, 32, 3) C-contiguous HWC images.

    Fortran order puts pixel (h, w, c) at byte h + 32 w + 1024 c, which is the C-order array
    (C, W, H); transposing its axes gives (H, W, C). Copied one channel at a time: a single
    copy of the full transpose runs an inner loop of 3 bytes and is about twice as slow.
    """
    planes = raw.reshape(-1, 3, 32, 32)  # (B, C, W, H)
    out = np.empty((len(planes), 32, 32, 3), dtype=np.uint8)
    for c in range(3):
        out[..., c] = planes[:, c].transpose(0, 2, 1)
    return out


class KeptRecords:
    """Maps position k to the k-th record of 0..n-1 that is not excluded, without building the
    array of kept records (79M int64 would be 634 MB; this holds only the excluded ones).

    With the excluded records sorted, e_0 < e_1 < ..., record e_j has e_j - j kept records
    before it, a non-decreasing sequence. Kept position k lies after exactly
    c = #{j : e_j - j <= k} excluded records, so it is record k + c: one searchsorted.
    """

    def __init__(self, n: int, excluded: np.ndarray):
        excluded = np.unique(np.asarray(excluded, dtype=np.int64))
        if excluded.size and (excluded[0] < 0 or excluded[-1] >= n):
            raise ValueError(f"excluded records must lie in 0..{n - 1}")
        self.n, self.excluded = int(n), excluded
        self._kept_before = excluded - np.arange(len(excluded), dtype=np.int64)

    def __len__(self) -> int:
        return self.n - len(self.excluded)

    def __call__(self, k: np.ndarray) -> np.ndarray:
        k = np.asarray(k, dtype=np.int64)
        return k + np.searchsorted(self._kept_before, k, side="right")


class RecordImages(LazyImages):
    """A `tiny_images.bin`-format file as a lazy (N, 32, 32, 3) uint8 array.

    `x[i]` -> (32, 32, 3); `x[a:b]`, `x[index_array]` -> (B, 32, 32, 3), in the order asked.
    With `exclude` (0-based record indices), position k is the k-th record not excluded.

    Each process opens its own memmap on first use (the path is what gets pickled or inherited),
    so DataLoader workers and torch.distributed ranks never share a file object or offset.
    """

    def __init__(self, path: str | Path, exclude: np.ndarray | None = None, name: str | None = None):
        self.path = Path(path)
        n_records = record_count(self.path)
        self.kept = None if exclude is None else KeptRecords(n_records, exclude)
        self.n_records = n_records
        self._len = n_records if self.kept is None else len(self.kept)
        self._image_shape = RECORD_SHAPE
        self.name = name or self.path.name
        self._mm, self._pid = None, None

    def _records(self) -> np.memmap:
        # A memmap opened before a fork is reopened in the child (its pid differs).
        if self._mm is None or self._pid != os.getpid():
            self._mm = np.memmap(self.path, dtype=np.uint8, mode="r",
                                 shape=(self.n_records, RECORD_BYTES))
            self._pid = os.getpid()
        return self._mm

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_mm"], state["_pid"] = None, None  # the receiving process opens its own
        return state

    def record_indices(self, idx: np.ndarray) -> np.ndarray:
        """File record numbers of positions idx (0-based)."""
        return idx if self.kept is None else self.kept(idx)

    def _gather(self, idx: np.ndarray) -> np.ndarray:
        records = self.record_indices(idx)
        order = np.argsort(records, kind="stable")
        raw = self._records()[records[order]]  # one gather at increasing offsets
        out = np.empty_like(raw)
        out[order] = raw  # back to the order asked for
        return records_to_images(out)


def record_count(path: Path) -> int:
    """Number of 3072-byte records in a tiny_images.bin-format file; refuses other sizes."""
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "not found"
        raise UserInputError(
            f"80 Million Tiny Images file {path} {what}: give the path of your {TINY_IMAGES_FILE} "
            f"or of its folder (its authors withdrew the dataset in 2020; an unofficial mirror: "
            f"{TINY_IMAGES_URL})"
        )
    size = path.stat().st_size
    if size == 0 or size % RECORD_BYTES:
        raise UserInputError(
            f"{path} is {size} bytes, not a whole number of {RECORD_BYTES}-byte records: "
            f"truncated or not a {TINY_IMAGES_FILE} (the full file is "
            f"{TINY_IMAGES_RECORDS * RECORD_BYTES} bytes; copy it again)"
        )
    return size // RECORD_BYTES


def cifar_exclusion(path: str | Path, n_records: int | None = None) -> np.ndarray:
    """Read the CIFAR index list (one 1-based record index per line) as sorted unique 0-based
    int64 indices. Blank lines are ignored; anything else that is not an integer in
    1..n_records is an error naming the line."""
    path = Path(path)
    if not path.is_file():
        raise UserInputError(
            f"CIFAR exclusion list {path} not found; download it from {CIFAR_IDXS_URL} "
            f"and put it next to {TINY_IMAGES_FILE}"
        )
    lines = path.read_text(encoding="ascii", errors="replace").splitlines()
    tokens = [(i, t.strip()) for i, t in enumerate(lines, start=1) if t.strip()]
    bad = next(((i, t) for i, t in tokens if not t.isdigit()), None)
    if bad is not None:
        raise UserInputError(
            f"{path} line {bad[0]}: {bad[1][:40]!r} is not a record index (the file holds one "
            f"1-based integer per line; download it again from {CIFAR_IDXS_URL})"
        )
    one_based = np.array([int(t) for _, t in tokens], dtype=np.int64)
    upper = n_records if n_records is not None else TINY_IMAGES_RECORDS
    if one_based.size == 0:
        raise UserInputError(f"{path} holds no indices (download it again from {CIFAR_IDXS_URL})")
    if one_based.min() < 1 or one_based.max() > upper:
        raise UserInputError(
            f"{path}: indices must lie in 1..{upper} (1-based record numbers), found "
            f"{one_based.min()}..{one_based.max()}; is this the list for this {TINY_IMAGES_FILE}?"
        )
    return np.unique(one_based - 1)


def _file_in(root_or_path: str | Path, filename: str) -> Path:
    path = Path(root_or_path)
    return path / filename if path.is_dir() else path


def load_tinyimages(root_or_path: str | Path, exclude_cifar: bool = False,
                    cifar_idxs: str | Path | None = None) -> ImageSet:
    """80 Million Tiny Images as a lazy ImageSet (unlabelled, uint8 32x32x3).

    root_or_path: the .bin file, or a folder holding `tiny_images.bin`. With exclude_cifar,
    the CIFAR list is read from `cifar_idxs`, else from `80mn_cifar_idxs.txt` next to the .bin.
    On the full-size file the list must hold 132,409 unique indices: its checksum is not
    known here, so this count is the check that it is the authors' list.
    """
    path = _file_in(root_or_path, TINY_IMAGES_FILE)
    n_records = record_count(path)
    if not exclude_cifar:
        return ImageSet(x=RecordImages(path, name="tinyimages-80m"), y=None, name="tinyimages-80m")
    idxs_path = Path(cifar_idxs) if cifar_idxs is not None else path.parent / CIFAR_IDXS_FILE
    excluded = cifar_exclusion(idxs_path, n_records)
    if n_records == TINY_IMAGES_RECORDS and len(excluded) != CIFAR_EXCLUSION_UNIQUE:
        raise UserInputError(
            f"{idxs_path} holds {len(excluded)} unique indices, but the authors' CIFAR list holds "
            f"{CIFAR_EXCLUSION_UNIQUE}; download it again from {CIFAR_IDXS_URL}"
        )
    name = "tinyimages-80m-no-cifar"
    return ImageSet(x=RecordImages(path, exclude=excluded, name=name), y=None, name=name)


def load_300k(root_or_path: str | Path, expected_count: int | None = RANDOM_300K_SHAPE[0]) -> ImageSet:
    """300K Random Images as a memory-mapped ImageSet (unlabelled, uint8 32x32x3).

    root_or_path: the .npy, or a folder holding `300K_random_images.npy`. The array must be
    (300000, 32, 32, 3) uint8 (expected_count=None accepts any number of images).
    """
    path = _file_in(root_or_path, RANDOM_300K_FILE)
    if not path.is_file():
        raise UserInputError(
            f"300K Random Images file {path} not found; download {RANDOM_300K_URL} "
            f"(about 0.9 GB) and give its path or its folder"
        )
    try:
        x = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise UserInputError(
            f"{path} is not a readable .npy ({err}); download it again from {RANDOM_300K_URL}"
        ) from None
    want = (expected_count if expected_count is not None else x.shape[0], *RANDOM_300K_SHAPE[1:])
    if x.dtype != np.uint8 or x.ndim != 4 or tuple(x.shape) != want:
        raise UserInputError(
            f"{path} holds a {x.dtype} array of shape {tuple(x.shape)}; 300K Random Images is "
            f"uint8 of shape {want} (download it again from {RANDOM_300K_URL})"
        )
    return ImageSet(x=x, y=None, name="300k-random-images")


# What the dataset registry needs to know about these two sets (it owns downloads and roots).
RECORD_SETS = {
    "tinyimages-80m": {
        "files": {
            TINY_IMAGES_FILE: {
                "url": TINY_IMAGES_URL,
                "sha256": None,
                "bytes": TINY_IMAGES_RECORDS * RECORD_BYTES,
            },
            CIFAR_IDXS_FILE: {
                "url": CIFAR_IDXS_URL,
                # computed from the file in the authors' repository (git blob c26fe22d, master)
                "sha256": "5716e41a62b6fb304972ef80e286a0f8be89b709f64240d8003e75398c09d7d5",
                "bytes": 1_170_875,
                "unique_indices": CIFAR_EXCLUSION_UNIQUE,
                "needed_for": "no-cifar",
            },
        },
        "splits": {None: "all 79,302,017 images", "no-cifar": "without the 132,409 CIFAR images"},
        "load": lambda root, split: load_tinyimages(root, exclude_cifar=split == "no-cifar"),
        "note": (
            "Withdrawn by its authors in 2020: the URL is an unofficial mirror (the one the "
            "authors link) that may vanish, and no checksum is known: its size is checked, "
            "with a warning. The CIFAR index list comes from the authors' repository (sha256 "
            "recorded); on the full file its 132,409 unique indices are checked too."
        ),
    },
    "300k-random-images": {
        "files": {
            RANDOM_300K_FILE: {
                "url": RANDOM_300K_URL,
                # The authors publish no digest; this md5 is the one pytorch-ood checks the same
                # file against (not recomputed here: no network).
                "md5": "64ca64357de98351f28454274a112dc3",
                "sha256": None,
                # 921,600,000 bytes of pixels plus a .npy header whose length depends on the
                # numpy that wrote it (16- or 64-byte alignment): no exact size to check.
                "bytes": None,
                "approx_bytes": 921_600_128,
            },
        },
        "splits": {None: "300,000 images"},
        "load": lambda root, split: load_300k(root),
        "note": "Published by the OE authors, without a digest; the md5 checked is pytorch-ood's.",
    },
}
