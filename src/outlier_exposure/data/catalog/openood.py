"""OpenOOD v1.5's ImageNet-200 benchmark as registry entries (github.com/Jingkang50/OpenOOD).

Facts from OpenOOD's sources (configs/datasets/imagenet200/*.yml, the evaluation API's table in
openood/evaluation_api/datasets.py, scripts/download/download.py):
- A split is an image list (formats/imglist.py), benchmark_imglist/imagenet200/NAME.txt, whose
  paths are relative to images_largescale/ (Textures: images_classic/).
- In-distribution: imagenet200 train / val / test (train_imagenet200.txt, val_imagenet200.txt,
  test_imagenet200.txt; 200 classes). OE outliers: imagenet800 train (train_imagenet800.txt,
  imagenet200_oe.yml), the other 800 ImageNet-1K classes; their labels are not used.
- OOD test sets, as `scripts/eval_ood.py --id-data imagenet200` reads them (the evaluation
  API: lists in benchmark_imglist/imagenet200/; the older imagenet200_ood.yml names copies in
  benchmark_imglist/imagenet/): near-OOD SSB-hard, NINCO; far-OOD iNaturalist, Textures,
  OpenImage-O; OpenImage-O also has the OOD validation list val_openimage_o.txt.
- Preprocessing: Resize(pre_size) + CenterCrop, bilinear (rule "crop" here, to the run's stored
  size, e.g. 256 for the `imagenet200-resnet18` preset; the 224 crop is the model's input step).
- Train images: the paths are imagenet_1k/train/WNID/FILE.JPEG, the official ILSVRC2012 train set,
  which OpenOOD does not redistribute. Val/test images: imagenet_1k/val/ILSVRC2012_val_*.JPEG,
  from OpenOOD's imagenet_1k zip.

Our `textures` entry is all of DTD read from its own folder (dtd/images/); OpenOOD's ImageNet
Textures is its own list over its own copy (images_classic/texture/), so it is a separate entry,
`textures-openood`, rather than an alias whose images could differ from OpenOOD's.

Every entry shares the folder `openood` under the data root, laid out as OpenOOD's data/ folder,
so OpenOOD's data is unpacked once. No digests: OpenOOD publishes none for its Google Drive zips
or lists, so files are checked for presence only. Google Drive answers large files with a
confirmation page rather than the file, so these are manual entries (OpenOOD's own script,
which uses gdown, fetches them).

The helpers below (ListSplit, manual_steps, list_reader, register_entries, the Drive ids) serve
every OpenOOD benchmark: openood_cifar.py registers the CIFAR-10 / CIFAR-100 ones with them.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from ..formats.imglist import image_list_set
from ..imageset import ImageSet
from .registry import Dataset, FileReq, register

FOLDER = "openood"
LISTS = "benchmark_imglist/imagenet200"
LARGE = "images_largescale"
CLASSIC = "images_classic"
RULE = "crop"

# Google Drive ids of OpenOOD's zips (scripts/download/download.py, download_id_dict).
DRIVE_IDS = {
    "benchmark_imglist": "1lI1j0_fDDvjIt9JlWAw09X8ks-yrR_H1",
    "imagenet_1k": "1i1ipLDFARR-JZ9argXd2-0a6DXwVhXEj",
    "ssb_hard": "1PzkA-WGG8Z18h0ooL_pDdz9cO-DCIouE",
    "ninco": "1Z82cmvIB0eghTehxOGP5VTdLt7OD3nk6",
    "inaturalist": "1zfLfMvoUD0CUlKNnkk7LgxZZBnTBipdj",
    "openimage_o": "1VUFXnB_z70uHfdgJG2E_pjYOcEgqM7tE",
    "texture": "1OSz1m3hHfVWbRdmMwKbUzoU8Hg9UKcam",
    # The CIFAR benchmarks' sets (openood_cifar.py).
    "cifar10": "1Co32RiiWe16lTaiOU6JMMnyUYS41IlO1",
    "cifar100": "1PGKheHUsf29leJPPGuXqzLBMwl8qMF8_",
    "tin": "1PZ-ixyx52U989IKsMA2OT-24fToTrelC",
    "tin597": "1R0d8zBcUxWNXz6CPXanobniiIfQbpKzn",
    "mnist": "1CCHAGWqA1KJTFFswuF9cbhmB-j98Y1Sb",
    "svhn": "1DQfc11HOtB1nEwqS4pWUFp8vtQ3DczvI",
    "places365": "1Ec-LRSTf6u5vEctKX9vRp9OA6tqnJ0Ay",
}
# The zips download.py unpacks under images_classic/ (its dir_dict); every other one goes under
# images_largescale/.
CLASSIC_ZIPS = frozenset({"texture", "cifar10", "cifar100", "tin", "tin597", "mnist", "svhn",
                          "places365"})


@dataclass(frozen=True)
class ListSplit:
    """One split: its list file (in the list folder `lists`), the image root its paths are
    relative to, and the image folder (relative to the image root) that must hold its images."""

    list_file: str
    root: str
    images: str
    lists: str = LISTS

    @property
    def list_path(self) -> str:
        """The list file relative to the openood folder."""
        return f"{self.lists}/{self.list_file}"

    def requirements(self) -> tuple[FileReq, ...]:
        return (FileReq(self.list_path), FileReq(f"{self.root}/{self.images}/"))

    def layout(self, folder: Path) -> str:
        return (f"{folder / self.lists / self.list_file} names images relative to "
                f"{folder / self.root}/ (e.g. {folder / self.root / self.images}/...)")


def _largescale(list_file: str, images: str) -> ListSplit:
    return ListSplit(list_file, LARGE, images)


# name -> (title, role, splits, default split, labelled, OpenOOD zips it needs)
ENTRIES = {
    "imagenet200": (
        ("ImageNet-200 (OpenOOD v1.5): 200 ImageNet-1K classes; train from ILSVRC2012 train, "
         "val/test from its val images (manual); Resize + CenterCrop, read lazily"),
        "in-distribution",
        {"train": _largescale("train_imagenet200.txt", "imagenet_1k/train"),
         "val": _largescale("val_imagenet200.txt", "imagenet_1k/val"),
         "test": _largescale("test_imagenet200.txt", "imagenet_1k/val")},
        "test", True, ("imagenet_1k",)),
    "imagenet800": (
        ("ImageNet-800 (OpenOOD v1.5): ILSVRC2012 train images of the 800 classes not in "
         "ImageNet-200, OpenOOD's OE outliers (manual); read lazily"),
        "outliers",
        {"train": _largescale("train_imagenet800.txt", "imagenet_1k/train")},
        "train", False, ()),
    "ssb-hard": (
        "SSB-hard (OpenOOD v1.5 ImageNet near-OOD; manual); Resize + CenterCrop, read lazily",
        "OOD test (near)", {"test": _largescale("test_ssb_hard.txt", "ssb_hard")},
        "test", False, ("ssb_hard",)),
    "ninco": (
        "NINCO (OpenOOD v1.5 ImageNet near-OOD; manual); Resize + CenterCrop, read lazily",
        "OOD test (near)", {"test": _largescale("test_ninco.txt", "ninco")},
        "test", False, ("ninco",)),
    "inaturalist": (
        "iNaturalist OOD subset (OpenOOD v1.5 ImageNet far-OOD; manual); Resize + CenterCrop, read lazily",
        "OOD test (far)", {"test": _largescale("test_inaturalist.txt", "inaturalist")},
        "test", False, ("inaturalist",)),
    "textures-openood": (
        ("Textures as OpenOOD v1.5's ImageNet far-OOD list reads it (its DTD copy; manual); "
         "Resize + CenterCrop, read lazily"),
        "OOD test (far)", {"test": ListSplit("test_textures.txt", CLASSIC, "texture")},
        "test", False, ("texture",)),
    "openimage-o": (
        ("OpenImage-O (OpenOOD v1.5 ImageNet far-OOD; test, and val for tuning; manual); "
         "Resize + CenterCrop, read lazily"),
        "OOD test (far)",
        {"test": _largescale("test_openimage_o.txt", "openimage_o"),
         "val": _largescale("val_openimage_o.txt", "openimage_o")},
        "test", False, ("openimage_o",)),
}


def _zip_steps(zips: tuple[str, ...], lists: tuple[str, ...]) -> str:
    """Where each of OpenOOD's zips goes (as its download script unpacks them)."""
    giving = ", ".join(f"{{dir}}/{folder}/*.txt" for folder in lists)
    steps = [(f"benchmark_imglist.zip (Drive id {DRIVE_IDS['benchmark_imglist']}) unzipped in "
              f"{{dir}}, giving {giving}")]
    for name in zips:
        root = CLASSIC if name in CLASSIC_ZIPS else LARGE
        steps.append(f"{name}.zip (Drive id {DRIVE_IDS[name]}) unzipped in {{dir}}/{root}/{name}/")
    return "; ".join(steps)


def manual_steps(zips: tuple[str, ...], splits: dict[str, ListSplit]) -> str:
    """The steps that put an entry's files in place ("{dir}": the shared openood folder): the
    list zip and the image zips `zips` (names of DRIVE_IDS), with their Drive ids."""
    text = ("OpenOOD v1.5's data is on Google Drive (no published checksums; Drive's confirmation "
            "step needs gdown, so it is not fetched here).")
    if zips:
        text += (" In a checkout of https://github.com/Jingkang50/OpenOOD run `pip install gdown` and "
                 "`python scripts/download/download.py --contents datasets --dataset_mode dataset "
                 f"--datasets {' '.join(zips)} --save_dir {{dir}}`, or fetch each zip")
    else:
        text += " Fetch the image lists"
    lists = tuple(dict.fromkeys(s.lists for s in splits.values()))
    text += (f" with `gdown ID` (pip install gdown) and unpack as OpenOOD's download script does: "
             f"{_zip_steps(zips, lists)}. All OpenOOD sets share {{dir}}, laid out as OpenOOD's data/ folder.")
    if any(s.images == "imagenet_1k/train" for s in splits.values()):
        text += (" The training images are not in OpenOOD's download: get ILSVRC2012_img_train.tar "
                 "from image-net.org and unpack each class tar into "
                 "{dir}/images_largescale/imagenet_1k/train/WNID/ (e.g. "
                 "{dir}/images_largescale/imagenet_1k/train/n01443537/n01443537_10007.JPEG).")
    read = ", ".join(s.list_path for s in splits.values())
    return text + f" This set reads {read}."


def list_reader(name: str, splits: dict[str, ListSplit], labelled: Collection[str]):
    """The registry reader of an entry whose splits are image lists: split -> a lazy set at the
    run's size, rule RULE (OpenOOD's Resize + CenterCrop); the splits in `labelled` keep their
    labels (in-distribution), the others drop them (OOD sets and outliers)."""
    def read(folder: Path, split: str, size: tuple[int, int]) -> ImageSet:
        spec = splits[split]
        return image_list_set(folder / spec.lists / spec.list_file, folder / spec.root, size, RULE,
                              name, labelled=split in labelled, layout=spec.layout(folder))

    return read


NOTES = ("OpenOOD publishes no checksums for its lists or zips: presence is checked, not digests; "
         "images are decoded a batch at a time (never cached)")


def register_entries(entries: dict) -> None:
    """Register entries given as name -> (title, role, splits, default split, labelled splits,
    OpenOOD zips they need), all in the shared folder FOLDER."""
    for name, (title, role, splits, default, labelled, zips) in entries.items():
        register(Dataset(
            name, title, splits={s: spec.requirements() for s, spec in splits.items()},
            default_split=default, read=list_reader(name, splits, labelled), folder=FOLDER,
            role=role, manual=manual_steps(zips, splits), notes=NOTES,
        ))


def _register_all() -> None:
    register_entries({name: (title, role, splits, default, set(splits) if labelled else set(), zips)
                      for name, (title, role, splits, default, labelled, zips) in ENTRIES.items()})


_register_all()
