"""The reference's per-dataset OOD sets: Blobs blurred by image size, Negative MNIST, and the
paper presets' OOD lists (CIFAR/test.py, SVHN/test.py, TinyImageNet/test.py, MNIST/test.py)."""

import numpy as np
import pytest

from outlier_exposure.data.datasets import load_images
from outlier_exposure.data.modifiers import split_modifiers
from outlier_exposure.data.noise import blobs_sigma, make_noise
from outlier_exposure.errors import UserInputError
from outlier_exposure.training.presets import PRESETS


def _reference_blobs(bits: np.ndarray, sigma: float) -> np.ndarray:
    """TinyImageNet/test.py's Blobs, re-derived: skimage's gaussian on each (H, W, 3) image
    as one 3-D volume (multichannel=False, today channel_axis=None), threshold 0.75, x*2-1."""
    from skimage.filters import gaussian

    out = []
    for image in bits.astype(np.float32):
        blurred = gaussian(image, sigma=sigma, channel_axis=None)
        blurred[blurred < 0.75] = 0.0
        out.append(blurred * 2 - 1)
    return np.stack(out)


def test_blobs_at_64x64_blur_with_sigma_2_as_tiny_imagenet():
    # make_noise draws its bits as default_rng(seed).random(shape, float32) < 0.7
    bits = np.random.default_rng(4).random((3, 64, 64, 3), dtype=np.float32) < 0.7
    got = make_noise("blobs", 3, shape=(64, 64, 3), seed=4).x
    np.testing.assert_array_equal(got, _reference_blobs(bits, 2.0))
    # and not the 32x32 sets' 1.5: the blur width changes the images
    assert not np.array_equal(got, _reference_blobs(bits, 1.5))


def test_blobs_at_32x32_keep_sigma_1_5():
    bits = np.random.default_rng(2).random((2, 32, 32, 3), dtype=np.float32) < 0.7
    np.testing.assert_array_equal(make_noise("blobs", 2, seed=2).x, _reference_blobs(bits, 1.5))
    assert (blobs_sigma(32, 32), blobs_sigma(64, 64), blobs_sigma(16, 16)) == (1.5, 2.0, 1.5)


# ---------------------------------------------------------------------------------------------
# Negative MNIST: MNIST/test.py reads the test digits with ToTensor() then `1 - img`


def test_negative_modifier_is_255_minus_pixels_on_a_hand_made_image(tmp_path):
    x = np.array([[[[0], [255]], [[17], [128]]]], dtype=np.uint8)  # one 2x2 grey image
    np.savez(tmp_path / "d.npz", x=x, y=np.array([3]))
    got = load_images(f"npz:{tmp_path / 'd.npz'}@negative", (2, 2, 1))
    np.testing.assert_array_equal(got.x, [[[[255], [0]], [[238], [127]]]])
    # in the model's [0, 1] inputs that is 1 - x/255, the reference's `1 - img` after ToTensor
    np.testing.assert_allclose(got.x / 255.0, 1 - x / 255.0)
    assert got.name.endswith("-negative") and list(got.y) == [3]
    assert split_modifiers("mnist:test@negative") == ("mnist:test", ["negative"])


def test_negative_refuses_synthetic_noise():
    with pytest.raises(UserInputError, match="@negative"):
        load_images("noise:gaussian:4@negative", (8, 8, 1))


# ---------------------------------------------------------------------------------------------
# The presets' OOD lists, in the reference's order


def test_tiny_imagenet_preset_has_the_reference_eight_sets():
    assert list(PRESETS["tinyimagenet-wrn"].config["ood"]) == [
        "noise:gaussian", "noise:rademacher", "noise:blobs", "textures", "svhn:test",
        "places365", "lsun", "imagenet-800-heldout"]


def test_mnist_preset_has_negative_mnist_and_no_blobs():
    assert list(PRESETS["mnist-convnet"].config["ood"]) == [
        "noise:gaussian", "noise:rademacher", "cifar10:test", "icons50", "fashion-mnist:test",
        "mnist:test@negative", "notmnist", "omniglot"]
