"""`oe outliers check` as a library call: load the sets a command line names, check the
arguments, index the reference sets and stream the outliers through `find_duplicates`."""

from __future__ import annotations

import time
from typing import Callable, Sequence

import numpy as np

from ...errors import UserInputError
from ..datasets import load_images
from .duplicates import (
    CHUNK, MAX_DISTANCE, MIN_SIMILARITY, HygieneReport, ReferenceIndex, find_duplicates,
)
from .index import MAX_DISTANCE as INDEX_LIMIT


def check_outliers(outliers: str, against: Sequence[str], *, image_size: int = 32,
                   max_distance: int = MAX_DISTANCE, min_similarity: float = MIN_SIMILARITY,
                   chunk: int = CHUNK,
                   examples: int = 3, progress: Callable[[int, int, float], None] | None = None,
                   log: Callable[[str], None] | None = None) -> HygieneReport:
    """Find the images of spec `outliers` that duplicate an image of the `against` specs."""
    _check_arguments(against, image_size, max_distance, min_similarity, chunk, examples)
    shape = (image_size, image_size, 3)
    out_set = _pixels(load_images(outliers, shape, role="OUTLIERS"), outliers)
    references = []
    for spec in against:
        images = _pixels(load_images(spec, shape, role="--against"), spec)
        references.append((spec, np.asarray(images.x)))  # small sets: held in memory
    n_ref = sum(len(x) for _, x in references)
    if log is not None:
        log(f"indexing {n_ref:,} reference images (110 crop / mirror variants each)...")
    start = time.perf_counter()
    index = ReferenceIndex(references)
    if log is not None:
        log(f"indexed in {time.perf_counter() - start:.1f} s; checking {len(out_set):,} "
            f"outliers ({outliers}) in chunks of {chunk:,}")
    return find_duplicates(out_set.x, index, chunk=chunk, max_distance=max_distance,
                           min_similarity=min_similarity, examples=examples, progress=progress)


def _pixels(images, spec: str):
    if images.normalised:
        raise UserInputError(f"{spec} is synthetic data made in normalised space (noise:), not "
                             "pixel images: it cannot hold copies of real images; leave it out")
    return images


def _check_arguments(against, image_size, max_distance, min_similarity, chunk, examples) -> None:
    if not against:
        raise UserInputError("--against needs at least one set (in-distribution train / test, "
                             "OOD test sets)")
    if image_size < 8:
        raise UserInputError(f"--image-size {image_size}: give 8 or more (default 32)")
    if not 0 <= max_distance <= INDEX_LIMIT:
        raise UserInputError(f"--max-distance {max_distance}: give 0..{INDEX_LIMIT} bits "
                             f"(default {MAX_DISTANCE}; docs/hygiene.md has the measured "
                             "distances)")
    if not 0.0 < min_similarity <= 1.0:
        raise UserInputError(f"--min-similarity {min_similarity}: give a value in (0, 1] "
                             f"(default {MIN_SIMILARITY})")
    if chunk < 1:
        raise UserInputError(f"--chunk {chunk}: give 1 or more images (default {CHUNK})")
    if examples < 0:
        raise UserInputError(f"--examples {examples}: give 0 or more")
