"""OOD benchmarks: which OOD sets, in which groups (near / far), go with an in-distribution set.

OpenOOD v1.5 (github.com/Jingkang50/OpenOOD, openood/evaluation_api/datasets.py DATA_INFO) splits
each benchmark's OOD test sets into near-OOD (semantically close to the in-distribution classes)
and far-OOD, and reports each group's mean. `BENCHMARKS` holds those groups as data SPECS of
registered sets (openood.py, openood_cifar.py), plus the OOD validation set, the in-distribution
validation set and the OE outliers OpenOOD uses; `benchmark_for` says which benchmark a run's
in-distribution test set belongs to.

- cifar10 / cifar100: OpenOOD's CIFAR benchmarks (`openood-cifar10:SPLIT`, `openood-cifar100:SPLIT`).
- imagenet200: OpenOOD's ImageNet-200 benchmark (its sets are entries of their own).
- offline-cifar10: NOT OpenOOD's: the project's offline stand-in over its shared data, so the
  protocol runs without OpenOOD's download (Tiny ImageNet classes held out of the OE set as
  near-OOD, 10 DTD texture classes as far-OOD).

A missing set is reported by the registry's preflight (preflight.require_data), one message
naming every missing set with how to get it; nothing here checks files.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import UserInputError
from ..modifiers import split_modifiers
from ..spec import parse_spec


@dataclass(frozen=True)
class Benchmark:
    """One benchmark's sets, as data specs (e.g. "openood-cifar10:tin").

    near / far: the OOD test sets of each group, in OpenOOD's order. val_ood: OpenOOD's OOD
    validation set (for choosing hyperparameters; never a test set). val_id: the
    in-distribution validation set. outliers: the OE training outliers. None where the benchmark
    has none. source: where the groups come from, for result tables.
    """

    name: str
    near: tuple[str, ...]
    far: tuple[str, ...]
    val_ood: str | None
    val_id: str | None
    outliers: str | None
    source: str

    @property
    def ood(self) -> tuple[str, ...]:
        """Every OOD test set, near first."""
        return (*self.near, *self.far)


_FAR_CIFAR = ("mnist", "svhn", "texture", "places365")


def _openood_cifar(id_set: str, other: str, title: str) -> Benchmark:
    entry = f"openood-{id_set}"
    return Benchmark(
        name=id_set,
        near=(f"{entry}:{other}", f"{entry}:tin"),
        far=tuple(f"{entry}:{s}" for s in _FAR_CIFAR),
        val_ood=f"{entry}:val-ood", val_id=f"{entry}:val", outliers=f"{entry}:tin597",
        source=(f"OpenOOD v1.5's {title} benchmark (openood/evaluation_api/datasets.py): near-OOD "
                f"{other}, tin; far-OOD {', '.join(_FAR_CIFAR)}"),
    )


BENCHMARKS: dict[str, Benchmark] = {
    "cifar10": _openood_cifar("cifar10", "cifar100", "CIFAR-10"),
    "cifar100": _openood_cifar("cifar100", "cifar10", "CIFAR-100"),
    "imagenet200": Benchmark(
        name="imagenet200",
        near=("ssb-hard", "ninco"),
        far=("inaturalist", "textures-openood", "openimage-o"),
        val_ood="openimage-o:val", val_id="imagenet200:val", outliers="imagenet800:train",
        source=("OpenOOD v1.5's ImageNet-200 benchmark (openood/evaluation_api/datasets.py): "
                "near-OOD SSB-hard, NINCO; far-OOD iNaturalist, Textures, OpenImage-O"),
    ),
    "offline-cifar10": Benchmark(
        name="offline-cifar10",
        near=("tinyimagenet32-heldout",),
        far=("dtd10@jpeg75",),
        val_ood=None, val_id=None, outliers="tinyimagenet32-oe",
        source=("the project's offline stand-in, NOT OpenOOD's sets: Tiny ImageNet classes held "
                "out of the OE outliers (tinyimagenet32-heldout) stand in for near-OOD, 10 DTD "
                "texture classes (dtd10, JPEG q75 like the cifar10-subset images) for far-OOD"),
    ),
}

# Registered in-distribution set (a spec's dataset name) -> its benchmark. Our torchvision-format
# `cifar10` / `cifar100` test splits are the same 10,000 test images as OpenOOD's test lists.
_BY_TEST_SET = {
    "openood-cifar10": "cifar10",
    "cifar10": "cifar10",
    "openood-cifar100": "cifar100",
    "cifar100": "cifar100",
    "imagenet200": "imagenet200",
    "cifar10-subset": "offline-cifar10",
}
# Every set above has its test images in the split "test", which is also its default.
_TEST_SPLITS = (None, "test")


def benchmark_names() -> list[str]:
    """The names of BENCHMARKS, in order."""
    return list(BENCHMARKS)


def benchmark_for(test_spec: str) -> Benchmark | None:
    """The benchmark a run's in-distribution TEST spec belongs to, or None.

    The spec is parsed with the project's parser (data/spec.py) after its modifiers are split off,
    so `cifar10`, `cifar10:test`, `openood-cifar10@random5000` all give "cifar10". Only a test
    split counts (`cifar10:train` is no benchmark's test set); files, noise and other named sets
    give None. A malformed spec raises UserInputError, as loading it would.
    """
    base, _ = split_modifiers(test_spec)
    spec = parse_spec(base)
    if spec.kind != "builtin" or spec.options.get("split") not in _TEST_SPLITS:
        return None
    name = _BY_TEST_SET.get(spec.target)
    return None if name is None else BENCHMARKS[name]


# `val:openood`: the OOD validation list of the run's benchmark, for choices a method makes
# (ODIN's temperature and perturbation, validation rows of `oe eval`), never a test set.
OPENOOD_VALIDATION = "val:openood"


def is_openood_validation(spec: str | None) -> bool:
    return isinstance(spec, str) and spec.strip().lower() == OPENOOD_VALIDATION


def resolve_validation_alias(spec: str, test_spec: str) -> str:
    """`spec`, with `val:openood` replaced by `val:as-is:<the benchmark's OOD validation list>`
    for a run whose test set is `test_spec`."""
    if not is_openood_validation(spec):
        return spec
    benchmark = benchmark_for(test_spec)
    if benchmark is None or benchmark.val_ood is None:
        raise UserInputError(
            f"{OPENOOD_VALIDATION} is the OpenOOD validation list of the run's benchmark, and the "
            f"test set {test_spec} has none; name another validation set (e.g. val:jigsaw, or "
            "val:as-is:SPEC for a set of yours)")
    return f"val:as-is:{benchmark.val_ood}"
