"""OpenOOD v1.5's ImageNet-200 sets through the registry: image lists (formats/imglist.py) over a
fabricated copy of OpenOOD's data/ layout, in the exact format of its list files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torchvision.transforms as T
from PIL import Image

from outlier_exposure.cli import main
from outlier_exposure.data.catalog import openood, registry
from outlier_exposure.data.datasets import load_images
from outlier_exposure.data.formats.archives import decode_files
from outlier_exposure.data.formats.imglist import (
    folder_classes,
    image_list_set,
    read_image_list,
)
from outlier_exposure.data.formats.lazy_folder import FolderImages
from outlier_exposure.data.storage import roots
from outlier_exposure.errors import UserInputError
from tests.helpers.isolation import isolated_registry  # noqa: F401 (a fixture)
from tests.helpers.datasets_on_disk import write_image

NEW = ("imagenet200", "imagenet800", "ssb-hard", "ninco", "inaturalist", "textures-openood", "openimage-o")


# Private caches and roots; the registry as it was before each test.
pytestmark = pytest.mark.usefixtures("isolated_registry")


def _write_list(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines))


def _images(root: Path, relative: list[str], sizes: list[tuple[int, int]]) -> None:
    for rel, size in zip(relative, sizes):
        write_image(root / rel, size, fmt="PNG" if rel.endswith(".png") else "JPEG")


def fake_openood(root: Path) -> dict[str, list[str]]:
    """ROOT/openood/ as OpenOOD's data/ folder: lists, ImageNet train (by wnid) and flat val,
    SSB-hard, Textures (images_classic), OpenImage-O. Returns each list's relative paths."""
    base = root / "openood"
    large, lists = base / "images_largescale", base / "benchmark_imglist" / "imagenet200"
    train = ["imagenet_1k/train/n01443537/n01443537_10007.JPEG", "imagenet_1k/train/n01443537/n01443537_2.JPEG",
             "imagenet_1k/train/n01484850/n01484850_11.JPEG"]
    _images(large, train, [(90, 70), (64, 64), (50, 120)])
    _write_list(lists / "train_imagenet200.txt", [f"{train[0]} 0", f"{train[1]} 0", "", f"{train[2]} 1"])
    outliers = ["imagenet_1k/train/n01440764/n01440764_1.JPEG", "imagenet_1k/train/n09999999/n09999999_5.JPEG"]
    _images(large, outliers, [(80, 60), (40, 40)])
    _write_list(lists / "train_imagenet800.txt", [f"{outliers[0]} 0", f"{outliers[1]} 799"])
    val = [f"imagenet_1k/val/ILSVRC2012_val_0000000{k}.JPEG" for k in (1, 2, 3)]
    _images(large, val, [(100, 75), (75, 100), (33, 33)])
    _write_list(lists / "test_imagenet200.txt", [f"{val[0]} 1", f"{val[1]} 0"])
    _write_list(lists / "val_imagenet200.txt", [f"{val[2]} 1"])
    ssb = ["ssb_hard/n00000001/ILSVRC2012_val_00040000.JPEG", "ssb_hard/n00000002/x.JPEG"]
    _images(large, ssb, [(70, 70), (120, 80)])
    _write_list(lists / "test_ssb_hard.txt", [f"{p} -1" for p in ssb])
    openimage = ["openimage_o/images/0a1b.jpg", "openimage_o/images/ff00.jpg"]
    _images(large, openimage, [(64, 48), (48, 64)])
    _write_list(lists / "test_openimage_o.txt", [f"{openimage[0]} -1"])
    _write_list(lists / "val_openimage_o.txt", [f"{openimage[1]} 3"])  # OOD labels mean nothing
    texture = ["texture/banded/banded_0002.jpg", "texture/zigzagged/zigzagged_0001.png"]
    _images(base / "images_classic", texture, [(300, 200), (45, 45)])
    _write_list(lists / "test_textures.txt", [f"{p} -1" for p in texture])
    return {"train": train, "imagenet800": outliers, "test": val[:2], "ssb": ssb, "texture": texture}


def _reference(files: list[Path], s: int) -> np.ndarray:
    """OpenOOD's test transform without the tensor steps: Resize(s) + CenterCrop(s), bilinear."""
    reference = T.Compose([T.Resize(s, interpolation=T.InterpolationMode.BILINEAR), T.CenterCrop(s)])
    out = []
    for f in files:
        with Image.open(f) as im:
            out.append(np.asarray(reference(im.convert("RGB"))))
    return np.stack(out)


# ---------------------------------------------------------------------------------------------
# The list format


def test_read_image_list_paths_labels_and_blank_lines(tmp_path):
    path = tmp_path / "list.txt"
    path.write_text("a/b.JPEG 3\n\n   \nc/d.png\t-1\nf/g.jpg  7 \n")
    files, labels = read_image_list(path)
    assert files == ["a/b.JPEG", "c/d.png", "f/g.jpg"]
    assert labels.dtype == np.int64 and labels.tolist() == [3, -1, 7]


@pytest.mark.parametrize("bad, line", [("x/y.JPEG seven", 3), ("x/y.JPEG 1 2", 3), ("/abs/y.JPEG 1", 3),
                                       ("x/y.JPEG", 3), ("x/y z.JPEG 1", 3)])
def test_malformed_line_names_the_file_and_line(tmp_path, bad, line):
    path = tmp_path / "list.txt"
    path.write_text(f"a.JPEG 0\n\n{bad}\n")
    with pytest.raises(UserInputError, match=rf"list\.txt, line {line}:"):
        read_image_list(path)


def test_folder_classes_only_when_the_folders_agree():
    assert folder_classes(["t/n2/a.J", "t/n1/b.J", "t/n2/c.J"], np.array([1, 0, 1])) == ["n1", "n2"]
    assert folder_classes(["v/a.J", "v/b.J"], np.array([0, 1])) is None  # flat val folder
    assert folder_classes(["t/n1/a.J"], np.array([1])) is None  # label 0 never seen


def test_labelled_list_with_negative_labels_is_refused(tmp_path):
    write_image(tmp_path / "img" / "a.png", (8, 8))
    path = tmp_path / "list.txt"
    path.write_text("a.png -1\n")
    with pytest.raises(UserInputError, match="negative label.*OOD list"):
        image_list_set(path, tmp_path / "img", (8, 8), "crop", "x", labelled=True)
    assert image_list_set(path, tmp_path / "img", (8, 8), "crop", "x").y is None  # decided: OOD


def test_a_wrong_image_root_fails_at_once_naming_it(tmp_path):
    write_image(tmp_path / "img" / "sub" / "a.png", (8, 8))
    path = tmp_path / "list.txt"
    path.write_text("sub/a.png 0\nsub/b.png 0\n")
    with pytest.raises(UserInputError, match=r"names 'sub/b\.png', which is not in .*img.*Expected layout: LAYOUT"):
        image_list_set(path, tmp_path / "img", (8, 8), "crop", "x", layout="LAYOUT")
    with pytest.raises(UserInputError, match=r"nowhere does not exist"):
        image_list_set(path, tmp_path / "nowhere", (8, 8), "crop", "x")


# ---------------------------------------------------------------------------------------------
# Through the registry


def test_imagenet200_train_labels_and_pixels(tmp_path):
    written = fake_openood(tmp_path)
    large = tmp_path / "openood" / "images_largescale"
    with roots.data_settings(tmp_path):
        assert registry.dataset_dir("imagenet200") == tmp_path / "openood"
        assert registry.status("imagenet200").state == "present"
        got = load_images("imagenet200:train", (32, 32, 3))
    assert isinstance(got.x, FolderImages) and got.x.shape == (3, 32, 32, 3)
    assert got.y.tolist() == [0, 0, 1] and got.classes == ["n01443537", "n01484850"]
    files = [large / f for f in written["train"]]
    eager, _ = decode_files(files, (32, 32), "crop", source="test")
    np.testing.assert_array_equal(got.x[[0, 1, 2]], eager)
    np.testing.assert_array_equal(got.x[[2, 0]], _reference(files, 32)[[2, 0]])


def test_imagenet200_test_and_val_from_the_flat_val_folder(tmp_path):
    written = fake_openood(tmp_path)
    with roots.data_settings(tmp_path):
        test = load_images("imagenet200:test", (32, 32, 3))
        val = load_images("imagenet200:val", (32, 32, 3))
    assert test.y.tolist() == [1, 0] and val.y.tolist() == [1] and test.classes is None
    files = [tmp_path / "openood" / "images_largescale" / f for f in written["test"]]
    np.testing.assert_array_equal(test.x[[0, 1]], _reference(files, 32))


@pytest.mark.parametrize("spec, n", [("ssb-hard", 2), ("textures-openood", 2), ("openimage-o", 1),
                                     ("openimage-o:val", 1), ("imagenet800:train", 2)])
def test_ood_and_outlier_lists_load_unlabelled(tmp_path, spec, n):
    fake_openood(tmp_path)
    with roots.data_settings(tmp_path):
        got = load_images(spec, (24, 24, 3))
    assert got.y is None and got.x.shape == (n, 24, 24, 3)
    assert got.x[list(range(n))].dtype == np.uint8


def test_textures_openood_reads_images_classic(tmp_path):
    written = fake_openood(tmp_path)
    with roots.data_settings(tmp_path):
        got = load_images("textures-openood", (32, 32, 3))
    files = [tmp_path / "openood" / "images_classic" / f for f in written["texture"]]
    np.testing.assert_array_equal(got.x[[0, 1]], _reference(files, 32))


def test_malformed_list_through_the_registry(tmp_path):
    fake_openood(tmp_path)
    lists = tmp_path / "openood" / "benchmark_imglist" / "imagenet200"
    (lists / "test_ninco.txt").write_text("ninco/a.jpg -1\nninco/b.jpg,-1\n")
    write_image(tmp_path / "openood" / "images_largescale" / "ninco" / "a.jpg", (20, 20), fmt="JPEG")
    line2 = r"test_ninco\.txt, line 2: expected 'RELATIVE/PATH LABEL'"
    with roots.data_settings(tmp_path), pytest.raises(UserInputError, match=line2):
        load_images("ninco", (32, 32, 3))


def test_missing_images_folder_gives_the_manual_steps(tmp_path):
    fake_openood(tmp_path)
    with roots.data_settings(tmp_path), pytest.raises(UserInputError) as err:
        load_images("inaturalist", (32, 32, 3))
    text = str(err.value)
    folder = tmp_path / "openood"
    assert f"is not in {folder}: missing benchmark_imglist/imagenet200/test_inaturalist.txt, " \
           "images_largescale/inaturalist/" in text
    assert openood.DRIVE_IDS["inaturalist"] in text and openood.DRIVE_IDS["benchmark_imglist"] in text
    assert f"unzipped in {folder}/images_largescale/inaturalist/" in text
    assert "scripts/download/download.py --contents datasets --dataset_mode dataset --datasets inaturalist" in text


def test_images_unpacked_one_level_too_deep_is_one_clear_error(tmp_path):
    written = fake_openood(tmp_path)
    large = tmp_path / "openood" / "images_largescale"
    (large / "ssb_hard").rename(tmp_path / "ssb_hard")  # unzipped with an extra folder level
    (large / "ssb_hard").mkdir()
    (tmp_path / "ssb_hard").rename(large / "ssb_hard" / "ssb_hard")
    with roots.data_settings(tmp_path):
        assert registry.status("ssb-hard").state == "present"  # the folder is there, not its layout
        with pytest.raises(UserInputError) as err:
            load_images("ssb-hard", (32, 32, 3))
    text = str(err.value)
    assert f"test_ssb_hard.txt names {written['ssb'][0]!r}, which is not in {large}" in text
    assert "Expected layout:" in text and f"relative to {large}/" in text


def test_imagenet200_train_needs_the_ilsvrc_train_images(tmp_path):
    with roots.data_settings(tmp_path), pytest.raises(UserInputError) as err:
        load_images("imagenet200:train", (32, 32, 3))
    text = str(err.value)
    assert "missing benchmark_imglist/imagenet200/train_imagenet200.txt, images_largescale/imagenet_1k/train/" in text
    assert "ILSVRC2012_img_train.tar" in text and "imagenet_1k/train/WNID/" in text


def test_every_new_entry_shares_the_openood_folder_and_has_no_digests():
    for name in NEW:
        ds = registry.get(name)
        assert ds.folder == "openood" and not ds.downloads and "no checksums" in ds.notes
        assert all(r.md5 is None and r.sha256 is None for reqs in ds.splits.values() for r in reqs)


def test_oe_datasets_lists_the_new_entries(tmp_path, capsys):
    assert main(["datasets", "--data-root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line and not line.startswith(" ")}
    for name in NEW:
        assert rows[name][1] == "missing" and rows[name][-1] == str(tmp_path / "openood")
        assert f"  {name}: OpenOOD v1.5's data is on Google Drive" in out
    assert f"--save_dir {tmp_path / 'openood'}" in out

    fake_openood(tmp_path)
    assert main(["datasets", "--data-root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line and not line.startswith(" ")}
    assert rows["imagenet200"][1] == "present" and rows["ssb-hard"][1] == "present"
    assert rows["ninco"][1] == "missing" and rows["inaturalist"][1] == "missing"
