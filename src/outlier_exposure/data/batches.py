"""Batches on the device: uint8 images in, normalised (and augmented) float batches out.

The whole set is kept as one uint8 tensor (N, H, W, C) on the training device, and every
step works on whole batches there: index, random-crop with zero padding, horizontal flip,
normalise. No per-image Python work and no DataLoader workers, which is where the reference's
time went (per-image PIL transforms).

Augmentation follows torchvision's `RandomCrop(size, padding=p)` + `RandomHorizontalFlip()`
as the reference applies them: the image is padded with p zero pixels (pixel value 0, before
normalisation) on every side, the crop offset is uniform over the 2p+1 positions along each
axis, and the flip has probability 1/2; each image draws its own offsets and flip.

ImageNet-style runs store images at S x S and feed the model N x N (`Preprocess.input_size`):
evaluation takes torchvision's `CenterCrop(N)`; training may take torchvision's
`RandomResizedCrop(N)` instead of the padded crop (`Preprocess.random_resized_crop`), its boxes
drawn for the whole batch at once and resampled in one `grid_sample` call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .imageset import ImageSet


@dataclass(frozen=True)
class Preprocess:
    """Normalisation and augmentation of one preset; `mean`/`std` are per channel in [0, 1] units.

    `input_size`: the model's input side n when it is smaller than the stored images (None: the
    images as stored). Evaluation then takes the centre n x n crop; the padded random crop works
    on that centre crop (as `Compose([CenterCrop(n), RandomCrop(n, padding=p)])`).
    `random_resized_crop`: augment with `RandomResizedCrop` (default scale and ratio) resampled
    to n x n (or the stored size) instead of the padded crop; `flip` still applies after it.
    """

    mean: tuple[float, ...]
    std: tuple[float, ...]
    crop_padding: int = 0
    flip: bool = False
    channels_last: bool = False  # hand the model NHWC-strided batches (faster convs on GPUs)
    input_size: int | None = None
    random_resized_crop: bool = False

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
        made there, as the reference does): it is only permuted (and centre-cropped to
        `input_size`); it is never augmented.
        """
        x = x.permute(0, 3, 1, 2)
        layout = torch.channels_last if self.channels_last else torch.contiguous_format
        if normalised:
            if self.input_size is not None:
                x = centre_crop(x, self.input_size)
            return x.float().contiguous(memory_format=layout)
        owned = x.dtype != torch.float32  # .float() below makes a new tensor we may overwrite
        if augment and self.random_resized_crop:
            x = random_resized_crop(x, self.input_size, generator, flip=self.flip)
            owned = True
        else:
            if self.input_size is not None:
                x = centre_crop(x, self.input_size)
            if augment:
                x = augment_batch(x, self.crop_padding, self.flip, generator)
        mean = torch.tensor(self.mean, device=x.device, dtype=torch.float32).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=x.device, dtype=torch.float32).view(1, -1, 1, 1)
        # (x/255 - mean)/std written as one multiply-add on the pixel values, in place when the
        # float tensor is our own (a third of the time of a new tensor per operation on a CPU).
        x = x.float()
        if owned:
            return x.mul_(1.0 / (255.0 * std)).sub_(mean / std).contiguous(memory_format=layout)
        return (x * (1.0 / (255.0 * std)) - mean / std).contiguous(memory_format=layout)


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
        x = random_flip(x, generator)
    return x


def random_flip(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Each image of a (B, C, H, W) batch mirrored left-right with probability 1/2."""
    flips = _random_ints(2, x.shape[0], generator, x.device).bool()[:, None, None, None]
    return torch.where(flips, x.flip(3), x)


def centre_offsets(height: int, width: int, size: int) -> tuple[int, int]:
    """(top, left) of the centre size x size crop, rounded as torchvision's `center_crop`:
    `round(d / 2)` with Python's round-half-to-even (so a difference of 3 gives 2, of 5
    gives 2), which evaluation and the deployed detector must both reproduce exactly."""
    if size > height or size > width:
        raise ValueError(f"input_size {size} is larger than the stored images ({height} x "
                         f"{width}): store them at least that large")
    return round((height - size) / 2.0), round((width - size) / 2.0)


def centre_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    """The centre size x size crop of a (B, C, H, W) batch (a view: no copy).

    Under `torch.jit.trace` the sizes are tensors: the offsets are then computed by tensor ops
    (`torch.round` also rounds half to even), so the trace stays correct for other image sizes
    instead of freezing the example's offsets."""
    if torch.jit.is_tracing():
        top = torch.round((x.shape[-2] - size) / 2.0).long()
        left = torch.round((x.shape[-1] - size) / 2.0).long()
        return x.narrow(-2, top, size).narrow(-1, left, size)
    top, left = centre_offsets(x.shape[-2], x.shape[-1], size)
    return x[..., top:top + size, left:left + size]


# torchvision's RandomResizedCrop defaults.
RRC_SCALE = (0.08, 1.0)
RRC_RATIO = (3.0 / 4.0, 4.0 / 3.0)
RRC_TRIES = 10


def _random_uniform(shape: tuple[int, ...], generator: torch.Generator | None) -> torch.Tensor:
    """Uniform [0, 1) float64 draws on the generator's device (see `_random_ints`)."""
    gen_device = generator.device if generator is not None else torch.device("cpu")
    return torch.rand(shape, generator=generator, device=gen_device, dtype=torch.float64)


def _fallback_box(height: int, width: int, ratio: tuple[float, float]) -> tuple[int, int, int, int]:
    """torchvision's box when all tries fail: the largest centred box whose aspect ratio is
    clamped to the ratio range (the whole image when its own ratio is inside it)."""
    in_ratio = width / height
    if in_ratio < min(ratio):
        w, h = width, round(width / min(ratio))
    elif in_ratio > max(ratio):
        w, h = round(height * max(ratio)), height
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def random_resized_crop_boxes(
    n: int, height: int, width: int, generator: torch.Generator | None = None,
    scale: tuple[float, float] = RRC_SCALE, ratio: tuple[float, float] = RRC_RATIO,
) -> torch.Tensor:
    """(n, 4) int64 boxes (top, left, h, w), one per image, distributed as torchvision's
    `RandomResizedCrop.get_params` (the reference behaviour): up to 10 tries of an area uniform
    in `scale` times the image's and a log-uniform aspect ratio in `ratio`, sides rounded;
    the first try that fits is kept, with a uniform offset; else `_fallback_box`.

    Vectorised: all tries of all images are drawn at once (then the draws per image are a
    fixed number, so the generator advances the same whatever is accepted)."""
    area = _random_uniform((n, RRC_TRIES), generator) * (scale[1] - scale[0]) + scale[0]
    area = area * (height * width)
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    aspect = torch.exp(_random_uniform((n, RRC_TRIES), generator) * (log_hi - log_lo) + log_lo)
    w = torch.round(torch.sqrt(area * aspect)).long()  # round half to even, as Python's round
    h = torch.round(torch.sqrt(area / aspect)).long()
    fits = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    first = fits.long().argmax(1, keepdim=True)  # first True; 0 when none (replaced below)
    h, w = h.gather(1, first)[:, 0], w.gather(1, first)[:, 0]
    u = _random_uniform((n, 2), generator)
    top = torch.floor(u[:, 0] * (height - h + 1)).long()
    left = torch.floor(u[:, 1] * (width - w + 1)).long()
    boxes = torch.stack([top, left, h, w], 1)
    fallback = torch.tensor(_fallback_box(height, width, ratio), device=boxes.device)
    return torch.where(fits.any(1)[:, None], boxes, fallback)


def _sample_coords(start: torch.Tensor, length: torch.Tensor, out: int, size: int) -> torch.Tensor:
    """(B, out) grid_sample coordinates (align_corners=False units) along one axis that sample
    each box as `F.interpolate(box, mode="bilinear", align_corners=False)` does: pixel centres
    `start + (i + 0.5) * length / out - 0.5`, clamped into the box as interpolate clamps at the
    box's edges. Computed in float64 and rounded once to float32, for accuracy."""
    start, length = start.double()[:, None], length.double()[:, None]
    i = torch.arange(out, dtype=torch.float64, device=start.device)[None, :]
    src = start + (i + 0.5) * (length / out) - 0.5
    src = torch.minimum(torch.maximum(src, start), start + length - 1)
    return ((2 * src + 1) / size - 1).float()


def resample_boxes(x: torch.Tensor, boxes: torch.Tensor, out_h: int, out_w: int,
                   mirrored: torch.Tensor | None = None) -> torch.Tensor:
    """Each image's box (top, left, h, w) of a (B, C, H, W) batch resampled bilinearly to
    (out_h, out_w): float32 (B, C, out_h, out_w), same units as `x`.

    One `F.grid_sample` call on a grid built per axis, rather than `roi_align`: roi_align with
    sampling_ratio=2 averages 2 x 2 points per output pixel, which blurs even an identity box,
    while grid_sample point-samples like torchvision's `resized_crop(antialias=False)`, is
    traceable and runs on every device without torchvision's compiled ops. The grid is made
    directly in pixel terms rather than by `affine_grid` (one rounding instead of a matmul's).
    `mirrored` (B,) bool: those images come out flipped left-right, at no cost (their columns
    are sampled in reverse order)."""
    b, _, h, w = x.shape
    boxes = boxes.to("cpu")
    ys = _sample_coords(boxes[:, 0], boxes[:, 2], out_h, h).to(x.device)
    xs = _sample_coords(boxes[:, 1], boxes[:, 3], out_w, w)
    if mirrored is not None:  # sampling the columns right to left is the flipped output
        xs = torch.where(mirrored.to("cpu")[:, None], xs.flip(1), xs)
    xs = xs.to(x.device)
    grid = torch.stack([xs[:, None, :].expand(b, out_h, out_w),
                        ys[:, :, None].expand(b, out_h, out_w)], dim=3)
    return F.grid_sample(x.float(), grid, mode="bilinear", padding_mode="border",
                         align_corners=False)


def random_resized_crop(
    x: torch.Tensor, size: int | None, generator: torch.Generator | None = None,
    flip: bool = False,
) -> torch.Tensor:
    """torchvision's `RandomResizedCrop(size)` (default scale and ratio, bilinear, no
    antialiasing) of every image of a (B, C, H, W) batch, each with its own box, then with
    `flip` its `RandomHorizontalFlip()` (drawn after the boxes, as `random_flip` draws, but done
    inside the resampling: a third of the time of a separate flip on a CPU); `size` None keeps
    the stored H x W. Returns float32 in the units of `x` (pixels 0..255 for uint8)."""
    b, _, h, w = x.shape
    out_h, out_w = (h, w) if size is None else (size, size)
    boxes = random_resized_crop_boxes(b, h, w, generator)
    mirrored = _random_ints(2, b, generator, torch.device("cpu")).bool() if flip else None
    return resample_boxes(x, boxes, out_h, out_w, mirrored)


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
