"""A 63-bit perceptual hash (pHash, DCT form) of each image, and of each crop/flip variant.

The hash: the image at 32x32 in grey (ITU-R 601 luma), its 2-D DCT-II (orthonormal), the 8x8
lowest frequencies minus the DC term (63 coefficients), one bit per coefficient: above the
median of the 63. Low frequencies carry the image's layout and survive JPEG, small colour
changes and rescaling; a hash has 31 bits set (the median splits 63; fewer when coefficients
tie with it, see bits_to_hash). Bit j of the uint64 is coefficient ORDER[j] (coefficients numbered
row-major by (vertical, horizontal) frequency, DC excluded); the top bit is 0. ORDER
interleaves the coefficients (0, 3, 6, ..., 1, 4, ...) so that each third of the bits, a block
of the search index (index.py), spans low and high frequencies alike: its buckets are then more
even (measured: 1,700 instead of 2,400 candidates per query on the offline sets).

Everything before the median is linear, so it is folded into two small matrices per variant:
coefficients = Rows (8 x H) @ image (H x W*C) @ Cols (W*C x 8), where Rows = D8 @ crop rows @
resize rows and Cols = the same for the columns with the luma weights and the mirroring folded
in (geometry.py; D8: the 8 lowest DCT rows). The uint8 images go into BLAS as they are laid out
(N, H, W*C): no grey image, no 32x32 copy, no full DCT is ever made, and the 110 variants of an
image cost one (W*C x 880) product plus 110 small ones.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .geometry import BOXES, CANON, IDENTITY, box_matrices, resample

BLOCK = 8                         # DCT frequencies kept per axis
BITS = BLOCK * BLOCK - 1          # 63: the DC term carries only brightness
VARIANTS = 2 * len(BOXES)         # variant k: box k % 55, mirrored when k >= 55
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
ORDER = np.concatenate([np.arange(start, BITS, 3) for start in range(3)])
STEP = 0.5  # coefficient rounding (natural images: median |coefficient| about 17)
BATCH = 1024                      # images per product: keeps the float copies in cache


def dct_basis(n: int, k: int) -> np.ndarray:
    """The first k rows of the orthonormal DCT-II matrix of size n, float32 (k, n)."""
    u = np.arange(k, dtype=np.float64)[:, None]
    i = np.arange(n, dtype=np.float64)[None, :]
    basis = np.cos(np.pi * (2 * i + 1) * u / (2 * n)) * np.sqrt(2.0 / n)
    basis[0] /= np.sqrt(2.0)
    return basis.astype(np.float32)


# Among variants at the same distance, the one checked first: the least cropped box, as is
# before mirrored (0, 55, 1, 56, ...): a texture of stripes ties with many crops of itself.
PRIORITY = np.argsort(np.argsort(np.arange(VARIANTS) % len(BOXES) * 2
                                 + (np.arange(VARIANTS) >= len(BOXES)), kind="stable"))


def variant_box(k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Variant numbers -> ((k, 3) crop boxes (side, top, left), (k,) mirrored)."""
    k = np.asarray(k)
    return BOXES[k % len(BOXES)], k >= len(BOXES)


@lru_cache(maxsize=8)
def projections(h: int, w: int, c: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows (VARIANTS, 8, h) and Cols (w*c, VARIANTS*8) of every variant, for uint8 images of
    shape (h, w, c) laid out as (h, w*c)."""
    if c not in (1, 3):
        raise ValueError(f"images need 1 or 3 channels, got {c}")
    d = dct_basis(CANON, BLOCK)
    boxes, mirrored = variant_box(np.arange(VARIANTS))
    to_32_rows, to_32_cols = resample(h, CANON, 0, h)[0], resample(w, CANON, 0, w)[0]
    crop_rows, crop_cols = box_matrices(boxes, mirrored)                  # (V, 32, 32)
    rows = d @ crop_rows @ to_32_rows                                     # (V, 8, h)
    cols = d @ crop_cols @ to_32_cols                                     # (V, 8, w)
    luma = LUMA if c == 3 else np.ones(1, np.float32)
    # column (x, channel) of the (h, w*c) layout carries pixel x weighted by luma[channel]
    cols = cols[:, :, :, None] * luma[None, None, None, :]                # (V, 8, w, c)
    cols = np.transpose(cols.reshape(VARIANTS, BLOCK, w * c), (2, 0, 1))  # (w*c, V, 8)
    return (np.ascontiguousarray(rows, dtype=np.float32),
            np.ascontiguousarray(cols.reshape(w * c, VARIANTS * BLOCK), dtype=np.float32))


def bits_to_hash(coefficients: np.ndarray) -> np.ndarray:
    """(..., 63) DCT coefficients -> (...) uint64 hashes (bit = coefficient > median).

    The coefficients are first rounded to multiples of STEP: float32 products differ in their
    last bits with the batch (BLAS blocking), about 1e-3 here, and must not decide a bit. A
    coefficient that is 0 exactly (every vertical frequency of an image of horizontal stripes,
    all of a blank image) then stays 0 and ties with the median (bit 0) in every batch; such
    images have fewer than 31 bits set. The median of 63 values is the 32nd smallest
    (np.partition: no sort)."""
    coefficients = np.round(coefficients / STEP)
    median = np.partition(coefficients, BITS // 2, axis=-1)[..., BITS // 2:BITS // 2 + 1]
    packed = np.packbits((coefficients > median)[..., ORDER], axis=-1, bitorder="little")  # (..., 8) bytes
    return np.ascontiguousarray(packed).view("<u8")[..., 0].astype(np.uint64)


def _coefficients(x: np.ndarray, variants: np.ndarray) -> np.ndarray:
    """(N, len(variants), 63) DCT coefficients of uint8 images x (N, H, W, C) under variants."""
    if len(x) > BATCH:
        return np.concatenate([_coefficients(x[i:i + BATCH], variants)
                               for i in range(0, len(x), BATCH)])
    n, h, w, c = x.shape
    rows, cols = projections(h, w, c)
    pick = (variants[:, None] * BLOCK + np.arange(BLOCK)).ravel()
    flat = x.reshape(n * h, w * c).astype(np.float32)
    across = (flat @ cols[:, pick]).reshape(n, h, len(variants), BLOCK)  # columns done
    # rows: one batched product over the variants, (V, 8, h) @ (V, h, n*8)
    across = np.ascontiguousarray(across.transpose(2, 1, 0, 3)).reshape(len(variants), h, -1)
    out = (rows[variants] @ across).reshape(len(variants), BLOCK, n, BLOCK).transpose(2, 0, 1, 3)
    return out.reshape(n, len(variants), -1)[..., 1:]


def phash(x: np.ndarray) -> np.ndarray:
    """uint8 images (N, H, W, C), C = 1 or 3 -> (N,) uint64 hashes.

    Computed as the identity variant of `variant_hashes`, so that an exact copy of an indexed
    image hashes to the same bits."""
    return bits_to_hash(_coefficients(np.asarray(x), np.array([IDENTITY])))[:, 0]


def variant_hashes(x: np.ndarray) -> np.ndarray:
    """uint8 images (N, H, W, C) -> (N, VARIANTS) uint64: the hash of every crop box of
    geometry.BOXES (55), as is (variants 0..54) and mirrored left-right (55..109)."""
    x = np.asarray(x)
    # in small batches: the 110 variants' coefficients take 28 KB per image
    return np.concatenate([bits_to_hash(_coefficients(x[i:i + BATCH // 8], np.arange(VARIANTS)))
                           for i in range(0, len(x), BATCH // 8)]) if len(x) else \
        np.empty((0, VARIANTS), np.uint64)
