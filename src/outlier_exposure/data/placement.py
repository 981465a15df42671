"""Where the training images live, and how a batch of them reaches the device.

- `device` (the default when the set fits): the whole uint8 set is one tensor on the device;
  a batch is an index into it, with no host work at all.
- `host`: the set stays in pinned host memory; a batch is gathered on the host and copied
  asynchronously (`non_blocking`), so the copy overlaps the previous step's compute.
- lazy sets (80M Tiny Images, 244 GB on disk; image folders streamed with --data-on stream) are
  read a batch at a time by a background thread, `PREFETCH` batches ahead of the step that needs
  them: outliers by `OutlierPrefetcher`, a training set by `BatchPrefetcher`.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Iterator, Sequence

import numpy as np
import torch

from ..errors import UserInputError
from .batches import OutlierStream, to_device_tensor
from .formats.lazy import LazyImages
from .imageset import ImageSet

# Keep at least this fraction of free GPU memory for the model when placing data there.
DEVICE_DATA_FRACTION = 0.5
PREFETCH = 4


def _fits_on_device(nbytes: int, device: torch.device) -> bool:
    if device.type != "cuda":
        return True  # "device" memory is host memory: nothing to gain from staging
    free, _ = torch.cuda.mem_get_info(device)
    return nbytes <= DEVICE_DATA_FRACTION * free


class PinnedHostImages:
    """A set in pinned host memory; `x[idx]` gathers on the host, copies asynchronously."""

    def __init__(self, x: np.ndarray, device: torch.device):
        self.x = torch.from_numpy(np.ascontiguousarray(x)).pin_memory()
        self.device = device

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, idx: torch.Tensor) -> torch.Tensor:
        batch = self.x.index_select(0, idx.cpu()).pin_memory()
        return batch.to(self.device, non_blocking=True)


def place(images: ImageSet, device: torch.device, where: str = "auto"):
    """The set's pixels, indexable by a batch of indices, on or for `device`."""
    if isinstance(images.x, LazyImages):
        return None  # read through an OutlierPrefetcher
    nbytes = int(np.prod(images.x.shape)) * images.x.dtype.itemsize
    if where == "device" and device.type == "cuda" and not _fits_on_device(nbytes, device):
        raise UserInputError(
            f"--data-on device: {images.name} needs {nbytes / 2**30:.1f} GiB, more than half the "
            "GPU's free memory; use --data-on host (or auto)"
        )
    if where == "host" or (where == "auto" and not _fits_on_device(nbytes, device)):
        if device.type != "cuda":
            return to_device_tensor(images, device)
        return PinnedHostImages(images.x, device)
    return to_device_tensor(images, device)


class OutlierPrefetcher:
    """Outlier batches of a lazy set, read by a background thread ahead of the step.

    Indices are drawn from the `OutlierStream` in the main thread, in order, so the sequence of
    batches is the one an unthreaded run would see. The batches already asked for but not yet
    used travel in the checkpoint (`state_dict`), so a resumed run continues exactly.
    """

    def __init__(self, x: LazyImages, stream: OutlierStream, device: torch.device,
                 depth: int = PREFETCH):
        self.x, self.stream, self.device, self.depth = x, stream, device, depth
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="oe-outliers")
        self._pending: list[tuple[torch.Tensor, Future]] = []
        self._lock = threading.Lock()

    def _read(self, idx: torch.Tensor) -> torch.Tensor:
        # Sorted gather inside the lazy reader; pinned so the copy below can be asynchronous.
        batch = torch.from_numpy(np.ascontiguousarray(self.x[idx.numpy()]))
        return batch.pin_memory() if self.device.type == "cuda" else batch

    def _fill(self) -> None:
        while len(self._pending) < self.depth:
            idx = self.stream.next()
            self._pending.append((idx, self._pool.submit(self._read, idx)))

    def next(self) -> torch.Tensor:
        self._fill()
        _, future = self._pending.pop(0)
        batch = future.result().to(self.device, non_blocking=True)
        self._fill()
        return batch

    def state_dict(self) -> dict:
        return {"pending": [idx.clone() for idx, _ in self._pending]}

    def load_state_dict(self, state: dict) -> None:
        self._pending = [(idx, self._pool.submit(self._read, idx)) for idx in state["pending"]]

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class BatchPrefetcher:
    """The pixels of one epoch's training batches of a lazy set, read ahead in a background thread.

    Given the epoch's index batches in order (drawn by the main thread, as `EpochBatches` draws
    them for an in-memory set), it yields each batch's uint8 pixels on `device`, in the same
    order, while up to `depth` later batches are being decoded. It holds no state worth
    checkpointing: runs are checkpointed at epoch ends, and the next epoch makes a new one.
    `close` (use `contextlib.closing`) cancels the reads not started and waits for the
    one in progress, so an interrupted epoch leaves no thread behind.
    """

    def __init__(self, x: LazyImages, batches: Sequence[torch.Tensor], device: torch.device,
                 depth: int = PREFETCH):
        self.x, self.batches, self.device, self.depth = x, list(batches), device, max(1, depth)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="oe-batches")
        self._pending: list[Future] = []
        self._next = 0  # the first batch not yet submitted

    def _read(self, idx: torch.Tensor) -> torch.Tensor:
        batch = torch.from_numpy(np.ascontiguousarray(self.x[idx.numpy()]))
        return batch.pin_memory() if self.device.type == "cuda" else batch

    def _fill(self) -> None:
        while len(self._pending) < self.depth and self._next < len(self.batches):
            self._pending.append(self._pool.submit(self._read, self.batches[self._next].cpu()))
            self._next += 1

    def __iter__(self) -> Iterator[torch.Tensor]:
        self._fill()
        while self._pending:
            batch = self._pending.pop(0).result()
            self._fill()
            yield batch.to(self.device, non_blocking=True)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._pending.clear()
