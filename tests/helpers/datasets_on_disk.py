"""Small datasets written in the exact on-disk formats of the public ones (for the reader,
registry and `oe datasets` tests). Each writer returns the pixels and labels it wrote, in the
layout a reader must give back: uint8 (N, H, W, C) and int64 labels."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
from PIL import Image

RNG = np.random.default_rng(7)


def pixels(*shape: int) -> np.ndarray:
    return RNG.integers(0, 256, size=shape, dtype=np.uint8)


def cifar_rows(x: np.ndarray) -> np.ndarray:
    """(N, 32, 32, 3) -> CIFAR's (N, 3072) rows: the R plane, then G, then B, each row-major.

    Written with explicit indices (not a transpose) so the reader is checked independently.
    """
    n = len(x)
    rows = np.empty((n, 3072), dtype=np.uint8)
    for c in range(3):
        for h in range(32):
            rows[:, c * 1024 + h * 32: c * 1024 + h * 32 + 32] = x[:, h, :, c]
    return rows


def _dump(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)  # the CIFAR files are Python 2 pickles


def write_cifar10(root: Path, per_batch: int = 4, n_test: int = 5) -> dict:
    """ROOT/cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}."""
    base = root / "cifar-10-batches-py"
    out = {}
    train_x, train_y = [], []
    for i in range(1, 6):
        x, y = pixels(per_batch, 32, 32, 3), RNG.integers(0, 10, per_batch)
        _dump(base / f"data_batch_{i}", {"batch_label": f"training batch {i} of 5",
                                         "labels": [int(v) for v in y], "data": cifar_rows(x),
                                         "filenames": [f"img{j}.png" for j in range(per_batch)]})
        train_x.append(x)
        train_y.append(y)
    out["train"] = (np.concatenate(train_x), np.concatenate(train_y))
    x, y = pixels(n_test, 32, 32, 3), RNG.integers(0, 10, n_test)
    _dump(base / "test_batch", {"labels": [int(v) for v in y], "data": cifar_rows(x)})
    out["test"] = (x, y)
    out["classes"] = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    _dump(base / "batches.meta", {"label_names": out["classes"], "num_vis": 3072})
    return out


def write_cifar100(root: Path, n_train: int = 6, n_test: int = 4) -> dict:
    """ROOT/cifar-100-python/{train, test, meta} with fine and coarse labels."""
    base = root / "cifar-100-python"
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        x, y = pixels(n, 32, 32, 3), RNG.integers(0, 100, n)
        _dump(base / split, {"fine_labels": [int(v) for v in y], "coarse_labels": [int(v) // 5 for v in y],
                             "data": cifar_rows(x)})
        out[split] = (x, y)
    out["classes"] = [f"class{i}" for i in range(100)]
    _dump(base / "meta", {"fine_label_names": out["classes"], "coarse_label_names": [f"c{i}" for i in range(20)]})
    return out


def write_svhn(path: Path, n: int, digits=None) -> tuple[np.ndarray, np.ndarray]:
    """An SVHN `*_32x32.mat`: X (32, 32, 3, N) uint8, y (N, 1) with 10 for the digit 0."""
    from scipy.io import savemat

    x = pixels(n, 32, 32, 3)
    y = np.asarray(digits if digits is not None else RNG.integers(0, 10, n))
    X = np.empty((32, 32, 3, n), dtype=np.uint8)
    for i in range(n):
        X[:, :, :, i] = x[i]
    path.parent.mkdir(parents=True, exist_ok=True)
    savemat(path, {"X": X, "y": np.where(y == 0, 10, y).reshape(-1, 1).astype(np.uint8)})
    return x, y.astype(np.int64)


def idx_bytes(array: np.ndarray) -> bytes:
    """IDX: magic 0x0000 0x08 (uint8) ndim, then the sizes as big-endian int32, then the data."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">i", d) for d in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_idx(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = idx_bytes(array)
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


def write_mnist(folder: Path, n_train: int = 6, n_test: int = 4) -> dict:
    out = {}
    for prefix, split, n in (("train", "train", n_train), ("t10k", "test", n_test)):
        x, y = pixels(n, 28, 28), RNG.integers(0, 10, n).astype(np.uint8)
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", x)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", y)
        out[split] = (x[..., None], y.astype(np.int64))
    return out


def write_image(path: Path, size: tuple[int, int], mode: str = "RGB", fmt: str | None = None) -> np.ndarray:
    """A random image of (width, height) `size`; returns its pixels as decoded (RGB or L)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = size
    shape = (h, w) if mode == "L" else (h, w, 3 if mode == "RGB" else 4)
    image = Image.fromarray(pixels(*shape))  # mode from the shape: L, RGB or RGBA
    image.save(path, format=fmt)
    with Image.open(path) as saved:
        return np.asarray(saved.convert("L" if mode == "L" else "RGB"))


def write_image_folder(folder: Path, classes: dict[str, list[tuple[int, int]]], ext: str = ".png") -> None:
    """FOLDER/CLASS/imgK.EXT, one image per (width, height) listed for the class."""
    for name, sizes in classes.items():
        for k, size in enumerate(sizes):
            write_image(folder / name / f"img{k}{ext}", size)
