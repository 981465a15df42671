"""Every rule that brings images to the model's size or channel count, in one place.

The rules differ on purpose: each reproduces what the reference (or the project's offline
quickstart) does for some dataset, and a different filter or rounding changes the pixels an
OOD detector sees. So they stay distinct functions, named for what they do:

PIL images (one image at a time):
- `cover_and_centre_crop`: scale so the image covers (h, w) (the shorter side fits; sizes
  rounded), bilinear, then the centre. Folder specs (`folder:PATH:SIZE`), `resize_images`,
  lazily read sets, deployed detectors' inputs, and the "crop" rule at non-square sizes.
- `torchvision_resize_centre_crop`: torchvision's Resize(s) then CenterCrop(s), the
  reference's rule for Textures, Places365, LSUN, Chars74K, Tiny ImageNet ("crop", square).
  Kept apart from the above: torchvision truncates the long side where we round.
- `squash`: Resize((h, w)) bilinear, ignoring the aspect ratio ("squash": Icons-50, and
  CIFAR, SVHN, MNIST, whose square images make it the same as Resize(s)).
- `binary_strokes`: Omniglot's rule (invert, bilinear on 0/1 values, stays binary).
- `resize_rule(size, rule)`: "crop" or "squash" as one PIL -> PIL function.

uint8 arrays (N, H, W, C):
- `resize_array(x, size, rule)`: a `resize_rule` applied to every image.
- `resize_images(x, size)`: `cover_and_centre_crop` applied to every image.
- `luma`: RGB -> grey by ITU-R 601, exact in integers.

float arrays in [0, 1] (the offline quickstart sets, `catalog/offline.py`):
- `antialiased_bilinear_to_uint8`: torch's antialiased bilinear interpolation, then uint8.
- `float_channels`: grey <-> RGB on float images, luma in float32.

PIL, torch and torchvision are imported inside the functions that need them, so importing
this module (and with it every data spec) stays cheap.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..errors import UserInputError

RESIZE_RULES = ("crop", "squash")

# ---------------------------------------------------------------------------------------------
# PIL images


def cover_and_centre_crop(image, size: tuple[int, int]):
    """Resize a PIL image so it covers (h, w) (the shorter side fits), then centre-crop.

    This is torchvision's Resize(s) + CenterCrop(s) for square targets, the preprocessing the
    reference uses for Textures; bilinear resampling (PIL's is antialiased when shrinking).
    """
    from PIL import Image

    th, tw = size
    w, h = image.size
    scale = max(th / h, tw / w)
    new_w, new_h = max(tw, round(w * scale)), max(th, round(h * scale))
    if (new_w, new_h) != (w, h):
        image = image.resize((new_w, new_h), Image.BILINEAR)
    left, top = (new_w - tw) // 2, (new_h - th) // 2
    return image.crop((left, top, left + tw, top + th))


def torchvision_resize_centre_crop(image, side: int):
    """torchvision's Resize(side) then CenterCrop(side), called as the reference calls them."""
    import torchvision.transforms.functional as TF

    return TF.center_crop(TF.resize(image, side), [side, side])


def squash(image, size: tuple[int, int]):
    """Resize((h, w)): bilinear straight to (h, w), ignoring the aspect ratio."""
    from PIL import Image

    h, w = size
    return image.resize((w, h), Image.BILINEAR)


def resize_rule(size: tuple[int, int], rule: str) -> Callable:
    """A PIL image -> PIL image function that brings an image to `size` (h, w).

    "crop": torchvision's Resize(s) then CenterCrop(s) (shorter side to s, bilinear with
        antialiasing, then the centre), the reference's rule for Textures, Places365, LSUN,
        Chars74K; for non-square sizes, the same idea (cover, then centre crop).
    "squash": Resize((h, w)), ignoring the aspect ratio: the reference's rule for Icons-50,
        and for square images (CIFAR, SVHN, MNIST) the same as Resize(s).
    An image already of `size` is returned unchanged by both.
    """
    h, w = size
    if rule not in RESIZE_RULES:
        raise ValueError(f"unknown resize rule {rule!r}")

    def apply(image):
        if image.size == (w, h):
            return image
        if rule == "squash":
            return squash(image, (h, w))
        if h != w:
            return cover_and_centre_crop(image, (h, w))
        return torchvision_resize_centre_crop(image, h)

    return apply


def binary_strokes(size: tuple[int, int]) -> Callable:
    """Omniglot as the reference prepares it: strokes 1 on 0, resized, values kept binary.

    Omniglot PNGs are black strokes on white. The reference inverts the binary image and
    resizes it as 0/1 pixels with scipy's imresize (PIL bilinear on the 0/1 values, so the
    result stays 0/1); we do the same and scale 1 to 255 for uint8 storage.
    """
    from PIL import Image

    h, w = size

    def apply(image):
        ink = (np.asarray(image.convert("L")) < 128).astype(np.uint8)  # stroke -> 1
        small = Image.fromarray(ink).resize((w, h), Image.BILINEAR)
        return Image.fromarray(np.asarray(small, dtype=np.uint8) * 255)

    return apply


# ---------------------------------------------------------------------------------------------
# uint8 arrays (N, H, W, C)


def _each_image(x: np.ndarray, size: tuple[int, int], fit: Callable) -> np.ndarray:
    """fit(PIL image) for every image of uint8 (N, H, W, C) x, as a new (N, h, w, C) array."""
    from PIL import Image

    h, w = size
    grey = x.shape[-1] == 1
    out = np.empty((len(x), h, w, x.shape[-1]), dtype=np.uint8)
    for i, pixels in enumerate(x):
        image = Image.fromarray(pixels[..., 0] if grey else pixels)
        out[i] = np.asarray(fit(image)).reshape(h, w, -1)
    return out


def resize_array(x: np.ndarray, size: tuple[int, int], rule: str) -> np.ndarray:
    """Resize uint8 (N, H, W, C) images with `rule`; returns x itself when already that size."""
    if tuple(x.shape[1:3]) == tuple(size):
        return x
    return _each_image(x, tuple(size), resize_rule(size, rule))


def resize_images(x: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Resize uint8 (N, H, W, C) images to size (int or (h, w)); returns a new uint8 array.

    Same rule as folder:PATH:SIZE (shorter side resized bilinearly, then centre-cropped), so
    square images simply scale. Reads every image into memory: callers opt in explicitly.
    """
    h, w = (size, size) if isinstance(size, int) else size
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise UserInputError(
            f"resize_images takes uint8 (N, H, W, C) images with C = 1 or 3, got {x.dtype} {tuple(x.shape)}"
        )
    return _each_image(x, (h, w), lambda image: cover_and_centre_crop(image, (h, w)))


def luma(x: np.ndarray) -> np.ndarray:
    """RGB -> grey with the ITU-R 601 luma weights (0.299, 0.587, 0.114), rounded half to even.

    In integers (thousandths), so that the result is exact: float32 weights made a pixel whose
    exact luma is k + 0.5 round up or down depending on the BLAS summation order."""
    thousandths = np.asarray(x, dtype=np.int64) @ np.array([299, 587, 114], dtype=np.int64)
    return np.rint(thousandths / 1000)[..., None].astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# float arrays in [0, 1] (the offline quickstart sets)


def antialiased_bilinear_to_uint8(images: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(N, h, w, C) float in [0, 1] -> (N, H, W, C) uint8, torch's antialiased bilinear."""
    import torch
    import torch.nn.functional as F

    t = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)).permute(0, 3, 1, 2)
    if tuple(t.shape[-2:]) != tuple(size):
        t = F.interpolate(t, size=size, mode="bilinear", antialias=True, align_corners=False)
    out = t.permute(0, 2, 3, 1).clamp(0, 1).mul(255).round().to(torch.uint8)
    return out.numpy()


def float_channels(image: np.ndarray, c: int) -> np.ndarray:
    """float (h, w) or (h, w, 3|4) -> (h, w, c) float32; alpha dropped, grey by float32 luma.

    Not `luma`: these sets are converted before they become uint8, and their pixels (and so
    the quickstart's numbers) depend on this float32 rounding."""
    if image.ndim == 2:
        image = image[..., None]
    image = image[..., :3]
    if c == 1 and image.shape[-1] == 3:
        image = image @ np.array([0.299, 0.587, 0.114], dtype=np.float32)[:, None]
    elif c == 3 and image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    return image.astype(np.float32)
