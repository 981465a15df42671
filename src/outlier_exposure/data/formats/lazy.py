"""Lazy image arrays: (N, H, W, C) uint8 sets read batch by batch, never whole.

An `ImageSet` normally holds a numpy array (or memmap). A set too big for memory, such as the
80 Million Tiny Images file (79,302,017 x 3072 bytes = 244 GB), is held instead as a
`LazyImages`: it has `len`, `shape`, `ndim` and `dtype` like an array, and indexing it
(`x[i]`, `x[a:b]`, `x[index_array]`) reads just those images and returns a numpy array. Code
that only indexes (the evaluation protocol, the outlier stream) works on it unchanged.

Turning the whole set into an array (`np.asarray(x)`) is allowed up to
`MATERIALISE_LIMIT_BYTES`, so small files behave like arrays everywhere; beyond it, it is an
error naming the set, since reading it would exhaust memory.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numpy as np

from ...errors import UserInputError

MATERIALISE_LIMIT_BYTES = 8 * 2**30
DECODE_THREADS = min(8, os.cpu_count() or 1)


def positions(key, n: int) -> np.ndarray | int:
    """Normalise an index into 0..n-1: an int stays an int; a slice, an integer array or a
    boolean mask becomes a 1-D int64 array. Negative indices count from the end (numpy's rule).
    """
    if isinstance(key, (int, np.integer)):
        k = int(key)
        if not -n <= k < n:
            raise IndexError(f"index {k} is out of range for {n} images")
        return k + n if k < 0 else k
    if isinstance(key, slice):
        return np.arange(*key.indices(n), dtype=np.int64)
    idx = np.asarray(key)  # also takes CPU torch tensors and lists
    if idx.dtype == bool:
        if idx.shape != (n,):
            raise IndexError(f"boolean index of shape {idx.shape} does not match {n} images")
        return np.flatnonzero(idx)
    if idx.ndim != 1 or not (np.issubdtype(idx.dtype, np.integer) or idx.size == 0):
        raise IndexError(
            f"images are indexed by an int, a slice or a 1-D integer array, got {idx.dtype} {idx.shape}"
        )
    idx = idx.astype(np.int64, copy=False)
    if idx.size and (idx.min() < -n or idx.max() >= n):
        raise IndexError(f"index out of range for {n} images: {idx.min()}..{idx.max()}")
    return np.where(idx < 0, idx + n, idx)


class LazyImages:
    """Base of the lazy (N, H, W, C) uint8 arrays. Subclasses set `_len`, `_image_shape` and
    implement `_gather(idx) -> (B, H, W, C) uint8` for a 1-D int64 array of positions."""

    _len: int
    _image_shape: tuple[int, int, int]
    name: str = "lazy images"
    dtype = np.dtype(np.uint8)
    ndim = 4

    def _gather(self, idx: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def __len__(self) -> int:
        return self._len

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (self._len, *self._image_shape)

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def __getitem__(self, key) -> np.ndarray:
        idx = positions(key, self._len)
        if isinstance(idx, int):
            return self._gather(np.array([idx], dtype=np.int64))[0]
        return self._gather(idx)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        if self.nbytes > MATERIALISE_LIMIT_BYTES:
            raise UserInputError(
                f"{self.name} holds {self.nbytes / 2**30:.1f} GiB of pixels: too much to read into "
                f"memory at once (limit {MATERIALISE_LIMIT_BYTES / 2**30:.0f} GiB); index it in "
                "batches (x[idx]) instead"
            )
        out = self[:]
        return out if dtype is None else out.astype(dtype, copy=False)

    def map(self, fn: Callable[[np.ndarray], np.ndarray],
            image_shape: tuple[int, int, int]) -> "MappedImages":
        """A lazy view whose batches are `fn(batch)`; `fn` maps (B, H, W, C) to (B, *image_shape)."""
        return MappedImages(self, fn, image_shape)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, shape={self.shape})"


def take(x, idx):
    """`x[idx]` for an array; for a lazy set a lazy view of those images (`SelectedImages`), so
    that a subset of a streamed folder (a calibration hold-out's complement, `@first1000`) does
    not decode every image it keeps at once."""
    if isinstance(x, LazyImages):
        return SelectedImages(x, positions(idx, len(x)))
    return x[idx]


class SelectedImages(LazyImages):
    """The images of `base` at `chosen` positions (a 1-D int64 array), in that order, still lazy."""

    def __init__(self, base: LazyImages, chosen: np.ndarray):
        self.base, self.chosen = base, np.atleast_1d(chosen).astype(np.int64)
        self._len, self._image_shape = len(self.chosen), tuple(base.shape[1:])
        self.name = base.name

    def _gather(self, idx: np.ndarray) -> np.ndarray:
        return self.base[self.chosen[idx]]


class MappedImages(LazyImages):
    """`base` with a batch function applied on read (e.g. RGB -> grey), still lazy."""

    def __init__(self, base: LazyImages, fn: Callable[[np.ndarray], np.ndarray],
                 image_shape: tuple[int, int, int]):
        self.base, self.fn = base, fn
        self._len, self._image_shape = len(base), tuple(int(s) for s in image_shape)
        self.name = base.name

    def _gather(self, idx: np.ndarray) -> np.ndarray:
        return self.fn(self.base[idx])


class ThreadedImages(LazyImages):
    """A lazy set whose batch is decoded in chunks by a small thread pool.

    For image files: PIL releases the GIL while it decodes and resizes, so a batch read by one
    background thread (a prefetcher) still uses several cores. Subclasses set `threads` and
    implement `_decode(idx) -> (B, H, W, C) uint8`; the pool is made on first use, and again in
    a forked or unpickled copy (threads do not cross processes).
    """

    threads: int = DECODE_THREADS
    _pool: ThreadPoolExecutor | None = None
    _pid: int | None = None

    def _decode(self, idx: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_pool"], state["_pid"] = None, None  # each process makes its own threads
        return state

    def _gather(self, idx: np.ndarray) -> np.ndarray:
        if len(idx) == 0:
            return np.empty((0, *self._image_shape), dtype=np.uint8)
        chunks = [c for c in np.array_split(idx, min(self.threads, len(idx))) if len(c)]
        if len(chunks) == 1:
            return self._decode(idx)
        if self._pool is None or self._pid != os.getpid():
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="oe-decode")
            self._pid = os.getpid()
        return np.concatenate(list(self._pool.map(self._decode, chunks)))
