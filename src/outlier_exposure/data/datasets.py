"""Load a dataset spec for a given role, with the checks that role needs.

The one place that knows every built-in named set (`BUILTIN`); the spec grammar itself lives in
spec.py, the file readers in sources.py and the named datasets in catalog/.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Callable

import numpy as np

from ..errors import UserInputError
from .modifiers import apply_modifiers, split_modifiers
from .catalog.offline import OFFLINE_SETS
from .catalog.registry import LiveBuiltins
from .imageset import ImageSet
from .spec import load_spec
from .validation import is_validation_spec, load_validation

# The offline demo sets plus every dataset of the registry (looked up when used).
BUILTIN: MutableMapping[str, Callable[..., ImageSet]] = LiveBuiltins(OFFLINE_SETS)


def load_images(
    spec: str, shape: tuple[int, int, int], *, seed: int = 1, role: str = "data",
    n: int | None = None, noise_range: tuple[float, float] = (-1.0, 1.0),
    test_set: ImageSet | None = None, stream: bool | None = None,
) -> ImageSet:
    """The images named by `spec`, shaped like `shape` (H, W, C); labels optional.

    `spec` may end with modifiers (`@jpeg75`, `@first5000`: see `modifiers.py`).
    `val:KIND[:SPEC]` names a validation set (`validation.py`) made from SPEC, or without
    SPEC from `test_set` (the run's in-distribution test set, passed by the evaluation).
    `stream`: decode folder sets a batch at a time (True), into memory (False), or when they
    exceed the memory budget (None, auto); see `spec.load_spec`.
    """
    base, modifiers = split_modifiers(spec)
    if is_validation_spec(base):
        images = load_validation(
            base, shape=tuple(shape), test_set=test_set, n=n, seed=seed,
            noise_range=tuple(noise_range),
            load_source=lambda s: load_images(s, shape, seed=seed, role=role, n=n,
                                              noise_range=noise_range, stream=stream))
    else:
        images = load_spec(base, shape=tuple(shape), n=n, seed=seed, builtin=BUILTIN,
                           noise_range=tuple(noise_range), stream=stream)
    images = apply_modifiers(images, modifiers, spec)
    if len(images) == 0:
        raise UserInputError(f"{role} {spec} holds no images")
    return images


def load_labelled(
    spec: str, shape: tuple[int, int, int], *, seed: int = 1, role: str = "data",
    num_classes: int | None = None, stream: bool | None = None,
) -> ImageSet:
    """Like `load_images`, but labels are required (and checked against `num_classes`)."""
    images = load_images(spec, shape, seed=seed, role=role, stream=stream)
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
