"""The registered datasets: facts (URLs, checksums, layouts, preprocessing), one entry each.

Digests: torchvision's published md5s where torchvision knows the file (CIFAR, SVHN, MNIST,
Fashion-MNIST, DTD, Omniglot, Places365), the md5 every Tiny ImageNet loader uses, the md5s
that pytorch-ood and detectors check ODIN's LSUN/iSUN archives and Chars74K against (their
hosts publish none), and the sha256 values of the project's offline data manifest. notMNIST
is checked by its size only, with a warning (docs/datasets.md has the whole table). Sizes
(`approx_size`, shown by the download plan, not checked) are the sizes the hosts report for
the files (Places365's rounded to 4.4 GB).

Preprocessing (docs/protocol.md section 4 and the reference test scripts), to the model's size s (the
readers that apply it are in recipes.py, the resize rules in data/resize.py):
- CIFAR, SVHN, MNIST-family, offline .npz sets: square images, resized to s only when s differs
  (Resize(s), e.g. SVHN at 64 for Tiny ImageNet, CIFAR-10 at 28 for MNIST).
- Textures, Places365, LSUN, iSUN, Chars74K, Tiny ImageNet, ImageNet-800, ImageNet-22K:
  Resize(s) + CenterCrop(s).
- Icons-50: Resize((s, s)) without the "numbers" class.
- Omniglot: 15 "safe" alphabets, strokes white on black, binary after resizing.
Grey models get a luma conversion later (`spec.fit_to_shape`), after the resize, as the reference.
Lazy sets (80M Tiny Images, a large ImageNet-22K folder) are resized there too, batch by batch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..formats import lazy_folder
from ..formats import tinyimages as _tinyimages
from ..imageset import ImageSet
from .recipes import (
    PLACES_SEED, PLACES_SUBSET, TIN, cifar_reader, folder_reader, idx_reader, npz_reader,
    omniglot_read, places_read, svhn_reader, tinyimagenet_read,
)
from .registry import Dataset, Download, FileReq, register

# ---------------------------------------------------------------------------------------------
# Public datasets

_C10 = "cifar-10-batches-py"
_C10_MD5 = {"data_batch_1": "c99cafc152244af753f735de768cd75f", "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
            "data_batch_3": "54ebc095f3ab1f0389bbae665268c751", "data_batch_4": "634d18415352ddfa80567beed471001a",
            "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb", "test_batch": "40351d587109b95175f43aff81a1287e",
            "batches.meta": "5ff9c542aee3614f3951f8cda6e48888"}
_C10_SPLITS = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}


def _files(base: str, names: Sequence[str], md5: dict[str, str]) -> tuple[FileReq, ...]:
    return tuple(FileReq(f"{base}/{n}", md5=md5.get(n)) for n in names)


register(Dataset(
    "cifar10", "CIFAR-10 (50,000 train / 10,000 test, 32x32, 10 classes)",
    splits={s: _files(_C10, [*b, "batches.meta"], _C10_MD5) for s, b in _C10_SPLITS.items()},
    default_split="test", role="in-distribution; OOD test for CIFAR-100",
    read=cifar_reader(_C10, _C10_SPLITS, "labels", "batches.meta", "label_names"),
    downloads=(Download("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz", "cifar-10-python.tar.gz",
                        md5="c58f30108f718f92721af3b95e74349a", extract_to="", approx_size=170_498_071),),
))

_C100 = "cifar-100-python"
_C100_MD5 = {"train": "16019d7e3df5f24257cddd939b257f8d", "test": "f0ef6b0ae62326f3e7ffdfab6717acfc",
             "meta": "7973b15100ade9c7d40fb424638fde48"}
_C100_SPLITS = {"train": ["train"], "test": ["test"]}
register(Dataset(
    "cifar100", "CIFAR-100 (50,000 train / 10,000 test, 32x32, 100 fine classes)",
    splits={s: _files(_C100, [*b, "meta"], _C100_MD5) for s, b in _C100_SPLITS.items()},
    default_split="test", role="in-distribution; OOD test for CIFAR-10",
    read=cifar_reader(_C100, _C100_SPLITS, "fine_labels", "meta", "fine_label_names"),
    downloads=(Download("https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz", "cifar-100-python.tar.gz",
                        md5="eb9058c3a382ffc7106e4002c42a8d85", extract_to="", approx_size=169_001_437),),
))

_SVHN_MD5 = {"train_32x32.mat": "e26dedcc434d2e4c54c9b2d4a06d8373", "test_32x32.mat": "eb5a983be6a315427106f1b164d9cef3",
             "extra_32x32.mat": "a93ce644f1a588dc4d68dda5feec44a7"}
_SVHN_BYTES = {"train_32x32.mat": 182_040_794, "test_32x32.mat": 64_275_384, "extra_32x32.mat": 1_329_278_602}
_SVHN_SPLITS = {"train": ("train_32x32.mat", "extra_32x32.mat"), "train-only": ("train_32x32.mat",),
                "extra": ("extra_32x32.mat",), "test": ("test_32x32.mat",)}
register(Dataset(
    "svhn", "SVHN digits (train = train+extra 604,388 as the reference; train-only 73,257; extra; test 26,032)",
    splits={s: tuple(FileReq(f, md5=_SVHN_MD5[f]) for f in fs) for s, fs in _SVHN_SPLITS.items()},
    default_split="test", role="in-distribution; OOD test for CIFAR / Tiny ImageNet",
    read=svhn_reader(_SVHN_SPLITS),
    downloads=tuple(Download(f"https://ufldl.stanford.edu/housenumbers/{f}", f, md5=m, approx_size=_SVHN_BYTES[f])
                    for f, m in _SVHN_MD5.items()),
    notes="label 10 is the digit 0 (mapped to 0)",
))

_MNIST_FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
                "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}


def _idx_dataset(name: str, title: str, mirror: str, md5: dict[str, str], sizes: tuple[int, ...],
                 classes, role: str) -> Dataset:
    return register(Dataset(
        name, title,
        splits={s: tuple(FileReq(f, md5=md5[f]) for f in fs) for s, fs in _MNIST_FILES.items()},
        default_split="test", role=role, read=idx_reader(_MNIST_FILES, classes),
        downloads=tuple(Download(mirror + f, f, md5=m, approx_size=n)
                        for (f, m), n in zip(md5.items(), sizes)),
    ))


_idx_dataset("mnist", "MNIST digits (60,000 train / 10,000 test, 28x28 grey)",
             "https://ossci-datasets.s3.amazonaws.com/mnist/",
             {"train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
              "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
              "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
              "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c"},
             (9_912_422, 28_881, 1_648_877, 4_542), [str(d) for d in range(10)], "in-distribution")
# Plain HTTP: S3 website endpoints (the only address the authors publish) have no HTTPS; the
# md5s pin the files.
_idx_dataset("fashion-mnist", "Fashion-MNIST (60,000 train / 10,000 test, 28x28 grey)",
             "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
             {"train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
              "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
              "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
              "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310"},
             (26_421_880, 29_515, 4_422_102, 5_148), ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
              "Bag", "Ankle boot"], "OOD test for MNIST")

register(Dataset(
    "tinyimagenet", "Tiny ImageNet (200 classes, 64x64; train 100,000; val 10,000, the reference's test set)",
    splits={"train": (FileReq(f"{TIN}/wnids.txt"), FileReq(f"{TIN}/train/")),
            "val": (FileReq(f"{TIN}/wnids.txt"), FileReq(f"{TIN}/val/")),
            "test": (FileReq(f"{TIN}/wnids.txt"), FileReq(f"{TIN}/val/"))},
    default_split="val", role="in-distribution", read=tinyimagenet_read,
    downloads=(Download("https://cs231n.stanford.edu/tiny-imagenet-200.zip", "tiny-imagenet-200.zip",
                        md5="90528d7ca1a48142e341f4ef8d21d0de", extract_to="", approx_size=248_100_043),),
    notes="test is an alias of val (the official test split has no labels)",
))

register(Dataset(
    "textures", "Describable Textures (DTD, 5,640 images, 47 classes); Resize + CenterCrop",
    splits={"all": (FileReq("dtd/images/"),)}, default_split="all",
    read=folder_reader("dtd/images", "crop", labelled=True),
    downloads=(Download("https://www.robots.ox.ac.uk/~vgg/data/dtd/download/dtd-r1.0.1.tar.gz",
                        "dtd-r1.0.1.tar.gz", md5="fff73e5086ae6bdbea199a49dfb8a4c1", extract_to="",
                        approx_size=625_239_812),),
))

register(Dataset(
    "places365", f"Places365-Standard test images, a fixed random {PLACES_SUBSET:,} (read from test_256.tar); Resize + CenterCrop",
    splits={"test": (FileReq("test_256.tar", md5="f532f6ad7b582262a2ec8009075e186b"),)}, default_split="test",
    read=places_read,
    downloads=(Download("https://data.csail.mit.edu/places/places365/test_256.tar", "test_256.tar",
                        md5="f532f6ad7b582262a2ec8009075e186b", approx_size=4_400_000_000),),
    notes=f"the reference's 'test_subset' is unpublished; ours: numpy default_rng({PLACES_SEED}) draws "
          f"{PLACES_SUBSET} of the sorted test images (4.4 GB download)",
))

register(Dataset(
    "lsun", "LSUN scene-classification test set (10,000 images), as the reference reads it; Resize + CenterCrop",
    splits={"test": (FileReq("test/"),)}, default_split="test",
    read=folder_reader("test", "crop", labelled=False),
    manual=("get the LSUN test set with the LSUN toolkit (https://github.com/fyu/lsun): "
            "`python3 download.py -c test`, unzip test_lmdb.zip, then `pip install lmdb` and "
            "`python3 data.py export test_lmdb --out_dir {dir}/test --flat`, so that the 10,000 "
            "images are files in {dir}/test/. (ODIN's ready-made 32x32 crops are the dataset `lsun-crop`.)"),
))


def _odin(name: str, title: str, url: str, archive: str, md5: str) -> None:
    register(Dataset(
        name, f"{title} (ODIN's archive, 10,000 32x32 images or so); Resize + CenterCrop if not 32",
        splits={"test": (FileReq("images/"),)}, default_split="test",
        read=folder_reader("images", "crop", labelled=False),
        downloads=(Download(url, archive, md5=md5, extract_to="images"),),
        manual=f"download {url} and unpack it into {{dir}}/images/",
    ))


# ODIN's hosts publish no digests; these md5s are the ones the pytorch-ood and detectors
# libraries check the same archives against (not recomputed here: no network; docs/datasets.md).
_odin("lsun-crop", "LSUN crop", "https://www.dropbox.com/s/fhtsw1m3qxlwj6h/LSUN.tar.gz?dl=1", "LSUN.tar.gz",
      "458a0a0ab8e5f1cb4516d7400568e460")
_odin("lsun-resize", "LSUN resize", "https://www.dropbox.com/s/moqh2wh8696c3yl/LSUN_resize.tar.gz?dl=1",
      "LSUN_resize.tar.gz", "278b7b31c8cb7e804a1465a8ce03a2dc")
_odin("isun", "iSUN", "https://www.dropbox.com/s/ssz7qxfqae0cca5/iSUN.tar.gz?dl=1", "iSUN.tar.gz",
      "be77b0f2c26fda898afac5f99645ee70")

register(Dataset(
    "icons50", "Icons-50 (about 10,000 icons, 50 classes) without the 'numbers' class; Resize((s, s))",
    splits={"all": (FileReq("Icons-50/"),)}, default_split="all",
    read=folder_reader("Icons-50", "squash", labelled=True, exclude=("numbers",)),
    manual=("Icons-50 has no direct download link: get it from https://github.com/hendrycks/robustness "
            "(section 'Icons-50': a box.com or Google Drive folder), unpack it, and put the 50 class "
            "folders in {dir}/Icons-50/ (e.g. {dir}/Icons-50/airplane/*.png)."),
))

# Chars74K "EnglishImg" photographs (GoodImg): Sample001-010 are the digits 0-9, Sample011-036
# A-Z, Sample037-062 a-z. Against SVHN digits we drop the digits and the letters most often read
# as digits (I, O, l, o); the reference's own folder ("StreetLetters") is unpublished.
CHARS74K_EXCLUDE = tuple(f"Sample{i:03d}" for i in (*range(1, 11), 19, 25, 48, 51))
CHARS74K_URL = "https://info-ee.surrey.ac.uk/CVSSP/demos/chars74k/EnglishImg.tgz"
register(Dataset(
    "chars74k", "Chars74K street characters (EnglishImg, GoodImg) without digits and I, O, l, o; Resize + CenterCrop",
    splits={"all": (FileReq("English/Img/GoodImg/Bmp/"),)}, default_split="all",
    read=folder_reader("English/Img/GoodImg/Bmp", "crop", labelled=True, exclude=CHARS74K_EXCLUDE),
    # The dataset's pages moved to info-ee.surrey.ac.uk, which serves HTTPS. The host publishes no
    # digest; the md5 is the one pytorch-ood and detectors check this archive against.
    downloads=(Download(CHARS74K_URL, "EnglishImg.tgz", md5="85d157e0c58f998e1cda8def62bcda0d",
                        extract_to=""),),
    manual=f"download {CHARS74K_URL} and unpack it in {{dir}}",
))

register(Dataset(
    "notmnist", "notMNIST small (letters A-J in many fonts, 28x28 grey, about 18,700 readable)",
    splits={"all": (FileReq("notMNIST_small/"),)}, default_split="all", role="OOD test for MNIST",
    read=folder_reader("notMNIST_small", "squash", labelled=True, mode="L", skip_unreadable=True),
    # Plain HTTP (no HTTPS address of the host is known) and no published digest: checked by its
    # size only, with a warning (docs/datasets.md).
    downloads=(Download("http://yaroslavvb.com/upload/notMNIST/notMNIST_small.tar.gz", "notMNIST_small.tar.gz",
                        size=8458043, extract_to=""),),
    notes="its two unreadable PNGs are skipped, as the notebook that made the reference's pickle did",
))

register(Dataset(
    "omniglot", "Omniglot background set, the reference's 15 alphabets; white strokes on black, 28x28",
    splits={"all": (FileReq("images_background/"),)}, default_split="all", role="OOD test for MNIST",
    read=omniglot_read,
    downloads=(Download("https://raw.githubusercontent.com/brendenlake/omniglot/master/python/images_background.zip",
                        "images_background.zip", md5="68d2efa1b9178cc56df9314c21c6e718", extract_to=""),),
))

register(Dataset(
    "imagenet-800-heldout", "ImageNet images of the 800 classes not in Tiny ImageNet, 64x64 (manual)",
    splits={"all": (FileReq("val/"),)}, default_split="all", role="OOD test for Tiny ImageNet",
    read=folder_reader("val", "crop", labelled=True),
    manual=("the reference's held-out set is not published: it holds 64x64 crops of ImageNet-1K "
            "validation images of the 800 classes that are not in Tiny ImageNet, cut with the ImageNet "
            "bounding boxes by the authors' script (TinyImageNet/Tiny_ImageNet_dataset in "
            "https://github.com/hendrycks/outlier-exposure). Make them from your ImageNet copy: for every "
            "ImageNet-1K wnid not in tiny-imagenet-200/wnids.txt, crop each validation image to its "
            "bounding box (when it has one), resize to 64x64 and save it as {dir}/val/WNID/FILE.JPEG."),
))

# The Tiny ImageNet outliers (docs/protocol.md section 1): ImageNet-22K without the ImageNet-1K classes,
# Resize(64) + CenterCrop(64) as the reference's oe_tune.py. About 13 million images: read a batch
# at a time (lazy_folder.py) above LAZY_FOLDER_FILES files, decoded into the cache below it.
register(Dataset(
    "imagenet-22k", "ImageNet-22K images outside the 1,000 ImageNet-1K classes (manual); "
                    "Resize + CenterCrop, read lazily when large",
    splits={"all": (FileReq("images/"),)}, default_split="all", role="outliers",
    read=folder_reader("images", "crop", labelled=False, lazy=True),
    manual=("sign up at image-net.org and download ImageNet-22K (the fall 2011 release the reference "
            "used; there is no public download, and image-net.org now offers the winter 2021 release "
            "of ImageNet-21K in its place). It holds one WNID.tar per class: unpack each into "
            "{dir}/images/WNID/ (e.g. {dir}/images/n00004475/n00004475_15899.JPEG), except the 1,000 "
            "ImageNet-1K classes, which must be left out (their wnids are the folder names of "
            "ILSVRC2012's train set). More than "
            f"{lazy_folder.LAZY_FOLDER_FILES:,} images are decoded a batch at a time, not cached"),
))

# ---------------------------------------------------------------------------------------------
# The project's offline sets (shared data folder; digests as in its sha256_manifest.tsv)

_SHARED_MANUAL = ("these files come with the project's offline data folder (shared/data next to a "
                  "development checkout); point to a folder holding them with --data-root DIR or env "
                  "OE_SHARED_DATA (expected file: {dir}/{file})")


def _shared(name: str, title: str, file: str, sha256: str, splits: dict[str, tuple[str, str | None]],
            default: str, role: str) -> None:
    def read(folder: Path, split: str, size: tuple[int, int]) -> ImageSet:
        return npz_reader(file, *splits[split])(folder, split, size)

    register(Dataset(
        name, title, splits={s: (FileReq(file, sha256=sha256),) for s in splits}, default_split=default,
        read=read, shared=True, folder=".", role=role,
        manual=_SHARED_MANUAL.replace("{file}", file),
    ))


_shared("cifar10-subset", "offline CIFAR-10: train 20,000 (2,000 per class), test 10,000; JPEG q75 copies",
        "cifar10/cifar10_subset_32.npz", "055c05bfb19c2f83086b746f8fefcaed31c9118d33b746018956128af3a7334f",
        {"train": ("x_train", "y_train"), "test": ("x_test", "y_test")}, "test", "in-distribution")
_shared("tinyimagenet32-oe", "offline Tiny ImageNet at 32x32, 120 classes x 100 disjoint from CIFAR-10",
        "tinyimagenet32_oe/tin32_oe_train.npz", "2307c2e9a7f7897bd4d6d6830c959945ecbfd0ca0b371c2e8f29039649a90479",
        {"train": ("x", "y")}, "train", "outliers")
_shared("tinyimagenet32-heldout", "offline Tiny ImageNet val at 32x32, 39 further classes x 50",
        "tinyimagenet32_heldout/tin32_heldout_val.npz", "40ccf4ce85cb499648229a29f316a02db6e554ee8e4450c8e451eff4250b3a8d",
        {"test": ("x", "y")}, "test", "OOD test (near)")
_shared("dtd10", "offline Textures: 10 DTD classes x 120 at 32x32 (no JPEG round trip)",
        "dtd10/dtd10_32.npz", "d64474adf3b2dcf19c2429dbca3cc49979e753b57aceacea8392cfe448a6242c",
        {"test": ("x", "y")}, "test", "OOD test (far)")
_shared("cifar100-foolbox20", "20 original CIFAR-100 test images (smoke tests only)",
        "cifar100_foolbox20/cifar100_foolbox20.npz", "aec5bc19960e9d1bb5dcd23fc264caedcff1a16bae5c477ec2582480d23e7f75",
        {"test": ("x", "y")}, "test", "smoke tests")

# ---------------------------------------------------------------------------------------------
# 80 Million Tiny Images and 300K Random Images: readers and file facts in formats/tinyimages.py
# (`RECORD_SETS`); here they become registry entries (split None there = "all" here).


_RECORD_TITLES = {
    "tinyimages-80m": "80 Million Tiny Images, memory-mapped (split no-cifar: without the CIFAR images)",
    "300k-random-images": "300K Random Images, the authors' cleaned subset (memory-mapped .npy)",
}


def _record_set(name: str, facts: dict) -> None:
    def read(folder: Path, split: str, size: tuple[int, int]) -> ImageSet:
        # memory-mapped / lazy: never resized here; fit_to_shape resizes lazy sets batch by batch
        return facts["load"](folder, None if split == "all" else split)

    splits = {}
    for split in facts["splits"]:
        files = [f for f, info in facts["files"].items()
                 if info.get("needed_for") in (None, split)]
        splits["all" if split is None else split] = tuple(
            FileReq(f, md5=facts["files"][f].get("md5"), sha256=facts["files"][f].get("sha256"))
            for f in files)
    register(Dataset(
        name, _RECORD_TITLES.get(name, name),
        splits=splits, default_split="all", read=read, role="outliers",
        downloads=tuple(Download(info["url"], f, md5=info.get("md5"), sha256=info.get("sha256"),
                                 size=info.get("bytes"), approx_size=info.get("approx_bytes"))
                        for f, info in facts["files"].items()),
        notes=facts.get("note", ""),
    ))


for _name, _facts in _tinyimages.RECORD_SETS.items():
    _record_set(_name, _facts)
