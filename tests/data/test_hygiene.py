"""Outlier-set hygiene (data/hygiene/): the hash against scipy's DCT, the crop variants against
scipy's interpolation, the Hamming index against brute force, planted duplicates found and
distinct images left alone, and the streamed check equal to an all-pairs computation."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.fft
from scipy.ndimage import map_coordinates

from outlier_exposure.data.formats import lazy
from outlier_exposure.data.formats.tinyimages import load_tinyimages
from outlier_exposure.data.hygiene.duplicates import (
    MAX_DISTANCE, MIN_SIMILARITY, VERIFIED, ReferenceIndex, find_duplicates,
)
from outlier_exposure.data.hygiene.geometry import BOXES, CANON
from outlier_exposure.data.hygiene.index import HammingIndex
from outlier_exposure.data.hygiene.phash import (
    ORDER, STEP, VARIANTS, phash, variant_box, variant_hashes,
)
from outlier_exposure.data.hygiene.verify import similarity
from tests.helpers.hygiene_data import KINDS, distinct_images, duplicates, planted_set

LUMA = np.array([0.299, 0.587, 0.114])


def scipy_phash(grey: np.ndarray) -> np.ndarray:
    """The documented hash, computed independently: scipy's orthonormal 2-D DCT of the 32x32
    luma image, the 8x8 lowest frequencies minus DC, rounded to multiples of STEP, bit ORDER[j]
    = coefficient > median."""
    c = scipy.fft.dctn(grey.astype(np.float64), axes=(1, 2), norm="ortho")[:, :8, :8]
    c = np.round(c.reshape(len(grey), 64)[:, 1:] / STEP)
    bits = c > np.median(c, axis=1, keepdims=True)
    return (bits[:, ORDER].astype(np.uint64) << np.arange(63, dtype=np.uint64)).sum(1, dtype=np.uint64)


def scipy_crop(x: np.ndarray, box, mirrored: bool) -> np.ndarray:
    """A crop box (side, top, left) enlarged to 32x32 by linear interpolation between pixel
    centres (edge pixels repeated): scipy's map_coordinates, order 1, mode nearest."""
    side, top, left = box
    centres = (np.arange(CANON) + 0.5) * side / CANON - 0.5
    rows, cols = np.meshgrid(np.clip(top + centres, 0, CANON - 1),
                             np.clip(left + centres, 0, CANON - 1), indexing="ij")
    out = np.stack([map_coordinates(x[..., c], [rows, cols], order=1, mode="nearest")
                    for c in range(x.shape[-1])], axis=-1)
    return out[:, ::-1] if mirrored else out


@pytest.fixture(scope="module")
def pictures():
    return distinct_images(60, seed=3)


def test_hash_equals_scipy_dct_and_sets_31_bits(pictures):
    grey = pictures.astype(np.float64) @ LUMA
    ours = phash(pictures)
    theirs = scipy_phash(grey)
    # float32 here, float64 there: only a coefficient within 1e-3 of a rounding step may differ
    assert (ours == theirs).mean() > 0.95
    assert np.bitwise_count(ours ^ theirs).max() <= 2
    weight = np.bitwise_count(ours)  # 31 above the median of 63, fewer when some tie with it
    assert (weight <= 31).all() and (weight == 31).mean() > 0.9 and (ours >> np.uint64(63) == 0).all()
    # a grey image hashes like its RGB original's luma, a 64x64 enlargement like the original
    assert np.bitwise_count(phash(np.rint(grey).astype(np.uint8)[..., None]) ^ ours).mean() < 1
    big = pictures.repeat(2, axis=1).repeat(2, axis=2)
    assert (phash(big) == ours).mean() > 0.95


def test_hash_does_not_depend_on_the_batch():
    # horizontal stripes: every coefficient with a horizontal frequency is 0 exactly, so the
    # bits rest on ties with the median, which float32 noise must not break
    rng = np.random.default_rng(5)
    stripes = np.repeat(rng.integers(0, 256, (6, 32, 1, 3), dtype=np.uint8), 32, axis=2)
    blank = np.full((2, 32, 32, 3), 77, np.uint8)
    x = np.concatenate([stripes, blank, distinct_images(40, seed=9)])
    alone = np.concatenate([phash(x[i:i + 1]) for i in range(len(x))])
    np.testing.assert_array_equal(phash(x), alone)
    np.testing.assert_array_equal(variant_hashes(x)[:, 0], alone)
    np.testing.assert_array_equal(phash(np.ascontiguousarray(stripes[:, :, ::-1])), alone[:6])
    np.testing.assert_array_equal(alone[:8], scipy_phash(x[:8].astype(np.float64) @ LUMA))
    assert (alone[6:8] == 0).all() and (np.bitwise_count(alone[:6]) < 31).all()


def test_variant_hashes_equal_hashes_of_explicit_crops(pictures):
    variants = variant_hashes(pictures[:8])
    assert variants.shape == (8, VARIANTS)
    np.testing.assert_array_equal(variants[:, 0], phash(pictures[:8]))  # variant 0: the image
    for k in (0, 7, 30, 54, 55, 61, 109):
        box, mirrored = variant_box(np.array([k]))
        explicit = np.stack([scipy_crop(p.astype(np.float64), box[0], bool(mirrored[0]))
                             for p in pictures[:8]])
        expected = scipy_phash(explicit @ LUMA)
        assert np.bitwise_count(variants[:, k] ^ expected).max() <= 2, k
    assert len(BOXES) == 55 and set(BOXES[:, 0]) == {28, 29, 30, 31, 32}


@pytest.mark.parametrize("max_distance", [0, 2, 5, 6, 8])
def test_index_finds_exactly_the_brute_force_pairs(max_distance):
    rng = np.random.default_rng(max_distance)
    base = rng.integers(0, 2**63, 300, dtype=np.uint64)
    # clustered hashes too: copies of a few with 0..10 bits changed
    noise = [np.uint64(sum(1 << int(b) for b in rng.choice(63, k, replace=False)))
             for k in rng.integers(0, 11, 700)]
    indexed = np.concatenate([base, base[rng.integers(0, 300, 700)] ^ np.array(noise, np.uint64)])
    queries = np.concatenate([indexed[rng.integers(0, 1000, 200)] ^ np.array(
        noise[:200], np.uint64), rng.integers(0, 2**63, 50, dtype=np.uint64)])
    qi, ri, d = HammingIndex(indexed).query(queries, max_distance)
    distance = np.bitwise_count(queries[:, None] ^ indexed[None, :])
    want_q, want_r = np.nonzero(distance <= max_distance)
    assert sorted(zip(qi.tolist(), ri.tolist())) == sorted(zip(want_q.tolist(), want_r.tolist()))
    np.testing.assert_array_equal(d, distance[qi, ri])
    with pytest.raises(ValueError):
        HammingIndex(indexed).query(queries, 9)


def test_similarity_of_aligned_copies_and_of_distinct_images(pictures):
    full = np.tile(BOXES[0], (20, 1))
    same = similarity(pictures[:20], pictures[:20], full, np.zeros(20, bool))
    assert same.min() > 0.999
    mirrored = similarity(np.ascontiguousarray(pictures[:20, :, ::-1]), pictures[:20], full,
                          np.ones(20, bool))
    assert mirrored.min() > 0.999
    others = similarity(pictures[:20], pictures[20:40], full, np.zeros(20, bool))
    assert others.max() < MIN_SIMILARITY


@pytest.fixture(scope="module")
def planted():
    references = distinct_images(120, seed=7)
    outliers, where = planted_set(references, n_distinct=150, per_kind=20)
    index = ReferenceIndex([("refs", references[:70]), ("more refs", references[70:])])
    return references, outliers, where, index


def test_planted_duplicates_are_found_and_distinct_images_are_not(planted):
    references, outliers, where, index = planted
    report = find_duplicates(outliers, index)
    planted_positions = np.concatenate([pos for pos, _ in where.values()])
    for kind in KINDS:
        positions, _ = where[kind]
        assert np.isin(positions, report.flagged).all(), kind
    assert set(report.flagged.tolist()) == set(planted_positions.tolist())  # nothing else
    # each pair names the right reference image, exact only for the exact copies
    source = {}
    for kind, (positions, sources) in where.items():
        source.update({int(p): (int(s), kind) for p, s in zip(positions, sources)})
    for m in report.pairs:
        s, kind = source[m.outlier]
        assert (m.set, m.reference) == ((0, s) if s < 70 else (1, s - 70))
        assert m.exact == (kind == "exact")
        assert m.distance <= MAX_DISTANCE and (m.exact or m.similarity >= MIN_SIMILARITY)
    assert sum(r.exact for r in report.sets) == 20
    assert sum(r.near for r in report.sets) == 60
    assert all(len(r.examples) <= 6 for r in report.sets)


def brute_force(outliers, references, max_distance, min_similarity):
    """Every (outlier, reference) pair by the documented rule, all pairs at once: hash distance
    <= max_distance to some variant, then the best similarity over its VERIFIED closest
    variants (ties: the least cropped box, as is before mirrored) >= min_similarity, or
    identical pixels."""
    d = np.bitwise_count(phash(outliers)[:, None, None] ^ variant_hashes(references)[None])
    box_then_mirror = np.array([v % 55 * 2 + (v >= 55) for v in range(VARIANTS)])
    found = set()
    for o, r in zip(*np.nonzero(d.min(axis=2) <= max_distance)):
        order = np.lexsort((box_then_mirror, d[o, r]))[:VERIFIED]
        order = order[d[o, r][order] <= max_distance]
        boxes, mirrored = variant_box(order)
        sim = similarity(outliers[[o] * len(order)], references[[r] * len(order)], boxes, mirrored)
        if np.array_equal(outliers[o], references[r]) or sim.max() >= min_similarity:
            found.add((int(o), int(r)))
    return found


def test_streaming_in_chunks_equals_all_pairs_at_once(planted, tmp_path, monkeypatch):
    references, outliers, _, _ = planted
    refs = references[:50]
    index = ReferenceIndex([("refs", refs)])
    # a looser rule than the default, so that many pairs are near the thresholds
    expected = brute_force(outliers, refs, max_distance=8, min_similarity=0.5)
    assert len(expected) >= 25
    streamed = find_duplicates(outliers, index, chunk=7, max_distance=8, min_similarity=0.5)
    assert {(m.outlier, m.reference) for m in streamed.pairs} == expected
    whole = find_duplicates(outliers, index, chunk=len(outliers), max_distance=8,
                            min_similarity=0.5)
    np.testing.assert_array_equal(whole.flagged, streamed.flagged)
    # a lazy set in the 80M Tiny Images format, never read whole (any attempt would fail)
    path = tmp_path / "tiny_images.bin"
    path.write_bytes(b"".join(image.tobytes(order="F") for image in outliers))
    monkeypatch.setattr(lazy, "MATERIALISE_LIMIT_BYTES", 0)
    records = load_tinyimages(path).x
    chunks = []
    lazy_report = find_duplicates(records, index, chunk=11, max_distance=8, min_similarity=0.5,
                                  progress=lambda done, total, s: chunks.append((done, total)))
    assert {(m.outlier, m.reference) for m in lazy_report.pairs} == expected
    assert chunks[-1] == (len(outliers), len(outliers)) and len(chunks) == -(-len(outliers) // 11)


def test_sets_of_other_sizes_and_grey_sets_are_compared_at_32x32(planted):
    references, outliers, where, _ = planted
    big = references[:70].repeat(2, axis=1).repeat(2, axis=2)  # 64x64
    grey = np.rint(references[70:].astype(np.float64) @ LUMA).astype(np.uint8)[..., None]
    report = find_duplicates(outliers, ReferenceIndex([("big", big), ("grey", grey)]))
    found = set(report.flagged.tolist())
    for kind in ("exact", "jpeg75", "mirror"):
        positions, sources = where[kind]
        assert set(positions[sources < 70].tolist()) <= found, kind
    assert all(not m.exact for m in report.pairs)  # other sizes: never identical pixels


def test_no_reference_images_and_no_outliers():
    empty = ReferenceIndex([("none", np.zeros((0, 32, 32, 3), np.uint8))])
    report = find_duplicates(distinct_images(5, seed=1), empty)
    assert report.flagged.size == 0 and report.sets[0].exact == report.sets[0].near == 0
    report = find_duplicates(np.zeros((0, 32, 32, 3), np.uint8),
                             ReferenceIndex([("one", distinct_images(3, seed=2))]))
    assert report.outliers == 0 and report.flagged.size == 0


def test_featureless_copies_count_only_when_identical():
    flat = np.full((3, 32, 32, 3), 200, np.uint8)
    other = flat.copy()
    other[1] = 90  # another flat colour: same (empty) hash, no detail to compare
    report = find_duplicates(other, ReferenceIndex([("flat", flat[:1])]))
    assert report.flagged.tolist() == [0, 2] and all(m.exact for m in report.pairs)


def test_duplicates_helper_changes_the_pixels(pictures):
    for kind in ("jpeg75", "mirror", "crop"):
        assert not np.array_equal(duplicates(pictures[:5], kind), pictures[:5]), kind
