"""OpenOOD's image lists: a text file naming the images of a split, one "PATH LABEL" a line.

OpenOOD v1.5 (github.com/Jingkang50/OpenOOD) does not split its benchmarks by folder: each split
is a list file (benchmark_imglist/imagenet200/train_imagenet200.txt, ...) whose lines are
`RELATIVE/PATH.JPEG LABEL`, the path relative to an image root (data/images_largescale/ or
data/images_classic/). Its `ImglistDataset` splits each line at the first space, so paths hold
no spaces; we split at the first run of whitespace (a tab works too) and skip blank lines.

Labels: in-distribution lists carry class indices (0..199 for ImageNet-200). OOD lists carry
-1 (or some other number: OpenOOD's evaluator overwrites every OOD label with -1, so their
value means nothing). Every line has a label: OpenOOD's parser fails on a line without one, and
so do we, which also catches a mistyped separator ("a.jpg,-1" would otherwise be a path). So
`image_list_set` decides labelled or not by the caller's `labelled` (the registry knows which
sets are OOD), or, when not told, by the labels: all negative -> unlabelled, all >= 0 -> labelled,
a mixture -> an error (such a list is neither).

The sets are ImageNet-sized (ImageNet-200 train: about 260,000 images; ImageNet-800: about a
million), so `image_list_set` always gives a lazy `FolderImages` that decodes the images of each
batch when it is read (formats/lazy_folder.py), never a decoded cache.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import UserInputError
from ..imageset import ImageSet
from .lazy_folder import FolderImages


def _parse_line(line: str, list_file: Path, number: int) -> tuple[str, int]:
    """(relative path, label) of one non-blank line; a bad line raises naming file and line."""
    parts = line.strip().split(maxsplit=1)
    path = parts[0]
    if path.startswith("/") or Path(path).is_absolute():
        raise UserInputError(
            f"{list_file}, line {number}: {path!r} is an absolute path; OpenOOD's lists name "
            "images relative to their image root (e.g. imagenet_1k/train/n01443537/x.JPEG 0)"
        )
    try:
        return path, int(parts[1])
    except (IndexError, ValueError):
        raise UserInputError(
            f"{list_file}, line {number}: expected 'RELATIVE/PATH LABEL' with an integer label, "
            f"got {line.strip()[:200]!r}"
        ) from None


def read_image_list(path: str | Path) -> tuple[list[str], np.ndarray]:
    """(relative paths, int64 labels) of an OpenOOD image list, in file order.

    Raises UserInputError for a missing or unreadable file and for a malformed line (no
    integer label, an absolute path), naming its number counted from 1 (blank lines count).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserInputError(f"image list not found: {path}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise UserInputError(f"cannot read the image list {path}: {err}") from None
    files, labels = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        file, label = _parse_line(line, path, number)
        files.append(file)
        labels.append(label)
    return files, np.asarray(labels, dtype=np.int64)


def _keep_labels(labels: np.ndarray, labelled: bool | None, list_file: Path) -> np.ndarray | None:
    """The labels the set keeps: None for an unlabelled (OOD) set; checked when kept."""
    negative = labels < 0
    if labelled is False or (labelled is None and negative.all()):
        return None
    if negative.any():
        line = int(np.flatnonzero(negative)[0])
        raise UserInputError(
            f"{list_file}: a labelled list, but {int(negative.sum())} of its {len(labels)} images "
            f"have a negative label (the first is image {line + 1} in the list); is this an OOD list?"
        )
    return labels


def folder_classes(files: list[str], labels: np.ndarray) -> list[str] | None:
    """Class names from the files' parent folders (ImageNet wnids), when they are consistent.

    A list where label k's images all sit in one folder, each label in its own, and labels
    0..max all occur, names class k after that folder; any other list gets None, so a list that
    breaks the pattern still loads (without names) rather than getting wrong ones.
    """
    if len(labels) == 0:
        return None
    names: dict[int, str] = {}
    for file, label in zip(files, labels.tolist()):
        folder = file.rsplit("/", 2)[-2] if "/" in file else ""
        if names.setdefault(label, folder) != folder:
            return None
    classes = [names.get(k) for k in range(max(names) + 1)]
    if None in classes or "" in classes or len(set(classes)) != len(classes):
        return None
    return classes


def _check_root(image_root: Path, files: list[str], list_file: Path, layout: str) -> None:
    """Fail at once when the first or last listed image is missing: a wrong root or an image
    archive not unpacked, which the lazy set would otherwise report only at its first batch."""
    if not image_root.is_dir():
        raise UserInputError(
            f"the images of {list_file.name} are not in place: {image_root} does not exist. "
            f"Expected layout: {layout or f'{image_root}/<the paths listed in {list_file.name}>'}"
        )
    for file in dict.fromkeys((files[0], files[-1])):
        if not (image_root / file).is_file():
            raise UserInputError(
                f"{list_file.name} names {file!r}, which is not in {image_root} (looked for "
                f"{image_root / file}): the image root is wrong or its images are not unpacked. "
                f"Expected layout: {layout or f'{image_root}/<the paths listed in {list_file.name}>'}"
            )


def image_list_set(list_file: str | Path, image_root: str | Path, size: tuple[int, int], rule: str,
                   name: str, *, labelled: bool | None = None, layout: str = "") -> ImageSet:
    """The images an OpenOOD list names, under `image_root`, as a lazy set at `size` (h, w).

    rule: the resize rule of data/resize.py ("crop": OpenOOD's Resize + CenterCrop).
    labelled: True (in-distribution: labels must be >= 0), False (OOD or outliers: labels
    dropped), None (decide from the labels; see the module docstring). classes: the wnids
    when the paths show them (`folder_classes`). layout: the expected folder layout, for the
    message when the first or last listed image is missing.
    """
    list_file, image_root = Path(list_file), Path(image_root)
    files, labels = read_image_list(list_file)
    if not files:
        raise UserInputError(f"the image list {list_file} names no images")
    _check_root(image_root, files, list_file, layout)
    y = _keep_labels(labels, labelled, list_file)
    x = FolderImages(image_root, files, size, rule, mode="RGB", name=name)
    return ImageSet(x, y, name, classes=None if y is None else folder_classes(files, y))
