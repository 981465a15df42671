"""NaN models and thresholds (issue 17, item 5): `oe detector` on a run whose weights are NaN
wrote "threshold": NaN, `oe score` then flagged nothing and `oe export` packed it. A model or a
threshold that is not finite is now refused by all three, and by `oe eval`; a run that diverges
in its first epoch leaves no record behind."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from outlier_exposure.errors import UserInputError
from outlier_exposure.training import runs
from outlier_exposure.training.config import load_config
from outlier_exposure.training.epoch import check_finite
from tests.faults.helpers import assert_refused, cli, folder_digest

pytestmark = pytest.mark.usefixtures("one_thread")


def _poison(run, value=math.nan) -> None:
    """model.pt with every floating-point weight set to `value` (a diverged run)."""
    state = torch.load(run / runs.MODEL, weights_only=True)
    torch.save({k: torch.full_like(v, value) if v.is_floating_point() else v
                for k, v in state.items()}, run / runs.MODEL)


@pytest.fixture
def images(tmp_path, digits_npz):
    path = tmp_path / "images.npz"
    np.savez(path, x=np.load(digits_npz)["x_test"][:5])
    return path


@pytest.mark.parametrize("value", [math.nan, math.inf], ids=["nan", "inf"])
@pytest.mark.parametrize("command", ["detector", "score", "export", "eval"])
def test_a_non_finite_model_is_refused(evaluated_run, tmp_path, capsys, images, value, command):
    _poison(evaluated_run, value)
    before = folder_digest(evaluated_run)
    argv = {"detector": ["detector", evaluated_run],
            "score": ["score", evaluated_run, images, "--out", tmp_path / "s.csv"],
            "export": ["export", evaluated_run, "--out", tmp_path / "d.pt"],
            "eval": ["eval", evaluated_run, "--ood", "noise:gaussian", "--draws", "2"]}[command]
    message = assert_refused(cli(argv, capsys), "model.pt")
    assert "NaN or infinite" in message
    assert folder_digest(evaluated_run) == before  # detector.json kept as it was
    assert not (tmp_path / "s.csv").exists() and not (tmp_path / "d.pt").exists()


def test_a_nan_model_gets_no_detector(evaluated_run, capsys):
    (evaluated_run / "detector.json").unlink()
    (evaluated_run / "detector_stats.pt").unlink()
    _poison(evaluated_run)
    assert_refused(cli(["detector", evaluated_run], capsys), "model.pt")
    assert not (evaluated_run / "detector.json").exists()


@pytest.mark.parametrize("threshold", [math.nan, math.inf, -math.inf],
                         ids=["nan", "inf", "minus-inf"])
@pytest.mark.parametrize("command", ["score", "export"])
def test_a_non_finite_threshold_is_refused(evaluated_run, tmp_path, capsys, images, threshold,
                                           command):
    path = evaluated_run / "detector.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "threshold": threshold}))
    before = folder_digest(evaluated_run)
    argv = (["score", evaluated_run, images, "--out", tmp_path / "s.csv"] if command == "score"
            else ["export", evaluated_run, "--out", tmp_path / "d.pt"])
    assert_refused(cli(argv, capsys), "detector.json", "threshold")
    assert folder_digest(evaluated_run) == before


def test_a_finite_detector_still_scores(evaluated_run, tmp_path, capsys, images):
    """The refusals above come from the NaN: the intact run scores and flags."""
    outcome = cli(["score", evaluated_run, images, "--out", tmp_path / "s.csv"], capsys)
    assert outcome.rc == 0, outcome.stderr
    assert len((tmp_path / "s.csv").read_text().splitlines()) == 6


def test_a_first_epoch_that_diverges_leaves_no_run(evaluated_run):
    """Without a checkpoint nothing was trained: the record goes, so the same --out starts a
    new run (and --resume cannot repeat the values that diverged)."""
    cfg = load_config(evaluated_run)
    (evaluated_run / runs.CHECKPOINT).unlink()
    with pytest.raises(UserInputError, match="Nothing was trained"):
        check_finite([math.nan, 0.0, 0.0, 0.0, 1.0], 0, cfg, evaluated_run)
    for name in (runs.CONFIG, runs.ENVIRONMENT, runs.LOG, "calibration_split.json"):
        assert not (evaluated_run / name).exists(), name


def test_a_later_epoch_that_diverges_keeps_the_checkpoint(evaluated_run):
    cfg = load_config(evaluated_run)
    before = folder_digest(evaluated_run)
    with pytest.raises(UserInputError, match="checkpoint of epoch 1 .* is kept"):
        check_finite([math.inf, 0.0, 0.0, 0.0, 1.0], 1, cfg, evaluated_run)
    assert folder_digest(evaluated_run) == before
    check_finite([1.0, 1.0, 0.0, 3.0, 5.0], 1, cfg, evaluated_run)  # finite: no error
