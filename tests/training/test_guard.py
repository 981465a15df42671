"""The accuracy guard (`oe tune --max-accuracy-drop P`, training/guard.py): the kept model stays
within the budget where the plain fine-tune breaks it, the record says what was kept and why,
training itself is unchanged, and a resumed run keeps what an uninterrupted one keeps."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from outlier_exposure.cli import main
from outlier_exposure.errors import UserInputError
from outlier_exposure.evaluation.protocol import load_trained_model, predict_logits
from outlier_exposure.training import runs
from outlier_exposure.training.config import config_from_preset, tune_config
from outlier_exposure.training.guard import choose
from outlier_exposure.training.loop import train_run
from outlier_exposure.training.val_criterion import holdout_images
from tests.helpers.tiny_runs import train_tiny, train_until

pytestmark = pytest.mark.usefixtures("one_thread")
OUTLIERS = "noise:blobs:400"


@pytest.fixture(scope="module")
def base(tmp_path_factory, digits_npz):
    """A baseline worth guarding: about 95% on its 40 held-out digits."""
    return train_tiny(tmp_path_factory.mktemp("guard") / "base", digits_npz, calibration=True,
                      epochs=10, lr=0.1)


@pytest.fixture(scope="module")
def tunes(base, tmp_path_factory):
    """{(lr, guarded): run} for the fine-tunes the tests compare (trained once)."""
    root, done = tmp_path_factory.mktemp("tunes"), {}

    def tune(lr: float, epochs: int, budget: float | None):
        key = (lr, epochs, budget)
        if key not in done:
            cfg = tune_config(base, lr=lr, epochs=epochs, outliers=OUTLIERS,
                              max_accuracy_drop=budget)
            done[key] = train_run(cfg, root / f"lr{lr}-e{epochs}-{budget}", device="cpu",
                                  progress=False)
        return done[key]
    return tune


def holdout_accuracy(run) -> float:
    """Accuracy (%) of RUN/model.pt on the run's hold-out, by the evaluation layer's forward."""
    model, cfg = load_trained_model(run, "cpu")
    images = holdout_images(cfg, run_dir=run)
    logits = predict_logits(model, images, cfg, "cpu", 64)
    return 100 * float(np.mean(logits.argmax(1).numpy() == images.y))


def record(run) -> dict:
    return json.loads((run / "guard.json").read_text())


def test_the_guard_keeps_the_budget_that_the_plain_fine_tune_breaks(base, tunes, capsys):
    start = holdout_accuracy(base)
    plain = tunes(0.5, 2, None)
    assert start - holdout_accuracy(plain) > 1  # the plain fine-tune breaks a 1-point budget
    guarded = tunes(0.5, 2, 1.0)
    assert start - holdout_accuracy(guarded) <= 1
    rec = record(guarded)
    assert rec["epochs"][0]["accuracy"] == pytest.approx(start)
    assert [e["epoch"] for e in rec["epochs"]] == [0, 1, 2]
    assert not any(e["within_budget"] for e in rec["epochs"][1:])
    # No fine-tuned epoch is within budget: the starting weights are kept, and said so.
    assert rec["kept"]["epoch"] == 0 and "starting weights are kept" in rec["kept"]["reason"]
    kept, start_weights = runs.load_final_weights(guarded), runs.load_final_weights(base)
    assert all(torch.equal(kept[k], start_weights[k]) for k in start_weights)
    assert "accuracy guard: kept epoch 0 of 2" in capsys.readouterr().out


def test_the_kept_epoch_is_the_best_within_budget_and_training_is_unchanged(base, tunes):
    budget = 10.0
    guarded, plain = tunes(0.02, 3, budget), tunes(0.02, 3, None)
    rec = record(guarded)
    start = rec["epochs"][0]["accuracy"]
    for e in rec["epochs"]:
        assert e["drop"] == pytest.approx(start - e["accuracy"])
        assert e["within_budget"] == (e["drop"] <= budget)
    within = [e for e in rec["epochs"][1:] if e["within_budget"]]
    assert within, "the case needs a fine-tuned epoch within the budget"
    # The rule: lowest FPR95, then highest AUROC, then highest accuracy, then the later epoch.
    expected = min(within, key=lambda e: (e["val_fpr95"], -e["val_auroc"], -e["accuracy"],
                                          -e["epoch"]))["epoch"]
    assert rec["kept"]["epoch"] == expected
    kept = next(e for e in rec["epochs"] if e["epoch"] == expected)
    assert holdout_accuracy(guarded) == pytest.approx(kept["accuracy"])
    # The guard only looks: same losses every epoch, and the last epoch is the plain run's model.
    strip = lambda log: [{k: v for k, v in r.items() if k not in ("seconds", "images_per_s")}
                         for r in log]
    assert strip(runs.read_log(guarded)) == strip(runs.read_log(plain))
    assert rec["epochs"][-1]["accuracy"] == pytest.approx(holdout_accuracy(plain))


def test_a_resumed_guarded_run_keeps_what_an_uninterrupted_one_keeps(base, tunes, tmp_path):
    whole = tunes(0.02, 3, 10.0)
    cfg = tune_config(base, lr=0.02, epochs=3, outliers=OUTLIERS, max_accuracy_drop=10.0)
    train_until(cfg, tmp_path / "cut", step=10)  # 8 steps an epoch: stopped inside epoch 2
    train_run(None, tmp_path / "cut", resume=True, device="cpu", progress=False)
    assert record(tmp_path / "cut") == record(whole)
    a, b = runs.load_final_weights(tmp_path / "cut"), runs.load_final_weights(whole)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_an_energy_fine_tune_is_guarded_by_the_energy_score(base, tmp_path):
    cfg = tune_config(base, loss="energy", epochs=1, outliers=OUTLIERS, max_accuracy_drop=100.0)
    run = train_run(cfg, tmp_path / "energy", device="cpu", progress=False)
    rec = record(run)
    assert rec["criterion"]["score"] == "energy"
    assert rec["kept"]["epoch"] == 1  # every epoch within a 100-point budget: the only one


def test_choose_rule():
    def e(epoch, fpr, within, auroc=50.0, acc=90.0):
        return {"epoch": epoch, "val_fpr95": fpr, "val_auroc": auroc, "accuracy": acc,
                "within_budget": within}
    start = e(0, 10.0, True)
    assert choose([start, e(1, 5.0, False), e(2, 7.0, True), e(3, 6.0, True)], 1)[0] == 3
    assert choose([start, e(1, 5.0, True), e(2, 5.0, True)], 1)[0] == 2          # tie: later
    assert choose([start, e(1, 5.0, True, 60.0), e(2, 5.0, True)], 1)[0] == 1    # AUROC first
    assert choose([start, e(1, 1.0, False), e(2, 2.0, False)], 1)[0] == 0        # none: start
    # Epoch 0 is a fallback only, even with the best criterion.
    assert choose([e(0, 0.0, True), e(1, 50.0, True)], 1)[0] == 1


@pytest.mark.parametrize("budget", [-1.0, math.nan, math.inf])
def test_bad_budgets_are_refused(base, budget):
    with pytest.raises(UserInputError, match="--max-accuracy-drop"):
        tune_config(base, max_accuracy_drop=budget)


def test_a_guard_needs_a_fine_tune_with_a_holdout(tmp_path, digits_npz, capsys):
    with pytest.raises(UserInputError, match="guards a fine-tune"):
        config_from_preset("quickstart", "baseline", train="digits:train", test="digits:test",
                           max_accuracy_drop=1.0)
    plain = train_tiny(tmp_path / "plain", digits_npz)
    assert main(["tune", str(plain), "--max-accuracy-drop", "1", "--outliers", OUTLIERS,
                 "--out", str(tmp_path / "t"), "--device", "cpu", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "--max-accuracy-drop" in err and "oe train --calibration" in err
    assert not (tmp_path / "t").exists()
