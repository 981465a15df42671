"""`oe reproduce`: a smoke run on a fabricated miniature of a preset's data, and offline-cifar10
at a tiny size on the real offline data."""

import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import CHECKOUT_SHARED_DATA
from tests.helpers.datasets_on_disk import write_cifar10, write_cifar100
from outlier_exposure.cli import main
from outlier_exposure.data.catalog import registry
from outlier_exposure.data.storage.roots import data_settings
from outlier_exposure.reporting.reference import preset_reference


def _without_checksums(name: str) -> None:
    # Fabricated files cannot have the real files' digests.
    ds = registry.get(name)
    splits = {s: tuple(replace(r, md5=None, sha256=None) for r in reqs)
              for s, reqs in ds.splits.items()}
    registry.register(replace(ds, splits=splits))


def _write_tiny_images(folder: Path, n: int = 300) -> None:
    rng = np.random.default_rng(3)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "tiny_images.bin", "wb") as f:
        for image in rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8):
            f.write(image.tobytes(order="F"))
    (folder / "80mn_cifar_idxs.txt").write_text("1\n5\n")


@pytest.fixture
def restore_registry():
    saved = {name: registry.get(name) for name in ("cifar10", "cifar100", "tinyimages-80m")}
    yield
    for ds in saved.values():
        registry.register(ds)


def test_reproduce_smoke_on_a_fabricated_cifar10(tmp_path, capsys, restore_registry):
    root = tmp_path / "data"
    write_cifar10(root / "cifar10", per_batch=12, n_test=20)
    write_cifar100(root / "cifar100", n_train=4, n_test=10)
    _write_tiny_images(registry.get("tinyimages-80m").folder and root / registry.get(
        "tinyimages-80m").folder or root / "tinyimages-80m")
    for name in ("cifar10", "cifar100", "tinyimages-80m"):
        _without_checksums(name)
    out = tmp_path / "out"
    argv = ["reproduce", "cifar10-wrn", "--data-root", str(root), "--out", str(out),
            "--epochs", "1", "--ood", "noise:gaussian", "cifar100:test", "--quiet",
            "--device", "cpu"]
    # 20 test images are fewer than one of the reference's OOD batches of 200: refused with
    # the fix, before anything trains
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "too few for 1:5" in err and "--ood-draw-size exact" in err
    assert not (out / "baseline" / "model.pt").exists()
    argv += ["--ood-draw-size", "exact"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    assert set(results) == {"baseline", "oe"}
    assert json.loads((out / "oe" / "config.json").read_text())["outliers"] == \
        "tinyimages-80m:no-cifar"
    # our numbers beside the paper's (mean FPR95 34.94 -> 9.50, test error 5.16 -> 5.27)
    for ref in ("34.94", "9.50", "5.16", "5.27", "43.47"):
        assert ref in printed, ref
    assert f"{100 * results['oe']['mean']['fpr']:.2f}" in printed
    # a second call finds every stage done and trains nothing
    assert main(argv) == 0
    again = capsys.readouterr().out
    assert again.count("already trained") == 2 and again.count("already evaluated") == 2


def test_reference_numbers_ship_with_the_package():
    ref = preset_reference("cifar10-wrn")
    assert ref["baseline"]["fpr"] == pytest.approx(0.3494)
    assert ref["oe-tune"]["ood"]["noise:gaussian"]["fpr"] == pytest.approx(0.0069)
    assert preset_reference("svhn-wrn")["oe-tune"]["auroc"] == pytest.approx(0.9996)


SHARED = Path(os.environ.get("OE_SHARED_DATA",
                             CHECKOUT_SHARED_DATA))


@pytest.mark.skipif(not (SHARED / "cifar10" / "cifar10_subset_32.npz").exists(),
                    reason=f"the offline data is not at {SHARED} (set OE_SHARED_DATA)")
def test_offline_cifar10_at_a_tiny_size(tmp_path):
    from outlier_exposure.experiments.reproduce import reproduce

    with data_settings(SHARED):
        results = reproduce(
            "offline-cifar10", tmp_path, progress=False, log=lambda *_: None,
            overrides={"epochs": 1, "train": "cifar10-subset:train@random1000",
                       "test": "cifar10-subset:test@random500"})
    assert set(results) == {"baseline", "oe"}
    assert set(results["oe"]["ood"]) == {"gaussian", "rademacher", "blobs", "dtd10",
                                         "tinyimagenet32-heldout"}
    for r in results.values():
        assert 0 <= r["mean"]["fpr"] <= 1 and 0 <= r["test_error"] <= 1
        assert r["n_test"] == 500 and r["ood"]["dtd10"]["n_per_draw"] == 100
    assert (tmp_path / "results.json").exists()


@pytest.mark.skipif(not (SHARED / "cifar10" / "cifar10_subset_32.npz").exists(),
                    reason=f"the offline data is not at {SHARED} (set OE_SHARED_DATA)")
def test_calibration_rows_at_a_tiny_size(tmp_path):
    from outlier_exposure.experiments.reproduce import (
        calibration_with_reference, reproduce_calibration,
    )

    with data_settings(SHARED):
        results = reproduce_calibration(
            "offline-cifar10", tmp_path, progress=False, log=lambda *_: None,
            overrides={"epochs": 1, "train": "cifar10-subset:train@random1000",
                       "test": "cifar10-subset:test@random500",
                       "ood": ["noise:gaussian", "dtd10@jpeg75"]})
    assert set(results) == {"baseline", "oe"}
    split = json.loads((tmp_path / "calibration" / "baseline" / "calibration_split.json").read_text())
    assert split["rule"] == "random:0.1" and len(split["indices"]) == 100
    for r in results.values():
        assert set(r["ood"]) == {"gaussian", "dtd10"} and 0 <= r["mean"]["rms"] <= 1
    table = calibration_with_reference("cifar10-wrn", results)
    assert "19.37" in table and "69.70" in table  # the paper's RMS and soft F1 beside ours


@pytest.mark.skipif(not (SHARED / "cifar10" / "cifar10_subset_32.npz").exists(),
                    reason=f"the offline data is not at {SHARED} (set OE_SHARED_DATA)")
def test_the_offline_test_set_holds_every_class():
    """The subset's test images are sorted by class: the preset's test set must not be a prefix
    (the first 5,000 hold classes 0-4 only, which made its accuracy a five-class one)."""
    from outlier_exposure.data.datasets import load_labelled
    from outlier_exposure.training.config import config_from_preset

    cfg = config_from_preset("offline-cifar10", "baseline")
    with data_settings(SHARED):
        test = load_labelled(cfg.test, cfg.image_shape)
    counts = np.bincount(test.y, minlength=10)
    assert len(test) == 5000 and counts.min() > 400, counts
