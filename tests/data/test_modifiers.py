"""Spec modifiers: @jpegQ and @firstN."""

import io

import numpy as np
import pytest
from PIL import Image

from outlier_exposure.data.datasets import load_images
from outlier_exposure.data.modifiers import split_modifiers
from outlier_exposure.errors import UserInputError


def test_split_modifiers_from_the_right_only_when_they_match():
    assert split_modifiers("dtd10@jpeg75@first10") == ("dtd10", ["jpeg75", "first10"])
    assert split_modifiers("npz:/a@b/x.npz") == ("npz:/a@b/x.npz", [])
    assert split_modifiers("npz:/a/x.npz@jpegs") == ("npz:/a/x.npz@jpegs", [])


@pytest.fixture
def photos_npz(tmp_path):
    rng = np.random.default_rng(0)
    # smooth images (JPEG is near-lossless on them) plus one noisy image (it is not)
    ramp = np.linspace(0, 255, 16, dtype=np.float32)
    smooth = np.stack([np.stack([ramp[None, :].repeat(16, 0)] * 3, -1)] * 3).astype(np.uint8)
    noisy = rng.integers(0, 256, (1, 16, 16, 3), dtype=np.uint8)
    path = tmp_path / "p.npz"
    np.savez(path, x=np.concatenate([smooth, noisy]), y=np.array([0, 1, 2, 3]))
    return path


def test_jpeg_round_trip_equals_pil_encode_decode(photos_npz):
    got = load_images(f"npz:{photos_npz}@jpeg75", (16, 16, 3)).x
    original = np.load(photos_npz)["x"]
    for i in range(len(original)):
        buffer = io.BytesIO()
        Image.fromarray(original[i]).save(buffer, format="JPEG", quality=75)
        np.testing.assert_array_equal(got[i], np.asarray(Image.open(io.BytesIO(buffer.getvalue()))))
    assert not np.array_equal(got[3], original[3])  # noise does not survive JPEG
    assert np.abs(got[0].astype(int) - original[0]).mean() < 3  # a smooth ramp nearly does


def test_first_n_keeps_images_and_labels(photos_npz):
    images = load_images(f"npz:{photos_npz}@first2", (16, 16, 3))
    assert len(images) == 2 and images.y.tolist() == [0, 1]


def test_bad_modifiers(photos_npz):
    with pytest.raises(UserInputError, match="quality"):
        load_images(f"npz:{photos_npz}@jpeg0", (16, 16, 3))
    with pytest.raises(UserInputError, match="normalised"):
        load_images("noise:gaussian:10@jpeg75", (16, 16, 3))


def test_random_n_is_a_fixed_subset_in_the_set_order(tmp_path):
    path = tmp_path / "sorted.npz"
    y = np.repeat(np.arange(5), 20)  # sorted by class, as the offline CIFAR-10 subset is
    np.savez(path, x=np.zeros((100, 8, 8, 1), np.uint8) + y[:, None, None, None].astype(np.uint8),
             y=y)
    a = load_images(f"npz:{path}@random30", (8, 8, 1))
    b = load_images(f"npz:{path}@random30", (8, 8, 1), seed=7)
    assert len(a) == 30 and a.y.tolist() == b.y.tolist()  # the run's seed does not move it
    assert a.y.tolist() == sorted(a.y.tolist()) and len(set(a.y.tolist())) == 5
    assert (a.x[:, 0, 0, 0] == a.y).all()  # images and labels stay paired
    with pytest.raises(UserInputError, match="more than"):
        load_images(f"npz:{path}@random101", (8, 8, 1))
