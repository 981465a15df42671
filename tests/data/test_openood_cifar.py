"""OpenOOD v1.5's CIFAR-10 / CIFAR-100 benchmarks through the registry (data/catalog/openood_cifar.py)
over a fabricated copy of OpenOOD's data/ folder in the exact format of its lists and zips, and the
benchmark table (data/catalog/benchmarks.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from outlier_exposure.cli import main
from outlier_exposure.data.catalog import openood, registry
from outlier_exposure.data.catalog.benchmarks import (
    BENCHMARKS,
    Benchmark,
    benchmark_for,
    benchmark_names,
)
from outlier_exposure.data.catalog.preflight import require_data
from outlier_exposure.data.datasets import load_images, load_labelled
from outlier_exposure.data.formats.lazy_folder import FolderImages
from outlier_exposure.data.modifiers import split_modifiers
from outlier_exposure.data.spec import parse_spec
from outlier_exposure.data.storage import roots
from outlier_exposure.errors import UserInputError
from tests.helpers.isolation import isolated_registry  # noqa: F401 (a fixture)
from tests.helpers.openood_data import fake_openood

pytestmark = pytest.mark.usefixtures("isolated_registry")

ENTRIES = ("openood-cifar10", "openood-cifar100")
OOD_SPLITS = {"openood-cifar10": ("val-ood", "cifar100", "tin", "mnist", "svhn", "texture", "places365", "tin597"),
              "openood-cifar100": ("val-ood", "cifar10", "tin", "mnist", "svhn", "texture", "places365", "tin597")}

def reference(paths: list[Path], s: int = 32) -> np.ndarray:
    """OpenOOD's test transform without the tensor steps, in plain PIL: Convert('RGB'), Resize(s)
    (shorter side to s, bilinear, the longer int(s * long / short)), CenterCrop(s)."""
    out = []
    for path in paths:
        with Image.open(path) as im:
            im = im.convert("RGB")
            w, h = im.size
            size = (s, int(s * h / w)) if w <= h else (int(s * w / h), s)
            im = im.resize(size, Image.BILINEAR)
            left, top = round((size[0] - s) / 2.0), round((size[1] - s) / 2.0)
            out.append(np.asarray(im.crop((left, top, left + s, top + s))))
    return np.stack(out)


def listed(base: Path, id_set: str, list_file: str) -> list[Path]:
    lines = (base / "benchmark_imglist" / id_set / list_file).read_text().split("\n")
    return [base / "images_classic" / line.split()[0] for line in lines if line.strip()]


# ---------------------------------------------------------------------------------------------
# The entries


def test_entries_splits_folder_and_no_digests():
    for name, other in (("openood-cifar10", "cifar100"), ("openood-cifar100", "cifar10")):
        ds = registry.get(name)
        assert list(ds.splits) == ["train", "val", "test", "val-ood", other, "tin", "mnist", "svhn",
                                   "texture", "places365", "tin597"]
        assert ds.default_split == "test" and ds.folder == "openood" and not ds.downloads
        assert "no checksums" in ds.notes
        assert all(r.md5 is None and r.sha256 is None for reqs in ds.splits.values() for r in reqs)
    id_set = "cifar10"
    reqs = registry.get("openood-cifar10").splits
    assert [r.path for r in reqs["tin"]] == ["benchmark_imglist/cifar10/test_tin.txt", "images_classic/tin/"]
    assert [r.path for r in reqs["val-ood"]] == ["benchmark_imglist/cifar10/val_cifar100.txt",
                                                 "images_classic/cifar100/"]
    assert [r.path for r in reqs["test"]] == [f"benchmark_imglist/{id_set}/test_{id_set}.txt",
                                              f"images_classic/{id_set}/"]
    assert [r.path for r in registry.get("openood-cifar100").splits["tin597"]] == [
        "benchmark_imglist/cifar100/train_tin597.txt", "images_classic/tin597/"]


@pytest.mark.parametrize("name, id_set, classes", [("openood-cifar10", "cifar10", ["airplane", "automobile"]),
                                                   ("openood-cifar100", "cifar100", ["apple", "aquarium_fish"])])
def test_in_distribution_splits_are_labelled_and_named(tmp_path, name, id_set, classes):
    base = fake_openood(tmp_path)
    with roots.data_settings(tmp_path):
        assert registry.dataset_dir(name) == base and registry.status(name).state == "present"
        test = load_labelled(name, (32, 32, 3), num_classes=len(classes))
        test2 = load_labelled(f"{name}:test", (32, 32, 3))
        train = load_labelled(f"{name}:train", (32, 32, 3))
        val = load_labelled(f"{name}:val", (32, 32, 3))
    assert isinstance(test.x, FolderImages) and test.x.shape == (2, 32, 32, 3)
    assert test.name == test2.name == name and train.name == f"{name}-train" and val.name == f"{name}-val"
    assert test.y.tolist() == [0, 1] and train.y.tolist() == [0, 1] and val.y.tolist() == [0]
    assert test.classes == classes
    # 32x32 PNGs pass through unchanged: exactly the written pixels.
    np.testing.assert_array_equal(test.x[[0, 1]], reference(listed(base, id_set, f"test_{id_set}.txt")))
    with Image.open(listed(base, id_set, f"train_{id_set}.txt")[1]) as im:
        np.testing.assert_array_equal(train.x[[1]][0], np.asarray(im))


@pytest.mark.parametrize("name", ENTRIES)
def test_every_ood_split_loads_unlabelled_at_32x32_like_openoods_transform(tmp_path, name):
    base = fake_openood(tmp_path)
    id_set = name.removeprefix("openood-")
    files = {split: Path(reqs[0].path).name for split, reqs in registry.get(name).splits.items()}
    with roots.data_settings(tmp_path):
        for split in OOD_SPLITS[name]:
            got = load_images(f"{name}:{split}", (32, 32, 3))
            paths = listed(base, id_set, files[split])
            assert got.y is None and got.name == f"{name}-{split}", split
            assert got.x.shape == (len(paths), 32, 32, 3), split
            np.testing.assert_array_equal(got.x[list(range(len(paths)))], reference(paths), err_msg=split)


def test_grey_28x28_mnist_comes_out_32x32_rgb(tmp_path):
    base = fake_openood(tmp_path)
    with roots.data_settings(tmp_path):
        got = load_images("openood-cifar100:mnist", (32, 32, 3))
    x = got.x[[0, 1]]
    assert x.shape == (2, 32, 32, 3) and x.dtype == np.uint8
    assert (x[..., 0] == x[..., 1]).all() and (x[..., 1] == x[..., 2]).all()  # grey, as RGB
    first = base / "images_classic" / "mnist/test/7/00000.png"
    with Image.open(first) as im:
        assert im.mode == "L" and im.size == (28, 28)
        expected = np.asarray(im.convert("RGB").resize((32, 32), Image.BILINEAR))
    np.testing.assert_array_equal(x[0], expected)


def test_non_square_images_are_resized_then_centre_cropped(tmp_path):
    base = fake_openood(tmp_path)
    with roots.data_settings(tmp_path):
        texture = load_images("openood-cifar10:texture", (32, 32, 3))
        places = load_images("openood-cifar10:places365", (32, 32, 3))
    wide = base / "images_classic" / "texture/banded/banded_0002.png"
    with Image.open(wide) as im:  # 50x37 -> 43x32 -> columns 6..37
        expected = np.asarray(im.convert("RGB").resize((43, 32), Image.BILINEAR))[:, 6:38]
    np.testing.assert_array_equal(texture.x[[0]][0], expected)
    tall = base / "images_classic" / "places365/abbey/Places365_test_00000001.png"
    np.testing.assert_array_equal(places.x[[0]], reference([tall]))


def test_a_different_stored_size_and_grey_models(tmp_path):
    base = fake_openood(tmp_path)
    with roots.data_settings(tmp_path):
        tin = load_images("openood-cifar10:tin", (24, 24, 3))
        grey = load_images("openood-cifar10:svhn", (32, 32, 1))
    assert tin.x.shape == (2, 24, 24, 3)
    np.testing.assert_array_equal(tin.x[[0, 1]], reference(listed(base, "cifar10", "test_tin.txt"), 24))
    assert grey.x.shape == (1, 32, 32, 1)


def test_modifiers_apply_to_the_sets(tmp_path):
    fake_openood(tmp_path)
    with roots.data_settings(tmp_path):
        got = load_images("openood-cifar10:mnist@first1", (32, 32, 3))
    assert len(got) == 1


def test_an_ood_list_is_never_labelled_even_with_class_indices(tmp_path):
    fake_openood(tmp_path)
    with roots.data_settings(tmp_path):
        other = load_images("openood-cifar10:cifar100", (32, 32, 3))
        with pytest.raises(UserInputError, match="has no labels"):
            load_labelled("openood-cifar10:tin597", (32, 32, 3))
    assert other.y is None


# ---------------------------------------------------------------------------------------------
# Missing files


def test_a_missing_list_file_is_one_error_naming_the_set_the_file_and_the_steps(tmp_path):
    base = fake_openood(tmp_path)
    (base / "benchmark_imglist" / "cifar100" / "test_tin.txt").unlink()
    with roots.data_settings(tmp_path):
        assert registry.status("openood-cifar100").state == "partial"
        with pytest.raises(UserInputError) as err:
            load_images("openood-cifar100:tin", (32, 32, 3))
    text = str(err.value)
    assert text.startswith("dataset openood-cifar100 (CIFAR-100 benchmark of OpenOOD v1.5")
    assert f"split tin, is not in {base}: missing benchmark_imglist/cifar100/test_tin.txt." in text
    assert "images_classic/tin/" in text  # where tin.zip goes, in the steps
    assert openood.DRIVE_IDS["benchmark_imglist"] in text and openood.DRIVE_IDS["tin"] in text
    assert f"benchmark_imglist.zip (Drive id 1lI1j0_fDDvjIt9JlWAw09X8ks-yrR_H1) unzipped in {base}, " \
           f"giving {base}/benchmark_imglist/cifar100/*.txt" in text
    assert f"tin.zip (Drive id 1PZ-ixyx52U989IKsMA2OT-24fToTrelC) unzipped in {base}/images_classic/tin/" in text
    assert "--dataset_mode dataset --datasets cifar100 cifar10 tin tin597 mnist svhn texture places365" in text
    assert "--data-root DIR" in text  # where the data root came from, and how to move it


def test_preflight_names_a_missing_openood_cifar_set_once(tmp_path):
    base = fake_openood(tmp_path)
    (base / "benchmark_imglist" / "cifar10" / "test_places365.txt").unlink()
    with roots.data_settings(tmp_path):
        require_data(["openood-cifar10:tin", "openood-cifar10:mnist"], "--protocol openood")  # there
        with pytest.raises(UserInputError) as err:
            require_data(list(BENCHMARKS["cifar10"].ood), "--protocol openood")
    text = str(err.value)
    lines = text.splitlines()
    assert lines[:2] == ["--protocol openood needs 1 dataset that is not in place:",
                         "  openood-cifar10: benchmark_imglist/cifar10/test_places365.txt -> by "
                         "hand (steps below)"]
    assert lines[2] == "By hand:" and lines[3].startswith("  openood-cifar10: OpenOOD v1.5's data")
    assert openood.DRIVE_IDS["places365"] in text and text.count("OpenOOD v1.5's data is on") == 1
    assert lines[-1] == "It has no download: get it by hand, as above."
    # the steps are wrapped (a `command` is kept whole, to be copied): no 2,000-character line
    assert len(lines) > 10 and max(len(line) for line in lines) < 300


def test_preflight_on_an_empty_root_is_one_message_for_the_whole_benchmark(tmp_path):
    with roots.data_settings(tmp_path), pytest.raises(UserInputError) as err:
        require_data([*BENCHMARKS["cifar100"].ood, BENCHMARKS["cifar100"].outliers], "--protocol openood")
    text = str(err.value)
    assert text.startswith("--protocol openood needs 1 dataset that is not in place:\n"
                           "  openood-cifar100: benchmark_imglist/cifar100/test_cifar10.txt, "
                           "images_classic/cifar10/ and 12 more -> by hand (steps below)\n")
    assert text.count("OpenOOD v1.5's data is on Google Drive") == 1
    # a command in backticks is never broken across lines
    assert "`python scripts/download/download.py --contents datasets --dataset_mode dataset " \
           "--datasets cifar100 cifar10 tin tin597 mnist svhn texture places365 --save_dir " \
           f"{tmp_path / 'openood'}`" in text


def test_oe_datasets_lists_the_entries(tmp_path, capsys):
    assert main(["datasets", "--data-root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line and not line.startswith(" ")}
    for name in ENTRIES:
        assert rows[name][1] == "missing" and rows[name][-1] == str(tmp_path / "openood")
        assert f"  {name}: OpenOOD v1.5's data is on Google Drive" in out
    assert "train, val, test*, val-ood, cifar100, tin, mnist, svhn, texture, places365, tin597" in out
    fake_openood(tmp_path)
    assert main(["datasets", "--data-root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line and not line.startswith(" ")}
    assert rows["openood-cifar10"][1] == "present" and rows["openood-cifar100"][1] == "present"
    assert rows["imagenet200"][1] == "missing"  # the same folder, other files


# ---------------------------------------------------------------------------------------------
# The benchmark table


def test_benchmark_table():
    assert benchmark_names() == ["cifar10", "cifar100", "imagenet200", "offline-cifar10"]
    c10 = BENCHMARKS["cifar10"]
    assert c10 == Benchmark(
        "cifar10", ("openood-cifar10:cifar100", "openood-cifar10:tin"),
        ("openood-cifar10:mnist", "openood-cifar10:svhn", "openood-cifar10:texture",
         "openood-cifar10:places365"),
        "openood-cifar10:val-ood", "openood-cifar10:val", "openood-cifar10:tin597", c10.source)
    assert "OpenOOD v1.5" in c10.source
    c100 = BENCHMARKS["cifar100"]
    assert c100.near == ("openood-cifar100:cifar10", "openood-cifar100:tin")
    assert c100.far[0] == "openood-cifar100:mnist" and c100.outliers == "openood-cifar100:tin597"
    assert c100.val_ood == "openood-cifar100:val-ood" and c100.val_id == "openood-cifar100:val"
    imagenet = BENCHMARKS["imagenet200"]
    assert (imagenet.near, imagenet.far) == (("ssb-hard", "ninco"),
                                             ("inaturalist", "textures-openood", "openimage-o"))
    assert (imagenet.val_ood, imagenet.val_id, imagenet.outliers) == \
        ("openimage-o:val", "imagenet200:val", "imagenet800:train")
    offline = BENCHMARKS["offline-cifar10"]
    assert (offline.near, offline.far, offline.val_ood, offline.val_id, offline.outliers) == \
        (("tinyimagenet32-heldout",), ("dtd10@jpeg75",), None, None, "tinyimagenet32-oe")
    assert "NOT OpenOOD" in offline.source
    with pytest.raises(AttributeError):
        c10.near = ()  # frozen


@pytest.mark.parametrize("name", list(BENCHMARKS))
def test_every_benchmark_spec_names_a_registered_set_and_split(name):
    bench = BENCHMARKS[name]
    assert not set(bench.near) & set(bench.far)
    for text in (*bench.ood, bench.val_ood, bench.val_id, bench.outliers):
        if text is None:
            continue
        spec = parse_spec(split_modifiers(text)[0])
        ds = registry.get(spec.target)
        assert spec.options.get("split", ds.default_split) in ds.splits, text


@pytest.mark.parametrize("spec, expected", [
    ("openood-cifar10", "cifar10"), ("openood-cifar10:test", "cifar10"),
    ("openood-cifar10@random5000", "cifar10"), ("cifar10", "cifar10"), ("cifar10:test", "cifar10"),
    ("cifar10:test@jpeg75@random5000", "cifar10"),
    ("openood-cifar100", "cifar100"), ("openood-cifar100:test@first100", "cifar100"),
    ("cifar100", "cifar100"), ("cifar100:test@random5000", "cifar100"),
    ("imagenet200", "imagenet200"), ("imagenet200:test@random1000", "imagenet200"),
    ("cifar10-subset", "offline-cifar10"), ("cifar10-subset:test@random5000", "offline-cifar10"),
])
def test_benchmark_for_each_spelling(spec, expected):
    assert benchmark_for(spec) is BENCHMARKS[expected]


@pytest.mark.parametrize("spec", [
    "svhn", "svhn:test", "tinyimagenet", "no-such-set", "cifar10:train", "openood-cifar10:val",
    "openood-cifar10:tin", "cifar10-subset:train@random5000", "imagenet200:val",
    "npz:data/cifar10_test.npz", "folder:/data/cifar10", "noise:gaussian", "digits:test",
])
def test_benchmark_for_other_sets_is_none(spec):
    assert benchmark_for(spec) is None


def test_benchmark_for_a_malformed_spec_raises():
    with pytest.raises(UserInputError, match="malformed data spec"):
        benchmark_for("cifar10:test:extra")
