"""Linear resampling as matrices, so that a resize, a crop, a flip and a DCT compose into one
small matrix product per image (the hash of 110 crop/flip variants of an image costs little
more than one hash).

An image's rows are resampled by `R (n_out, n_in)` and its columns by `C`: out = R @ img @ C.T.
Input pixel i covers [i, i + 1); output pixel o of a box [start, start + size) is centred at
start + (o + 0.5) * size / n_out. Enlarging (size <= n_out) interpolates linearly between pixel
centres (values beyond the edge repeat the edge pixel); shrinking averages the input over each
output pixel's footprint (area weights), which does not alias.

The variants: the reference images are indexed under every square crop that keeps
`CROP_SIDES` = 28..32 of the 32 canonical pixels, at every whole-pixel offset (55 boxes), each
enlarged back to 32x32, and each also mirrored left-right: an outlier that is a crop of a
reference image (by up to 4 pixels of 32 in each direction, 12.5%), possibly mirrored, is then
within half a pixel of one indexed variant. The second stage (verify.py) refines that half pixel.
"""

from __future__ import annotations

import numpy as np

CANON = 32  # every image is hashed and compared at 32x32
CROP_SIDES = tuple(range(28, CANON + 1))
# (side, top, left) of each crop box, in canonical pixels, the least cropped first: the full
# image (32, 0, 0) is box 0, and among variants at the same hash distance the first is the one
# that assumes the smallest crop.
BOXES = np.array([(s, t, l) for s in sorted(CROP_SIDES, reverse=True)
                  for t in range(CANON - s + 1) for l in range(CANON - s + 1)], dtype=np.float64)
IDENTITY = 0
assert tuple(BOXES[IDENTITY]) == (CANON, 0, 0)


def resample(n_in: int, n_out: int, start, size) -> np.ndarray:
    """(k, n_out, n_in) float32 matrices taking the boxes [start, start + size) of an n_in-pixel
    axis to n_out pixels (start, size: scalars or (k,) arrays)."""
    start = np.atleast_1d(np.asarray(start, dtype=np.float64))[:, None, None]
    size = np.broadcast_to(np.atleast_1d(np.asarray(size, dtype=np.float64)),
                           start.shape[:1])[:, None, None]
    o = np.arange(n_out, dtype=np.float64)[None, :, None]
    i = np.arange(n_in, dtype=np.float64)[None, None, :]
    step = size / n_out
    # enlarging: tent weights around the output centre, clamped into the image
    centre = np.clip(start + (o + 0.5) * step - 0.5, 0, n_in - 1)
    tent = np.maximum(0.0, 1.0 - np.abs(centre - i))
    # shrinking: the overlap of each input pixel with the output pixel's footprint
    lo, hi = start + o * step, start + (o + 1) * step
    area = np.clip(np.minimum(i + 1, hi) - np.maximum(i, lo), 0, None)
    area /= np.maximum(area.sum(-1, keepdims=True), 1e-12)
    return np.where(step > 1, area, tent).astype(np.float32)


def to_canonical(x: np.ndarray) -> np.ndarray:
    """uint8 (N, H, W, C) -> float32 (N, 3, 32, 32): RGB planes at the canonical size (grey is
    repeated to three planes, an alpha plane dropped)."""
    x = np.asarray(x)
    planes = np.moveaxis(x.astype(np.float32, copy=False), -1, 1)
    if planes.shape[1] == 1:
        planes = np.repeat(planes, 3, axis=1)
    planes = planes[:, :3]
    h, w = planes.shape[2:]
    if (h, w) != (CANON, CANON):
        planes = resample(h, CANON, 0, h)[0] @ planes @ resample(w, CANON, 0, w)[0].T
    return np.ascontiguousarray(planes, dtype=np.float32)


def box_matrices(boxes: np.ndarray, flip: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row and column matrices (k, 32, 32) of crop boxes (k, 3) = (side, top, left) on the
    canonical image, enlarged back to 32x32; `flip` (k,) bool mirrors the result left-right."""
    rows = resample(CANON, CANON, boxes[:, 1], boxes[:, 0])
    cols = resample(CANON, CANON, boxes[:, 2], boxes[:, 0])
    cols = np.where(np.asarray(flip)[:, None, None], cols[:, ::-1, :], cols)
    return rows, cols
