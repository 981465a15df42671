"""The validation criterion (training/val_criterion.py): made from the calibration hold-out
only, equal to an independent computation, deterministic."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from outlier_exposure.data.imageset import ImageSet
from outlier_exposure.data.validation import make_validation_set
from outlier_exposure.errors import UserInputError
from outlier_exposure.evaluation.protocol import load_trained_model, predict_logits
from outlier_exposure.training import runs
from outlier_exposure.training.val_criterion import (
    DEFAULT_KINDS, applicable_kinds, criterion_from_logits, measure, validation_data)
from tests.helpers.tiny_runs import train_tiny

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def base(tmp_path_factory, digits_npz):
    return train_tiny(tmp_path_factory.mktemp("vc") / "base", digits_npz, calibration=True,
                      epochs=2, lr=0.1)


def held_out(base, digits_npz):
    """The hold-out as the run recorded it, read straight from the npz and the split file."""
    idx = json.loads((base / "calibration_split.json").read_text())["indices"]
    with np.load(digits_npz) as f:
        return f["x_train"][idx], f["y_train"][idx]


def brute_fpr95(ins: np.ndarray, outs: np.ndarray) -> float:
    """The reference's rule by brute force: scanning every distinct threshold upwards from the
    lowest anomaly score, the first one whose recall is closest to 95%; FPR there."""
    best = None
    for t in np.unique(np.concatenate([ins, outs])):
        if t < outs.min():
            continue
        gap = abs((outs >= t).mean() - 0.95)
        if best is None or gap < best[0]:
            best = (gap, (ins >= t).mean())
    return float(best[1])


def test_the_sets_are_made_from_the_holdout_not_the_test_set(base, digits_npz):
    cfg = runs.load_config(base)
    data = validation_data(cfg, run_dir=base)
    x, y = held_out(base, digits_npz)
    np.testing.assert_array_equal(data.holdout.x, x)
    np.testing.assert_array_equal(data.holdout.y, y)
    assert [s.name for s in data.ood] == [f"val:{k}" for k in DEFAULT_KINDS]  # 16x16 grey: all
    # A jigsaw moves pixels within an image: each one holds its hold-out image's pixels.
    jigsaw = next(s for s in data.ood if s.name == "val:jigsaw")
    assert len(jigsaw) == len(x)
    for made, source in zip(jigsaw.x, x):
        np.testing.assert_array_equal(np.sort(made, axis=None), np.sort(source, axis=None))


def test_kinds_follow_the_image_shape():
    kinds = DEFAULT_KINDS + ("rgb-shift", "invert")
    assert "jigsaw" not in applicable_kinds((15, 16, 1))
    assert applicable_kinds((16, 16, 1), kinds) == list(DEFAULT_KINDS)
    assert applicable_kinds((32, 32, 3), kinds) == list(kinds)
    for shape in ((16, 16, 1), (32, 32, 3)):  # every default kind is made for grey and RGB
        source = np.random.default_rng(0).integers(0, 256, (6, *shape), dtype=np.uint8)
        for kind in applicable_kinds(shape):
            made = make_validation_set(kind, ImageSet(source, None, "s"), 6, 1, shape=shape)
            assert made.x.shape == (6, *shape)


def test_the_criterion_equals_an_independent_computation(base, digits_npz):
    cfg = runs.load_config(base)
    data = validation_data(cfg, run_dir=base)
    model, _ = load_trained_model(base, "cpu")
    got = measure(model, data, cfg, "cpu")

    x, y = held_out(base, digits_npz)
    in_logits = predict_logits(model, data.holdout, cfg, "cpu", 17)
    assert got["accuracy"] == pytest.approx(100 * np.mean(in_logits.argmax(1).numpy() == y))
    ins = -torch.softmax(in_logits, 1).max(1).values.numpy()  # MSP, higher = more anomalous
    fprs, aurocs = [], []
    for s in data.ood:
        outs = -torch.softmax(predict_logits(model, s, cfg, "cpu", 17), 1).max(1).values.numpy()
        fprs.append(100 * brute_fpr95(ins, outs))
        aurocs.append(100 * roc_auc_score(np.r_[np.zeros(len(ins)), np.ones(len(outs))],
                                          np.r_[ins, outs]))
        assert got["per_set"][s.name]["fpr95"] == pytest.approx(fprs[-1], abs=1e-9)
    assert got["val_fpr95"] == pytest.approx(np.mean(fprs))
    assert got["val_auroc"] == pytest.approx(np.mean(aurocs))
    assert got["score"] == "msp"
    # Deterministic: the same sets and the same value again.
    again = measure(model, validation_data(cfg, run_dir=base), cfg, "cpu")
    assert again == got


def test_a_perfect_detector_scores_zero_fpr_and_an_inverted_one_full_fpr():
    labels = np.array([0, 1, 2, 1])
    confident = 10 * torch.eye(3)[labels]                       # right and sure
    flat = torch.zeros(5, 3)                                   # uniform softmax
    good = criterion_from_logits(confident, labels, {"a": flat}, "msp")
    assert (good["accuracy"], good["val_fpr95"], good["val_auroc"]) == (100, 0, 100)
    bad = criterion_from_logits(flat[:4], np.array([1, 1, 1, 1]), {"a": confident}, "msp")
    assert bad["val_fpr95"] == 100 and bad["val_auroc"] == 0
    assert bad["accuracy"] == 0  # argmax of a flat row is class 0


def test_a_run_without_a_holdout_is_refused(tmp_path, digits_npz):
    plain = train_tiny(tmp_path / "plain", digits_npz)
    with pytest.raises(UserInputError, match="--calibration"):
        validation_data(runs.load_config(plain), run_dir=plain)
