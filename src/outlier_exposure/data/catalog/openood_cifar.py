"""OpenOOD v1.5's CIFAR-10 and CIFAR-100 benchmarks as registry entries (github.com/Jingkang50/OpenOOD).

Facts from OpenOOD's sources (the evaluation API's DATA_INFO in openood/evaluation_api/datasets.py,
its default preprocessing in openood/evaluation_api/preprocessor.py, configs/datasets/cifar10/,
scripts/download/download.py):
- Every split is an image list (formats/imglist.py) in benchmark_imglist/cifar10/ (CIFAR-10's
  benchmark) or benchmark_imglist/cifar100/ (CIFAR-100's), its paths relative to images_classic/
  (e.g. `cifar10/test/airplane/xxx.png 0`). Each set's images come in one zip that OpenOOD's
  download script unpacks into images_classic/NAME/ (cifar10, cifar100, tin, tin597, mnist, svhn,
  texture, places365).
- CIFAR-10: in-distribution train_cifar10.txt, val_cifar10.txt, test_cifar10.txt (labels 0..9);
  OOD validation val_cifar100.txt; near-OOD test_cifar100.txt, test_tin.txt; far-OOD
  test_mnist.txt, test_svhn.txt, test_texture.txt, test_places365.txt; OE outliers
  train_tin597.txt (Tiny ImageNet's 597-class subset, 29,850 images; labels unused).
- CIFAR-100: the same with the two CIFARs swapped (ID *_cifar100.txt, labels 0..99; OOD
  validation val_cifar10.txt; near-OOD test_cifar10.txt, test_tin.txt).
- Preprocessing at test time: Convert('RGB'), Resize(32) bilinear, CenterCrop(32): our rule "crop"
  at the run's stored size (32x32 for these benchmarks), so MNIST's 28x28 grey digits come out
  32x32 RGB. Normalisation belongs to the model's run, not to the data (OpenOOD: CIFAR-10 mean
  (0.4914, 0.4822, 0.4465), std (0.2470, 0.2435, 0.2616); CIFAR-100 mean (0.5071, 0.4867,
  0.4408), std (0.2675, 0.2565, 0.2761)).

One entry per benchmark, its sets as splits (`openood-cifar10:tin`), because OpenOOD's lists are
per benchmark: `openood-cifar10:tin` is exactly the list OpenOOD's CIFAR-10 evaluation reads,
whatever CIFAR-100's test_tin.txt holds. Splits: `train`, `val`, `test` (labelled; `test` is the
default), `val-ood` (OpenOOD's OOD validation list), the other CIFAR (`cifar100` resp.
`cifar10`), `tin`, `mnist`, `svhn`, `texture`, `places365` (OOD tests, unlabelled: OpenOOD
overwrites every OOD label with -1), `tin597` (the OE outliers, unlabelled).

Set names (what result tables show) are the registry's, as for every entry: the entry's name for
its default split, NAME-SPLIT for the others (`openood-cifar10`, `openood-cifar10-tin`, ...,
registry.load). Not OpenOOD's bare names: `cifar100`, `svhn`, `mnist` and `places365` already name
our own entries (our `places365` holds other images than OpenOOD's list), and reports pair an OOD
set with the paper's by its name (reporting/reference.py).

The entries share the folder `openood` with the ImageNet-200 ones (openood.py, whose helpers build
these): OpenOOD's data/ folder, unpacked once. No checksums are published: presence only.
"""

from __future__ import annotations

from .openood import CLASSIC, ListSplit, register_entries

# benchmark's in-distribution set -> the other CIFAR, its OOD validation and near-OOD set.
OTHER_CIFAR = {"cifar10": "cifar100", "cifar100": "cifar10"}
# The sets (splits) both benchmarks share, by group, with OpenOOD's names.
NEAR_SHARED = ("tin",)
FAR = ("mnist", "svhn", "texture", "places365")
OUTLIERS = "tin597"
ID_SPLITS = ("train", "val", "test")
VAL_OOD = "val-ood"


def entry_name(id_set: str) -> str:
    """'cifar10' -> 'openood-cifar10', the registry name of that benchmark's entry."""
    return f"openood-{id_set}"


def near_splits(id_set: str) -> tuple[str, ...]:
    """The near-OOD splits of a benchmark, in OpenOOD's order: the other CIFAR, then TIN."""
    return (OTHER_CIFAR[id_set], *NEAR_SHARED)


def benchmark_splits(id_set: str) -> dict[str, ListSplit]:
    """split -> its list (in benchmark_imglist/ID_SET/) and image folder (images_classic/SET/)."""
    lists = f"benchmark_imglist/{id_set}"
    other = OTHER_CIFAR[id_set]

    def split(list_file: str, images: str) -> ListSplit:
        return ListSplit(list_file, CLASSIC, images, lists)

    splits = {s: split(f"{s}_{id_set}.txt", id_set) for s in ID_SPLITS}
    splits[VAL_OOD] = split(f"val_{other}.txt", other)
    for ood in (*near_splits(id_set), *FAR):
        splits[ood] = split(f"test_{ood}.txt", ood)
    splits[OUTLIERS] = split(f"train_{OUTLIERS}.txt", OUTLIERS)
    return splits


def _entry(id_set: str, title: str, other_title: str, classes: int) -> tuple:
    other = OTHER_CIFAR[id_set]
    near = ", ".join(near_splits(id_set))
    title = (f"{title} benchmark of OpenOOD v1.5: train / val / test ({classes} classes), val-ood "
             f"({other_title}), near-OOD {near}, far-OOD {', '.join(FAR)}, OE outliers {OUTLIERS} "
             "(manual); Resize + CenterCrop, read lazily")
    role = (f"in-distribution ({', '.join(ID_SPLITS)}); OOD validation ({VAL_OOD}); OOD test "
            f"(near: {near}; far: {', '.join(FAR)}); outliers ({OUTLIERS})")
    zips = (id_set, other, *NEAR_SHARED, OUTLIERS, *FAR)
    return (title, role, benchmark_splits(id_set), "test", ID_SPLITS, zips)


ENTRIES = {
    entry_name("cifar10"): _entry("cifar10", "CIFAR-10", "CIFAR-100", 10),
    entry_name("cifar100"): _entry("cifar100", "CIFAR-100", "CIFAR-10", 100),
}

register_entries(ENTRIES)
