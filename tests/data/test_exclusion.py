"""Exclusion files (`oe outliers check --write`) and the `SPEC@exclude:FILE` modifier: exactly
the listed indices go, lazy sets stay lazy, bad files are one clear error naming the line."""

from __future__ import annotations

import numpy as np
import pytest

from outlier_exposure.data.datasets import load_images
from outlier_exposure.data.fingerprint import absolute_spec, source_paths
from outlier_exposure.data.formats import lazy
from outlier_exposure.data.hygiene.exclusion import read_exclusion, write_exclusion
from outlier_exposure.data.modifiers import split_modifiers
from outlier_exposure.data.storage import roots
from outlier_exposure.errors import UserInputError


@pytest.fixture
def labelled_npz(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (40, 8, 8, 3), dtype=np.uint8)
    y = np.arange(40) % 7
    path = tmp_path / "set.npz"
    np.savez(path, x=x, y=y)
    return path, x, y


def test_read_allows_comments_blanks_repeats_and_any_order(tmp_path):
    f = tmp_path / "ex.txt"
    f.write_text("# made by hand\n\n7\n  3  # a comment after an index\n7\n0\n\n")
    assert read_exclusion(f, 10).tolist() == [0, 3, 7]
    f.write_text("")
    assert read_exclusion(f, 10).tolist() == []


@pytest.mark.parametrize("content, line, what", [
    ("1\n2\nabc\n", 3, "'abc' is not an outlier index"),
    ("1\n-4\n", 2, "'-4' is not"),
    ("1\n2.0\n", 2, "'2.0' is not"),
    ("1\n\n10\n", 3, "index 10 is out of range for the 10 images"),
])
def test_bad_lines_name_the_file_and_the_line(tmp_path, content, line, what):
    f = tmp_path / "ex.txt"
    f.write_text(content)
    with pytest.raises(UserInputError, match=f"ex.txt, line {line}: {what}"):
        read_exclusion(f, 10)


def test_missing_file_says_how_to_make_one(tmp_path):
    with pytest.raises(UserInputError, match="not found.*oe outliers check"):
        read_exclusion(tmp_path / "none.txt", 10)


def test_write_is_sorted_unique_with_a_header_and_atomic(tmp_path):
    f = write_exclusion(tmp_path / "out.txt", np.array([9, 2, 9, 4]), "made by a test\nline two")
    assert f.read_text() == "# made by a test\n# line two\n2\n4\n9\n"
    assert read_exclusion(f, 10).tolist() == [2, 4, 9]
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]  # no temporary file left
    write_exclusion(f, np.array([], dtype=np.int64), "nothing")
    assert f.read_text() == "# nothing\n"
    with pytest.raises(UserInputError, match="is a folder"):
        write_exclusion(tmp_path, np.array([1]), "x")
    with pytest.raises(UserInputError, match="does not exist"):
        write_exclusion(tmp_path / "no" / "out.txt", np.array([1]), "x")


def test_exclude_removes_exactly_those_indices_and_labels(labelled_npz, tmp_path):
    path, x, y = labelled_npz
    f = tmp_path / "ex.txt"
    f.write_text("5\n0\n39\n17\n")
    images = load_images(f"npz:{path}@exclude:{f}", (8, 8, 3))
    keep = np.setdiff1d(np.arange(40), [0, 5, 17, 39])
    np.testing.assert_array_equal(images.x, x[keep])
    np.testing.assert_array_equal(images.y, y[keep])
    # indices are positions in the set as the modifiers to the left make it
    g = tmp_path / "ex20.txt"
    g.write_text("5\n0\n17\n")
    first = load_images(f"npz:{path}@first20@exclude:{g}", (8, 8, 3))
    np.testing.assert_array_equal(first.x, x[np.setdiff1d(np.arange(20), [0, 5, 17])])
    then_first = load_images(f"npz:{path}@exclude:{f}@first3", (8, 8, 3))
    np.testing.assert_array_equal(then_first.x, x[[1, 2, 3]])
    assert split_modifiers(f"npz:{path}@exclude:{f}@first3") == (f"npz:{path}",
                                                                 [f"exclude:{f}", "first3"])


def test_exclude_keeps_a_lazy_set_lazy(tmp_path, monkeypatch):
    # 80 Million Tiny Images' format, through the registry; never read whole
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (30, 32, 32, 3), dtype=np.uint8)
    (tmp_path / "tinyimages-80m").mkdir()
    (tmp_path / "tinyimages-80m" / "tiny_images.bin").write_bytes(
        b"".join(image.tobytes(order="F") for image in images))
    f = tmp_path / "ex.txt"
    f.write_text("2\n29\n11\n")
    monkeypatch.setattr(lazy, "MATERIALISE_LIMIT_BYTES", 0)
    try:
        with roots.data_settings(tmp_path):
            kept = load_images(f"tinyimages-80m@exclude:{f}", (32, 32, 3))
    finally:
        roots.set_data_root(None)
    assert isinstance(kept.x, lazy.LazyImages) and len(kept) == 27
    keep = np.setdiff1d(np.arange(30), [2, 11, 29])
    np.testing.assert_array_equal(kept.x[np.arange(27)], images[keep])
    np.testing.assert_array_equal(kept.x[[26, 0, 10]], images[keep[[26, 0, 10]]])


def test_bad_exclusions_are_one_clear_error(labelled_npz, tmp_path):
    path, _, _ = labelled_npz
    f = tmp_path / "ex.txt"
    f.write_text("\n".join(str(i) for i in range(40)))
    with pytest.raises(UserInputError, match="lists all 40 images"):
        load_images(f"npz:{path}@exclude:{f}", (8, 8, 3))
    f.write_text("3\n40\n")
    with pytest.raises(UserInputError, match=r"set.npz@exclude:.*ex.txt, line 2: index 40"):
        load_images(f"npz:{path}@exclude:{f}", (8, 8, 3))
    with pytest.raises(UserInputError, match="@exclude needs a file"):
        load_images(f"npz:{path}@exclude:", (8, 8, 3))
    with pytest.raises(UserInputError, match="not found"):
        load_images(f"npz:{path}@exclude:{tmp_path / 'nothing.txt'}", (8, 8, 3))


def test_a_run_records_the_exclusion_file(labelled_npz, tmp_path, monkeypatch):
    path, _, _ = labelled_npz
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ex.txt").write_text("1\n")
    spec = "npz:set.npz@exclude:ex.txt@first9"
    assert absolute_spec(spec) == f"npz:{path}@exclude:{tmp_path / 'ex.txt'}@first9"
    assert absolute_spec("dtd10@exclude:ex.txt") == f"dtd10@exclude:{tmp_path / 'ex.txt'}"
    assert [p.name for p in source_paths(spec)] == ["set.npz", "ex.txt"]
