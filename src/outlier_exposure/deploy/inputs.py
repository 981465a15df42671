"""New images for a deployed detector: arrays, image files, folders or .npz archives, fitted
to the model's input shape.

Accepted (alone or in a list): a uint8 array (H, W), (H, W, C) for one image, (N, H, W, C)
for several; the path of an image file, of a folder (its image files, recursively, in sorted
order) or of an `.npz` (its images array: `x`, else the only 3-D/4-D array). An image of
another size is resized so its shorter side fits and centre-cropped (torchvision's Resize +
CenterCrop, as the `folder:PATH:SIZE` spec does); an RGB image meets a grey model as ITU-R 601
luma (PIL's "L"). Each image gets a name for the output: its path, or `SOURCE[i]`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.resize import cover_and_centre_crop as fit_image
from ..data.sources import IMAGE_EXTENSIONS, load_npz
from ..errors import UserInputError


def _fit_array(image: np.ndarray, shape: tuple[int, int, int], name: str) -> np.ndarray:
    """One uint8 (H, W, C) image as the model's (h, w, c)."""
    from PIL import Image

    h, w, c = shape
    if image.shape == (h, w, c):
        return image
    if image.shape[-1] not in (1, 3, 4):
        raise UserInputError(f"{name}: an image has 1, 3 or 4 channels, got shape {image.shape}")
    pil = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
    pil = fit_image(pil.convert("L" if c == 1 else "RGB"), (h, w))
    pixels = np.asarray(pil, dtype=np.uint8)
    return pixels[..., None] if pixels.ndim == 2 else pixels


def _read_file(path: Path, shape: tuple[int, int, int]) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as image:
            image = image.convert("L" if shape[2] == 1 else "RGB")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        raise UserInputError(f"cannot read image {path}: {err} (remove or replace the file)") from None
    pixels = np.asarray(fit_image(image, shape[:2]), dtype=np.uint8)
    return pixels[..., None] if pixels.ndim == 2 else pixels


def _folder_files(folder: Path) -> list[Path]:
    files = sorted((p for p in folder.rglob("*") if p.is_file()
                    and p.suffix.lower() in IMAGE_EXTENSIONS
                    and not any(part.startswith(".") for part in p.relative_to(folder).parts)),
                   key=lambda p: p.relative_to(folder).as_posix())
    if not files:
        raise UserInputError(f"folder {folder} holds no images (looked for "
                             f"{', '.join(IMAGE_EXTENSIONS)})")
    return files


def _from_array(x: np.ndarray, shape, source: str) -> tuple[list[np.ndarray], list[str], bool]:
    if x.dtype != np.uint8:
        raise UserInputError(f"{source}: images must be uint8 pixels 0..255, got dtype {x.dtype} "
                             "(convert [0, 1] floats with np.rint(x * 255).astype(np.uint8))")
    single = x.ndim == 2 or (x.ndim == 3 and x.shape[-1] in (1, 3, 4))
    if x.ndim == 2:
        x = x[None, :, :, None]
    elif x.ndim == 3:
        x = x[None] if single else x[..., None]
    if x.ndim != 4:
        raise UserInputError(f"{source}: expected (H, W), (H, W, C) or (N, H, W, C) uint8 images, "
                             f"got shape {x.shape}")
    return ([_fit_array(img, shape, source) for img in x],
            [f"{source}[{i}]" for i in range(len(x))], single)


def _from_path(path: Path, shape) -> tuple[list[np.ndarray], list[str]]:
    if path.is_dir():
        files = _folder_files(path)
        return [_read_file(f, shape) for f in files], [str(f) for f in files]
    if not path.exists():
        raise UserInputError(f"input not found: {path} (give an image file, a folder or an .npz)")
    if path.suffix.lower() == ".npz":
        images = load_npz(path)
        return _from_array(np.asarray(images.x), shape, str(path))[:2]
    if path.suffix.lower() not in IMAGE_EXTENSIONS:
        raise UserInputError(f"input {path} is not an image file ({', '.join(IMAGE_EXTENSIONS)}), "
                             "a folder or an .npz")
    return [_read_file(path, shape)], [str(path)]


def read_inputs(x, shape: tuple[int, int, int]) -> tuple[np.ndarray, list[str], bool]:
    """(uint8 (N, H, W, C) images of `shape`, their names, whether `x` was one image)."""
    if hasattr(x, "detach") and hasattr(x, "numpy"):  # a torch tensor
        x = x.detach().cpu().numpy()
    if isinstance(x, np.ndarray):
        images, names, single = _from_array(x, shape, "array")
    elif isinstance(x, (str, Path)):
        path = Path(x)
        images, names = _from_path(path, shape)
        single = len(images) == 1 and not path.is_dir() and path.suffix.lower() != ".npz"
    elif isinstance(x, (list, tuple)) and x and all(isinstance(p, (str, Path)) for p in x):
        images, names = [], []
        for p in x:
            found, found_names = _from_path(Path(p), shape)
            images += found
            names += found_names
        single = False
    else:
        raise UserInputError(f"cannot score {type(x).__name__} input: give uint8 image arrays, "
                             "image file paths, a folder or an .npz")
    if not images:
        raise UserInputError("no images to score")
    return np.stack(images), names, single
