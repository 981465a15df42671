"""Calibration: metrics (both binning modes), temperature bisection, the held-out split,
`oe calibrate` end to end and `oe metrics --calibration`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from outlier_exposure.training import holdout as cs
from outlier_exposure.calibration.metrics import (
    calibration_error, calibration_metrics, expected_calibration_error, rescale_01, soft_f1,
)
from outlier_exposure.cli import main
from outlier_exposure.errors import UserInputError
from outlier_exposure.calibration.temperature import nll, nll_slope, tune_temperature


# ---------------------------------------------------------------- metrics: a hand-made example

def _hand_example():
    """250 examples: 100 at c = 0.62 (50 right) and 150 at c = 0.95 (135 right), shuffled."""
    conf = np.r_[np.full(100, 0.62), np.full(150, 0.95)]
    correct = np.r_[np.ones(50), np.zeros(50), np.ones(135), np.zeros(15)]
    order = np.random.default_rng(0).permutation(250)
    return conf[order], correct[order]


def test_hand_computed_example_both_modes():
    conf, correct = _hand_example()
    # Sorted by confidence, bins of 100: [0, 100) = the c = 0.62 group, acc 0.5, gap 0.12;
    # [100, 250) (the last bin takes the remainder) = the c = 0.95 group, acc 0.9, gap 0.05.
    # Weights 100/250 = 0.4 and 150/250 = 0.6.
    # corrected: RMS = sqrt(0.4 * 0.12^2 + 0.6 * 0.05^2) = sqrt(0.00576 + 0.0015) = sqrt(0.00726)
    #            MAD = 0.4 * 0.12 + 0.6 * 0.05 = 0.048 + 0.03 = 0.078
    assert calibration_error(conf, correct, 2) == pytest.approx(np.sqrt(0.00726), abs=1e-12)
    assert calibration_error(conf, correct, 1) == pytest.approx(0.078, abs=1e-12)
    # reference: the last bin is skipped, the weights still divide by 250:
    #            RMS = sqrt(0.00576), MAD = 0.048
    assert calibration_error(conf, correct, 2, mode="reference") == pytest.approx(
        np.sqrt(0.00576), abs=1e-12)
    assert calibration_error(conf, correct, 1, mode="reference") == pytest.approx(0.048, abs=1e-12)
    # soft F1: sum (1-c) w = 50 * 0.38 + 15 * 0.05 = 19.75; sum (1-c) = 100 * 0.38 + 150 * 0.05
    # = 45.5; sum w = 65; 2 * 19.75 / (45.5 + 65) = 39.5 / 110.5
    assert soft_f1(conf, correct) == pytest.approx(39.5 / 110.5, abs=1e-12)
    # ECE, 15 equal-width bins: 0.62 lies in (8/15, 9/15], 0.95 in (14/15, 1]; one group per bin,
    # so ECE = 0.4 * 0.12 + 0.6 * 0.05 = 0.078
    assert expected_calibration_error(conf, correct) == pytest.approx(0.078, abs=1e-12)
    both = calibration_metrics(conf, correct, mode="reference")
    assert both == pytest.approx({"rms": np.sqrt(0.00576), "mad": 0.048,
                                  "soft_f1": 39.5 / 110.5, "ece": 0.078})


def test_small_sets_and_perfect_predictions():
    # 150 examples form ONE bin: the reference skips it (reports 0), corrected counts it.
    conf, correct = np.full(150, 0.8), np.r_[np.ones(90), np.zeros(60)]  # acc 0.6, gap 0.2
    assert calibration_error(conf, correct, 1, mode="reference") == 0.0
    assert calibration_error(conf, correct, 1) == pytest.approx(0.2)
    # Fewer than 100: one bin in corrected mode; the reference code cannot run.
    assert calibration_error(conf[:50], correct[:50], 2) == pytest.approx(abs(0.8 - 50 / 50))
    with pytest.raises(UserInputError, match="at least 100"):
        calibration_error(conf[:50], correct[:50], 2, mode="reference")
    # Every prediction right and certain: all errors 0, soft F1 0/0 reported as 0.
    assert calibration_metrics(np.ones(300), np.ones(300)) == {"rms": 0.0, "mad": 0.0,
                                                               "soft_f1": 0.0, "ece": 0.0}


# ---------------------------------------------------------------- metrics: independent loops

def _independent(conf, correct, mode, bin_size=100):
    """Straight transcription of the definitions: Python's stable sort, explicit bin loop."""
    order = sorted(range(len(conf)), key=lambda i: conf[i])
    c = [conf[i] for i in order]
    y = [correct[i] for i in order]
    n = len(c)
    n_bins = max(n // bin_size, 1)
    sq = ab = 0.0
    for b in range(n_bins):
        if mode == "reference" and b == n_bins - 1:
            break
        stop = n if b == n_bins - 1 else (b + 1) * bin_size
        cb, yb = c[b * bin_size:stop], y[b * bin_size:stop]
        gap = abs(sum(cb) / len(cb) - sum(yb) / len(yb))
        sq += len(cb) / n * gap ** 2
        ab += len(cb) / n * gap
    tp = sum((1 - ci) * (1 - yi) for ci, yi in zip(conf, correct))
    f1 = 2 * tp / sum((1 - ci) + (1 - yi) for ci, yi in zip(conf, correct))
    ece = 0.0
    for k in range(15):
        lo, hi = k / 15, (k + 1) / 15
        members = [i for i in range(n) if (lo < conf[i] <= hi) or (k == 0 and conf[i] == 0)]
        if members:
            ece += len(members) / n * abs(np.mean([conf[i] for i in members])
                                          - np.mean([correct[i] for i in members]))
    return {"rms": sq ** 0.5, "mad": ab, "soft_f1": f1, "ece": ece}


@pytest.mark.parametrize("n", [100, 199, 345, 1000])
@pytest.mark.parametrize("mode", ["corrected", "reference"])
def test_against_independent_implementation(n, mode):
    rng = np.random.default_rng(n)
    conf = rng.beta(5, 1.5, size=n)
    conf[: n // 3] = np.round(conf[: n // 3], 2)  # ties, some across bin edges
    correct = (rng.random(n) < conf).astype(float)
    correct[rng.random(n) < 0.1] = 0  # miscalibrated
    ours = calibration_metrics(conf, correct, mode=mode)
    expected = _independent(list(conf), list(correct), mode)
    assert ours == pytest.approx(expected, abs=1e-12)


def test_modes_differ_only_by_the_top_bin():
    rng = np.random.default_rng(3)
    conf = rng.random(530)
    correct = (rng.random(530) < 0.7).astype(float)
    c_sorted, y_sorted = conf[np.argsort(conf)], correct[np.argsort(conf)]
    top_gap = abs(c_sorted[400:].mean() - y_sorted[400:].mean())  # last bin: 130 examples
    ref = calibration_error(conf, correct, 1, mode="reference")
    assert calibration_error(conf, correct, 1) == pytest.approx(ref + 130 / 530 * top_gap)


def test_rescale_01():
    np.testing.assert_allclose(rescale_01(np.array([0.1, 0.55, 1.0]), 10), [0.0, 0.5, 1.0])


@pytest.mark.parametrize("conf, correct, message", [
    ([0.5, 1.2], [1, 0], r"\[0, 1\]"),
    ([0.5, -0.1], [1, 0], r"\[0, 1\]"),
    ([0.5, np.nan], [1, 0], "NaN"),
    ([0.5, 0.6, 0.7], [1, 0], "3 confidences but 2"),
    ([0.5, 0.6], [1, 2], "1 .right. or 0"),
    ([], [], "no examples"),
])
def test_bad_metric_input(conf, correct, message):
    with pytest.raises(UserInputError, match=message):
        calibration_metrics(conf, correct)


def test_unknown_mode():
    with pytest.raises(UserInputError, match="corrected, reference"):
        calibration_metrics([0.5] * 200, [1] * 200, mode="fixed")


# ---------------------------------------------------------------- temperature

@pytest.mark.parametrize("seed, t_true", [(0, 0.5), (1, 1.0), (2, 2.5), (3, 4.0)])
def test_bisection_matches_dense_grid(seed, t_true):
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=3.0, size=(400, 10))
    p = np.exp(logits / t_true)
    p /= p.sum(1, keepdims=True)
    labels = np.array([rng.choice(10, p=row) for row in p])
    grid = np.arange(0.2, 5.0 + 1e-9, 1e-3)
    best = grid[np.argmin([nll(logits, labels, t) for t in grid])]
    assert tune_temperature(logits, labels) == pytest.approx(best, abs=1e-3)


def test_temperature_outside_the_bracket_gives_the_end():
    rng = np.random.default_rng(5)
    logits = rng.normal(scale=0.01, size=(300, 5))  # nearly uniform: wants T far below 0.2
    labels = logits.argmax(1)
    assert tune_temperature(logits, labels) == pytest.approx(0.2, abs=1e-4)


def test_slope_is_the_derivative():
    rng = np.random.default_rng(6)
    logits, labels = rng.normal(size=(50, 4)), rng.integers(0, 4, 50)
    h = 1e-6
    numeric = (nll(logits, labels, 1.3 + h) - nll(logits, labels, 1.3 - h)) / (2 * h)
    assert nll_slope(logits, labels, 1.3) == pytest.approx(numeric, rel=1e-6)


def test_bad_temperature_input():
    with pytest.raises(UserInputError, match="labels must lie"):
        tune_temperature(np.zeros((3, 2)), [0, 1, 2])


# ---------------------------------------------------------------- the held-out split

def test_holdout_rules():
    np.testing.assert_array_equal(cs.holdout_indices("last:3", 10), [7, 8, 9])
    # The reference's validation_split_folder: np.random.seed(0), shuffle arange(n), the part
    # after int(n * 0.9).
    np.random.seed(0)
    perm = np.arange(1000)
    np.random.shuffle(perm)
    np.testing.assert_array_equal(cs.holdout_indices("random:0.1", 1000), np.sort(perm[900:]))
    assert len(cs.holdout_indices("random:0.1:7", 1437)) == 1437 - int(1437 * 0.9)
    for bad in ("last:0", "first:5", "random:1.5", "random:x", "last"):
        with pytest.raises(UserInputError, match="last:N"):
            cs.parse_rule(bad)
    with pytest.raises(UserInputError, match="training set has 10"):
        cs.holdout_indices("last:10", 10)


def _train(out, digits_npz, *extra):
    return main(["train", "--preset", "quickstart", "--train",
                 f"npz:{digits_npz}:x_train,y_train", "--test", f"npz:{digits_npz}:x_test,y_test",
                 "--epochs", "1", "--quiet", "--device", "cpu", "--out", str(out), *extra])


@pytest.fixture(scope="module")
def calibrated_runs(tmp_path_factory, digits_npz):
    """A 1-epoch baseline trained with --calibration and its 1-epoch OE fine-tune, recording
    the images each training saw."""
    import importlib

    # (`outlier_exposure.train` the attribute is the API function; this is the module.)
    train_module = importlib.import_module("outlier_exposure.training.epoch")

    root = tmp_path_factory.mktemp("cal")
    seen = []
    original = train_module.place
    train_module.place = lambda images, *args: seen.append(images) or original(images, *args)
    try:
        assert _train(root / "base", digits_npz, "--calibration") == 0
        assert main(["tune", str(root / "base"), "--outliers", "noise:uniform:200", "--epochs",
                     "1", "--quiet", "--device", "cpu", "--out", str(root / "oe")]) == 0
    finally:
        train_module.place = original
    trained_on = [images for images in seen if images.y is not None]  # not the outliers
    return root, trained_on


def test_split_recorded_and_training_used_the_complement(calibrated_runs, digits_npz):
    root, trained_on = calibrated_runs
    data = np.load(digits_npz)
    x, y = data["x_train"], data["y_train"]  # 400 images
    held = cs.holdout_indices("random:0.1", 400)
    record = json.loads((root / "base" / cs.SPLIT_FILE).read_text())
    assert record["rule"] == "random:0.1" and record["n_total"] == 400
    np.testing.assert_array_equal(record["indices"], held)
    keep = np.setdiff1d(np.arange(400), held)
    assert len(trained_on) == 2  # the baseline and the fine-tune
    for images in trained_on:
        np.testing.assert_array_equal(images.x, x[keep])
        np.testing.assert_array_equal(images.y, y[keep])
    # The fine-tune inherited the rule and recorded the very same indices.
    assert cs.load_split(root / "oe", 400).tolist() == held.tolist()


def test_run_without_split(calibrated_runs, tmp_path, capsys):
    import shutil

    from outlier_exposure.training import runs
    from outlier_exposure.data.datasets import load_labelled

    root, _ = calibrated_runs
    plain = tmp_path / "plain"  # the baseline as if trained without --calibration
    shutil.copytree(root / "base", plain)
    (plain / cs.SPLIT_FILE).unlink()
    cfg = runs.load_config(root / "oe")
    cfg.init_from = str(plain)
    with pytest.raises(UserInputError, match="retrain the baseline with --calibration"):
        cs.split_for_training(cfg, load_labelled(cfg.train, cfg.image_shape))
    # `oe calibrate` says T = 1, and why.
    assert main(["calibrate", str(plain), "--ood", "noise:gaussian", "--draws", "2",
                 "--device", "cpu"]) == 0
    assert "note: T = 1: the run was trained without --calibration" in capsys.readouterr().out
    out = json.loads((plain / "calibration.json").read_text())
    assert out["temperature"]["value"] == 1.0 and not out["temperature"]["tuned"]


def test_split_of_class_sorted_data_is_refused():
    from outlier_exposure.training.config import config_from_preset
    from outlier_exposure.data.imageset import ImageSet

    sorted_set = ImageSet(x=np.zeros((100, 4, 4, 1), np.uint8), y=np.repeat(np.arange(10), 10),
                          name="sorted")
    cfg = config_from_preset("quickstart", "baseline", calibration_holdout="last:10")
    with pytest.raises(UserInputError, match="no example of class.*random:0.1"):
        cs.split_for_training(cfg, sorted_set)  # the last 10 are all class 9
    cfg.calibration_holdout = "random:0.5"
    kept, held = cs.split_for_training(cfg, sorted_set)
    assert len(kept) == 50 and len(held) == 50


def test_split_changed_training_data_is_refused(calibrated_runs):
    root, _ = calibrated_runs
    with pytest.raises(UserInputError, match="recorded for a training set of 400"):
        cs.load_split(root / "base", 399)


# ---------------------------------------------------------------- oe calibrate end to end

def test_calibrate_end_to_end(calibrated_runs, digits_npz, capsys):
    from outlier_exposure.calibration.protocol import calibrate_run, confidences
    from outlier_exposure.data.datasets import load_images, load_labelled
    from outlier_exposure.evaluation.draws import plan_draws
    from outlier_exposure.evaluation.protocol import load_trained_model, predict_logits

    root, _ = calibrated_runs
    run = root / "oe"
    assert main(["calibrate", str(run), "--ood", "noise:gaussian", "noise:blobs", "--draws", "3",
                 "--mode", "reference", "--device", "cpu"]) == 0
    assert "Mean over OOD sets" in capsys.readouterr().out
    for name in ("calibration.json", "calibration.csv", "calibration.md", "reliability.png"):
        assert (run / name).stat().st_size > 0
    res = json.loads((run / "calibration.json").read_text())
    assert res["mode"] == "reference" and res["draws"] == 3 and res["temperature"]["tuned"]
    values = [res["in_distribution"][m] for m in ("rms", "mad", "soft_f1", "ece")]
    values += [r[m] for r in res["ood"].values() for m in ("rms", "mad", "soft_f1", "ece")]
    assert all(0 <= v <= 1 for v in values)
    for m in ("rms", "mad", "soft_f1", "ece"):
        assert res["mean"][m] == pytest.approx(np.mean([r[m] for r in res["ood"].values()]))
    assert "Mean over OOD sets" in (run / "calibration.md").read_text()
    assert (run / "calibration.csv").read_text().splitlines()[-1].startswith("mean,")

    # Independently: T from the held-out logits, then the 1:5 mixture of each draw.
    model, cfg = load_trained_model(run, "cpu")
    train = load_labelled(cfg.train, cfg.image_shape)
    held = cs.holdout_indices("random:0.1", 400)
    t = tune_temperature(predict_logits(model, cs.subset(train, held), cfg, "cpu", 100).numpy(),
                         train.y[held])
    assert res["temperature"]["value"] == pytest.approx(t, abs=1e-9)
    test = load_labelled(cfg.test, cfg.image_shape)
    logits = predict_logits(model, test, cfg, "cpu", 100)
    conf = confidences(logits, t, rescale=False)
    correct = (logits.argmax(1).numpy() == test.y).astype(float)
    assert res["in_distribution"] == pytest.approx(calibration_metrics(conf, correct,
                                                                       mode="reference"))
    n = len(test) // 5  # 200 test images: 40 OOD per draw
    images = load_images("noise:gaussian", cfg.image_shape, seed=1, n=3 * n,
                         noise_range=cfg.noise_range)
    plan = plan_draws(len(images), n, 3, np.random.default_rng(1))  # the first set's draws
    ood_conf = confidences(predict_logits(model, images, cfg, "cpu", 100), t, rescale=False)
    draws = [calibration_metrics(np.r_[ood_conf[idx], conf], np.r_[np.zeros(n), correct],
                                 mode="reference") for idx in plan]
    assert res["ood"]["gaussian"]["rms"] == pytest.approx(np.mean([d["rms"] for d in draws]))
    assert res["ood"]["gaussian"]["soft_f1_std"] == pytest.approx(
        np.std([d["soft_f1"] for d in draws]))

    # Options: no temperature, 0-1 rescaling; the library call returns without writing.
    plain = calibrate_run(run, ["noise:gaussian"], draws=2, tune=False, rescale=True,
                          device="cpu", write=False)
    assert plain["temperature"]["value"] == 1.0 and plain["rescale"] is True
    assert plain["in_distribution"]["mad"] == pytest.approx(calibration_metrics(
        rescale_01(confidences(logits, 1.0, False), 10), correct)["mad"])


# ---------------------------------------------------------------- oe metrics --calibration

def test_metrics_calibration_command(tmp_path, capsys):
    conf, correct = _hand_example()
    np.save(tmp_path / "conf.npy", conf)
    (tmp_path / "correct.txt").write_text("\n".join(str(int(v)) for v in correct))
    for mode, rms in (("corrected", np.sqrt(0.00726)), ("reference", np.sqrt(0.00576))):
        assert main(["metrics", "--calibration", str(tmp_path / "conf.npy"),
                     str(tmp_path / "correct.txt"), "--mode", mode]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["mode"] == mode and out["rms"] == pytest.approx(rms)
        assert out["soft_f1"] == pytest.approx(39.5 / 110.5) and out["ece"] == pytest.approx(0.078)


def test_metrics_calibration_bad_input(tmp_path, capsys):
    np.save(tmp_path / "conf.npy", np.array([0.2, 0.9, 0.5]))
    np.save(tmp_path / "bad.npy", np.array([0.2, 1.9, 0.5]))
    (tmp_path / "two.txt").write_text("1\n0\n")
    (tmp_path / "three.txt").write_text("1\n0\n1\n")
    cases = [
        (["--calibration", "bad.npy", "three.txt"], r"\[0, 1\]"),
        (["--calibration", "conf.npy", "two.txt"], "3 confidences but 2"),
        (["conf.npy", "conf.npy", "--calibration", "conf.npy", "three.txt"], "not both"),
        ([], "give two score files"),
    ]
    for args, message in cases:
        args = [str(tmp_path / a) if a.endswith((".npy", ".txt")) else a for a in args]
        assert main(["metrics", *args]) == 2
        assert __import__("re").search(message, capsys.readouterr().err)
    # The detection form still works as before.
    np.save(tmp_path / "out.npy", np.array([1.0, 2.0]))
    assert main(["metrics", str(tmp_path / "conf.npy"), str(tmp_path / "out.npy")]) == 0
    assert json.loads(capsys.readouterr().out)["auroc"] == 1.0


def test_confidences_use_the_temperature():
    from outlier_exposure.calibration.protocol import confidences

    logits = torch.tensor([[2.0, 0.0], [0.0, 0.0]])
    # T = 2: softmax([1, 0]) = e / (e + 1); a tie gives 1/2.
    np.testing.assert_allclose(confidences(logits, 2.0, False), [np.e / (np.e + 1), 0.5])
