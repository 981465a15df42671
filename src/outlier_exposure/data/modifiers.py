"""Spec modifiers: `SPEC@jpeg75`, `SPEC@first5000`, `SPEC@negative`, applied after the set is
loaded.

- `@jpegQ`: a JPEG round trip at quality Q (PIL, 4:2:0 chroma subsampling, its default) of every
  image. A detector can learn compression artefacts as a shortcut; an honest benchmark puts every
  real-image set through the same compression (the offline CIFAR-10 and Tiny ImageNet copies were
  stored as JPEG quality 75, the textures were not).
- `@firstN`: the first N examples (in the set's own order).
- `@randomN`: N examples drawn at random without replacement (a fixed seed, 0, whatever the
  run's seed: the same subset every time), kept in the set's order. Use it on sets stored sorted
  by class, where `@firstN` would keep one class.
- `@negative`: every pixel value v becomes 255 - v, i.e. 1 - x on [0, 1] inputs. The reference's
  "Negative MNIST" OOD set is the MNIST test set read as `1 - img` (MNIST/test.py):
  `mnist:test@negative`.
- `@exclude:FILE`: the set without the indices listed in FILE (one 0-based index per line, `#`
  comments; hygiene/exclusion.py), e.g. the duplicates `oe outliers check --write FILE` found.
  The indices are positions in the set as the spec to the left of `@exclude` makes it. FILE
  may not contain '@'. A lazy set (80 Million Tiny Images) stays lazy.

Modifiers are split off from the right and only when they match exactly, so a path may still
contain '@'. Several may be chained: `dtd10@jpeg75@first500`.
"""

from __future__ import annotations

import io
import re
from dataclasses import replace

import numpy as np
from PIL import Image

from ..errors import UserInputError
from .formats.lazy import LazyImages, take
from .hygiene.exclusion import exclude_images, read_exclusion
from .imageset import ImageSet

_MODIFIER = re.compile(r"@(jpeg\d+|first\d+|random\d+|negative|exclude:[^@]*)$")


def split_modifiers(spec: str) -> tuple[str, list[str]]:
    """`'dtd10@jpeg75@first10'` -> `('dtd10', ['jpeg75', 'first10'])` (in the order written)."""
    found = []
    while (match := _MODIFIER.search(spec)) is not None:
        found.insert(0, match.group(1))
        spec = spec[: match.start()]
    return spec, found


def jpeg_round_trip(x: np.ndarray, quality: int) -> np.ndarray:
    """Encode and decode each (H, W, C) uint8 image as JPEG at `quality`."""
    out = np.empty_like(x)
    for i, pixels in enumerate(x):
        image = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=quality)
        buffer.seek(0)
        out[i] = np.asarray(Image.open(buffer)).reshape(pixels.shape)
    return out


def negative(images: ImageSet, spec: str) -> ImageSet:
    """255 - v for every uint8 value (the reference's `1 - img` on ToTensor's [0, 1])."""
    if images.normalised:
        raise UserInputError(
            f"{spec}: @negative needs pixel images; this set is synthetic data made in "
            "normalised space (drop @negative)"
        )
    return replace(images, x=_per_batch(images.x, lambda x: 255 - np.asarray(x, dtype=np.uint8)),
                   name=f"{images.name}-negative")


def _per_batch(x, fn):
    """fn(x) for an array; for a lazy (streamed) set, fn applied to each batch as it is read."""
    if isinstance(x, LazyImages):
        return x.map(fn, tuple(x.shape[1:]))
    return fn(np.asarray(x))


def _exclude(images: ImageSet, path: str, spec: str) -> ImageSet:
    if not path:
        raise UserInputError(f"{spec}: @exclude needs a file, e.g. SPEC@exclude:exclude.txt")
    excluded = read_exclusion(path, len(images), spec)
    if len(excluded) == len(images):
        raise UserInputError(f"{spec}: exclusion file {path} lists all {len(images)} images of "
                             "the set; nothing would be left")
    return exclude_images(images, excluded)


def apply_modifiers(images: ImageSet, modifiers: list[str], spec: str) -> ImageSet:
    for mod in modifiers:
        if mod == "negative":
            images = negative(images, spec)
        elif mod.startswith("exclude:"):
            images = _exclude(images, mod[len("exclude:"):], spec)
        elif mod.startswith(("first", "random")):
            kind, n = ("first", int(mod[5:])) if mod.startswith("first") else ("random", int(mod[6:]))
            if n < 1:
                raise UserInputError(f"{spec}: @{kind} needs N >= 1")
            if kind == "first":
                keep = slice(0, n)
            else:
                if n > len(images):
                    raise UserInputError(f"{spec}: @random{n} asks for more than the "
                                         f"{len(images)} examples of the set")
                keep = np.sort(np.random.default_rng(0).choice(len(images), n, replace=False))
            y = None if images.y is None else images.y[keep]
            images = replace(images, x=take(images.x, keep), y=y)
        else:  # jpeg
            quality = int(mod[4:])
            if not 1 <= quality <= 95:
                raise UserInputError(f"{spec}: JPEG quality must be 1..95, got {quality}")
            if images.normalised:
                raise UserInputError(
                    f"{spec}: @jpeg needs pixel images; this set is synthetic data made in "
                    "normalised space"
                )
            images = replace(images, x=_per_batch(images.x, lambda x: jpeg_round_trip(x, quality)))
    return images
