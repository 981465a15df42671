"""Fabricated images for the outlier-hygiene tests: distinct smooth pictures, and duplicates of
them made the way users' copies are (PIL JPEG, mirroring, a small crop resized back)."""

from __future__ import annotations


import numpy as np
from PIL import Image

from outlier_exposure.data.modifiers import jpeg_round_trip

KINDS = ("exact", "jpeg75", "mirror", "crop")


def distinct_images(n: int, seed: int, size: int = 32) -> np.ndarray:
    """n uint8 RGB images with the statistics of photographs: random phases under a 1/f
    amplitude spectrum (natural images' power falls as 1/f^2), a luminance field plus weaker
    colour fields, and a random mean colour. Distinct by construction (independent draws)."""
    rng = np.random.default_rng(seed)
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    amplitude = 1.0 / np.maximum(np.hypot(fy, fx), 1.0 / size)
    amplitude[0, 0] = 0.0

    def field() -> np.ndarray:
        phase = rng.uniform(0, 2 * np.pi, amplitude.shape)
        f = np.fft.irfft2(amplitude * np.exp(1j * phase), s=(size, size))
        return f / f.std()

    out = np.empty((n, size, size, 3), dtype=np.uint8)
    for i in range(n):
        luminance = field()[..., None] * rng.uniform(30, 60)
        colour = np.stack([field() for _ in range(3)], axis=-1) * rng.uniform(5, 20)
        image = rng.uniform(60, 190, 3) + luminance + colour
        out[i] = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    return out


def crop(x: np.ndarray, rng: np.random.Generator, sides=(28.0, 30.0)) -> np.ndarray:
    """A square box keeping `sides` of the 32 pixels, at a random sub-pixel place, resized back
    to the image's size with PIL's bicubic filter."""
    size = x.shape[1]
    out = np.empty_like(x)
    for i, pixels in enumerate(x):
        side = rng.uniform(*sides) * size / 32
        top, left = rng.uniform(0, size - side, 2)
        box = (left, top, left + side, top + side)
        out[i] = np.asarray(Image.fromarray(pixels).resize((size, size), Image.BICUBIC, box=box))
    return out


def duplicates(x: np.ndarray, kind: str, seed: int = 0) -> np.ndarray:
    if kind == "exact":
        return x.copy()
    if kind == "jpeg75":
        return jpeg_round_trip(x, 75)
    if kind == "mirror":
        return np.ascontiguousarray(x[:, :, ::-1])
    return crop(x, np.random.default_rng(seed))


def planted_set(references: np.ndarray, n_distinct: int, per_kind: int, seed: int = 0):
    """Outliers: n_distinct new images plus `per_kind` copies of each KIND of distinct
    reference images, shuffled. Returns (outliers, planted positions by kind {kind: (positions,
    source indices)})."""
    rng = np.random.default_rng(seed)
    sources = rng.choice(len(references), len(KINDS) * per_kind, replace=False)
    parts = [distinct_images(n_distinct, seed + 1000)]
    parts += [duplicates(references[sources[k * per_kind:(k + 1) * per_kind]], kind, seed + k)
              for k, kind in enumerate(KINDS)]
    x = np.concatenate(parts)
    order = rng.permutation(len(x))
    where = np.empty(len(x), dtype=np.int64)
    where[order] = np.arange(len(x))  # new position of each original row
    planted = {kind: (where[n_distinct + k * per_kind + np.arange(per_kind)],
                      sources[k * per_kind:(k + 1) * per_kind]) for k, kind in enumerate(KINDS)}
    return x[order], planted
