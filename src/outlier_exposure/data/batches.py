"""Batches on the device: uint8 images in, normalised (and augmented) float batches out.

The whole set is kept as one uint8 tensor (N, H, W, C) on the training device, and every
step works on whole batches there: index, random-crop with zero padding, horizontal flip,
normalise. No per-image Python work and no DataLoader workers, which is where the reference's
time went (per-image PIL transforms).

Augmentation follows torchvision's `RandomCrop(size, padding=p)` + `RandomHorizontalFlip()`
as the reference applies them: the image is padded with p zero pixels (pixel value 0, before
normalisation) on every side, the crop offset is uniform over the 2p+1 positions along each
axis, and the flip has probability 1/2; each image draws its own offsets and flip.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .imageset import ImageSet


@dataclass(frozen=True)
class Preprocess:
    """Normalisation and augmentation of one preset; `mean`/`std` are per channel in [0, 1] units."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    crop_padding: int = 0
    flip: bool = False
    channels_last: bool = False  # hand the model NHWC-strided batches (faster convs on GPUs)

    def __call__(
        self,
        x: torch.Tensor,
        *,
        augment: bool = False,
        generator: torch.Generator | None = None,
        normalised: bool = False,
    ) -> torch.Tensor:
        """(B, H, W, C) uint8 -> (B, C, H, W) float32 model input.

        `normalised=True` marks float data already in the model's input space (synthetic noise
        made there, as the reference does): it is only permuted.
        """
        x = x.permute(0, 3, 1, 2)
        layout = torch.channels_last if self.channels_last else torch.contiguous_format
        if normalised:
            return x.float().contiguous(memory_format=layout)
        if augment:
            x = augment_batch(x, self.crop_padding, self.flip, generator)
        mean = torch.tensor(self.mean, device=x.device, dtype=torch.float32).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=x.device, dtype=torch.float32).view(1, -1, 1, 1)
        # (x/255 - mean)/std written as one multiply-add on the uint8 values.
        return (x.float() * (1.0 / (255.0 * std)) - mean / std).contiguous(memory_format=layout)


def _random_ints(high: int, n: int, generator: torch.Generator | None, device) -> torch.Tensor:
    # Draw on the generator's device (CPU generators are the portable, checkpointable kind),
    # then move: the draws are tiny.
    gen_device = generator.device if generator is not None else torch.device("cpu")
    return torch.randint(0, high, (n,), generator=generator, device=gen_device).to(device)


def augment_batch(
    x: torch.Tensor, padding: int, flip: bool, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Random crop with zero padding and random horizontal flip of a (B, C, H, W) batch."""
    b, _, h, w = x.shape
    if padding > 0:
        padded = F.pad(x, (padding, padding, padding, padding))
        oy = _random_ints(2 * padding + 1, b, generator, x.device)
        ox = _random_ints(2 * padding + 1, b, generator, x.device)
        rows = (oy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
        cols = (ox[:, None] + torch.arange(w, device=x.device))[:, None, None, :]
        batch = torch.arange(b, device=x.device)[:, None, None, None]
        chans = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
        x = padded[batch, chans, rows, cols]
    if flip:
        flips = _random_ints(2, b, generator, x.device).bool()[:, None, None, None]
        x = torch.where(flips, x.flip(3), x)
    return x


def to_device_tensor(images: ImageSet, device: torch.device | str) -> torch.Tensor:
    """The set's pixels as one tensor on `device` (uint8, or float32 when pre-normalised)."""
    array = np.ascontiguousarray(images.x)
    return torch.from_numpy(array).to(device)


class EpochBatches:
    """Indices of one shuffled pass over N examples, batch by batch; the last batch may be short.

    As the reference's `DataLoader(shuffle=True)` without `drop_last`: an epoch is ceil(N / B) steps.
    """

    def __init__(self, n: int, batch_size: int, generator: torch.Generator):
        self.n, self.batch_size, self.generator = n, batch_size, generator

    def __len__(self) -> int:
        return -(-self.n // self.batch_size)

    def __iter__(self) -> Iterator[torch.Tensor]:
        order = torch.randperm(self.n, generator=self.generator)
        return iter(order.split(self.batch_size))


class OutlierStream:
    """The outlier batch of every step, as indices into the outlier set, in one of two orders.

    - "uniform": a shuffled pass over the set, reshuffled when it runs out, so every outlier is
      seen once before any is seen twice.
    - "reference": as the reference's `DataLoader(shuffle=False)` over 80M Tiny Images, whose
      `offset` it moves to a random record at the start of every epoch: each batch is the run of
      consecutive records after the previous one (wrapping around the end), from that epoch's
      offset. With `random_offset=False` every epoch starts at record 0 (the reference's
      ImageNet-22K folder, which never reads the offset). The offset is drawn from `generator`,
      so a resumed run draws the same ones; `steps_per_epoch` must be set before the first batch.
    """

    def __init__(self, n: int, batch_size: int, generator: torch.Generator,
                 order: str = "uniform", random_offset: bool = True):
        if n < batch_size:
            batch_size = n
        self.n, self.batch_size, self.generator = n, batch_size, generator
        self.order, self.random_offset = order, random_offset
        self.steps_per_epoch: int | None = None
        self._order = torch.empty(0, dtype=torch.long)
        self._pos = 0
        self._offset, self._step = 0, 0  # "reference": this epoch's first record, steps taken

    def next(self) -> torch.Tensor:
        if self.order == "reference":
            return self._next_run()
        if self._pos + self.batch_size > len(self._order):
            self._order = torch.randperm(self.n, generator=self.generator)
            self._pos = 0
        batch = self._order[self._pos : self._pos + self.batch_size]
        self._pos += self.batch_size
        return batch

    def _next_run(self) -> torch.Tensor:
        if self.steps_per_epoch is None:
            raise RuntimeError("OutlierStream(order='reference') needs steps_per_epoch")
        if self._step % self.steps_per_epoch == 0:  # a new epoch: a new starting record
            self._step = 0
            self._offset = (int(torch.randint(self.n, (1,), generator=self.generator))
                            if self.random_offset else 0)
        start = self._offset + self._step * self.batch_size
        self._step += 1
        return (start + torch.arange(self.batch_size)) % self.n

    def state_dict(self) -> dict:
        if self.order == "reference":
            return {"offset": self._offset, "step": self._step}
        return {"order": self._order.clone(), "pos": self._pos}

    def load_state_dict(self, state: dict) -> None:
        if self.order == "reference":
            self._offset, self._step = int(state["offset"]), int(state["step"])
        else:
            self._order, self._pos = state["order"].clone(), int(state["pos"])


def sequential_batches(n: int, batch_size: int) -> Sequence[slice]:
    """Slices covering 0..n in order, for evaluation."""
    return [slice(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]
