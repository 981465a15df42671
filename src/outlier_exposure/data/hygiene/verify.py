"""The second stage: is a candidate pair (an outlier, a reference image seen through one crop /
mirror variant) really the same picture?

The hash only says that two images share their coarse grey layout, which distinct images often
do (a horizon, a dark object on a plain background). The check compares colour detail: both
images at 32x32 RGB, the reference resampled through the candidate's crop box, then the 2-D DCT
of each colour plane restricted to a band of frequencies, BAND = max(u, v) in [1, 12): the DC
term (the mean colour) is dropped, as are the finest frequencies (JPEG noise, the half-pixel
blur of a resize). The similarity is the cosine between the two band vectors (3 x 143
coefficients): a correlation of the two low-passed colour images. Colour is what the hash
lacks: a green field under a grey sky and a grey road under a pale sky share a hash, not
their colours. (Measured against [2, 12), [1, 8), [2, 8), [2, 16), [3, 12), [1, 6): [1, 12)
kept the largest gap between planted copies and distinct candidates; docs/hygiene.md.)

The hash's boxes lie on a whole-pixel grid, so a crop that is not on it is up to half a pixel
off; the check therefore refines the box: side, top and left each moved by -1/2, 0, +1/2 pixel
(27 boxes), and keeps the best cosine. Measured thresholds and distributions: docs/hygiene.md.
"""

from __future__ import annotations

import numpy as np

from .geometry import CANON, box_matrices, to_canonical
from .phash import dct_basis

BAND = (1, 12)
REFINE = (-0.5, 0.0, 0.5)
BATCH = 512  # candidate pairs aligned at once
_D = dct_basis(CANON, BAND[1])
_u = np.arange(BAND[1])
_KEEP = np.maximum(_u[:, None], _u[None, :]) >= BAND[0]  # (12, 12) mask of the band
_STEPS = np.array([(ds, dt, dl) for ds in REFINE for dt in REFINE for dl in REFINE])


def band(planes: np.ndarray) -> np.ndarray:
    """(N, 3, 32, 32) planes -> (N, 3*143) band coefficients."""
    return (_D @ planes @ _D.T)[..., _KEEP].reshape(len(planes), -1)


def _aligned_band(planes: np.ndarray, boxes: np.ndarray, mirrored: np.ndarray) -> np.ndarray:
    rows, cols = box_matrices(boxes, mirrored)
    rows, cols = _D @ rows, _D @ cols
    coefficients = rows[:, None] @ planes @ np.transpose(cols, (0, 2, 1))[:, None]
    return coefficients[..., _KEEP].reshape(len(planes), -1)


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return (a * b).sum(axis=1) / np.maximum(norms, 1e-6)


def similarity(queries: np.ndarray, references: np.ndarray, boxes: np.ndarray,
               mirrored: np.ndarray) -> np.ndarray:
    """Best band cosine (N,) of uint8 query images against uint8 reference images (N, H, W, C)
    each seen through its crop box (N, 3) = (side, top, left) on the 32x32 image and mirrored
    (N,) bool, over the 27 half-pixel refinements of the box."""
    out = np.empty(len(queries), dtype=np.float32)
    for i in range(0, len(queries), BATCH):
        part = slice(i, i + BATCH)
        q = band(to_canonical(queries[part]))
        r = to_canonical(references[part])
        best = np.full(len(q), -1.0, dtype=np.float32)
        for step in _STEPS:
            moved = boxes[part] + step
            best = np.maximum(best, _cosine(q, _aligned_band(r, moved, mirrored[part])))
        out[part] = best
    return out
