"""Readers, noise and spec strings, on small files fabricated in the exact on-disk formats."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from outlier_exposure.data.imageset import ImageSet
from outlier_exposure.data.noise import blobs_from_bits, make_noise
from outlier_exposure.data.resize import resize_images
from outlier_exposure.data.sources import load_folder, load_npy, load_npz
from outlier_exposure.data.spec import fit_to_shape, load_spec, parse_spec
from outlier_exposure.errors import UserInputError

RNG = np.random.default_rng(0)


def pixels(*shape: int) -> np.ndarray:
    return RNG.integers(0, 256, size=shape, dtype=np.uint8)


# ---------------------------------------------------------------------------------------------
# .npz


def test_npz_default_keys(tmp_path):
    x, y = pixels(6, 8, 8, 3), np.array([0, 1, 2, 0, 1, 2])
    np.savez(tmp_path / "set.npz", x=x, y=y)
    images = load_npz(tmp_path / "set.npz")
    assert isinstance(images, ImageSet)
    np.testing.assert_array_equal(images.x, x)
    np.testing.assert_array_equal(images.y, y)
    assert images.y.dtype == np.int64
    assert (len(images), images.shape, images.num_classes, images.name) == (6, (8, 8, 3), 3, "set")
    assert not images.normalised


def test_npz_named_keys_and_classes(tmp_path):
    x_train, y_train = pixels(4, 8, 8, 3), np.array([1, 0, 1, 0], dtype=np.uint8)
    x_test = pixels(3, 8, 8, 3)
    np.savez_compressed(
        tmp_path / "c.npz", x_train=x_train, y_train=y_train, x_test=x_test, classes=np.array(["a", "b"])
    )
    images = load_npz(tmp_path / "c.npz", "x_train", "y_train")
    np.testing.assert_array_equal(images.x, x_train)
    np.testing.assert_array_equal(images.y, y_train)
    assert images.classes == ["a", "b"]
    # Naming only the image key means an unlabelled set.
    assert load_npz(tmp_path / "c.npz", "x_test").y is None
    # The same through a spec string.
    via_spec = load_spec(f"npz:{tmp_path / 'c.npz'}:x_train,y_train", shape=(8, 8, 3))
    np.testing.assert_array_equal(via_spec.y, y_train)


def test_npz_single_image_array_grey_and_float(tmp_path):
    grey = pixels(5, 8, 8)
    np.savez(tmp_path / "g.npz", images=grey, names=np.array(["n"] * 5))
    images = load_npz(tmp_path / "g.npz")
    assert images.x.shape == (5, 8, 8, 1) and images.y is None
    np.testing.assert_array_equal(images.x[..., 0], grey)
    # Floats in [0, 1] become round(x * 255).
    np.savez(tmp_path / "f.npz", x=np.array([0.0, 0.5, 1.0, 0.2], dtype=np.float32).reshape(1, 2, 2, 1))
    np.testing.assert_array_equal(load_npz(tmp_path / "f.npz").x.ravel(), [0, 128, 255, 51])


# ---------------------------------------------------------------------------------------------
# .npy


def test_npy_memmap_with_labels(tmp_path):
    x, y = pixels(7, 8, 8, 3), np.arange(7) % 2
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    images = load_npy(tmp_path / "x.npy", tmp_path / "y.npy")
    assert isinstance(images.x, np.memmap)  # never read whole
    np.testing.assert_array_equal(images.x, x)
    np.testing.assert_array_equal(images.y, y)
    grey = pixels(3, 8, 8)
    np.save(tmp_path / "grey.npy", grey)
    spec_set = load_spec(f"npy:{tmp_path / 'grey.npy'}", shape=(8, 8, 1))
    assert isinstance(spec_set.x, np.memmap) and spec_set.shape == (8, 8, 1) and spec_set.y is None
    np.testing.assert_array_equal(spec_set.x[..., 0], grey)


# ---------------------------------------------------------------------------------------------
# Image folders


def write_image(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def test_folder_with_class_subfolders(tmp_path):
    a0, a1, b0 = pixels(8, 8, 3), pixels(8, 8, 3), pixels(8, 8, 3)
    write_image(tmp_path / "cats" / "b.png", a1)
    write_image(tmp_path / "cats" / "a.PNG", a0)
    write_image(tmp_path / "ants" / "z.jpg", b0)
    (tmp_path / "ants" / "notes.txt").write_text("not an image")
    images = load_folder(tmp_path)
    assert images.classes == ["ants", "cats"]
    np.testing.assert_array_equal(images.y, [0, 1, 1])
    with Image.open(tmp_path / "ants" / "z.jpg") as jpeg:  # JPEG is lossy: compare with its decode
        np.testing.assert_array_equal(images.x[0], np.asarray(jpeg.convert("RGB")))
    np.testing.assert_array_equal(images.x[1], a0)
    np.testing.assert_array_equal(images.x[2], a1)


def test_flat_folder_sizes_and_grey(tmp_path):
    first, second = pixels(8, 8, 3), pixels(8, 8, 3)
    write_image(tmp_path / "2.png", second)
    write_image(tmp_path / "1.bmp", first)
    images = load_folder(tmp_path)
    assert images.y is None and images.classes is None
    np.testing.assert_array_equal(images.x, np.stack([first, second]))
    grey = load_folder(tmp_path, grey=True)
    assert grey.shape == (8, 8, 1)
    # A larger, non-square image needs a size; with one, it is resized and centre-cropped.
    write_image(tmp_path / "3.png", pixels(16, 24, 3))
    with pytest.raises(UserInputError, match="3.png"):
        load_folder(tmp_path)
    assert load_spec(f"folder:{tmp_path}:4", shape=(4, 4, 3)).shape == (4, 4, 3)
    assert load_folder(tmp_path, size=(4, 6)).x.shape == (3, 4, 6, 3)


# ---------------------------------------------------------------------------------------------
# Noise


def test_noise_shapes_values_and_seeds():
    for kind in ("gaussian", "rademacher", "blobs", "uniform"):
        images = make_noise(kind, 20, shape=(8, 8, 3), seed=3)
        assert images.x.shape == (20, 8, 8, 3) and images.x.dtype == np.float32
        assert images.normalised and images.y is None and images.name == kind
        np.testing.assert_array_equal(images.x, make_noise(kind, 20, shape=(8, 8, 3), seed=3).x)
        assert not np.array_equal(images.x, make_noise(kind, 20, shape=(8, 8, 3), seed=4).x)
        assert images.x.min() >= -1 and images.x.max() <= 1
    assert set(np.unique(make_noise("rademacher", 50, seed=1).x)) == {-1.0, 1.0}
    gaussian = make_noise("gaussian", 200, seed=1).x
    # Clipping at +-1 (two sigma) barely moves the spread: std of clipped N(0, 0.25) is ~0.47.
    assert 0.44 < gaussian.std() < 0.5 and abs(gaussian.mean()) < 0.01
    blobs = make_noise("blobs", 50, seed=1).x
    assert np.all((blobs == -1) | (blobs >= 0.5)) and (blobs > 0).any() and (blobs == -1).any()
    assert load_spec("noise:uniform:7", shape=(8, 8, 1)).x.shape == (7, 8, 8, 1)
    assert len(load_spec("noise:gaussian", n=5)) == 5


def test_blobs_equal_per_image_skimage():
    from skimage.filters import gaussian

    bits = np.random.default_rng(5).random((4, 32, 32, 3)) < 0.7
    expected = []
    for image in bits.astype(np.float32):  # the reference: one 3-D blur per image
        blurred = gaussian(image, sigma=1.5, channel_axis=None)
        blurred[blurred < 0.75] = 0.0
        expected.append(blurred * 2 - 1)
    np.testing.assert_array_equal(blobs_from_bits(bits), np.stack(expected))
    # make_noise draws its bits as rng.random(shape, float32) < 0.7 from default_rng(seed).
    bits = np.random.default_rng(9).random((3, 32, 32, 3), dtype=np.float32) < 0.7
    np.testing.assert_array_equal(make_noise("blobs", 3, seed=9).x, blobs_from_bits(bits))


# ---------------------------------------------------------------------------------------------
# Specs, shapes and built-in sets


def test_parse_spec_forms():
    assert parse_spec("npz:data/c.npz:x_test,y_test").options == {"x_key": "x_test", "y_key": "y_test"}
    assert parse_spec("npz:data/c.npz").target == "data/c.npz"
    assert parse_spec("npz:/d/a:b.npz").target == "/d/a:b.npz"  # ':' in a path, no option form
    assert parse_spec("npy:a.npy:b.npy").options == {"labels": "b.npy"}
    assert parse_spec("folder:/d/run:1/imgs").target == "/d/run:1/imgs"
    assert parse_spec("folder:imgs:32x16").options == {"size": (32, 16)}
    assert parse_spec("noise:blobs:100").options == {"n": 100}
    spec = parse_spec("cifar10:test")
    assert (spec.kind, spec.target, spec.options) == ("builtin", "cifar10", {"split": "test"})


def test_builtin_registry_and_channels():
    calls = []

    def fake(split, shape, seed):
        calls.append((split, shape, seed))
        return ImageSet(x=pixels(2, 8, 8, 3), y=np.array([0, 1]), name="fake")

    grey = load_spec("fake:test", shape=(8, 8, 1), seed=7, builtin={"fake": fake})
    assert calls == [("test", (8, 8, 1), 7)] and grey.shape == (8, 8, 1)
    load_spec("fake", shape=(8, 8, 3), builtin={"fake": fake})
    assert calls[-1][0] is None
    with pytest.raises(UserInputError, match="'nosuch'.*fake"):
        load_spec("nosuch:test", builtin={"fake": fake})
    with pytest.raises(UserInputError, match="'fake'.*8x8.*32x32"):
        load_spec("fake", builtin={"fake": fake})


def test_channel_conversion_and_resize():
    rgb = ImageSet(x=np.array([[[[10, 200, 30]]]], dtype=np.uint8), y=None, name="px")
    as_grey = fit_to_shape(rgb, (1, 1, 1))
    expected = np.asarray(Image.fromarray(rgb.x[0]).convert("L"))  # PIL uses the same ITU-R 601 luma
    assert abs(int(as_grey.x[0, 0, 0, 0]) - int(expected[0, 0])) <= 1
    back = fit_to_shape(as_grey, (1, 1, 3))
    assert back.x.shape == (1, 1, 1, 3) and len(set(back.x.ravel())) == 1
    x = pixels(2, 16, 16, 3)
    assert resize_images(x, 8).shape == (2, 8, 8, 3)
    assert resize_images(x[..., :1], (4, 4)).shape == (2, 4, 4, 1)
    np.testing.assert_array_equal(resize_images(x, 16), x)


# ---------------------------------------------------------------------------------------------
# Bad input: each raises UserInputError naming what is wrong


def test_missing_files(tmp_path):
    for call, name in [
        (lambda: load_npz(tmp_path / "nope.npz"), "nope.npz"),
        (lambda: load_npy(tmp_path / "nope.npy"), "nope.npy"),
        (lambda: load_folder(tmp_path / "nodir"), "nodir"),
        (lambda: load_spec(f"npz:{tmp_path}/gone.npz"), "gone.npz"),
    ]:
        with pytest.raises(UserInputError, match=name):
            call()


def test_corrupt_and_truncated_files(tmp_path):
    (tmp_path / "junk.npz").write_bytes(np.random.default_rng(1).bytes(500))
    with pytest.raises(UserInputError, match="junk.npz is not a valid .npz"):
        load_npz(tmp_path / "junk.npz")
    np.savez(tmp_path / "real.npz", x=pixels(20, 8, 8, 3))
    data = (tmp_path / "real.npz").read_bytes()
    (tmp_path / "half.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(UserInputError, match="half.npz is not a valid .npz"):
        load_npz(tmp_path / "half.npz")
    np.save(tmp_path / "real.npy", pixels(20, 8, 8, 3))
    data = (tmp_path / "real.npy").read_bytes()
    (tmp_path / "half.npy").write_bytes(data[: len(data) // 2])
    with pytest.raises(UserInputError, match="half.npy is not a valid .npy"):
        load_npy(tmp_path / "half.npy")


def test_bad_arrays(tmp_path):
    cases = {
        "rgba.npz": dict(x=pixels(2, 4, 4, 4)),
        "flat.npz": dict(x=pixels(2, 48), y=np.array([0, 1])),
        "negative.npz": dict(x=pixels(2, 4, 4, 3), y=np.array([0, -1])),
        "short.npz": dict(x=pixels(2, 4, 4, 3), y=np.array([0])),
        "floaty.npz": dict(x=pixels(2, 4, 4, 3), y=np.array([0.0, 1.0])),
        "scaled.npz": dict(x=np.full((2, 4, 4, 3), 200.0)),
        "two.npz": dict(a=pixels(2, 4, 4, 3), b=pixels(2, 4, 4, 3)),
    }
    for file, arrays in cases.items():
        np.savez(tmp_path / file, **arrays)
        with pytest.raises(UserInputError, match=file) as err:
            load_npz(tmp_path / file)
        assert "not a valid" not in str(err.value)  # well-formed files: the message says what is off
    with pytest.raises(UserInputError, match="cannot tell which array.*a \\(2, 4, 4, 3\\)"):
        load_npz(tmp_path / "two.npz")
    with pytest.raises(UserInputError, match=r"'y_test'.*available keys: x, y"):
        np.savez(tmp_path / "k.npz", x=pixels(2, 4, 4, 3), y=np.array([0, 1]))
        load_npz(tmp_path / "k.npz", "x", "y_test")
    np.save(tmp_path / "f.npy", np.zeros((2, 4, 4, 3), dtype=np.float32))
    with pytest.raises(UserInputError, match="f.npy.*uint8"):
        load_npy(tmp_path / "f.npy")


@pytest.mark.parametrize(
    "spec",
    ["", "npz:", "folder:imgs:", "data/x.npz", "/some/folder", "noise:blobs:many", "noise:blobs:1:2",
     "cifar10:test:extra", "what is this", "folder:imgs:0x32"],
)
def test_malformed_specs(spec):
    with pytest.raises(UserInputError, match="Accepted forms") as err:
        parse_spec(spec)
    assert repr(spec.strip()) in str(err.value)


def test_unknown_noise_kind():
    with pytest.raises(UserInputError, match="'pink'.*gaussian, rademacher, blobs, uniform"):
        make_noise("pink", 10)
    with pytest.raises(UserInputError, match="'pink'.*noise:pink"):
        parse_spec("noise:pink:10")


def test_bad_folders(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserInputError, match="empty holds no images"):
        load_folder(tmp_path / "empty")
    write_image(tmp_path / "imgs" / "good.png", pixels(4, 4, 3))
    (tmp_path / "imgs" / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    with pytest.raises(UserInputError, match="broken.jpg"):
        load_folder(tmp_path / "imgs")
    write_image(tmp_path / "mixed" / "loose.png", pixels(4, 4, 3))
    write_image(tmp_path / "mixed" / "cls" / "a.png", pixels(4, 4, 3))
    with pytest.raises(UserInputError, match="loose.png"):
        load_folder(tmp_path / "mixed")


def test_noise_in_the_zero_one_range_matches_the_reference_svhn_sets():
    # The reference's SVHN/MNIST sets: clip(N(0.5, 0.5^2), 0, 1), Bernoulli {0, 1}, blobs in
    # {0} u [0.75, 1], U(0, 1).
    from outlier_exposure.data.noise import make_noise

    g = make_noise("gaussian", 4000, (8, 8, 1), seed=3, value_range=(0.0, 1.0)).x
    assert g.min() == 0.0 and g.max() == 1.0
    inside = g[(g > 0) & (g < 1)]
    assert abs(np.median(g) - 0.5) < 0.01 and abs(inside.std() - 0.29) < 0.03
    r = make_noise("rademacher", 100, (8, 8, 1), value_range=(0.0, 1.0)).x
    assert set(np.unique(r)) == {0.0, 1.0}
    b01 = make_noise("blobs", 50, (8, 8, 3), seed=2, value_range=(0.0, 1.0)).x
    b11 = make_noise("blobs", 50, (8, 8, 3), seed=2).x
    np.testing.assert_allclose(b01, (b11 + 1) / 2, atol=1e-6)
    u = make_noise("uniform", 1000, (4, 4, 1), value_range=(0.0, 1.0)).x
    assert 0.0 <= u.min() and u.max() < 1.0 and abs(u.mean() - 0.5) < 0.01
