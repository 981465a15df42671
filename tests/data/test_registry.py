"""The dataset registry: data roots, named specs, preprocessing of each format through the
registry, checksums at load, the offline sets and their manifest, and `oe datasets`."""

from __future__ import annotations

import hashlib
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torchvision.transforms as T
from PIL import Image

from tests.helpers import CHECKOUT_SHARED_DATA
from tests.helpers.isolation import isolated_registry  # noqa: F401 (a fixture)
from tests.helpers.datasets_on_disk import (
    pixels,
    write_cifar10,
    write_image,
    write_image_folder,
    write_mnist,
    write_svhn,
)
from outlier_exposure.cli import build_parser, main
from outlier_exposure.data.storage import download as dl
from outlier_exposure.data.catalog import registry
from outlier_exposure.data.storage import roots
from outlier_exposure.data.datasets import BUILTIN, load_images
from outlier_exposure.data.spec import parse_spec
from outlier_exposure.errors import UserInputError

SHARED = Path(os.environ.get("OE_SHARED_DATA") or CHECKOUT_SHARED_DATA)


# Private caches and roots; the registry as it was before each test.
pytestmark = pytest.mark.usefixtures("isolated_registry")


def without_checksums(name: str) -> None:
    """Fabricated files cannot have the real files' digests: drop them for this test."""
    ds = registry.get(name)
    splits = {s: tuple(replace(r, md5=None, sha256=None) for r in reqs) for s, reqs in ds.splits.items()}
    registry.register(replace(ds, splits=splits))


# ---------------------------------------------------------------------------------------------
# Roots


def test_data_root_resolution_order(tmp_path, monkeypatch):
    assert roots.resolve_data_root() == (Path("~/.cache/outlier_exposure/data").expanduser(), "default")
    monkeypatch.setenv(roots.DATA_ROOT_ENV, str(tmp_path / "env"))
    assert roots.resolve_data_root() == (tmp_path / "env", "env OE_DATA_ROOT")
    with roots.data_settings(tmp_path / "flag"):
        assert roots.resolve_data_root() == (tmp_path / "flag", "--data-root")
        assert roots.resolve_data_root(shared=True) == (tmp_path / "flag", "--data-root")
        assert registry.dataset_dir("svhn") == tmp_path / "flag" / "svhn"
        assert registry.dataset_dir("dtd10") == tmp_path / "flag"
    assert roots.resolve_data_root()[0] == tmp_path / "env"


def test_shared_root_resolution_order(tmp_path, monkeypatch):
    monkeypatch.setattr(roots, "_checkout_shared_data", lambda: tmp_path / "checkout")
    monkeypatch.setenv(roots.DATA_ROOT_ENV, str(tmp_path / "public"))
    assert roots.resolve_data_root(shared=True)[0] == tmp_path / "public"  # no checkout folder
    (tmp_path / "checkout").mkdir()
    assert roots.resolve_data_root(shared=True)[0] == tmp_path / "checkout"
    monkeypatch.setenv(roots.SHARED_DATA_ENV, str(tmp_path / "shared"))
    assert roots.resolve_data_root(shared=True) == (tmp_path / "shared", "env OE_SHARED_DATA")


def test_text_sets_are_found_under_the_same_roots(tmp_path, monkeypatch):
    """One place decides the roots (storage/roots.py): the text sets follow --data-root too."""
    from outlier_exposure.text.registry import data_roots

    monkeypatch.setattr(roots, "_checkout_shared_data", lambda: tmp_path / "no-checkout")
    monkeypatch.setenv(roots.DATA_ROOT_ENV, str(tmp_path / "env"))
    assert data_roots() == [tmp_path / "env"]
    with roots.data_settings(tmp_path / "flag"):
        assert data_roots() == [tmp_path / "flag"]


def test_cli_flags_set_the_root_for_the_command_only(tmp_path):
    args = build_parser().parse_args(["eval", "run", "--data-root", str(tmp_path), "--download"])
    assert args.data_root == str(tmp_path) and args.download_missing is True
    args = build_parser().parse_args(["train", "--out", "x", "--data-root", str(tmp_path)])
    assert args.data_root == str(tmp_path) and args.download_missing is False
    assert main(["datasets", "--data-root", str(tmp_path)]) == 0
    assert roots._root_override is None


# ---------------------------------------------------------------------------------------------
# Names in specs


def test_every_registered_name_is_a_spec_and_a_builtin():
    for name, ds in registry.datasets().items():
        spec = parse_spec(f"{name}:{ds.default_split}")
        assert (spec.kind, spec.target, spec.options["split"]) == ("builtin", name, ds.default_split)
        assert name in BUILTIN
    assert "digits" in BUILTIN and "300k-random-images" in BUILTIN and "tinyimages-80m" in BUILTIN


def test_missing_dataset_says_where_and_how(tmp_path):
    with roots.data_settings(tmp_path):
        with pytest.raises(UserInputError) as err:
            load_images("svhn:test", (32, 32, 3))
    text = str(err.value)
    assert f"is not in {tmp_path / 'svhn'}: missing test_32x32.mat" in text
    assert "`oe datasets --download svhn:test --data-root" in text
    with roots.data_settings(tmp_path):
        with pytest.raises(UserInputError, match=r"icons50.*missing Icons-50/.*box.com or Google Drive.*icons50/Icons-50/airplane"):
            load_images("icons50", (32, 32, 3))
        with pytest.raises(UserInputError, match=r"lsun.*data\.py export test_lmdb --out_dir .*lsun/test --flat"):
            load_images("lsun", (32, 32, 3))
        with pytest.raises(UserInputError, match=r"unknown data set 'svhnn'.*svhn"):
            load_images("svhnn:test", (32, 32, 3))


# ---------------------------------------------------------------------------------------------
# Formats through the registry


def test_cifar10_checksums_are_checked_at_load(tmp_path):
    made = write_cifar10(tmp_path / "cifar10")
    with roots.data_settings(tmp_path):
        with pytest.raises(UserInputError, match=r"cifar10: wrong checksum .*data_batch_1: md5 is [0-9a-f]+, expected c99cafc1"):
            load_images("cifar10:train", (32, 32, 3))
        without_checksums("cifar10")
        train = load_images("cifar10:train", (32, 32, 3))
        np.testing.assert_array_equal(train.x, made["train"][0])
        np.testing.assert_array_equal(train.y, made["train"][1])
        assert train.classes == made["classes"] and train.name == "cifar10-train"
        grey = load_images("cifar10", (28, 28, 1))  # CIFAR-10 as an MNIST OOD set: resize, then luma
        assert grey.x.shape == (5, 28, 28, 1) and grey.name == "cifar10"
        expected = Image.fromarray(made["test"][0][2]).resize((28, 28), Image.BILINEAR).convert("L")
        assert np.abs(grey.x[2, ..., 0].astype(int) - np.asarray(expected).astype(int)).max() <= 1


def test_svhn_train_is_train_plus_extra_and_is_cached(tmp_path):
    x1, y1 = write_svhn(tmp_path / "svhn" / "train_32x32.mat", 5, digits=[0, 1, 2, 3, 4])
    x2, y2 = write_svhn(tmp_path / "svhn" / "extra_32x32.mat", 3, digits=[9, 0, 8])
    write_svhn(tmp_path / "svhn" / "test_32x32.mat", 2)
    without_checksums("svhn")
    with roots.data_settings(tmp_path):
        train = load_images("svhn:train", (32, 32, 3))
        np.testing.assert_array_equal(train.x, np.concatenate([x1, x2]))
        assert train.y.tolist() == [0, 1, 2, 3, 4, 9, 0, 8]
        assert isinstance(load_images("svhn:train", (32, 32, 3)).x, np.memmap)  # from the cache
        assert len(load_images("svhn:train-only", (32, 32, 3))) == 5
        big = load_images("svhn", (64, 64, 3))  # as the reference's Tiny ImageNet OOD set
        assert big.x.shape == (2, 64, 64, 3)
        st = registry.status("svhn")
        assert st.state == "present" and st.size > 0


def test_svhn_cache_rebuilds_when_a_file_changes(tmp_path):
    write_svhn(tmp_path / "svhn" / "test_32x32.mat", 2)
    without_checksums("svhn")
    with roots.data_settings(tmp_path):
        assert len(load_images("svhn", (32, 32, 3))) == 2
        x, _ = write_svhn(tmp_path / "svhn" / "test_32x32.mat", 4)
        again = load_images("svhn", (32, 32, 3))
        np.testing.assert_array_equal(again.x, x)


def test_mnist_idx_through_the_registry(tmp_path):
    made = write_mnist(tmp_path / "mnist")
    without_checksums("mnist")
    with roots.data_settings(tmp_path):
        test = load_images("mnist:test", (28, 28, 1))
        np.testing.assert_array_equal(test.x, made["test"][0])
        np.testing.assert_array_equal(test.y, made["test"][1])
        rgb = load_images("mnist:train", (32, 32, 3))
        assert rgb.x.shape == (6, 32, 32, 3) and (rgb.x[..., 0] == rgb.x[..., 2]).all()


def test_textures_folder_as_the_reference_reads_it(tmp_path):
    images = tmp_path / "textures" / "dtd" / "images"
    write_image_folder(images, {"banded": [(300, 200), (64, 90)], "zigzagged": [(45, 45)]}, ext=".jpg")
    (images / "banded" / ".directory").write_text("[Dolphin]")  # DTD ships such files
    without_checksums("textures")
    with roots.data_settings(tmp_path):
        got = load_images("textures", (32, 32, 3))
    assert got.classes == ["banded", "zigzagged"] and got.y.tolist() == [0, 0, 1]
    reference = T.Compose([T.Resize(32), T.CenterCrop(32)])  # the reference's ImageFolder transform
    with Image.open(images / "banded" / "img0.jpg") as im:
        np.testing.assert_array_equal(got.x[0], np.asarray(reference(im.convert("RGB"))))


def test_lsun_test_folder_of_webp_exports(tmp_path):
    for k in range(3):
        write_image(tmp_path / "lsun" / "test" / f"{k:040x}.webp", (120 + k, 90), fmt="WEBP")
    with roots.data_settings(tmp_path):
        got = load_images("lsun", (32, 32, 3))
    assert got.x.shape == (3, 32, 32, 3) and got.y is None
    with Image.open(tmp_path / "lsun" / "test" / f"{1:040x}.webp") as im:
        np.testing.assert_array_equal(got.x[1], np.asarray(T.CenterCrop(32)(T.Resize(32)(im.convert("RGB")))))


def test_icons50_leaves_out_numbers_and_squashes(tmp_path):
    write_image_folder(tmp_path / "icons50" / "Icons-50",
                       {"airplane": [(120, 120)], "numbers": [(120, 120)], "zebra": [(100, 60)]})
    with roots.data_settings(tmp_path):
        got = load_images("icons50", (32, 32, 3))
    assert got.classes == ["airplane", "zebra"] and len(got) == 2
    with Image.open(tmp_path / "icons50" / "Icons-50" / "zebra" / "img0.png") as im:
        np.testing.assert_array_equal(got.x[1], np.asarray(T.Resize((32, 32))(im.convert("RGB"))))


def test_chars74k_leaves_out_digits_and_look_alikes(tmp_path):
    bmp = tmp_path / "chars74k" / "English" / "Img" / "GoodImg" / "Bmp"
    write_image_folder(bmp, {f"Sample{i:03d}": [(20, 30)] for i in (1, 10, 11, 19, 25, 36, 48, 51, 62)})
    with roots.data_settings(tmp_path):
        got = load_images("chars74k", (32, 32, 3))
    assert got.classes == ["Sample011", "Sample036", "Sample062"]  # A, Z, z


def test_notmnist_skips_its_unreadable_files(tmp_path):
    base = tmp_path / "notmnist" / "notMNIST_small"
    for letter in "AB":
        write_image(base / letter / "ok.png", (28, 28), mode="L")
    (base / "A" / "broken.png").write_bytes(b"")
    with roots.data_settings(tmp_path):
        got = load_images("notmnist", (28, 28, 1))
    assert got.x.shape == (2, 28, 28, 1) and got.y.tolist() == [0, 1]


def test_omniglot_keeps_the_reference_alphabets(tmp_path):
    root = tmp_path / "omniglot" / "images_background"
    for i in range(30):
        page = np.full((105, 105), 255, np.uint8)
        page[40:60, 40:60] = 0
        (root / f"Alphabet{i:02d}" / "character01").mkdir(parents=True)
        Image.fromarray(page).convert("1").save(root / f"Alphabet{i:02d}" / "character01" / "0001.png")
    with roots.data_settings(tmp_path):
        got = load_images("omniglot", (28, 28, 1))
        assert got.x.shape == (15, 28, 28, 1) and set(np.unique(got.x)) == {0, 255}
        (root / "Alphabet29" / "character01" / "0001.png").unlink()
        (root / "Alphabet29" / "character01").rmdir()
        (root / "Alphabet29").rmdir()
        with pytest.raises(UserInputError, match="30 background alphabets, found 29"):
            load_images("omniglot", (28, 28, 1))


def test_places365_subset_from_the_tar(tmp_path, monkeypatch):
    import tarfile

    from outlier_exposure.data.catalog import recipes

    src = tmp_path / "src" / "test_256"
    for k in range(5):
        write_image(src / f"Places365_test_{k + 1:08d}.jpg", (48, 40), fmt="JPEG")
    (tmp_path / "places365").mkdir()
    with tarfile.open(tmp_path / "places365" / "test_256.tar", "w") as tar:
        tar.add(src, arcname="test_256")
    monkeypatch.setattr(recipes, "PLACES_SUBSET", 3)
    without_checksums("places365")
    with roots.data_settings(tmp_path):
        got = load_images("places365", (32, 32, 3))
    pick = np.sort(np.random.default_rng(recipes.PLACES_SEED).choice(5, 3, replace=False))
    for row, k in enumerate(pick):
        with Image.open(src / f"Places365_test_{k + 1:08d}.jpg") as im:
            np.testing.assert_array_equal(got.x[row], np.asarray(T.CenterCrop(32)(T.Resize(32)(im.convert("RGB")))))


def test_tinyimagenet_train_and_val_annotations(tmp_path):
    root = tmp_path / "tinyimagenet" / "tiny-imagenet-200"
    wnids = ["n02", "n01"]
    (root).mkdir(parents=True)
    (root / "wnids.txt").write_text("\n".join(wnids) + "\n")
    for w in wnids:
        for k in range(2):
            write_image(root / "train" / w / "images" / f"{w}_{k}.JPEG", (64, 64), fmt="JPEG")
        (root / "train" / w / f"{w}_boxes.txt").write_text("")
    for k, w in enumerate(["n02", "n01", "n02"]):
        write_image(root / "val" / "images" / f"val_{k}.JPEG", (64, 64), fmt="JPEG")
    (root / "val" / "val_annotations.txt").write_text(
        "".join(f"val_{k}.JPEG\t{w}\t0\t0\t63\t63\n" for k, w in enumerate(["n02", "n01", "n02"])))
    with roots.data_settings(tmp_path):
        train = load_images("tinyimagenet:train", (64, 64, 3))
        val = load_images("tinyimagenet", (64, 64, 3))
    assert train.classes == ["n01", "n02"] and train.y.tolist() == [0, 0, 1, 1]
    assert val.y.tolist() == [1, 0, 1] and val.x.shape == (3, 64, 64, 3)


def test_tinyimages_80m_wired_from_its_module(tmp_path):
    records = pixels(5, 3072)
    (tmp_path / "tinyimages-80m").mkdir()
    (tmp_path / "tinyimages-80m" / "tiny_images.bin").write_bytes(records.tobytes())
    (tmp_path / "tinyimages-80m" / "80mn_cifar_idxs.txt").write_text("2\n4\n")  # 1-based
    without_checksums("tinyimages-80m")
    with roots.data_settings(tmp_path):
        assert registry.status("tinyimages-80m").state == "present"
        every = load_images("tinyimages-80m", (32, 32, 3))
        kept = load_images("tinyimages-80m:no-cifar", (32, 32, 3))
    assert len(every) == 5 and len(kept) == 3 and kept.name == "tinyimages-80m-no-cifar"
    np.testing.assert_array_equal(kept.x[1], records[2].reshape((32, 32, 3), order="F"))
    (tmp_path / "tinyimages-80m" / "80mn_cifar_idxs.txt").unlink()
    with roots.data_settings(tmp_path):
        assert registry.status("tinyimages-80m").state == "partial"


def _fake_imagenet_22k(root: Path) -> list[Path]:
    """ROOT/imagenet-22k/images/WNID/*.JPEG of mixed sizes, plus files that are not images."""
    images = root / "imagenet-22k" / "images"
    sizes = {"n00004475": [(90, 70), (64, 64)], "n00005787": [(50, 120)], "n09999999": [(130, 80), (70, 70)]}
    files = []
    for wnid, wh in sizes.items():
        for k, size in enumerate(wh):
            files.append(images / wnid / f"{wnid}_{k}.JPEG")
            write_image(files[-1], size, fmt="JPEG")
    (images / "n00004475" / "readme.txt").write_text("not an image")
    write_image(images / ".hidden" / "x.JPEG", (64, 64), fmt="JPEG")
    return sorted(files)


def _reference_crop(files: list[Path], s: int) -> np.ndarray:
    # the reference's ImageNet-22K transform: Resize(64) + CenterCrop(64)
    reference = T.Compose([T.Resize(s), T.CenterCrop(s)])
    out = []
    for f in files:
        with Image.open(f) as im:
            out.append(np.asarray(reference(im.convert("RGB"))))
    return np.stack(out)


def test_imagenet_22k_small_folder_decoded_and_cached(tmp_path):
    files = _fake_imagenet_22k(tmp_path)
    with roots.data_settings(tmp_path):
        assert registry.status("imagenet-22k").state == "present"
        got = load_images("imagenet-22k", (64, 64, 3))
    assert isinstance(got.x, np.ndarray) and got.y is None and got.name == "imagenet-22k"
    np.testing.assert_array_equal(got.x, _reference_crop(files, 64))


def test_imagenet_22k_large_folder_read_a_batch_at_a_time(tmp_path, monkeypatch):
    import pickle

    from outlier_exposure.data.formats import lazy, lazy_folder

    files = _fake_imagenet_22k(tmp_path)
    monkeypatch.setattr(lazy_folder, "LAZY_FOLDER_FILES", 3)  # 5 files: "large"
    monkeypatch.setattr(lazy, "MATERIALISE_LIMIT_BYTES", 0)  # never read whole
    decoded = []
    real = lazy_folder.FolderImages._decode
    monkeypatch.setattr(lazy_folder.FolderImages, "_decode",
                        lambda self, idx: decoded.append(len(idx)) or real(self, idx))
    with roots.data_settings(tmp_path):
        got = load_images("imagenet-22k", (64, 64, 3))
        grey = load_images("imagenet-22k", (32, 32, 1))
    assert isinstance(got.x, lazy_folder.FolderImages) and got.x.shape == (5, 64, 64, 3)
    expected = _reference_crop(files, 64)
    got.x.threads = 2  # the batch is split over two decoding threads
    np.testing.assert_array_equal(got.x[[4, 0, 2]], expected[[4, 0, 2]])
    assert sorted(decoded) == [1, 2]
    np.testing.assert_array_equal(got.x[3], expected[3])
    # pickled for DataLoader workers / other ranks: no thread pool travels
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(got.x))[[1]], expected[[1]])
    # a grey model: read at its size, then luma on each batch, still lazy
    assert isinstance(grey.x, lazy.LazyImages) and grey.x.shape == (5, 32, 32, 1)
    luma = np.stack([np.asarray(Image.fromarray(im).convert("L")) for im in _reference_crop(files[:2], 32)])
    assert np.abs(grey.x[:2][..., 0].astype(int) - luma).max() <= 1  # PIL rounds in fixed point
    with pytest.raises(UserInputError, match="in batches"):
        np.asarray(got.x)


def test_imagenet_22k_missing_gives_the_manual_steps(tmp_path):
    with roots.data_settings(tmp_path):
        with pytest.raises(UserInputError) as err:
            load_images("imagenet-22k", (64, 64, 3))
    text = str(err.value)
    assert f"is not in {tmp_path / 'imagenet-22k'}: missing images/" in text
    assert "fall 2011 release" in text and "image-net.org" in text
    assert f"unpack each into {tmp_path / 'imagenet-22k' / 'images' / 'WNID'}/" in text
    assert "except the 1,000 ImageNet-1K classes, which must be left out" in text


# mnist-convnet reads 80M Tiny Images without the CIFAR images, as the reference's loader does by default
@pytest.mark.parametrize("preset, present, expected", [
    ("mnist-convnet", [],
     ["needs 2 datasets", "\n  mnist: train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz and 2 more (11.6 MB) "
      "-> oe datasets --download mnist --data-root",
      "\n  tinyimages-80m: tiny_images.bin, 80mn_cifar_idxs.txt (243.6 GB) -> oe datasets --download tinyimages-80m "
      "--data-root", "Get them all: oe reproduce mnist-convnet --download --data-root"]),
    ("mnist-convnet", ["mnist"],  # the in-distribution set is there: the outliers are named
     ["needs 1 dataset that is not", "\n  tinyimages-80m: tiny_images.bin, 80mn_cifar_idxs.txt"]),
    ("tinyimagenet-wrn", [],
     ["needs 2 datasets", "\n  tinyimagenet: tiny-imagenet-200/wnids.txt, tiny-imagenet-200/train/ and 1 more "
      "(248.1 MB) -> oe datasets --download tinyimagenet --data-root",
      "\n  imagenet-22k: images/ -> by hand (steps below)\nBy hand:\n  imagenet-22k: sign up at image-net.org",
      "except the 1,000 ImageNet-1K classes",
      "(and imagenet-22k by hand, as above)"]),
])
def test_reproduce_names_every_missing_dataset_before_training(tmp_path, capsys, preset, present, expected):
    root = tmp_path / "data"
    root.mkdir()
    if "mnist" in present:
        write_mnist(root / "mnist")
    argv = ["reproduce", preset, "--epochs", "1", "--ood", "noise:gaussian", "--data-root", str(root),
            "--out", str(tmp_path / "out"), "--quiet", "--device", "cpu"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    for part in expected:
        assert part in err, part
    assert err.startswith(f"oe reproduce: error: reproducing preset {preset}")
    if present:  # only the outliers are missing
        assert "mnist:" not in err
    assert not (tmp_path / "out" / "baseline").exists()  # nothing trained


# ---------------------------------------------------------------------------------------------
# The offline sets and their manifest


def _fake_shared(root: Path, good: bool = True) -> np.ndarray:
    x = pixels(6, 32, 32, 3)
    (root / "dtd10").mkdir(parents=True)
    np.savez(root / "dtd10" / "dtd10_32.npz", x=x, y=np.arange(6) % 2)
    digest = hashlib.sha256((root / "dtd10" / "dtd10_32.npz").read_bytes()).hexdigest()
    (root / registry.MANIFEST).write_text(f"path\tsha256\tbytes\ndtd10/dtd10_32.npz\t{digest if good else '0' * 64}\t1\n")
    return x


def test_offline_set_checked_against_the_manifest_once(tmp_path, monkeypatch):
    x = _fake_shared(tmp_path)
    calls = []
    real = dl.hash_file
    monkeypatch.setattr(dl, "hash_file", lambda p, a: calls.append(a) or real(p, a))
    monkeypatch.setenv(roots.SHARED_DATA_ENV, str(tmp_path))
    got = load_images("dtd10", (32, 32, 3))
    np.testing.assert_array_equal(got.x, x)
    load_images("dtd10", (32, 32, 3))
    assert calls == ["sha256"]  # hashed once, then known by size and mtime


def test_offline_set_with_a_bad_digest_is_refused(tmp_path, monkeypatch):
    _fake_shared(tmp_path, good=False)
    monkeypatch.setenv(roots.SHARED_DATA_ENV, str(tmp_path))
    with pytest.raises(UserInputError, match=r"dtd10: wrong checksum in .*dtd10/dtd10_32.npz: sha256 is [0-9a-f]{64}, expected 0{64}"):
        load_images("dtd10", (32, 32, 3))


@pytest.mark.skipif(not (SHARED / "cifar10" / "cifar10_subset_32.npz").is_file(),
                    reason="the offline data folder (../shared/data or OE_SHARED_DATA) is absent")
def test_real_offline_sets_load_and_verify(monkeypatch):
    monkeypatch.setenv(roots.SHARED_DATA_ENV, str(SHARED))
    test = load_images("cifar10-subset", (32, 32, 3))
    assert test.x.shape == (10000, 32, 32, 3) and test.num_classes == 10
    assert test.classes[:2] == ["airplane", "automobile"]
    assert len(load_images("tinyimagenet32-heldout:test", (32, 32, 3))) == 1950
    assert registry.status("dtd10", verify=True).state == "verified"


# ---------------------------------------------------------------------------------------------
# oe datasets


def test_oe_datasets_on_a_fabricated_root(tmp_path, capsys):
    write_svhn(tmp_path / "svhn" / "test_32x32.mat", 3)          # svhn: test only -> partial
    write_mnist(tmp_path / "mnist")                             # mnist: present, wrong md5s
    _fake_shared(tmp_path, good=False)                          # dtd10: bad digest
    assert main(["datasets", "--data-root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line and not line.startswith(" ")}
    assert rows["svhn"][1] == "partial" and rows["mnist"][1] == "present" and rows["cifar10"][1] == "missing"
    assert rows["dtd10"][1] == "present" and rows["cifar10"][-1] == str(tmp_path / "cifar10")
    assert f"data root: {tmp_path} (--data-root)" in out
    assert "svhn: Has test; lacks train_32x32.mat, extra_32x32.mat." in out
    assert f"cifar10: run `oe datasets --download cifar10 --data-root {tmp_path}`" in out

    assert main(["datasets", "--data-root", str(tmp_path), "--verify"]) == 1
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line and not line.startswith(" ")}
    assert rows["mnist"][1] == "bad" and rows["dtd10"][1] == "bad" and rows["svhn"][1] == "bad"
    assert "mnist: Bad: train-images-idx3-ubyte.gz: md5 is" in out and out.count("t10k-images-idx3-ubyte.gz: md5") == 1
    assert "dtd10: Bad: dtd10/dtd10_32.npz: sha256 is" in out


def test_oe_datasets_download_errors_exit_2(tmp_path, capsys):
    assert main(["datasets", "--data-root", str(tmp_path), "--download", "icons50"]) == 2
    assert "oe datasets: error: dataset icons50 has no download" in capsys.readouterr().err
    assert main(["datasets", "--download", "nope"]) == 2
    assert "unknown dataset 'nope'" in capsys.readouterr().err
