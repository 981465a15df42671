"""The readers of the files users hold images in, each giving an `ImageSet` (imageset.py):

- `load_npz`: a NumPy `.npz` archive (e.g. the offline CIFAR-10 subset);
- `load_npy`: a `.npy` array, memory-mapped so a big outlier set is never read whole;
- `load_folder`: a folder of image files, with or without class subfolders; decoded into
  memory, or, when it would not fit (`stream`), decoded a batch at a time as it is read.

Synthetic noise sets are made in noise.py; the public datasets' own formats are read in
formats/. Every check of user input raises `UserInputError` naming the file and the fix.
"""

from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import UserInputError
from .formats.lazy import ThreadedImages
from .imageset import ImageSet
from .resize import cover_and_centre_crop

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


# ---------------------------------------------------------------------------------------------
# Shared checks


def _existing_file(path: str | Path, what: str) -> Path:
    path = Path(path)
    if not path.exists():
        raise UserInputError(f"{what} not found: {path} ({_path_hint(path)})")
    if path.is_dir():
        raise UserInputError(f"{what} {path} is a folder, not a file (use folder:{path} for image folders)")
    return path


def _path_hint(path: Path) -> str:
    """What to check for a missing path. A relative one is read from the working directory:
    a run's config.json from before paths were stored absolute may name it relative to the
    directory the run was trained in."""
    if path.is_absolute():
        return "check the path"
    return (f"a relative path, read from the working directory {Path.cwd()}: run the command "
            "from the directory the path is relative to, or, if a run's config.json names it, "
            "make the path absolute there")


def _as_nhwc(x: np.ndarray, source: str) -> np.ndarray:
    """Return x as (N, H, W, C) with C in {1, 3}; a 3-D (N, H, W) array gets C=1."""
    if x.ndim == 3:
        x = x.reshape(*x.shape, 1)  # a view: keeps a memmap lazy
    if x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise UserInputError(
            f"{source}: images must be (N, H, W, C) with C = 1 or 3, or (N, H, W) for grey; "
            f"got shape {tuple(x.shape)} (store images channel-last, e.g. x.transpose(0, 2, 3, 1))"
        )
    return x


def _check_labels(y: np.ndarray, n: int, source: str) -> np.ndarray:
    """Return labels as int64 after checking they are 1-D, integer, length n, and >= 0."""
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise UserInputError(
            f"{source}: labels must be a 1-D integer array, got shape {tuple(y.shape)} and "
            f"dtype {y.dtype} (save them with y.astype(np.int64))"
        )
    if len(y) != n:
        raise UserInputError(f"{source}: {n} images but {len(y)} labels (they must match one to one)")
    y = np.asarray(y, dtype=np.int64)
    if len(y) and y.min() < 0:
        raise UserInputError(
            f"{source}: labels must be >= 0, found {int(y.min())} (number classes 0..K-1)"
        )
    return y


def _pixels_to_uint8(x: np.ndarray, source: str) -> np.ndarray:
    """Return uint8 pixels; floats in [0, 1] become round(x * 255), other types are refused.

    Integer arrays with values in 0..255 (e.g. saved as int64 by accident) are cast losslessly.
    """
    if x.dtype == np.uint8:
        return x
    if np.issubdtype(x.dtype, np.integer):
        if x.size and (x.min() < 0 or x.max() > 255):
            raise UserInputError(
                f"{source}: integer pixels must lie in 0..255, found {x.min()}..{x.max()} "
                "(save images as uint8)"
            )
        return x.astype(np.uint8)
    if np.issubdtype(x.dtype, np.floating):
        lo, hi = (float(x.min()), float(x.max())) if x.size else (0.0, 0.0)
        if not (np.isfinite(lo) and np.isfinite(hi) and 0.0 <= lo and hi <= 1.0):
            raise UserInputError(
                f"{source}: float pixels must lie in [0, 1] (they are converted with "
                f"round(x * 255)); found {lo:g}..{hi:g} (save raw 0..255 pixels as uint8 instead)"
            )
        return np.rint(x * 255.0).astype(np.uint8)
    raise UserInputError(f"{source}: pixels have dtype {x.dtype}; save images as uint8 (0..255)")


# ---------------------------------------------------------------------------------------------
# .npz archives


def _load_problem(err: Exception) -> str:
    """numpy's reason a file would not load, reworded where it misleads."""
    if "pickle" in str(err):
        # np.load falls back to pickle for anything that is neither zip nor .npy.
        return "it is neither a zip archive of arrays nor a .npy array"
    return str(err)


def _npz_member_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Shapes of the arrays in an .npz, read from their headers without loading the data."""
    shapes = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for member in archive.namelist():
                if not member.endswith(".npy"):
                    continue
                with archive.open(member) as f:
                    version = np.lib.format.read_magic(f)
                    if version == (1, 0):
                        shape, _, _ = np.lib.format.read_array_header_1_0(f)
                    else:
                        shape, _, _ = np.lib.format.read_array_header_2_0(f)
                shapes[member[: -len(".npy")]] = shape
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        raise UserInputError(f"{path} is not a valid .npz: {_load_problem(err)}") from None
    return shapes


def _default_x_key(path: Path, keys: Sequence[str]) -> str:
    """`x` if present, else the only 3-D or 4-D array in the archive."""
    if "x" in keys:
        return "x"
    shapes = _npz_member_shapes(path)
    candidates = [k for k in keys if len(shapes.get(k, ())) in (3, 4)]
    if len(candidates) != 1:
        listing = ", ".join(f"{k} {shapes.get(k, '?')}" for k in keys)
        raise UserInputError(
            f"{path}: cannot tell which array holds the images (no key 'x', and "
            f"{len(candidates)} arrays have 3 or 4 dims); arrays: {listing}. "
            f"Name the keys: npz:{path}:XKEY,YKEY (or load_npz(path, x_key=..., y_key=...))"
        )
    return candidates[0]


def _read_member(npz, key: str, path: Path) -> np.ndarray:
    try:
        return npz[key]
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        raise UserInputError(f"{path}: cannot read array {key!r}: {_load_problem(err)}") from None


def load_npz(
    path: str | Path,
    x_key: str | None = None,
    y_key: str | None = None,
    name: str | None = None,
) -> ImageSet:
    """Read images (and labels) from a NumPy .npz archive.

    x_key defaults to "x", else the only 3-D/4-D array; y_key defaults to "y" when present
    (only when x_key is defaulted too: naming just x_key means "no labels"). A 3-D (N, H, W)
    array is read as grey (N, H, W, 1). Pixels must be uint8, or float in [0, 1], which is
    converted with round(x * 255). A "classes" array of names, if present, is kept.
    """
    path = _existing_file(path, ".npz file")
    try:
        npz = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        raise UserInputError(
            f"{path} is not a valid .npz: {_load_problem(err)} (re-create it with numpy.savez)"
        ) from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise UserInputError(f"{path} holds a single array, not an .npz archive (use npy:{path})")
    with npz:
        keys = list(npz.files)
        if x_key is None:
            x_key = _default_x_key(path, keys)
            if y_key is None and "y" in keys:
                y_key = "y"
        for key in (x_key, y_key):
            if key is not None and key not in keys:
                raise UserInputError(
                    f"{path}: no array named {key!r}; available keys: {', '.join(keys)}"
                )
        source = f"{path} [{x_key}]"
        x = _as_nhwc(_read_member(npz, x_key, path), source)
        x = _pixels_to_uint8(x, source)
        y = None
        if y_key is not None:
            y = _check_labels(_read_member(npz, y_key, path), len(x), f"{path} [{y_key}]")
        classes = None
        if "classes" in keys:
            names = _read_member(npz, "classes", path)
            if names.ndim == 1 and names.dtype.kind in "US":
                classes = [str(c) for c in names.astype(str)]
    return ImageSet(x=x, y=y, name=name or path.stem, classes=classes)


# ---------------------------------------------------------------------------------------------
# .npy arrays (memory-mapped)


def _open_npy(path: Path, mmap: bool) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise UserInputError(
            f"{path} is not a valid .npy: {_load_problem(err)} (re-create it with numpy.save)"
        ) from None


def load_npy(path: str | Path, labels_path: str | Path | None = None, name: str | None = None) -> ImageSet:
    """Memory-map a uint8 (N, H, W, C) or (N, H, W) .npy; labels from an optional second .npy.

    The pixels stay on disk (mmap_mode="r"), so a 300K-image outlier set costs no memory
    until batches are read. Because converting would read the whole file, only uint8 is
    accepted here; convert other types once with numpy and save again.
    """
    path = _existing_file(path, ".npy file")
    x = _as_nhwc(_open_npy(path, mmap=True), str(path))
    if x.dtype != np.uint8:
        raise UserInputError(
            f"{path}: npy images must be uint8 (0..255), got {x.dtype} "
            "(convert once: np.save(path, np.rint(x * 255).astype(np.uint8)) for [0, 1] floats)"
        )
    y = None
    if labels_path is not None:
        labels_path = _existing_file(labels_path, "labels .npy file")
        y = _check_labels(_open_npy(labels_path, mmap=False), len(x), str(labels_path))
    return ImageSet(x=x, y=y, name=name or path.stem)


# ---------------------------------------------------------------------------------------------
# Image folders


def _target_size(size: int | tuple[int, int] | None) -> tuple[int, int] | None:
    if size is None:
        return None
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    if h <= 0 or w <= 0:
        raise UserInputError(f"image size must be positive, got {size}")
    return int(h), int(w)


def _image_files(folder: Path) -> list[Path]:
    """Image files under folder (recursively), sorted by their path relative to it."""
    files = [
        p for p in folder.rglob("*")
        if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    ]
    return sorted(files, key=lambda p: p.relative_to(folder).as_posix())


def _list_folder(path: Path) -> tuple[list[Path], list[int] | None, list[str] | None]:
    """Files, labels and class names of an image folder (class subfolders or flat)."""
    subfolders = sorted(
        (p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name
    )
    loose = [
        p for p in path.iterdir()
        if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")
    ]
    if not subfolders:
        if not loose:
            raise UserInputError(
                f"image folder {path} holds no images (looked for {', '.join(IMAGE_EXTENSIONS)})"
            )
        return sorted(loose, key=lambda p: p.name), None, None
    if loose:
        raise UserInputError(
            f"image folder {path} holds both class subfolders and loose images (e.g. {sorted(loose)[0].name}); "
            "move the loose images into a class subfolder, or remove the subfolders for an unlabelled set"
        )
    files, labels = [], []
    for label, sub in enumerate(subfolders):
        found = _image_files(sub)
        if not found:
            raise UserInputError(
                f"class folder {sub} holds no images (remove it, or add images; "
                f"looked for {', '.join(IMAGE_EXTENSIONS)})"
            )
        files += found
        labels += [label] * len(found)
    return files, labels, [p.name for p in subfolders]


def _read_image(file: Path, mode: str, size: tuple[int, int] | None) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(file) as image:
            image = image.convert(mode)  # also decodes, so a truncated file fails here
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        raise UserInputError(f"cannot read image {file}: {err} (remove or replace the file)") from None
    if size is not None:
        image = cover_and_centre_crop(image, size)
    pixels = np.asarray(image, dtype=np.uint8)
    return pixels[..., None] if pixels.ndim == 2 else pixels


# ---------------------------------------------------------------------------------------------
# Streaming: a folder decoded a batch at a time instead of whole

MEMORY_BUDGET_ENV = "OE_MEMORY_BUDGET"
DEFAULT_MEMORY_BUDGET = 8 * 2**30  # when the machine's memory cannot be read
_BYTES = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*", re.IGNORECASE)
_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def memory_budget() -> int:
    """Bytes of decoded pixels a folder may take in memory before `auto` streams it.

    OE_MEMORY_BUDGET (bytes, or with a binary K/M/G/T suffix: 512M, 2G) when set; else a
    quarter of the machine's physical memory, which leaves room for the model, the other sets
    and the copies a batch goes through; else 8 GiB where the memory size cannot be read.
    """
    text = os.environ.get(MEMORY_BUDGET_ENV)
    if text is not None:
        match = _BYTES.fullmatch(text)
        if match is None or float(match.group(1)) <= 0:
            raise UserInputError(
                f"{MEMORY_BUDGET_ENV}={text!r} is not a size; give bytes, or a number with K, M or "
                f"G (binary units), e.g. {MEMORY_BUDGET_ENV}=16G"
            )
        return int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 4
    except (AttributeError, ValueError, OSError):
        return DEFAULT_MEMORY_BUDGET


def _image_size(file: Path) -> tuple[int, int]:
    """(h, w) of an image file, from its header (no decoding)."""
    from PIL import Image

    try:
        with Image.open(file) as image:
            w, h = image.size
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        raise UserInputError(f"cannot read image {file}: {err} (remove or replace the file)") from None
    return h, w


def _should_stream(stream: bool | None, files: list[Path], size: tuple[int, int] | None,
                   channels: int) -> bool:
    """`stream` when given; for None (auto), whether the decoded set exceeds `memory_budget`."""
    if stream is not None:
        return bool(stream)
    h, w = size if size is not None else _image_size(files[0])
    return len(files) * h * w * channels > memory_budget()


class StreamedFolder(ThreadedImages):
    """The files of an image folder as a lazy (N, H, W, C) uint8 array, decoded per batch.

    Each image is read exactly as the eager `load_folder` reads it (`_read_image`: the same
    conversion and `cover_and_centre_crop`), so `x[idx]` equals the rows of the decoded array
    and a run trains on the same pixels either way. Without a size every image must have the
    first one's size, as in the eager reader (the error names the file when its batch is read).
    """

    def __init__(self, root: Path, files: list[Path], size: tuple[int, int] | None, mode: str,
                 name: str, threads: int | None = None):
        self.root, self.files, self.size, self.mode = root, list(files), size, mode
        self._len, self.name = len(self.files), name
        h, w = size if size is not None else _image_size(self.files[0])
        self._image_shape = (h, w, 1 if mode == "L" else 3)
        if threads is not None:
            self.threads = max(1, int(threads))

    def _decode(self, idx: np.ndarray) -> np.ndarray:
        out = np.empty((len(idx), *self._image_shape), dtype=np.uint8)
        for row, i in enumerate(idx):
            file = self.files[int(i)]
            out[row] = _same_size(_read_image(file, self.mode, self.size), file,
                                  self._image_shape, self.root)
        return out


def _same_size(pixels: np.ndarray, file: Path, shape: tuple[int, ...], folder: Path) -> np.ndarray:
    """`pixels` of `file`, or an error when a folder read without a size has mixed sizes."""
    if pixels.shape != tuple(shape):
        raise UserInputError(
            f"image {file} is {pixels.shape[1]}x{pixels.shape[0]} but the folder's images are "
            f"{shape[1]}x{shape[0]} (width x height); images of mixed sizes need a size, e.g. "
            f"folder:{folder}:{shape[0]} or load_folder(..., size={shape[0]})")
    return pixels


def load_folder(
    path: str | Path,
    size: int | tuple[int, int] | None = None,
    grey: bool = False,
    name: str | None = None,
    *,
    stream: bool | None = None,
    threads: int | None = None,
) -> ImageSet:
    """Read a folder of images as uint8: into memory, or streamed (decoded per batch).

    With subfolders, each subfolder is a class: sorted names get labels 0..K-1 (as
    torchvision's ImageFolder), and images are found recursively inside each. Without
    subfolders, the images form an unlabelled set. Images are converted to RGB (or grey, L,
    when `grey`). With `size` (int or (h, w)) each is resized so its shorter side fits and
    centre-cropped; without it all images must already share one size.

    `stream`: False decodes every image now; True keeps only the file list and decodes the
    images of each batch when it is read (a `StreamedFolder`, same pixels), for folders larger
    than memory; None (auto) streams when the decoded set (files x H x W x C bytes) exceeds
    `memory_budget()`. `threads` decode a streamed batch in parallel.
    """
    path = Path(path)
    if not path.is_dir():
        hint = " (use npz:/npy: for array files)" if path.is_file() else f" ({_path_hint(path)})"
        raise UserInputError(f"image folder not found: {path}{hint}")
    target = _target_size(size)
    files, labels, classes = _list_folder(path)
    mode = "L" if grey else "RGB"
    y = None if labels is None else np.asarray(labels, dtype=np.int64)
    if _should_stream(stream, files, target, 1 if grey else 3):
        x = StreamedFolder(path, files, target, mode, name or path.name, threads)
        return ImageSet(x=x, y=y, name=name or path.name, classes=classes)

    first = _read_image(files[0], mode, target)
    x = np.empty((len(files), *first.shape), dtype=np.uint8)
    x[0] = first
    for i, file in enumerate(files[1:], start=1):
        x[i] = _same_size(_read_image(file, mode, target), file, first.shape, path)
    return ImageSet(x=x, y=y, name=name or path.name, classes=classes)
