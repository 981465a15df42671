"""Readers for the on-disk formats of public image datasets, giving uint8 (N, H, W, C) arrays.

Formats (each reader names the file in its error when the file is corrupt or truncated):

- CIFAR "python version" batches (`cifar-10-batches-py/data_batch_1`, `cifar-100-python/train`,
  ...): pickled dicts whose "data" is (N, 3072) uint8, channel-major 32x32 planes R, G, B.
  They are unpickled with a loader that only builds numpy arrays and plain containers, so a
  tampered file cannot run code.
- SVHN `*_32x32.mat` (MATLAB v5): X is (32, 32, 3, N) uint8, y is (N, 1) with labels 1..10
  where 10 stands for the digit 0 (mapped to 0, as torchvision and the reference do).
- IDX files (MNIST, Fashion-MNIST; raw or .gz): a big-endian header (magic 0x0000080D with
  D dims for uint8 data, then D int32 sizes) and the data.
- Image files in folders or inside a .tar, decoded with PIL and resized with the reference's
  torchvision rules (`resize.resize_rule`; every resize rule lives in data/resize.py).
"""

from __future__ import annotations

import gzip
import io
import pickle
import sys
import tarfile
import zlib
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from ...errors import UserInputError
from ..resize import resize_rule
from ..sources import IMAGE_EXTENSIONS

# ---------------------------------------------------------------------------------------------
# Pickles that may only build numpy arrays

_NUMPY_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("_codecs", "encode"),  # how protocol-2 pickles written by Python 3 spell bytes
}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _NUMPY_GLOBALS:
            raise pickle.UnpicklingError(f"it refers to {module}.{name}, which a data file never needs")
        if module.startswith("numpy.core") and int(np.__version__.split(".")[0]) >= 2:
            module = "numpy._core" + module[len("numpy.core"):]  # numpy 2 moved numpy.core
        return super().find_class(module, name)


def load_data_pickle(path: Path) -> object:
    """Unpickle a data file (latin1 strings, as the Python 2 CIFAR files need), numpy only."""
    try:
        with open(path, "rb") as f:
            return _NumpyOnlyUnpickler(f, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            IndexError, KeyError, OSError) as err:
        raise UserInputError(
            f"cannot read {path}: {err or type(err).__name__} (the file is corrupt, truncated or "
            "not a dataset file; delete it and download the dataset again)"
        ) from None


# ---------------------------------------------------------------------------------------------
# CIFAR


def read_cifar_batches(folder: Path, batches: Sequence[str], label_key: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 32, 32, 3) and labels from CIFAR python batches, in the order given."""
    xs, ys = [], []
    for name in batches:
        path = folder / name
        batch = load_data_pickle(path)
        if not isinstance(batch, dict) or "data" not in batch or label_key not in batch:
            keys = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
            raise UserInputError(
                f"{path} is not a CIFAR batch: expected keys 'data' and {label_key!r}, found {keys} "
                "(is it the CIFAR-10 file in a CIFAR-100 folder, or the reverse?)"
            )
        data = np.asarray(batch["data"])
        labels = np.asarray(batch[label_key], dtype=np.int64).reshape(-1)
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
            raise UserInputError(
                f"{path}: expected 'data' of shape (N, 3072) uint8 and N labels, got "
                f"{data.dtype} {data.shape} and {len(labels)} labels (the file is damaged)"
            )
        xs.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        ys.append(labels)
    return np.ascontiguousarray(np.concatenate(xs)), np.concatenate(ys)


def read_cifar_names(path: Path, key: str) -> list[str]:
    meta = load_data_pickle(path)
    if not isinstance(meta, dict) or key not in meta:
        raise UserInputError(f"{path}: no {key!r} list of class names (the file is damaged)")
    return [str(name) for name in meta[key]]


# ---------------------------------------------------------------------------------------------
# SVHN .mat


def read_svhn_mat(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(N, 32, 32, 3) uint8 images and labels 0..9 from an SVHN `*_32x32.mat`."""
    from scipy.io import loadmat
    from scipy.io.matlab import MatReadError

    try:
        mat = loadmat(path, variable_names=["X", "y"])
    except (MatReadError, ValueError, TypeError, OSError, EOFError, zlib.error) as err:
        raise UserInputError(
            f"cannot read {path}: {err or type(err).__name__} (the file is corrupt or truncated; "
            "delete it and download it again)"
        ) from None
    if "X" not in mat or "y" not in mat:
        raise UserInputError(f"{path} has no X and y arrays; it is not an SVHN *_32x32.mat file")
    x, y = mat["X"], np.asarray(mat["y"]).reshape(-1)
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[:3] != (32, 32, 3) or len(y) != x.shape[3]:
        raise UserInputError(
            f"{path}: expected X (32, 32, 3, N) uint8 and N labels, got X {x.dtype} {x.shape} "
            f"and {len(y)} labels"
        )
    if len(y) and (y.min() < 1 or y.max() > 10):
        raise UserInputError(f"{path}: labels must be 1..10 (10 is the digit 0), found {y.min()}..{y.max()}")
    return np.ascontiguousarray(x.transpose(3, 0, 1, 2)), (y % 10).astype(np.int64)


# ---------------------------------------------------------------------------------------------
# IDX (MNIST family)


def read_idx(path: Path) -> np.ndarray:
    """The uint8 array of an IDX file (MNIST's format), gzip-compressed when it ends in .gz."""
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as err:
        raise UserInputError(
            f"cannot read {path}: {err} (the file is corrupt or truncated; delete it and "
            "download it again)"
        ) from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08 or raw[3] == 0:
        raise UserInputError(
            f"{path} is not an IDX file of uint8 data (its first bytes are {raw[:4].hex() or 'missing'}, "
            "expected 000008 then the number of dimensions)"
        )
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise UserInputError(f"{path} is truncated: the header needs {header} bytes, the file has {len(raw)}")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">i4", count=ndim, offset=4))
    expected = int(np.prod(dims))
    if len(raw) - header != expected:
        raise UserInputError(
            f"{path} is truncated or padded: its header promises {dims} = {expected} bytes of data, "
            f"the file holds {len(raw) - header} (delete it and download it again)"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


# ---------------------------------------------------------------------------------------------
# Image files


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def images_under(folder: Path) -> list[Path]:
    """Image files anywhere under `folder` (hidden entries skipped), sorted by relative path."""
    files = [p for p in folder.rglob("*") if p.is_file() and _is_image(p)
             and not any(part.startswith(".") for part in p.relative_to(folder).parts)]
    return sorted(files, key=lambda p: p.relative_to(folder).as_posix())


def class_folders(folder: Path, exclude: Iterable[str] = ()) -> tuple[list[Path], np.ndarray, list[str]]:
    """Files, labels and class names of a folder with one subfolder per class.

    Classes are the sorted subfolder names (torchvision's ImageFolder order) minus `exclude`;
    images are found recursively inside each.
    """
    if not folder.is_dir():
        raise UserInputError(f"image folder not found: {folder}")
    skip = set(exclude)
    classes = sorted(p.name for p in folder.iterdir()
                     if p.is_dir() and not p.name.startswith(".") and p.name not in skip)
    files, labels = [], []
    for label, name in enumerate(classes):
        found = images_under(folder / name)
        files += found
        labels += [label] * len(found)
    if not files:
        raise UserInputError(f"{folder} holds no images in class subfolders (looked for {', '.join(IMAGE_EXTENSIONS)})")
    return files, np.asarray(labels, dtype=np.int64), classes


def _progress(total: int, desc: str):
    if total < 2000:
        return None
    from tqdm.auto import tqdm

    # leave=True: closing draws the final count (100%) and keeps it, as training/progress.py's
    # bars do; leave=False wiped the line at whatever count the last timed redraw showed.
    return tqdm(total=total, desc=desc, unit="img", unit_scale=True, leave=True,
                dynamic_ncols=True, file=sys.stderr, mininterval=0.5)


def decode_images(
    items: Sequence, open_item: Callable, prepare: Callable, *, source: str,
    skip_unreadable: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Decode images into one uint8 (N, H, W, C) array; returns it and the indices kept.

    open_item(item) gives a path or file object for PIL; prepare(pil_image) gives the final
    PIL image (mode and size), which must have the same shape for every item. A file that PIL
    cannot decode raises UserInputError naming it, or is skipped with `skip_unreadable`.
    """
    from PIL import Image

    out, kept = None, []
    bar = _progress(len(items), source)
    try:
        for i, item in enumerate(items):
            try:
                with Image.open(open_item(item)) as image:
                    image.load()  # decode now, so a truncated file fails here
                    pixels = np.asarray(prepare(image), dtype=np.uint8)
            except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
                if skip_unreadable:
                    continue
                raise UserInputError(
                    f"cannot read image {item if isinstance(item, Path) else f'{source}: {item}'}: "
                    f"{err} (delete or replace the file)"
                ) from None
            if pixels.ndim == 2:
                pixels = pixels[..., None]
            if out is None:
                out = np.empty((len(items), *pixels.shape), dtype=np.uint8)
            elif pixels.shape != out.shape[1:]:
                raise UserInputError(f"{item}: decoded to {pixels.shape}, others to {out.shape[1:]}")
            out[len(kept)] = pixels
            kept.append(i)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    if out is None:
        raise UserInputError(f"{source}: none of its {len(items)} images could be read")
    return out[: len(kept)], np.asarray(kept, dtype=np.int64)


def decode_files(files: Sequence[Path], size: tuple[int, int], rule: str, *, mode: str = "RGB",
                 source: str, skip_unreadable: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Decode image files, convert them to `mode` and resize them with `rule` (see above)."""
    fit = resize_rule(size, rule)
    return decode_images(files, lambda p: p, lambda im: fit(im.convert(mode)), source=source,
                         skip_unreadable=skip_unreadable)


def tar_images(path: Path) -> list[tarfile.TarInfo]:
    """The image members of an (uncompressed) .tar, sorted by name."""
    try:
        with tarfile.open(path) as tar:
            members = [m for m in tar.getmembers() if m.isfile() and _is_image(Path(m.name))]
    except (tarfile.TarError, OSError, EOFError) as err:
        raise UserInputError(
            f"cannot read {path}: {err} (the archive is corrupt or truncated; delete it and "
            "download it again)"
        ) from None
    if not members:
        raise UserInputError(f"{path} holds no images")
    return sorted(members, key=lambda m: m.name)


def decode_tar_members(path: Path, members: Sequence[tarfile.TarInfo], size: tuple[int, int],
                       rule: str, *, mode: str = "RGB") -> np.ndarray:
    """Decode the given members of a .tar without extracting it."""
    fit = resize_rule(size, rule)
    ordered = sorted(members, key=lambda m: m.offset_data)  # one forward pass over the file
    try:
        with tarfile.open(path) as tar:
            def open_member(member):
                return io.BytesIO(tar.extractfile(member).read())

            x, _ = decode_images(ordered, open_member, lambda im: fit(im.convert(mode)),
                                 source=str(path))
    except (tarfile.TarError, EOFError) as err:
        raise UserInputError(f"cannot read {path}: {err} (delete it and download it again)") from None
    # back to the order asked for
    position = {m.name: i for i, m in enumerate(ordered)}
    return x[[position[m.name] for m in members]]
