"""How each public dataset's files become uint8 images at the model's size: one reader (or
reader factory) per on-disk layout, with the reference's preprocessing (data/resize.py).

A reader is `read(folder, split, (h, w)) -> ImageSet`, the form `registry.Dataset.read` takes;
entries.py binds each registered dataset to one. Decoding image files is slow, so readers that
decode cache their arrays on disk (`storage/cache.py`), keyed by dataset, split, size, recipe and
the source files' stamps.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ...errors import UserInputError
from ..formats import lazy_folder
from ..formats.archives import (
    class_folders, decode_files, decode_images, decode_tar_members, images_under,
    read_cifar_batches, read_cifar_names, read_idx, read_svhn_mat, tar_images,
)
from ..imageset import ImageSet
from ..resize import binary_strokes, resize_array
from ..sources import load_npz
from ..storage.cache import cached_arrays, stamp

RECIPE_VERSION = "1"  # bump to invalidate every decoded-array cache entry


def _decoded(name: str, split: str, size: tuple[int, int], folder: Path, recipe: str,
             sources: Sequence[Path], build: Callable[[], dict]) -> tuple[np.ndarray, np.ndarray | None]:
    """build() -> {"x", "y"}, cached on disk per dataset, split, size and source files."""
    h, w = size
    where = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:12]
    arrays = cached_arrays(f"{name}-{split}-{h}x{w}-{where}",
                           stamp(f"{RECIPE_VERSION}|{name}|{split}|{h}x{w}|{recipe}", sources), build)
    return arrays["x"], arrays.get("y")


# ---------------------------------------------------------------------------------------------
# Reader factories, one per on-disk format


def cifar_reader(base: str, batches: dict[str, Sequence[str]], label_key: str, meta: str,
                 names_key: str):
    def read(folder: Path, split: str, size: tuple[int, int]) -> ImageSet:
        x, y = read_cifar_batches(folder / base, batches[split], label_key)
        classes = read_cifar_names(folder / base / meta, names_key)
        return ImageSet(resize_array(x, size, "squash"), y, base, classes=classes)

    return read


def svhn_reader(files: dict[str, Sequence[str]]):
    def read(folder: Path, split: str, size: tuple[int, int]) -> ImageSet:
        paths = [folder / f for f in files[split]]

        def build():
            parts = [read_svhn_mat(p) for p in paths]
            x = np.concatenate([p[0] for p in parts]) if len(parts) > 1 else parts[0][0]
            y = np.concatenate([p[1] for p in parts])
            return {"x": resize_array(x, size, "squash"), "y": y}

        x, y = _decoded("svhn", split, size, folder, "mat", paths, build)
        return ImageSet(x, y, "svhn", classes=[str(d) for d in range(10)])

    return read


def idx_reader(files: dict[str, tuple[str, str]], classes: Sequence[str]):
    def read(folder: Path, split: str, size: tuple[int, int]) -> ImageSet:
        images_file, labels_file = files[split]
        x = read_idx(folder / images_file)
        y = read_idx(folder / labels_file).astype(np.int64)
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise UserInputError(
                f"{folder / images_file} and {folder / labels_file} do not pair up: images "
                f"{x.shape}, labels {y.shape} (expected (N, H, W) and (N,))"
            )
        return ImageSet(resize_array(x[..., None], size, "squash"), y, folder.name, classes=list(classes))

    return read


def folder_reader(subdir: str, rule: str, *, labelled: bool, exclude: Sequence[str] = (),
                  mode: str = "RGB", skip_unreadable: bool = False, lazy: bool = False):
    """Image files under `subdir`: one subfolder per class (labelled) or anywhere (not).

    lazy (unlabelled sets only): with more than `lazy_folder.LAZY_FOLDER_FILES` files the set
    is a `FolderImages` that decodes each batch when it is read, instead of a cached array.
    """
    if lazy and (labelled or skip_unreadable):
        raise ValueError("lazy folder sets are unlabelled and cannot skip unreadable files")

    def read(folder: Path, split: str, size: tuple[int, int]) -> ImageSet:
        root = folder / subdir
        if labelled:
            files, labels, classes = class_folders(root, exclude)
        else:
            if lazy:
                relative = lazy_folder.image_paths(root)
                if len(relative) > lazy_folder.LAZY_FOLDER_FILES:
                    x = lazy_folder.FolderImages(root, relative, size, rule, mode=mode, name=folder.name)
                    return ImageSet(x, None, folder.name)
                files = [root / r for r in relative]
            else:
                files = images_under(root)
            labels, classes = None, None
            if not files:
                raise UserInputError(f"{root} holds no images")

        def build():
            x, kept = decode_files(files, size, rule, mode=mode, source=str(root),
                                   skip_unreadable=skip_unreadable)
            return {"x": x, "y": None if labels is None else labels[kept]}

        recipe = f"{subdir}|{rule}|{mode}|{sorted(exclude)}|{skip_unreadable}"
        x, y = _decoded(folder.name, split, size, folder, recipe, files, build)
        return ImageSet(x, y, folder.name, classes=classes)

    return read


TIN = "tiny-imagenet-200"


def _tin_val(root: Path, wnids: list[str]) -> tuple[list[Path], np.ndarray]:
    """Tiny ImageNet val: images/ + val_annotations.txt, or class subfolders (reorganised)."""
    annotations = root / "val_annotations.txt"
    if not annotations.is_file():
        files, labels, classes = class_folders(root)
        if classes != wnids:
            raise UserInputError(f"{root}: its class folders are not the {len(wnids)} wnids of wnids.txt")
        return files, labels
    index = {w: i for i, w in enumerate(wnids)}
    files, labels = [], []
    for n, line in enumerate(annotations.read_text().splitlines(), start=1):
        parts = line.split("\t")
        if len(parts) < 2 or parts[1] not in index:
            raise UserInputError(f"{annotations}, line {n}: expected 'FILE<TAB>WNID...' with a known wnid")
        files.append(root / "images" / parts[0])
        labels.append(index[parts[1]])
    order = np.argsort([f.name for f in files], kind="stable")
    return [files[i] for i in order], np.asarray(labels, dtype=np.int64)[order]


def tinyimagenet_read(folder: Path, split: str, size: tuple[int, int]) -> ImageSet:
    root = folder / TIN
    wnids = sorted(w.strip() for w in (root / "wnids.txt").read_text().split() if w.strip())
    if split == "train":
        files, labels, classes = class_folders(root / "train")
        if classes != wnids:
            raise UserInputError(f"{root / 'train'}: its class folders are not the wnids of wnids.txt")
    else:
        files, labels = _tin_val(root / "val", wnids)

    def build():
        x, _ = decode_files(files, size, "crop", source=str(root / split))
        return {"x": x, "y": labels}

    x, y = _decoded("tinyimagenet", split, size, folder, "crop", files, build)
    return ImageSet(x, y, "tinyimagenet", classes=wnids)


PLACES_SUBSET = 10000
PLACES_SEED = 365


def places_read(folder: Path, split: str, size: tuple[int, int]) -> ImageSet:
    """A fixed random subset of Places365-Standard test images, read from the .tar directly."""
    tar = folder / "test_256.tar"
    members = tar_images(tar)
    if len(members) > PLACES_SUBSET:
        pick = np.sort(np.random.default_rng(PLACES_SEED).choice(len(members), PLACES_SUBSET, replace=False))
        members = [members[i] for i in pick]

    def build():
        return {"x": decode_tar_members(tar, members, size, "crop"), "y": None}

    x, _ = _decoded("places365", split, size, folder, f"subset{PLACES_SUBSET}@{PLACES_SEED}", [tar], build)
    return ImageSet(x, None, "places365")


# The reference keeps these alphabets of Omniglot's background set ("other alphabets have
# characters which look like digits"): indices into the 30 alphabets in sorted order, i.e.
# Alphabet_of_the_Magi, Arcadian, Balinese, Bengali, Braille, Futurama, Grantha, Greek, Gujarati,
# Hebrew, Inuktitut, Japanese (hiragana), Japanese (katakana), Latin, Sanskrit.
OMNIGLOT_SAFE = (0, 2, 5, 6, 8, 12, 13, 14, 15, 16, 17, 18, 19, 21, 26)


def omniglot_read(folder: Path, split: str, size: tuple[int, int]) -> ImageSet:
    root = folder / "images_background"
    alphabets = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(alphabets) != 30:
        raise UserInputError(
            f"{root} should hold Omniglot's 30 background alphabets, found {len(alphabets)} "
            "(delete the folder and download it again)"
        )
    files = [f for i in OMNIGLOT_SAFE for f in images_under(root / alphabets[i])]

    def build():
        x, _ = decode_images(files, lambda p: p, binary_strokes(size), source=str(root))
        return {"x": x, "y": None}

    x, _ = _decoded("omniglot", split, size, folder, "strokes", files, build)
    return ImageSet(x, None, "omniglot")


def npz_reader(file: str, x_key: str, y_key: str | None):
    def read(folder: Path, split: str, size: tuple[int, int]) -> ImageSet:
        images = load_npz(folder / file, x_key, y_key)
        return ImageSet(resize_array(images.x, size, "squash"), images.y, images.name,
                        classes=images.classes)

    return read
