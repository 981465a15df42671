"""Find the outliers that are copies of reference images (in-distribution train / test sets,
OOD test sets), streaming the outlier set in chunks.

Two stages (thresholds measured on the offline sets: docs/hygiene.md):
1. Candidates: the 63-bit pHash of each outlier (phash.py) against the hashes of every
   reference image under 110 crop / mirror variants (geometry.py), all pairs within
   MAX_DISTANCE = 6 bits (index.py: exact search, no pair is missed).
2. Check: each (outlier, reference image) candidate, through one of its VERIFIED = 3 closest
   variants (neighbouring crop boxes often tie on distance), must reach a band-limited colour
   similarity of MIN_SIMILARITY = 0.95 after a half-pixel refinement of the crop (verify.py).
Exact duplicates: identical pixels (same shape; a blake2b digest of the bytes, looked up in a
dict) count as exact whatever the two stages say: a blank image's hash is rounding noise.

Memory: the reference index (about 8 KB per reference image: 110 hashes and their tables, a
digest, the pixels) and up to workers + 1 chunks of outliers with their candidate arrays (some
100 MB per chunk of 10,000); it does not grow with the outlier set, only with the number of
duplicates found. The outliers are read by slices `x[a:b]`, so a memmap or a lazy set (80
Million Tiny Images, an image folder) is never read whole.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from typing import Callable, Sequence

import numpy as np

from .geometry import CANON
from .index import HammingIndex
from .phash import PRIORITY, VARIANTS, phash, variant_box, variant_hashes
from .verify import similarity

MAX_DISTANCE = 6
MIN_SIMILARITY = 0.95
CHUNK = 10_000
VERIFIED = 3  # variants checked per candidate pair (the closest ones: crops tie on distance)
INDEX_BATCH = 2_000  # reference images hashed at once (110 variants each)
WORKERS = 8  # threads checking chunks side by side (at most; default: the CPU count)


@dataclass
class Match:
    """One duplicate pair: outlier index, reference set (its number) and index in it, hash
    distance (bits, to the closest crop / mirror variant), similarity, identical pixels or not."""

    outlier: int
    set: int
    reference: int
    distance: int
    similarity: float
    exact: bool


@dataclass
class SetResult:
    """What one reference set holds of the outliers: counts of outlier images with an exact
    copy in the set, and with a near duplicate but no exact copy; a few examples of each."""

    name: str
    size: int
    exact: int = 0
    near: int = 0
    examples: list[Match] = field(default_factory=list)


@dataclass
class HygieneReport:
    outliers: int
    sets: list[SetResult]
    flagged: np.ndarray           # sorted unique outlier indices found in any set
    pairs: list[Match]            # every duplicate pair found
    seconds: float

    @property
    def rate(self) -> float:
        """Outlier images checked per second (hashing, search and check; reading included)."""
        return self.outliers / self.seconds if self.seconds > 0 else float("inf")


class ReferenceIndex:
    """The reference sets' images and the hashes of their variants, searchable."""

    def __init__(self, sets: Sequence[tuple[str, np.ndarray]]):
        self.names = [name for name, _ in sets]
        self.images = [_uint8_images(x, name) for name, x in sets]
        self.offsets = np.cumsum([0] + [len(x) for x in self.images])
        hashes = np.concatenate([variant_hashes(x[i:i + INDEX_BATCH]) for x in self.images
                                 for i in range(0, len(x), INDEX_BATCH)] or
                                [np.empty((0, VARIANTS), np.uint64)])
        self.index = HammingIndex(hashes.ravel())  # entry = image * VARIANTS + variant
        # exact copies by their bytes: found whatever the floating-point hash does with them
        self.digests: dict[bytes, list[tuple[int, int]]] = {}  # digest -> [(set, image)]
        for s, x in enumerate(self.images):
            for i, digest in enumerate(_digests(x)):
                self.digests.setdefault(digest, []).append((s, int(self.offsets[s]) + i))

    def identical(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(positions in x, global image numbers) of every image of x whose pixels equal those
        of a reference image of the same shape."""
        same = [images.shape[1:] == x.shape[1:] for images in self.images]
        found = [(q, image) for q, digest in enumerate(_digests(x))
                 for s, image in self.digests.get(digest, ()) if same[s]]
        pairs = np.array(found, dtype=np.int64).reshape(-1, 2)
        return pairs[:, 0], pairs[:, 1]

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def where(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Global image numbers -> (set number, index within the set)."""
        s = np.searchsorted(self.offsets, image, side="right") - 1
        return s, image - self.offsets[s]

    def gather(self, image: np.ndarray) -> np.ndarray:
        """The pixels of global image numbers, at 32x32 when the sets' sizes differ."""
        sets, within = self.where(image)
        shapes = {x.shape[1:] for x in self.images}
        out = np.empty((len(image), *(next(iter(shapes)) if len(shapes) == 1
                                      else (CANON, CANON, 3))), dtype=np.uint8)
        for s in np.unique(sets):
            pick = sets == s
            x = self.images[s][within[pick]]
            out[pick] = x if len(shapes) == 1 else _to_32_rgb(x)
        return out


def find_duplicates(outliers, references: ReferenceIndex, *, chunk: int = CHUNK,
                    max_distance: int = MAX_DISTANCE, min_similarity: float = MIN_SIMILARITY,
                    examples: int = 3, workers: int | None = None,
                    progress: Callable[[int, int, float], None] | None = None) -> HygieneReport:
    """Every outlier (uint8 (N, H, W, C), read by slices) that duplicates a reference image.

    `workers` threads (default: the CPU count, at most WORKERS) check chunks side by side:
    numpy releases the GIL in the array work. At most workers + 1 chunks are in memory; their
    results are taken in order, so the report does not depend on the threads.
    progress(done, total, seconds) is called after each chunk."""
    n = len(outliers)
    workers = workers or min(WORKERS, os.cpu_count() or 1)
    results = [SetResult(name, len(x)) for name, x in zip(references.names, references.images)]
    flagged, pairs = [], []
    start = time.perf_counter()

    def check(a: int) -> list[Match]:
        x = _uint8_images(outliers[a:a + chunk], "the outliers")
        found = _check_chunk(x, references, max_distance, min_similarity)
        for m in found:
            m.outlier += a
        return found

    starts = iter(range(0, n, chunk))
    with ThreadPoolExecutor(workers, thread_name_prefix="oe-hygiene") as pool:
        pending = deque(pool.submit(check, a) for a in islice(starts, workers + 1))
        done = 0
        while pending:
            found = pending.popleft().result()
            pending.extend(pool.submit(check, a) for a in islice(starts, 1))
            _tally(found, results, examples)
            flagged.append(np.array([m.outlier for m in found], dtype=np.int64))
            pairs.extend(found)
            done = min(done + chunk, n)
            if progress is not None:
                progress(done, n, time.perf_counter() - start)
    flagged = np.unique(np.concatenate(flagged)) if flagged else np.empty(0, np.int64)
    return HygieneReport(n, results, flagged, pairs, time.perf_counter() - start)


def _check_chunk(x: np.ndarray, references: ReferenceIndex, max_distance: int,
                 min_similarity: float) -> list[Match]:
    qi, image, distance, score = _near_pairs(x, references, max_distance)
    keep = score >= min_similarity
    qi, image, distance, score = qi[keep], image[keep], distance[keep], score[keep]
    # identical pixels: exact whatever the hash and the similarity say (a blank image's hash
    # is rounding noise); merged with the near pairs, the exact flag wins
    exact_q, exact_image = references.identical(x)
    qi = np.concatenate([exact_q, qi])
    image = np.concatenate([exact_image, image])
    distance = np.concatenate([np.zeros(len(exact_q), np.int64), distance])
    score = np.concatenate([np.ones(len(exact_q)), score])
    exact = np.arange(len(qi)) < len(exact_q)
    _, first = np.unique(qi * len(references) + image, return_index=True)
    qi, image, distance, score, exact = (a[first] for a in (qi, image, distance, score, exact))
    sets, within = references.where(image)
    return [Match(int(q), int(s), int(r), int(d), float(v), bool(e)) for q, s, r, d, v, e in
            zip(qi, sets, within, distance, score, exact)]


def _near_pairs(x: np.ndarray, references: ReferenceIndex, max_distance: int):
    """(outlier positions, global image numbers, closest distance, best similarity) of every
    pair within max_distance bits, checked through its VERIFIED closest variants."""
    qi, entry, distance = references.index.query(phash(x), max_distance)
    image, variant = entry // VARIANTS, entry % VARIANTS
    # per (outlier, reference image): its closest variants by distance, ties by PRIORITY (the
    # least cropped first); lexsort sorts by its last key first
    order = np.lexsort((PRIORITY[variant], distance, image, qi))
    qi, image, variant, distance = qi[order], image[order], variant[order], distance[order]
    new_pair = np.ones(len(qi), dtype=bool)
    new_pair[1:] = (qi[1:] != qi[:-1]) | (image[1:] != image[:-1])
    pair = np.cumsum(new_pair) - 1
    rank = np.arange(len(qi)) - np.flatnonzero(new_pair)[pair]
    keep = rank < VERIFIED
    qi, image, variant, distance, pair = (a[keep] for a in (qi, image, variant, distance, pair))
    if len(qi) == 0:
        return qi, image, distance, np.empty(0)
    boxes, mirrored = variant_box(variant)
    score = similarity(x[qi], references.gather(image), boxes, mirrored)
    # one row per pair: its best similarity, its closest distance (the first row)
    first = np.flatnonzero(np.r_[True, pair[1:] != pair[:-1]])
    return qi[first], image[first], distance[first], np.maximum.reduceat(score, first)


def _tally(found: list[Match], results: list[SetResult], examples: int) -> None:
    """Count outlier images per set: exact when one of its matches there is exact, else near."""
    per_set: dict[int, dict[int, list[Match]]] = {}
    for m in found:
        per_set.setdefault(m.set, {}).setdefault(m.outlier, []).append(m)
    for s, by_outlier in per_set.items():
        result = results[s]
        for matches in by_outlier.values():
            best = max(matches, key=lambda m: (m.exact, m.similarity))
            result.exact += best.exact
            result.near += not best.exact
            if sum(e.exact == best.exact for e in result.examples) < examples:
                result.examples.append(best)


def _digests(x: np.ndarray) -> list[bytes]:
    return [hashlib.blake2b(image.tobytes(), digest_size=16).digest() for image in x]


def _uint8_images(x, name: str) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise ValueError(f"{name}: uint8 images (N, H, W, 1 or 3) expected, got "
                         f"{x.dtype} {x.shape}")
    return x


def _to_32_rgb(x: np.ndarray) -> np.ndarray:
    from .geometry import to_canonical

    return np.clip(np.rint(np.moveaxis(to_canonical(x), 1, -1)), 0, 255).astype(np.uint8)
