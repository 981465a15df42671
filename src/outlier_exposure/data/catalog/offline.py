"""Real image sets that ship inside scikit-learn and scikit-image, for offline work.

They back the quickstart: a real in-distribution set, a real auxiliary outlier set and real
OOD test sets, with no download. The sets are fixed (their own seeds), whatever the run's seed:
a train/test split must not move between training and evaluation.

| name            | what                                                                  | role        |
|-----------------|-----------------------------------------------------------------------|-------------|
| `digits`        | scikit-learn's 1797 handwritten digits (8x8, 0..16), resized; splits `train` (80%) and `test` | in-distribution |
| `skimage-photos` | random patches of 12 scikit-image photographs (astronaut, camera, ...) | OE outliers |
| `skimage-textures` | patches of scikit-image's brick, grass and gravel textures             | OOD test    |
| `sklearn-photos` | patches of scikit-learn's two sample photographs (china, flower)       | OOD test    |
| `lfw-faces`     | scikit-image's 200 LFW face crops                                      | OOD test    |

No image is in two roles: the OE photographs, the textures and the test photographs are disjoint.
"""

from __future__ import annotations

import numpy as np

from ...errors import UserInputError
from ..imageset import ImageSet
from ..resize import antialiased_bilinear_to_uint8, float_channels

OE_PHOTOS = ("astronaut", "camera", "chelsea", "coffee", "coins", "moon", "page", "rocket",
             "hubble_deep_field", "immunohistochemistry", "retina", "cell")
TEXTURES = ("brick", "grass", "gravel")
DIGITS_TRAIN_FRACTION = 0.8


def _as_float(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float32) / 255.0 if image.dtype == np.uint8 else image.astype(np.float32)


def _patches(photos: list[np.ndarray], n: int, shape, rng: np.random.Generator) -> np.ndarray:
    """`n` random square crops (side between H and 3H, clipped to the photo), resized to H x W."""
    h, w, c = shape
    photos = [float_channels(_as_float(p), c) for p in photos]
    out = np.empty((n, h, w, c), dtype=np.uint8)
    for i in range(n):
        photo = photos[rng.integers(len(photos))]
        side = int(rng.integers(h, 3 * h + 1))
        side = min(side, photo.shape[0], photo.shape[1])
        top = int(rng.integers(photo.shape[0] - side + 1))
        left = int(rng.integers(photo.shape[1] - side + 1))
        patch = photo[None, top:top + side, left:left + side]
        out[i] = antialiased_bilinear_to_uint8(patch, (h, w))[0]
    return out


def _skimage_photo(name: str) -> np.ndarray:
    import skimage.data

    image = getattr(skimage.data, name)()
    return image.astype(np.uint8) if image.dtype == bool else image


def digits(split: str | None, shape, seed: int = 1) -> ImageSet:
    from sklearn.datasets import load_digits

    if split not in ("train", "test"):
        raise UserInputError(f"digits has the splits train and test, not {split!r} (e.g. digits:train)")
    data = load_digits()
    images = (data.images / 16.0).astype(np.float32)[..., None]
    order = np.random.default_rng(0).permutation(len(images))
    cut = int(DIGITS_TRAIN_FRACTION * len(images))
    keep = order[:cut] if split == "train" else order[cut:]
    grey_or_rgb = np.stack([float_channels(im, shape[2]) for im in images[keep]])
    x = antialiased_bilinear_to_uint8(grey_or_rgb, shape[:2])
    return ImageSet(x=x, y=data.target[keep].astype(np.int64), name=f"digits-{split}",
                    classes=[str(d) for d in range(10)])


def photo_patches(split: str | None, shape, seed: int = 1, n: int = 5000) -> ImageSet:
    photos = [_skimage_photo(name) for name in OE_PHOTOS]
    x = _patches(photos, n, shape, np.random.default_rng(1001))
    return ImageSet(x=x, y=None, name="skimage-photos")


def textures(split: str | None, shape, seed: int = 1, n: int = 1000) -> ImageSet:
    photos = [_skimage_photo(name) for name in TEXTURES]
    return ImageSet(x=_patches(photos, n, shape, np.random.default_rng(1002)), y=None,
                    name="skimage-textures")


def sample_photos(split: str | None, shape, seed: int = 1, n: int = 1000) -> ImageSet:
    from sklearn.datasets import load_sample_images

    photos = list(load_sample_images().images)
    return ImageSet(x=_patches(photos, n, shape, np.random.default_rng(1003)), y=None,
                    name="sklearn-photos")


def faces(split: str | None, shape, seed: int = 1) -> ImageSet:
    import skimage.data

    images = skimage.data.lfw_subset().astype(np.float32)  # (200, 25, 25) in [0, 1]
    grey_or_rgb = np.stack([float_channels(im, shape[2]) for im in images])
    x = antialiased_bilinear_to_uint8(grey_or_rgb, shape[:2])
    return ImageSet(x=x, y=None, name="lfw-faces")


OFFLINE_SETS = {
    "digits": digits,
    "skimage-photos": photo_patches,
    "skimage-textures": textures,
    "sklearn-photos": sample_photos,
    "lfw-faces": faces,
}
