"""`ImageSet`, the one data model of image data: pixels (N, H, W, C) plus optional labels.

Everything downstream (training, scoring, benchmarks) works on it; every source of images
(sources.py, noise.py, formats/, catalog/) produces it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class ImageSet:
    """A set of images held as an array, plus optional integer labels.

    x: (N, H, W, C), channel last (grey images have C=1). Either uint8 pixels 0..255, or
       float32 already in the model's normalised input space when `normalised` is True
       (synthetic noise is made there directly, as the reference does). May be a numpy
       memmap: code that takes an ImageSet must not force-load it.
    y: (N,) int64 labels, or None for unlabelled sets (outliers, OOD test sets).
    name: short display name, e.g. "gaussian", "textures", "cifar10_subset_32".
    classes: class names indexed by label, when the source has them.
    """

    x: np.ndarray
    y: np.ndarray | None
    name: str
    normalised: bool = False
    classes: list[str] | None = None

    def __post_init__(self) -> None:
        # These are programming errors (readers validate user files before building a set),
        # so they raise plain ValueError rather than UserInputError.
        if self.x.ndim != 4:
            raise ValueError(f"ImageSet {self.name!r}: x must be (N, H, W, C), got shape {self.x.shape}")
        if self.y is not None and len(self.y) != len(self.x):
            raise ValueError(
                f"ImageSet {self.name!r}: {len(self.x)} images but {len(self.y)} labels"
            )

    def __len__(self) -> int:
        return len(self.x)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(H, W, C) of one image."""
        _, h, w, c = self.x.shape
        return (int(h), int(w), int(c))

    @property
    def num_classes(self) -> int | None:
        """Max label + 1, or None for an unlabelled set."""
        if self.y is None:
            return None
        return int(self.y.max()) + 1 if len(self.y) else 0

    def __repr__(self) -> str:
        # The default dataclass repr would print the pixel array.
        labels = "unlabelled" if self.y is None else f"{self.num_classes} classes"
        kind = "normalised float32" if self.normalised else str(self.x.dtype)
        return f"ImageSet({self.name!r}, {len(self)} x {self.shape}, {kind}, {labels})"
