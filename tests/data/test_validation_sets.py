"""The reference's validation OOD sets (`val:KIND`), each against a direct computation on tiny
hand-made images, and their place in `oe eval` results: apart from the headline mean."""

import json

import numpy as np
import pytest
from scipy.stats import norm

from outlier_exposure.cli import main
from outlier_exposure.data.datasets import load_images
from outlier_exposure.data.imageset import ImageSet
from outlier_exposure.data.validation import (
    KINDS,
    jigsaw,
    make_validation_set,
    parse_validation_spec,
    pixelate,
)
from outlier_exposure.errors import UserInputError


def rgb_set(n=6, size=8, seed=0, labels=None):
    x = np.random.default_rng(seed).integers(0, 256, size=(n, size, size, 3), dtype=np.uint8)
    return ImageSet(x=x, y=labels, name="src")


def test_parse():
    assert parse_validation_spec("val:jigsaw") == ("jigsaw", None)
    assert parse_validation_spec("VAL:Invert:npz:/a:b.npz:x") == ("invert", "npz:/a:b.npz:x")
    with pytest.raises(UserInputError, match="val:jigsaw"):
        parse_validation_spec("val:jigsaws")
    with pytest.raises(UserInputError, match="ends with"):
        parse_validation_spec("val:jigsaw:")


def _quadrant_jigsaw(x, s, t):
    """The jigsaw written quadrant by quadrant: TL with its last s rows moved to the top,
    TR <- BL, BL <- BR, BR <- TR with its first t columns moved to the end."""
    h, w = x.shape[:2]
    q, r = h // 2, w // 2
    out = np.zeros_like(x)
    tl = x[:q, :r]
    out[:q, :r] = np.concatenate([tl[q - s:], tl[:q - s]], axis=0)  # last s rows first
    out[:q, r:] = x[q:, :r]
    out[q:, :r] = x[q:, r:]
    tr = x[:q, r:]
    out[q:, r:] = np.concatenate([tr[:, t:], tr[:, :t]], axis=1)
    return out


@pytest.mark.parametrize("size, s, t", [(32, 8, 8), (28, 8, 8), (64, 16, 16), (16, 4, 4), (4, 1, 1)])
def test_jigsaw(size, s, t):
    x = np.random.default_rng(size).integers(0, 256, size=(3, size, size, 1), dtype=np.uint8)
    out = jigsaw(x)
    for a, b in zip(out, x):
        np.testing.assert_array_equal(a, _quadrant_jigsaw(b, s, t))
    # It is a permutation of each image's pixels.
    np.testing.assert_array_equal(np.sort(out.reshape(3, -1)), np.sort(x.reshape(3, -1)))


def test_jigsaw_of_a_hand_made_4x4():
    img = np.arange(16, dtype=np.uint8).reshape(4, 4, 1)
    expected = np.array([[4, 5, 8, 9],       # TL rows swapped (4 5 / 0 1), TR <- BL (8 9 / 12 13)
                         [0, 1, 12, 13],
                         [10, 11, 3, 2],     # BL <- BR (10 11 / 14 15), BR <- TR columns swapped
                         [14, 15, 7, 6]], dtype=np.uint8)
    np.testing.assert_array_equal(jigsaw(img[None])[0, ..., 0], expected)


def test_pixelate_is_block_means_for_an_integer_factor():
    # 10x10 -> int(0.2 * 10) = 2x2 blocks of 5x5 means, then each block repeated back.
    x = np.random.default_rng(1).integers(0, 256, size=(4, 10, 10, 3), dtype=np.uint8)
    means = x.reshape(4, 2, 5, 2, 5, 3).astype(np.float64).mean(axis=(2, 4))
    expected = np.repeat(np.repeat(means, 5, axis=1), 5, axis=2)
    out = pixelate(x)
    assert out.dtype == np.uint8 and out.shape == x.shape
    # PIL resizes in two passes (columns, then rows) and rounds after each: within one level.
    assert np.abs(out - expected).max() < 1
    blocky = np.repeat(np.repeat(np.array([[10, 200], [30, 40]], np.uint8), 5, 0), 5, 1)[None, ..., None]
    np.testing.assert_array_equal(pixelate(blocky), blocky)


def test_rgb_shift_and_invert_on_a_hand_made_image():
    img = np.array([[[1, 2, 3], [4, 5, 6]],
                    [[7, 8, 9], [10, 11, 12]]], dtype=np.uint8)[None]
    s = ImageSet(x=img, y=None, name="one")
    shifted = make_validation_set("rgb-shift", s).x[0]
    # R <- G mirrored left-right, G <- B, B <- R
    np.testing.assert_array_equal(shifted, [[[5, 3, 1], [2, 6, 4]], [[11, 9, 7], [8, 12, 10]]])
    inverted = make_validation_set("invert", s).x[0]
    np.testing.assert_array_equal(inverted, [[[1, 253, 252], [4, 250, 249]],
                                             [[7, 247, 246], [10, 244, 243]]])


def _partners(out, x, combine):
    """For each output image, the source images j != i that it can be made from."""
    return [[j for j in range(len(x)) if j != i and np.array_equal(out[i], combine(x[i], x[j]))]
            for i in range(len(x))]


def test_means_of_pairs():
    src = rgb_set(n=6)
    x = src.x.astype(np.float64)
    arith = make_validation_set("arithmetic-mean", src, seed=3).x
    found = _partners(arith, x, lambda a, b: np.floor((a + b) / 2 + 0.5))
    assert all(len(f) >= 1 for f in found)  # every image is the mean of itself and another
    geo = make_validation_set("geometric-mean", src, seed=3).x
    found = _partners(geo, x, lambda a, b: np.rint(np.sqrt(a * b)))
    assert all(len(f) >= 1 for f in found)
    # Closed forms: (3 + 4) / 2 = 3.5 -> 4; sqrt(2 * 8) = 4; sqrt(0 * 255) = 0.
    pair = ImageSet(x=np.array([[[[3, 2, 0]]], [[[4, 8, 255]]]], dtype=np.uint8), y=None, name="p")
    np.testing.assert_array_equal(make_validation_set("arithmetic-mean", pair).x[:, 0, 0],
                                  [[4, 5, 128], [4, 5, 128]])
    np.testing.assert_array_equal(make_validation_set("geometric-mean", pair).x[:, 0, 0],
                                  [[3, 4, 0], [3, 4, 0]])


def test_partners_are_uniform_over_the_others():
    # 3 images of distinct constant values: the partner of image 0 is 1 or 2, each about half.
    src = ImageSet(x=np.array([0, 100, 200], np.uint8).reshape(3, 1, 1, 1), y=None, name="c")
    counts = {1: 0, 2: 0}
    for seed in range(200):
        got = int(make_validation_set("arithmetic-mean", src, seed=seed).x[0, 0, 0, 0])
        counts[{50: 1, 100: 2}[got]] += 1
    assert 70 < counts[1] < 130


def test_speckle_statistics():
    # Dark pixels v = 10/255: output 255 * clip(v + v z, 0, 1) = max(0, 10 (1 + z)) (never >= 1),
    # so the mean is 10 E[max(0, 1 + z)] = 10 (Phi(1) + phi(1)) and a pixel is 0 when
    # rint(10 (1 + z)) = 0, i.e. z < -0.95.
    src = ImageSet(x=np.full((100, 32, 32, 3), 10, np.uint8), y=None, name="dark")
    out = make_validation_set("speckle", src, seed=5).x.astype(np.float64)
    assert out.shape == src.x.shape
    assert out.mean() == pytest.approx(10 * (norm.cdf(1) + norm.pdf(1)), abs=0.1)
    assert (out == 0).mean() == pytest.approx(norm.cdf(-0.95), abs=0.01)
    black = ImageSet(x=np.zeros((5, 4, 4, 3), np.uint8), y=None, name="black")
    assert not make_validation_set("speckle", black).x.any()  # v + v z = 0


def test_mirrored_digits():
    x = np.random.default_rng(2).integers(0, 256, size=(6, 5, 5, 1), dtype=np.uint8)
    y = np.array([0, 1, 2, 3, 8, 6])
    out = make_validation_set("mirrored-digits", ImageSet(x=x, y=y, name="d")).x
    # Upside down: labels 2 and 6 (not 0, 1, 3, 8); mirrored: 2, 3 and 6 (not 0, 1, 8).
    expected = [x[2][::-1], x[5][::-1], x[2][:, ::-1], x[3][:, ::-1], x[5][:, ::-1]]
    np.testing.assert_array_equal(out, np.stack(expected))
    with pytest.raises(UserInputError, match="labelled 0..9"):
        make_validation_set("mirrored-digits", ImageSet(x=x, y=None, name="u"))
    with pytest.raises(UserInputError, match="labelled 0..9"):
        make_validation_set("mirrored-digits", ImageSet(x=x, y=y + 5, name="c"))


def test_uniform_in_the_model_input_range():
    a = make_validation_set("uniform", None, 4000, seed=1, shape=(8, 8, 3))
    assert a.normalised and a.x.dtype == np.float32 and a.x.shape == (4000, 8, 8, 3)
    assert -1 <= a.x.min() and a.x.max() < 1 and abs(a.x.mean()) < 0.01
    b = make_validation_set("uniform", None, 4000, seed=1, shape=(8, 8, 3), noise_range=(0.0, 1.0))
    assert 0 <= b.x.min() and b.x.max() < 1 and abs(b.x.mean() - 0.5) < 0.01
    assert a.name == b.name == "val:uniform"


@pytest.mark.parametrize("kind", [k for k in KINDS if k not in ("uniform", "mirrored-digits")])
def test_every_kind_shapes_types_and_seeds(kind):
    src = rgb_set(n=10, size=16)
    one = make_validation_set(kind, src, seed=7)
    assert one.name == f"val:{kind}" and not one.normalised and one.y is None
    assert one.x.shape == src.x.shape and one.x.dtype == np.uint8
    np.testing.assert_array_equal(one.x, make_validation_set(kind, src, seed=7).x)
    few = make_validation_set(kind, src, n=4, seed=7)
    assert few.x.shape == (4, 16, 16, 3)
    if kind in ("arithmetic-mean", "geometric-mean", "speckle"):
        assert not np.array_equal(one.x, make_validation_set(kind, src, seed=8).x)
    with pytest.raises(UserInputError, match="11 images"):
        make_validation_set(kind, src, n=11)


def test_bad_sources():
    grey = ImageSet(x=np.zeros((3, 4, 4, 1), np.uint8), y=None, name="grey")
    for kind in ("rgb-shift", "invert"):
        with pytest.raises(UserInputError, match="RGB"):
            make_validation_set(kind, grey)
    noise = ImageSet(x=np.zeros((3, 4, 4, 3), np.float32), y=None, name="noise", normalised=True)
    with pytest.raises(UserInputError, match="synthetic"):
        make_validation_set("jigsaw", noise)
    with pytest.raises(UserInputError, match="even"):
        make_validation_set("jigsaw", ImageSet(x=np.zeros((2, 5, 5, 3), np.uint8), y=None, name="odd"))


def test_load_images_uses_the_test_set_or_a_named_source():
    test = ImageSet(x=rgb_set(n=5, size=32).x, y=np.arange(5), name="test")
    got = load_images("val:jigsaw", (32, 32, 3), test_set=test)
    np.testing.assert_array_equal(got.x, jigsaw(test.x))
    with pytest.raises(UserInputError, match="oe eval"):
        load_images("val:jigsaw", (32, 32, 3))
    digits = load_images("val:jigsaw:digits:test", (16, 16, 1))
    source = load_images("digits:test", (16, 16, 1))
    np.testing.assert_array_equal(digits.x, jigsaw(source.x))
    assert load_images("val:uniform", (16, 16, 1), n=30).x.shape == (30, 16, 16, 1)


def test_oe_eval_reports_validation_sets_apart(tmp_path, digits_npz, capsys):
    run = tmp_path / "base"
    assert main(["train", "--preset", "quickstart", "--train", f"npz:{digits_npz}:x_train,y_train",
                 "--test", f"npz:{digits_npz}:x_test,y_test", "--out", str(run), "--epochs", "1",
                 "--quiet"]) == 0
    capsys.readouterr()
    assert main(["eval", str(run), "--ood", "noise:gaussian", "val:jigsaw", "val:mirrored-digits",
                 "--draws", "2"]) == 0
    out = capsys.readouterr().out
    results = json.loads((run / "results.json").read_text())
    assert set(results["ood"]) == {"gaussian"}
    assert set(results["validation"]) == {"val:jigsaw", "val:mirrored-digits"}
    assert results["mean"]["fpr"] == pytest.approx(results["ood"]["gaussian"]["fpr"])
    v = results["validation"]
    assert results["validation_mean"]["auroc"] == pytest.approx(
        np.mean([v["val:jigsaw"]["auroc"], v["val:mirrored-digits"]["auroc"]]))
    assert v["val:jigsaw"]["n_per_draw"] == 200 // 5 and v["val:jigsaw"]["spec"] == "val:jigsaw"
    # Printed below the headline mean, as its own block.
    assert out.index("Mean") < out.index("Validation sets") < out.index("val:jigsaw")
    csv_rows = (run / "results.csv").read_text().splitlines()
    names = [row.split(",")[0] for row in csv_rows[1:]]
    assert names == ["gaussian", "mean", "val:jigsaw", "val:mirrored-digits", "validation_mean"]

    # Validation sets alone: no headline mean at all (rather than a mean of nothing).
    assert main(["eval", str(run), "--ood", "val:jigsaw", "--draws", "2"]) == 0
    only = json.loads((run / "results.json").read_text())
    assert only["ood"] == {} and only["mean"] is None and set(only["validation"]) == {"val:jigsaw"}
    assert "Mean (validation)" in capsys.readouterr().out
