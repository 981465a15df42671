"""The reference's synthetic OOD sets, made directly in the model's normalised input space.

Unlike every other source they are float32, not uint8 pixels: the reference draws them after
normalisation, so they never pass through the resize or channel rules.
"""

from __future__ import annotations

import numpy as np

from ..errors import UserInputError
from .imageset import ImageSet

NOISE_KINDS = ("gaussian", "rademacher", "blobs", "uniform")


def blobs_sigma(height: int, width: int) -> float:
    """The blur of the reference's Blobs for an image size: sigma 1.5 for its 32x32 sets
    (CIFAR/test.py and SVHN/test.py) and 2.0 for Tiny ImageNet's 64x64 (TinyImageNet/test.py).
    Other sizes take the value of the nearer of the two: 2.0 from 64 pixels on, else 1.5."""
    return 2.0 if min(height, width) >= 64 else 1.5


def blobs_from_bits(bits: np.ndarray, sigma: float = 1.5) -> np.ndarray:
    """Turn Bernoulli draws (N, H, W, C) into the reference's Blobs images in [-1, 1].

    The reference blurs each image with skimage.filters.gaussian(img, sigma=SIGMA,
    multichannel=False): with no channel axis the blur runs over H, W *and* C as one 3-D
    volume. That equals scipy's gaussian_filter with sigma (0, SIGMA, SIGMA, SIGMA) and
    skimage's defaults (mode "nearest", truncate 4.0) on the whole batch at once, bit for bit
    on float32 (tested), and is several times faster than a Python loop over images.
    Then values < 0.75 become 0 and x * 2 - 1 maps to [-1, 1]. `make_noise` picks SIGMA by
    image size (`blobs_sigma`).
    """
    from scipy.ndimage import gaussian_filter

    blurred = gaussian_filter(
        np.asarray(bits, dtype=np.float32), sigma=(0, sigma, sigma, sigma), mode="nearest",
        truncate=4.0,
    )
    blurred[blurred < 0.75] = 0.0
    return blurred * 2 - 1


def make_noise(
    kind: str, n: int, shape: tuple[int, int, int] = (32, 32, 3), seed: int = 1,
    value_range: tuple[float, float] = (-1.0, 1.0),
) -> ImageSet:
    """Make n synthetic OOD images of one kind, as float32 already in normalised input space.

    With the range [lo, hi] = [-1, 1] (the reference's CIFAR and Tiny ImageNet sets):
    gaussian: clip(N(0, 0.5^2), -1, 1); rademacher: +-1 with probability 1/2 each;
    blobs: see `blobs_from_bits` (Bernoulli(0.7) then a blur, sigma by size, and a threshold);
    uniform: U(-1, 1). For models fed [0, 1] inputs (the reference's SVHN and MNIST) the range
    is [0, 1]: gaussian clip(N(0.5, 0.5^2), 0, 1), Bernoulli {0, 1}, blobs in {0} u [0.75, 1],
    U(0, 1), i.e. the same sets with the mid-point and end points moved (the std stays 0.5).
    A private np.random.default_rng(seed) makes the set reproducible without touching global
    random state.
    """
    if kind not in NOISE_KINDS:
        raise UserInputError(f"unknown noise kind {kind!r}; choose one of: {', '.join(NOISE_KINDS)}")
    if int(n) <= 0:
        raise UserInputError(f"noise:{kind} needs a positive number of images, got {n}")
    _check_fits(kind, int(n), shape)
    lo, hi = (float(v) for v in value_range)
    if not lo < hi:
        raise UserInputError(f"noise value range {value_range} must have low < high")
    rng = np.random.default_rng(seed)
    size = (int(n), *(int(s) for s in shape))
    if kind == "gaussian":
        # std 0.5 around the mid-point, clipped: clip(N(0, 0.5^2), -1, 1) for [-1, 1]
        x = np.clip(rng.standard_normal(size, dtype=np.float32) * 0.5 + 0.5 * (lo + hi), lo, hi)
    else:
        if kind == "rademacher":
            unit = rng.integers(0, 2, size=size, dtype=np.int8) * 2 - 1
        elif kind == "blobs":
            unit = blobs_from_bits(rng.random(size, dtype=np.float32) < 0.7,
                                   sigma=blobs_sigma(size[1], size[2]))
        else:  # uniform
            unit = rng.random(size, dtype=np.float32) * 2 - 1  # U[-1, 1)
        # made in [-1, 1]; mapped affinely onto [lo, hi] (the identity for [-1, 1])
        x = unit if (lo, hi) == (-1.0, 1.0) else lo + (unit + 1) * (0.5 * (hi - lo))
    return ImageSet(x=x.astype(np.float32, copy=False), y=None, name=kind, normalised=True)


def _check_fits(kind: str, n: int, shape) -> None:
    """Refuse a noise set larger than the memory budget (noise:gaussian:1000000000000 would
    otherwise ask numpy for terabytes): noise is made in memory, as float32."""
    from .sources import memory_budget  # the budget auto-streaming uses (OE_MEMORY_BUDGET)

    needed = n * 4
    for side in shape:
        needed *= int(side)
    budget = memory_budget()
    if needed > budget:
        raise UserInputError(
            f"noise:{kind}:{n} would take {needed / 2 ** 30:.1f} GiB (float32 images of "
            f"{tuple(int(s) for s in shape)}), more than the memory budget of "
            f"{budget / 2 ** 30:.1f} GiB; ask for fewer images (or raise OE_MEMORY_BUDGET)")
