"""The reference's validation OOD sets: distortions of real images, kept apart from the headline.

The authors' test scripts (`--validate`) report a second block of OOD sets, "validation
distributions", never part of the headline mean. Most are made from a set of real images:

    uniform           U(lo, hi) noise in the model's input space: U(-1, 1) for normalised
                      inputs (CIFAR, Tiny ImageNet), U(0, 1) for [0, 1] inputs (SVHN, MNIST)
    arithmetic-mean   (a + b) / 2 of image a and a random other image b of the set
    geometric-mean    sqrt(a * b) of such a pair, in [0, 1] pixel units
    jigsaw            a fixed shuffle of image pieces (below)
    speckle           clip(x + x * z, 0, 1), z ~ N(0, 1) per value, x in [0, 1]
    pixelate          PIL BOX resize down to int(0.2 * size), then BOX back up
    rgb-shift         (R, G, B) -> (G mirrored left-right, B, R)
    invert            (R, G, B) -> (R, 1 - G, 1 - B): two channels only, as the reference
    mirrored-digits   digits that change meaning when flipped: labels not in {0, 1, 3, 8} flipped
                      upside down, then labels not in {0, 1, 8} mirrored left-right (SVHN, MNIST)
    as-is             a real OOD validation set unchanged (`val:as-is:SPEC`), e.g. OpenOOD's
                      validation lists (`val:openood` names the one of the run's benchmark:
                      data/catalog/benchmarks.py)

Jigsaw: with q = H/2 (rows) and q' = W/2 (columns), the output's top-left quadrant is the
input's top-left quadrant with its rows rolled down by s, top-right is the input's bottom-left,
bottom-left is the input's bottom-right, and bottom-right is the input's top-right with its
columns rolled left by t. The reference writes this out for 32x32 (s = t = 8) and 64x64
(s = t = 16): halves swapped, s = q/2; for MNIST's 28x28 it uses s = 8, t = 8 (rows 6..13 then
0..5; columns 22..27 then 14..21), kept here. Other sizes use s = q/2, t = q'/2.

Which images. The SVHN and MNIST scripts distort the in-distribution test set; the CIFAR
scripts distort the *other* CIFAR test set (CIFAR-100 for a CIFAR-10 model) and the Tiny
ImageNet script the held-out ImageNet classes. So `val:KIND` uses the run's test set and
`val:KIND:SPEC` any other set, e.g. `val:jigsaw:cifar100:test` for the CIFAR-10 reference.

Pixel space. The reference makes these as float tensors in [0, 1] and normalises after; every
step commutes with the (affine, per-channel) normalisation, so they are made here as uint8
pixels and normalised by the model's preprocessing like any image. uint8 rounds three kinds:
arithmetic-mean rounds half-integers up, geometric-mean and speckle round to the nearest level,
at most 0.5/255 from the reference's float value. One set is made per spec (seeded); the
reference re-draws pair partners and speckle noise on every read, the same distribution.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

import numpy as np

from ..errors import UserInputError
from .imageset import ImageSet
from .noise import make_noise

PREFIX = "val:"
KINDS = ("uniform", "arithmetic-mean", "geometric-mean", "jigsaw", "speckle", "pixelate",
         "rgb-shift", "invert", "mirrored-digits", "as-is")
PIXELATE_FACTOR = 0.2
DEFAULT_COUNT = 10000
# The reference's jigsaw offsets where they are not the half-quadrant: {height: (s, t)}.
_JIGSAW_OFFSETS = {28: (8, 8)}


def is_validation_spec(text: str) -> bool:
    return isinstance(text, str) and text.strip().lower().startswith(PREFIX)


def parse_validation_spec(text: str) -> tuple[str, str | None]:
    """`val:KIND[:SOURCE_SPEC]` -> (KIND, SOURCE_SPEC or None for the run's test set)."""
    rest = text.strip()[len(PREFIX):]
    kind, sep, source = rest.partition(":")
    kind = kind.lower()
    if kind not in KINDS:
        raise UserInputError(
            f"unknown validation set {kind!r} in {text!r}; choose one of: "
            f"{', '.join(PREFIX + k for k in KINDS)} (optionally :SPEC naming the images to distort)"
        )
    if sep and not source:
        raise UserInputError(f"{text!r} ends with ':'; write {PREFIX}{kind} or {PREFIX}{kind}:SPEC")
    return kind, source or None


# ---------------------------------------------------------------------------------------------
# The distortions, each on a uint8 (N, H, W, C) batch


def jigsaw_offsets(h: int, w: int) -> tuple[int, int]:
    """(s, t): the row roll of the top-left quadrant and column roll of the top-right one."""
    return _JIGSAW_OFFSETS.get(h, ((h // 2) // 2, (w // 2) // 2))


def jigsaw(x: np.ndarray) -> np.ndarray:
    """The reference's jigsaw (module docstring) on (N, H, W, C), H and W even."""
    _, h, w, _ = x.shape
    qh, qw = h // 2, w // 2
    s, t = jigsaw_offsets(h, w)
    out = np.empty_like(x)
    out[:, :qh, :qw] = np.roll(x[:, :qh, :qw], s, axis=1)
    out[:, :qh, qw:] = x[:, qh:, :qw]
    out[:, qh:, :qw] = x[:, qh:, qw:]
    out[:, qh:, qw:] = np.roll(x[:, :qh, qw:], -t, axis=2)
    return out


def pixelate(x: np.ndarray, factor: float = PIXELATE_FACTOR) -> np.ndarray:
    """PIL BOX resize of each image to int(factor * size) (at least 1), then BOX back."""
    from PIL import Image

    _, h, w, c = x.shape
    small = (max(1, int(w * factor)), max(1, int(h * factor)))  # PIL sizes are (w, h)
    out = np.empty_like(x)
    for i, pixels in enumerate(x):
        image = Image.fromarray(pixels[..., 0] if c == 1 else pixels)
        image = image.resize(small, Image.BOX).resize((w, h), Image.BOX)
        out[i] = np.asarray(image).reshape(h, w, c)
    return out


def rgb_shift(x: np.ndarray) -> np.ndarray:
    """(R, G, B) -> (G mirrored left-right, B, R)."""
    return np.ascontiguousarray(np.stack([x[:, :, ::-1, 1], x[..., 2], x[..., 0]], axis=-1))


def invert(x: np.ndarray) -> np.ndarray:
    """(R, G, B) -> (R, 255 - G, 255 - B)."""
    out = x.copy()
    out[..., 1:] = 255 - x[..., 1:]
    return out


def speckle(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """clip(v + v z, 0, 1) with v = x / 255 and z ~ N(0, 1) per value; back to uint8."""
    v = x.astype(np.float32) / 255.0
    z = rng.standard_normal(x.shape, dtype=np.float32)
    return np.rint(np.clip(v + v * z, 0.0, 1.0) * 255.0).astype(np.uint8)


def arithmetic_mean(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(a + b) / 2, half-integers rounded up."""
    return ((a.astype(np.uint16) + b + 1) // 2).astype(np.uint8)


def geometric_mean(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """sqrt(a b), rounded (an integer product is never a tie: sqrt(p) = k + 1/2 has no solution)."""
    return np.rint(np.sqrt(a.astype(np.float64) * b)).astype(np.uint8)


def mirrored_digits(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Digits flipped upside down (labels not in {0, 1, 3, 8}), then mirrored (not in {0, 1, 8})."""
    flip_v = ~np.isin(y, (0, 1, 3, 8))
    flip_h = ~np.isin(y, (0, 1, 8))
    return np.concatenate([x[flip_v][:, ::-1], x[flip_h][:, :, ::-1]])


# ---------------------------------------------------------------------------------------------
# Making a set


def _pick(n_source: int, n: int | None, rng: np.random.Generator, what: str) -> np.ndarray:
    """All positions in order when n is None or n_source; else n of them at random, sorted."""
    if n is None or n == n_source:
        return np.arange(n_source)
    if not 0 < n <= n_source:
        raise UserInputError(f"{what}: asked for {n} images, the source set has {n_source}")
    return np.sort(rng.choice(n_source, size=n, replace=False))


def _source_pixels(kind: str, source: ImageSet) -> np.ndarray:
    if source.normalised:
        raise UserInputError(
            f"{PREFIX}{kind} distorts real images, but {source.name!r} is synthetic noise; "
            f"name an image set: {PREFIX}{kind}:SPEC"
        )
    if kind in ("rgb-shift", "invert") and source.shape[2] != 3:
        raise UserInputError(
            f"{PREFIX}{kind} needs RGB images; {source.name!r} has {source.shape[2]} channel(s)"
        )
    if kind == "jigsaw" and (source.shape[0] % 2 or source.shape[1] % 2):
        raise UserInputError(
            f"{PREFIX}jigsaw needs an even height and width, {source.name!r} is {source.shape[:2]}"
        )
    return np.asarray(source.x)


def make_validation_set(
    kind: str,
    source: ImageSet | None,
    n: int | None = None,
    seed: int = 1,
    *,
    shape: tuple[int, int, int] | None = None,
    noise_range: tuple[float, float] = (-1.0, 1.0),
) -> ImageSet:
    """One validation OOD set (see the module docstring), named `val:KIND`.

    source: the uint8 images to distort (unused by `uniform`). n: how many images; by default
    as many as the source gives (for `uniform`: n, else len(source), else 10000); fewer are
    picked at random. seed makes the set reproducible (a private generator). `uniform` is
    float32 in the model's input space (`noise_range`, `shape`); all others are uint8.
    """
    rng = np.random.default_rng(seed)
    name = PREFIX + kind
    if kind == "uniform":
        shape = shape or (source.shape if source is not None else (32, 32, 3))
        count = n or (len(source) if source is not None else DEFAULT_COUNT)
        return replace(make_noise("uniform", count, shape=tuple(shape), seed=seed,
                                  value_range=tuple(noise_range)), name=name)
    if kind not in KINDS:
        raise UserInputError(f"unknown validation set {kind!r}; choose one of: {', '.join(KINDS)}")
    if source is None:
        raise UserInputError(f"{name} needs a set of images to distort")
    if kind == "as-is":  # a real validation set: the images as they are (lazy ones stay lazy)
        idx = _pick(len(source), n, rng, name)
        x = source.x if len(idx) == len(source) else source.x[idx]
        return replace(source, x=x, y=None, name=name)
    x = _source_pixels(kind, source)
    if kind == "mirrored-digits":
        if source.y is None or len(source.y) == 0 or np.max(source.y) > 9:
            raise UserInputError(
                f"{name} needs digit images labelled 0..9 by their digit (SVHN, MNIST); "
                f"{source.name!r} is {'unlabelled' if source.y is None else 'labelled beyond 9'}"
            )
        x = mirrored_digits(x, np.asarray(source.y))
    idx = _pick(len(x), n, rng, name)
    if kind in ("arithmetic-mean", "geometric-mean"):
        if len(x) < 2:
            raise UserInputError(f"{name} needs at least 2 images, {source.name!r} has {len(x)}")
        # A uniformly random partner other than the image itself.
        partner = (idx + rng.integers(1, len(x), size=len(idx))) % len(x)
        combine = arithmetic_mean if kind == "arithmetic-mean" else geometric_mean
        out = combine(x[idx], x[partner])
    elif kind == "speckle":
        out = speckle(x[idx], rng)
    else:
        transform: Callable[[np.ndarray], np.ndarray] = {
            "jigsaw": jigsaw, "pixelate": pixelate, "rgb-shift": rgb_shift, "invert": invert,
            "mirrored-digits": lambda v: v,
        }[kind]
        out = transform(x[idx])
    return ImageSet(x=np.ascontiguousarray(out), y=None, name=name)


def load_validation(
    text: str,
    *,
    shape: tuple[int, int, int],
    test_set: ImageSet | None,
    load_source: Callable[[str], ImageSet],
    n: int | None = None,
    seed: int = 1,
    noise_range: tuple[float, float] = (-1.0, 1.0),
) -> ImageSet:
    """The set a `val:KIND[:SPEC]` spec names. Without SPEC the images are `test_set` (the
    run's in-distribution test set); `load_source(SPEC)` loads a named one. `n` only sizes
    `uniform` (as for noise:); the others use every image of their source, as the reference."""
    kind, source_spec = parse_validation_spec(text)
    if kind == "as-is":
        if source_spec is None:
            raise UserInputError(f"{text!r}: {PREFIX}as-is takes a real OOD validation set as it "
                                 f"is; name it: {PREFIX}as-is:SPEC (or val:openood for the OpenOOD "
                                 "validation list of the run's benchmark)")
        return replace(make_validation_set(kind, load_source(source_spec), None, seed),
                       name=PREFIX + source_spec)
    if kind == "uniform":
        return make_validation_set(kind, None, n, seed, shape=shape, noise_range=noise_range)
    if source_spec is not None:
        source = load_source(source_spec)
    elif test_set is not None:
        source = test_set
    else:
        raise UserInputError(
            f"{text!r} distorts the in-distribution test set, which is known only when evaluating "
            f"a run (oe eval); elsewhere name the images: {PREFIX}{kind}:SPEC"
        )
    return make_validation_set(kind, source, None, seed, shape=shape, noise_range=noise_range)
