"""Load a dataset spec for a given role, with the checks that role needs.

The one place that knows every built-in named set (`BUILTIN`); the spec grammar itself lives in
`spec.py` and the file readers in `sources.py`.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..errors import UserInputError
from .offline import OFFLINE_SETS
from .sources import ImageSet
from .spec import load_spec

BUILTIN: dict[str, Callable[..., ImageSet]] = dict(OFFLINE_SETS)


def load_images(
    spec: str, shape: tuple[int, int, int], *, seed: int = 1, role: str = "data",
    n: int | None = None,
) -> ImageSet:
    """The images named by `spec`, shaped like `shape` (H, W, C); labels optional."""
    images = load_spec(spec, shape=tuple(shape), n=n, seed=seed, builtin=BUILTIN)
    if len(images) == 0:
        raise UserInputError(f"{role} {spec} holds no images")
    return images


def load_labelled(
    spec: str, shape: tuple[int, int, int], *, seed: int = 1, role: str = "data",
    num_classes: int | None = None,
) -> ImageSet:
    """Like `load_images`, but labels are required (and checked against `num_classes`)."""
    images = load_images(spec, shape, seed=seed, role=role)
    if images.y is None:
        raise UserInputError(
            f"{role} {spec} has no labels; name the label array, e.g. npz:PATH:x_train,y_train, "
            "or use a folder with one subfolder per class"
        )
    y = np.asarray(images.y)
    if y.min() < 0:
        raise UserInputError(f"{role} {spec} has negative labels; labels must be 0..K-1")
    if num_classes is not None and y.max() >= num_classes:
        raise UserInputError(
            f"{role} {spec} has label {int(y.max())} but the model has {num_classes} classes "
            f"(labels 0..{num_classes - 1}); check that this is the data the model was trained on"
        )
    return images
