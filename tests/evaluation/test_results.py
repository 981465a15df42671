"""The results record: results.json files in the exact format `oe eval` wrote before `Results`
existed (image, text classifier, language model) read, written back unchanged and reported; and
the shared protocol's draws equal to planning them by hand."""

from __future__ import annotations

import json

import numpy as np
import pytest

from outlier_exposure.cli import main
from outlier_exposure.errors import UserInputError
from outlier_exposure.evaluation.draws import (
    DrawSettings, OODSet, plan_draws, protocol_metrics, run_protocol,
)
from outlier_exposure.evaluation.results import Results, results_text, write_results
from outlier_exposure.reporting.report import write_report


def _entry(fpr: float, spec: str, **extra) -> dict:
    return {"fpr": fpr, "fpr_std": 0.01, "auroc": 0.9, "auroc_std": 0.02, "aupr": 0.8,
            "aupr_std": 0.03, "n_per_draw": 40, "spec": spec, **extra, "n_scored": 120}


# Literal results.json contents, keys in the order `oe eval` writes them.
IMAGE = {
    "run": "runs/img", "in_dist": "cifar10:test", "model": "wrn-40-2", "mode": "oe-tune",
    "loss": "oe", "score": "odin", "positive": "ood", "rule": "closest", "recall_level": 0.95,
    "draws": 3, "ratio": 5, "seed": 1, "precision": "fp32", "n_test": 200, "test_error": 0.25,
    "error_detection": {"fpr": 0.5, "auroc": 0.88, "aupr": 0.98},
    "ood": {"gaussian": _entry(0.1, "noise:gaussian"), "gaussian-2": _entry(0.3, "noise:gaussian")},
    "mean": {"fpr": 0.2, "auroc": 0.9, "aupr": 0.8},
    "score_params": {"temperature": 1000.0, "epsilon": 0.0014, "tuned_on": "val:jigsaw"},
    "validation": {"jigsaw": _entry(0.4, "val:jigsaw")},
    "validation_mean": {"fpr": 0.4, "auroc": 0.9, "aupr": 0.8},
}
TEXT = {
    "run": "runs/txt", "task": "text", "in_dist": "sst:test", "model": "gru", "mode": "baseline",
    "score": "msp", "positive": "ood", "rule": "closest", "recall_level": 0.9, "draws": 10,
    "ratio": 5, "seed": 1, "n_test": 1821, "test_error": 0.2, "error_detection": None,
    "ood": {"snli": _entry(0.6, "snli", source="/data/snli.txt")},
    "mean": {"fpr": 0.6, "auroc": 0.9, "aupr": 0.8},
    "skipped": {"wmt16": "wmt16 is not under the data root"},
}
LM = {**{k: v for k, v in TEXT.items() if k != "skipped"}, "task": "lm", "model": "lm-lstm",
      "score": "xent", "skipped": {}, "test_perplexity": 123.4, "unit": "sequences of 70 tokens"}


@pytest.mark.parametrize("data", [IMAGE, TEXT, LM], ids=["image", "text", "lm"])
def test_todays_results_files_round_trip_with_their_key_order(data, tmp_path):
    record = Results.from_dict(json.loads(json.dumps(data)))
    assert record.to_dict() == data and list(record.to_dict()) == list(data)
    assert json.loads(record.to_json()) == data
    write_results(tmp_path, record)
    assert (tmp_path / "results.json").read_text() == json.dumps(data, indent=2) + "\n"
    assert Results.load(tmp_path / "results.json") == record


def test_unknown_keys_survive_and_missing_ones_are_said(tmp_path):
    newer = {**TEXT, "schema": 2, "calibrated": True}
    assert list(Results.from_dict(newer).to_dict()) == list(newer)
    with pytest.raises(UserInputError, match="lacks mean, score, test_error"):
        Results.from_dict({"ood": {}})
    (tmp_path / "results.json").write_text("{not json")
    with pytest.raises(UserInputError, match="is not valid JSON"):
        Results.load(tmp_path / "results.json")
    assert Results.reusable(tmp_path / "results.json") == {}  # evaluated again, not a crash


def test_a_results_file_in_todays_format_is_reported(tmp_path, capsys):
    for name, data in (("img", IMAGE), ("txt", TEXT), ("lm", LM)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps(data, indent=2))
    text = results_text(IMAGE)
    assert "FPR95" in text and "gaussian-2" in text and "Validation sets" in text
    report = write_report([tmp_path / "img"], tmp_path / "r", with_figures=False)
    md = report.markdown.read_text()
    assert "gaussian-2" in md and "jigsaw" in md
    assert main(["report", str(tmp_path / "txt"), str(tmp_path / "lm"), "--no-figures",
                 "--out", str(tmp_path / "r2")]) == 0
    md = (tmp_path / "r2" / "report.md").read_text()
    assert "snli" in md and "60.00" in md


def test_the_shared_protocol_draws_as_planned_by_hand():
    rng = np.random.default_rng(0)
    in_scores = rng.normal(size=50)
    sizes = (30, 7, 30)  # the second set holds less than a draw's worth
    outs = [rng.normal(1.0, size=n) for n in sizes]
    scored = []

    def ood_set(k: int) -> OODSet:
        def score(idx):
            scored.append(idx)
            return {"s": outs[k][idx], "t": -outs[k][idx]}
        return OODSet(name="same" if k != 1 else "small", spec=f"spec{k}", size=sizes[k],
                      score=score, validation=k == 1)

    settings = DrawSettings(draws=4, ratio=5, recall=0.9, seed=3)
    found = run_protocol({"s": in_scores, "t": -in_scores}, (ood_set(k) for k in range(3)),
                         settings)
    by_hand = np.random.default_rng(3)
    plans = [plan_draws(n, 10, 4, by_hand) for n in sizes]
    want = [protocol_metrics(in_scores, outs[k], plans[k], recall=0.9, positive="ood",
                             rule="closest") for k in range(3)]
    s = found["s"]
    assert list(s.ood) == ["same", "same-2"] and list(s.validation) == ["small"]
    for got, k in ((s.ood["same"], 0), (s.validation["small"], 1), (s.ood["same-2"], 2)):
        assert {m: got[m] for m in want[k]} == want[k]
        assert got["n_scored"] == len(np.unique(np.concatenate(plans[k])))
    assert [len(i) for i in scored] == [s.ood["same"]["n_scored"], 7, s.ood["same-2"]["n_scored"]]
    assert s.mean == {m: float(np.mean([s.ood["same"][m], s.ood["same-2"][m]]))
                      for m in ("fpr", "auroc", "aupr")}
    assert list(s.cache) == ["in", "ood:same", "ood_index:same", "ood:small", "ood_index:small",
                             "ood:same-2", "ood_index:same-2"]
    assert found["t"].ood["same"]["auroc"] == pytest.approx(1 - s.ood["same"]["auroc"])
