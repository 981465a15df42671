"""`oe eval --protocol openood`: full sets, near/far groups, OpenOOD's metrics, on a tiny real run.

Every number is checked against an independent computation: scikit-learn called as OpenOOD's
`openood/evaluators/metrics.py` calls it, on the anomaly scores the evaluation cached, and numpy
means for the groups.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn import metrics as skm

from outlier_exposure.cli import main
from outlier_exposure.errors import UserInputError
from outlier_exposure.evaluation.evaluate import evaluate
from tests.helpers.tiny_runs import train_tiny


def openood_reference(in_scores: np.ndarray, out_scores: np.ndarray) -> dict:
    """OpenOOD's metrics, re-derived with scikit-learn (conf = -anomaly score, OOD positive)."""
    conf = -np.concatenate([in_scores, out_scores])
    ood = np.r_[np.zeros(len(in_scores)), np.ones(len(out_scores))]
    fpr, tpr, _ = skm.roc_curve(ood, -conf)
    p_in, r_in, _ = skm.precision_recall_curve(1 - ood, conf)
    p_out, r_out, _ = skm.precision_recall_curve(ood, -conf)
    return {"fpr": fpr[np.argmax(tpr >= 0.95)], "auroc": skm.auc(fpr, tpr),
            "aupr_in": skm.auc(r_in, p_in), "aupr_out": skm.auc(r_out, p_out)}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, digits_npz):
    return train_tiny(tmp_path_factory.mktemp("openood") / "run", digits_npz)


@pytest.fixture(scope="module")
def other_images(tmp_path_factory):
    """An unlabelled image set in the npz format: 150 random 16x16 grey images."""
    path = tmp_path_factory.mktemp("sets") / "other.npz"
    rng = np.random.default_rng(3)
    np.savez(path, x=rng.integers(0, 256, size=(150, 16, 16, 1), dtype=np.uint8))
    return f"npz:{path}"


@pytest.mark.usefixtures("one_thread")
def test_groups_sets_and_means_match_an_independent_computation(tiny_run, other_images):
    near, far = [other_images], ["noise:gaussian", "noise:rademacher"]
    results = evaluate(tiny_run, protocol="openood", near=near, far=far, device="cpu")["msp"]
    assert results["protocol"] == "openood" and results["rule"] == "roc"
    assert [r["group"] for r in results["ood"].values()] == ["near", "far", "far"]
    assert [r["spec"] for r in results["ood"].values()] == near + far
    with np.load(tiny_run / "scores_msp.npz") as cache:
        in_scores = cache["in"].astype(np.float64)
        assert len(in_scores) == results["n_test"] == 200
        for name, record in results["ood"].items():
            out_scores = cache[f"ood:{name}"].astype(np.float64)
            assert len(out_scores) == record["n_ood"]  # the whole set: no draws
            expected = openood_reference(in_scores, out_scores)
            for key, value in expected.items():
                assert record[key] == pytest.approx(value, abs=1e-9), (name, key)
            assert record["aupr"] == record["aupr_out"]  # OOD positive: AUPR-Out
    for group in ("near", "far"):
        members = [r for r in results["ood"].values() if r["group"] == group]
        for key in ("fpr", "auroc", "aupr_in", "aupr_out"):
            assert results["groups"][group][key] == pytest.approx(
                np.mean([r[key] for r in members]))
    assert results["mean"]["auroc"] == pytest.approx(
        np.mean([r["auroc"] for r in results["ood"].values()]))
    # The record on disk: results.json, and a copy that a paper-protocol evaluation keeps.
    assert json.loads((tiny_run / "results.json").read_text())["groups"] == results["groups"]
    assert (tiny_run / "results_openood.json").exists()
    assert "Near-OOD (mean)" in (tiny_run / "results.md").read_text()


@pytest.mark.usefixtures("one_thread")
def test_positive_in_changes_the_fpr_only_and_is_recorded(tiny_run, other_images):
    found = evaluate(tiny_run, protocol="openood", near=[other_images], far=None, device="cpu",
                     positive="in", rule="first", write=False)["msp"]
    record = next(iter(found["ood"].values()))
    assert (found["positive"], found["rule"]) == ("in", "first")
    assert record["aupr"] == record["aupr_in"]
    assert "far" not in found["groups"]


def test_a_run_without_a_known_benchmark_needs_the_groups(tiny_run):
    with pytest.raises(UserInputError, match="--near SPEC"):
        evaluate(tiny_run, protocol="openood", device="cpu")


def test_paper_options_are_refused_under_openood(tiny_run, other_images):
    with pytest.raises(UserInputError, match="--draws belongs to the paper protocol"):
        evaluate(tiny_run, protocol="openood", near=[other_images], draws=3, device="cpu")
    with pytest.raises(UserInputError, match="--near belongs to the openood protocol"):
        evaluate(tiny_run, protocol="paper", near=[other_images], device="cpu")


def test_validation_sets_and_repeats_are_not_test_groups(tiny_run, other_images):
    with pytest.raises(UserInputError, match="validation set"):
        evaluate(tiny_run, protocol="openood", near=["val:jigsaw"], device="cpu")
    with pytest.raises(UserInputError, match="named twice"):
        evaluate(tiny_run, protocol="openood", near=[other_images], far=[other_images],
                 device="cpu")


def test_a_missing_registered_set_is_named_with_how_to_get_it(tiny_run, tmp_path, monkeypatch):
    monkeypatch.setenv("OE_DATA_ROOT", str(tmp_path))
    with pytest.raises(UserInputError) as caught:
        evaluate(tiny_run, protocol="openood", near=["openood-cifar10:tin"], device="cpu")
    message = str(caught.value)
    assert "openood-cifar10" in message and "tin" in message


@pytest.mark.usefixtures("one_thread")
def test_the_command_line_prints_the_groups(tiny_run, other_images, capsys):
    assert main(["eval", str(tiny_run), "--protocol", "openood", "--near", other_images,
                 "--far", "noise:blobs", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "OpenOOD v1.5 protocol" in out and "Far-OOD (mean)" in out and "ID accuracy" in out
    # A paper-protocol evaluation afterwards replaces results.json but not the OpenOOD copy.
    assert main(["eval", str(tiny_run), "--ood", "noise:blobs", "--draws", "2",
                 "--device", "cpu"]) == 0
    assert "protocol" not in json.loads((tiny_run / "results.json").read_text())
    assert json.loads((tiny_run / "results_openood.json").read_text())["protocol"] == "openood"


@pytest.mark.usefixtures("one_thread")
def test_the_report_shows_the_groups(tiny_run, other_images, tmp_path):
    from outlier_exposure.reporting.report import write_report

    found = evaluate(tiny_run, protocol="openood", near=[other_images], far=["noise:blobs"],
                     device="cpu")["msp"]
    rep = write_report([tiny_run], tmp_path / "report", with_figures=True)
    text = rep.markdown.read_text()
    assert "## Near-OOD and far-OOD (OpenOOD v1.5 protocol)" in text
    near = f"{100 * found['groups']['near']['auroc']:.2f}"
    assert near in text.split("## Near-OOD and far-OOD")[1].split("##")[0]
    assert rep.figures  # the curves of a run without draws: whole sets
