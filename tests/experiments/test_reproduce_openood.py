"""`oe reproduce cifar10-openood`: OpenOOD's recipe end to end on a fabricated copy of OpenOOD's
data folder (every list and image format of the real one, a few images each), one epoch; and
`--seeds`: the mean and std over training seeds against a hand computation from each seed's
own results."""

from __future__ import annotations

import json

import numpy as np
import pytest

from outlier_exposure.cli import main
from outlier_exposure.evaluation.evaluate import evaluate
from outlier_exposure.training.presets import get_preset
from tests.helpers.isolation import isolated_registry  # noqa: F401 (a fixture)
from tests.helpers.openood_data import fake_openood

pytestmark = pytest.mark.usefixtures("isolated_registry", "one_thread")


def test_the_preset_is_openoods_recipe():
    p = get_preset("cifar10-openood")
    assert p.stages == ("baseline", "oe-scratch")
    assert {k: p.config[k] for k in ("model", "epochs", "lr", "batch_size", "oe_batch_size",
                                     "lam", "protocol", "outliers")} == {
        "model": "resnet18-32", "epochs": 100, "lr": 0.1, "batch_size": 128, "oe_batch_size": 256, "lam": 0.5,
        "protocol": "openood", "outliers": "openood-cifar10:tin597"}


def test_reproduce_prints_ours_beside_the_leaderboard(tmp_path, capsys, monkeypatch):
    fake_openood(tmp_path / "data")
    monkeypatch.setenv("OE_DATA_ROOT", str(tmp_path / "data"))
    out = tmp_path / "out"
    assert main(["reproduce", "cifar10-openood", "--data-root", str(tmp_path / "data"),
                 "--out", str(out), "--epochs", "1", "--device", "cpu", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "near AUROC" in printed and "88.03" in printed and "94.82" in printed  # leaderboard
    results = json.loads((out / "results.json").read_text())
    assert set(results) == {"baseline", "oe-scratch"}
    for record in results.values():
        assert record["protocol"] == "openood"
        assert {r["group"] for r in record["ood"].values()} == {"near", "far"}
        assert len(record["ood"]) == 6  # CIFAR-100, TIN; MNIST, SVHN, Textures, Places365
    assert json.loads((out / "oe-scratch" / "config.json").read_text())["lam"] == 0.5

    # OpenOOD's validation lists for choices: ODIN tuned on them (its ID and OOD val lists), and
    # a validation row of the paper protocol; neither is a test set.
    found = evaluate(out / "baseline", protocol="openood", scores=["odin"], device="cpu",
                     score_options={"odin_val": "val:openood"}, write=False)["odin"]
    assert found["score_params"]["tuned_on"] == "val:as-is:openood-cifar10:val-ood"
    paper = evaluate(out / "baseline", protocol="paper", ood=["openood-cifar10:tin",
                                                                "val:openood"],
                     device="cpu", draw_size="exact", ratio=1, draws=2, write=False)["msp"]
    assert list(paper["validation"]) == ["val:openood-cifar10:val-ood"]
    assert list(paper["ood"]) == ["openood-cifar10-tin"]


def test_seeds_report_mean_and_population_std(tmp_path, capsys):
    fake_openood(tmp_path / "data")
    out = tmp_path / "seeds"
    assert main(["reproduce", "cifar10-openood", "--data-root", str(tmp_path / "data"),
                 "--out", str(out), "--epochs", "1", "--seeds", "2", "--device", "cpu",
                 "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "over 2 training seeds" in printed
    seeds = json.loads((out / "seeds.json").read_text())
    per_seed = [json.loads((out / f"s{k}" / "results.json").read_text()) for k in (0, 1)]
    assert [json.loads((out / f"s{k}" / "baseline" / "config.json").read_text())["seed"]
            for k in (0, 1)] == [0, 1]
    for stage in ("baseline", "oe-scratch"):
        a, b = (found[stage]["groups"]["near"]["auroc"] for found in per_seed)
        near = seeds[stage]["groups"]["near"]["auroc"]
        assert near["mean"] == pytest.approx((a + b) / 2)
        assert near["std"] == pytest.approx(abs(a - b) / 2)  # population std of two values
        e0, e1 = (found[stage]["test_error"] for found in per_seed)
        assert seeds[stage]["test_error"]["std"] == pytest.approx(np.std([e0, e1]))
