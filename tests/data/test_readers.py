"""The on-disk format readers, on small files fabricated in each exact format (datasets_on_disk),
including corrupt and truncated files, which must fail with an error naming the file."""

from __future__ import annotations

import gzip
import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torchvision.transforms as T
from PIL import Image

from tests.helpers.datasets_on_disk import (
    idx_bytes,
    pixels,
    write_cifar10,
    write_cifar100,
    write_idx,
    write_image,
    write_svhn,
)
from outlier_exposure.data import resize
from outlier_exposure.data.formats import archives
from outlier_exposure.errors import UserInputError


# ---------------------------------------------------------------------------------------------
# CIFAR pickles


def test_cifar10_batches_and_names(tmp_path):
    made = write_cifar10(tmp_path)
    base = tmp_path / "cifar-10-batches-py"
    x, y = archives.read_cifar_batches(base, [f"data_batch_{i}" for i in range(1, 6)], "labels")
    np.testing.assert_array_equal(x, made["train"][0])
    np.testing.assert_array_equal(y, made["train"][1])
    assert x.dtype == np.uint8 and x.shape == (20, 32, 32, 3) and y.dtype == np.int64
    assert archives.read_cifar_names(base / "batches.meta", "label_names") == made["classes"]


def test_cifar_pixel_layout_against_a_hand_made_row(tmp_path):
    # One image whose row is built by hand: byte c*1024 + h*32 + w holds pixel (h, w, c).
    row = (np.arange(3072) % 251).astype(np.uint8)
    with open(tmp_path / "b", "wb") as f:
        pickle.dump({"data": row[None], "labels": [3]}, f, protocol=2)
    x, y = archives.read_cifar_batches(tmp_path, ["b"], "labels")
    for h, w, c in [(0, 0, 0), (0, 5, 1), (7, 3, 2), (31, 31, 2), (12, 30, 0)]:
        assert x[0, h, w, c] == row[c * 1024 + h * 32 + w]
    assert y.tolist() == [3]


def test_cifar100_fine_labels(tmp_path):
    made = write_cifar100(tmp_path)
    base = tmp_path / "cifar-100-python"
    x, y = archives.read_cifar_batches(base, ["test"], "fine_labels")
    np.testing.assert_array_equal(x, made["test"][0])
    np.testing.assert_array_equal(y, made["test"][1])
    assert archives.read_cifar_names(base / "meta", "fine_label_names") == made["classes"]
    with pytest.raises(UserInputError, match=r"cifar-100-python/test is not a CIFAR batch.*'labels'"):
        archives.read_cifar_batches(base, ["test"], "labels")  # a CIFAR-10 reader on CIFAR-100


def test_cifar_truncated_and_corrupt(tmp_path):
    write_cifar10(tmp_path)
    base = tmp_path / "cifar-10-batches-py"
    data = (base / "test_batch").read_bytes()
    (base / "test_batch").write_bytes(data[: len(data) // 2])
    with pytest.raises(UserInputError, match=r"cannot read .*test_batch: pickle data was truncated"):
        archives.read_cifar_batches(base, ["test_batch"], "labels")
    (base / "test_batch").write_bytes(b"not a pickle at all")
    with pytest.raises(UserInputError, match="test_batch"):
        archives.read_cifar_batches(base, ["test_batch"], "labels")
    with open(base / "test_batch", "wb") as f:  # right format, wrong row length
        pickle.dump({"data": np.zeros((2, 100), np.uint8), "labels": [0, 1]}, f, protocol=2)
    with pytest.raises(UserInputError, match=r"test_batch: expected 'data' of shape \(N, 3072\)"):
        archives.read_cifar_batches(base, ["test_batch"], "labels")


class _Payload:
    def __reduce__(self):  # what a malicious pickle would do: call a function on load
        return (os.mkdir, (str(self.target),))


def test_data_pickles_cannot_run_code(tmp_path):
    payload = _Payload()
    payload.target = tmp_path / "pwned"
    with open(tmp_path / "evil", "wb") as f:
        pickle.dump({"data": payload, "labels": []}, f, protocol=2)
    with pytest.raises(UserInputError, match=r"evil: it refers to posix.mkdir, which a data file never needs"):
        archives.load_data_pickle(tmp_path / "evil")
    assert not payload.target.exists()


# ---------------------------------------------------------------------------------------------
# SVHN .mat


def test_svhn_mat_layout_and_label_10_is_0(tmp_path):
    x, y = write_svhn(tmp_path / "test_32x32.mat", 6, digits=[0, 1, 9, 0, 5, 3])
    got_x, got_y = archives.read_svhn_mat(tmp_path / "test_32x32.mat")
    np.testing.assert_array_equal(got_x, x)  # image i is X[:, :, :, i]
    assert got_y.tolist() == [0, 1, 9, 0, 5, 3] and got_y.dtype == np.int64
    from scipy.io import loadmat

    assert sorted(loadmat(tmp_path / "test_32x32.mat")["y"].ravel().tolist()) == [1, 3, 5, 9, 10, 10]


def test_svhn_corrupt_and_wrong_files(tmp_path):
    write_svhn(tmp_path / "a.mat", 4)
    data = (tmp_path / "a.mat").read_bytes()
    (tmp_path / "a.mat").write_bytes(data[: len(data) - 2000])
    with pytest.raises(UserInputError, match=r"cannot read .*a\.mat.*corrupt or truncated"):
        archives.read_svhn_mat(tmp_path / "a.mat")
    from scipy.io import savemat

    savemat(tmp_path / "b.mat", {"images": np.zeros((2, 2))})
    with pytest.raises(UserInputError, match=r"b\.mat has no X and y"):
        archives.read_svhn_mat(tmp_path / "b.mat")
    savemat(tmp_path / "c.mat", {"X": np.zeros((32, 32, 3, 2), np.uint8), "y": np.array([[0], [11]])})
    with pytest.raises(UserInputError, match=r"c\.mat: labels must be 1\.\.10"):
        archives.read_svhn_mat(tmp_path / "c.mat")


# ---------------------------------------------------------------------------------------------
# IDX (MNIST)


@pytest.mark.parametrize("name", ["t10k-images-idx3-ubyte", "t10k-images-idx3-ubyte.gz"])
def test_idx_raw_and_gzip(tmp_path, name):
    x = pixels(5, 28, 28)
    write_idx(tmp_path / name, x)
    np.testing.assert_array_equal(archives.read_idx(tmp_path / name), x)
    labels = np.array([7, 2, 1, 0, 4], np.uint8)
    write_idx(tmp_path / "labels", labels)
    assert archives.read_idx(tmp_path / "labels").tolist() == [7, 2, 1, 0, 4]


def test_idx_header_is_big_endian(tmp_path):
    raw = idx_bytes(pixels(3, 2, 4))
    assert raw[:4] == b"\x00\x00\x08\x03" and raw[4:16] == b"\x00\x00\x00\x03\x00\x00\x00\x02\x00\x00\x00\x04"


def test_idx_truncated_wrong_magic_and_broken_gzip(tmp_path):
    raw = idx_bytes(pixels(5, 28, 28))
    (tmp_path / "cut").write_bytes(raw[:-10])
    with pytest.raises(UserInputError, match=r"cut is truncated or padded.*\(5, 28, 28\) = 3920 bytes.*3910"):
        archives.read_idx(tmp_path / "cut")
    (tmp_path / "head").write_bytes(raw[:10])
    with pytest.raises(UserInputError, match="head is truncated: the header needs 16 bytes"):
        archives.read_idx(tmp_path / "head")
    (tmp_path / "int").write_bytes(b"\x00\x00\x0c\x01" + raw[4:])
    with pytest.raises(UserInputError, match=r"int is not an IDX file of uint8 data \(its first bytes are 00000c01"):
        archives.read_idx(tmp_path / "int")
    (tmp_path / "x.gz").write_bytes(gzip.compress(raw)[:-30])
    with pytest.raises(UserInputError, match=r"cannot read .*x\.gz.*corrupt or truncated"):
        archives.read_idx(tmp_path / "x.gz")


# ---------------------------------------------------------------------------------------------
# Image files


def test_crop_rule_is_torchvision_resize_then_center_crop(tmp_path):
    write_image(tmp_path / "wide.png", (61, 40))
    write_image(tmp_path / "tall.jpg", (33, 70))
    files = [tmp_path / "wide.png", tmp_path / "tall.jpg"]
    x, kept = archives.decode_files(files, (32, 32), "crop", source="t")
    reference = T.Compose([T.Resize(32), T.CenterCrop(32)])
    for i, f in enumerate(files):
        with Image.open(f) as im:
            np.testing.assert_array_equal(x[i], np.asarray(reference(im.convert("RGB"))))
    assert kept.tolist() == [0, 1] and x.shape == (2, 32, 32, 3)


def test_squash_rule_and_identity(tmp_path):
    native = write_image(tmp_path / "a.png", (32, 32))
    write_image(tmp_path / "b.png", (50, 20), mode="RGBA")  # icons are RGBA PNGs
    x, _ = archives.decode_files([tmp_path / "a.png", tmp_path / "b.png"], (32, 32), "squash", source="t")
    np.testing.assert_array_equal(x[0], native)  # already 32x32: untouched
    with Image.open(tmp_path / "b.png") as im:
        expected = T.Resize((32, 32))(im.convert("RGB"))
    np.testing.assert_array_equal(x[1], np.asarray(expected))


def test_grey_mode_gives_one_channel(tmp_path):
    grey = write_image(tmp_path / "g.png", (28, 28), mode="L")
    x, _ = archives.decode_files([tmp_path / "g.png"], (28, 28), "squash", mode="L", source="t")
    assert x.shape == (1, 28, 28, 1)
    np.testing.assert_array_equal(x[0, ..., 0], grey)


def test_corrupt_images_fail_naming_the_file_or_are_skipped(tmp_path):
    write_image(tmp_path / "ok.png", (20, 20))
    write_image(tmp_path / "cut.png", (40, 40))
    data = (tmp_path / "cut.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    (tmp_path / "junk.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    files = [tmp_path / "ok.png", tmp_path / "cut.png", tmp_path / "junk.jpg"]
    with pytest.raises(UserInputError, match=r"cannot read image .*cut\.png"):
        archives.decode_files(files, (16, 16), "crop", source="t")
    x, kept = archives.decode_files(files, (16, 16), "crop", source="t", skip_unreadable=True)
    assert kept.tolist() == [0] and len(x) == 1
    with pytest.raises(UserInputError, match="none of its 1 images could be read"):
        archives.decode_files(files[2:], (16, 16), "crop", source="t", skip_unreadable=True)


def test_class_folders_sorted_recursive_and_excluding(tmp_path):
    for cls, files in {"b": ["x.png", "sub/y.png"], "a": ["z.png"], "numbers": ["n.png"]}.items():
        for name in files:
            write_image(tmp_path / cls / name, (8, 8))
    (tmp_path / "a" / "notes.txt").write_text("not an image")
    files, labels, classes = archives.class_folders(tmp_path, exclude=("numbers",))
    assert classes == ["a", "b"]
    assert [f.relative_to(tmp_path).as_posix() for f in files] == ["a/z.png", "b/sub/y.png", "b/x.png"]
    assert labels.tolist() == [0, 1, 1]
    with pytest.raises(UserInputError, match="holds no images in class subfolders"):
        archives.class_folders(tmp_path / "a")


def test_tar_members_decode_like_files_in_the_asked_order(tmp_path):
    folder = tmp_path / "test_256"
    for k in range(4):
        write_image(folder / f"Places365_test_{k:08d}.jpg", (40 + 3 * k, 36), fmt="JPEG")
    with tarfile.open(tmp_path / "t.tar", "w") as tar:
        tar.add(folder, arcname="test_256")
    members = archives.tar_images(tmp_path / "t.tar")
    assert [m.name for m in members] == [f"test_256/Places365_test_{k:08d}.jpg" for k in range(4)]
    asked = [members[2], members[0], members[3]]
    x = archives.decode_tar_members(tmp_path / "t.tar", asked, (32, 32), "crop")
    direct, _ = archives.decode_files([folder / Path(m.name).name for m in asked], (32, 32), "crop", source="d")
    np.testing.assert_array_equal(x, direct)
    (tmp_path / "bad.tar").write_bytes((tmp_path / "t.tar").read_bytes()[:700])
    with pytest.raises(UserInputError, match=r"bad\.tar"):
        archives.decode_tar_members(tmp_path / "bad.tar", archives.tar_images(tmp_path / "bad.tar"),
                                   (32, 32), "crop")


def test_resize_array_keeps_a_memmap_when_the_size_matches(tmp_path):
    np.save(tmp_path / "x.npy", pixels(3, 32, 32, 3))
    x = np.load(tmp_path / "x.npy", mmap_mode="r")
    assert resize.resize_array(x, (32, 32), "squash") is x
    big = resize.resize_array(np.asarray(x), (64, 64), "squash")
    assert big.shape == (3, 64, 64, 3)
    np.testing.assert_array_equal(big[1], np.asarray(Image.fromarray(np.asarray(x[1])).resize((64, 64), Image.BILINEAR)))


def test_omniglot_strokes_white_on_black_and_binary(tmp_path):
    stroke = np.full((105, 105), 255, np.uint8)
    stroke[20:80, 50:56] = 0  # a black vertical bar on white, as Omniglot draws
    Image.fromarray(stroke).convert("1").save(tmp_path / "c.png")
    x, _ = archives.decode_images([tmp_path / "c.png"], lambda p: p, resize.binary_strokes((28, 28)), source="o")
    assert x.shape == (1, 28, 28, 1) and set(np.unique(x)) <= {0, 255}
    assert x[0, 14, 14, 0] == 255 and x[0, 2, 2, 0] == 0 and x[0, 14, 5, 0] == 0


def test_unknown_resize_rule():
    with pytest.raises(ValueError, match="unknown resize rule"):
        resize.resize_rule((32, 32), "stretch")


def test_pickle_readers_accept_numpy_2_and_legacy_module_names(tmp_path):
    # A pickle written by numpy 1.x refers to numpy.core.multiarray; one by numpy 2 to numpy._core.
    buffer = io.BytesIO()
    pickle.dump({"data": np.arange(6, dtype=np.uint8)}, buffer, protocol=2)
    raw = buffer.getvalue()
    for old, new in ((b"numpy._core.multiarray", b"numpy.core.multiarray"), (b"numpy.core.multiarray", b"numpy._core.multiarray")):
        variant = raw.replace(old, new)
        (tmp_path / "p").write_bytes(variant)
        assert archives.load_data_pickle(tmp_path / "p")["data"].tolist() == list(range(6))
