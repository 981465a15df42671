"""Bad arguments (issue 17, item 3): every value fault injection found crashing with a traceback,
accepted silently, or failing only after config.json was written. Each is now refused before
anything is created or touched: exit status 2, one message naming the argument, no traceback,
no --out folder (and, for commands on an existing run, no change to it)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.faults.helpers import assert_refused, cli, folder_digest

pytestmark = pytest.mark.usefixtures("one_thread")

OUTLIERS = ("--outliers", "noise:gaussian")
# (extra `oe train` arguments, what the message must name)
TRAIN_CASES = {
    "lr-nan": (("--lr", "nan"), "--lr"),
    "lr-inf": (("--lr", "inf"), "--lr"),
    "lr-1e30": (("--lr", "1e30"), "--lr"),
    "lr-zero": (("--lr", "0"), "--lr"),
    "lambda-nan": (("--lambda", "nan", *OUTLIERS), "--lambda"),
    "lambda-negative": (("--lambda", "-1", *OUTLIERS), "--lambda"),
    "weight-decay-negative": (("--weight-decay", "-1"), "--weight-decay"),
    "weight-decay-nan": (("--weight-decay", "nan"), "--weight-decay"),
    "seed-huge": (("--seed", str(10 ** 20)), "--seed"),
    "seed-negative": (("--seed", "-1"), "--seed"),
    "batch-size-zero": (("--batch-size", "0"), "--batch-size"),
    "unknown-model": (("--model", "nosuch"), "nosuch"),
    "unknown-model-arg": (("--model-arg", "nosuch=1"), "nosuch"),
    "bad-model-arg": (("--model-arg", "width=-3"), "width"),
    "missing-test-file": (("--test", "npz:/nonexistent/test.npz:x_test,y_test"), "--test"),
    "missing-test-set": (("--test", "nosuchset:test"), "--test"),
    "path-5000-characters": (("--train", "npz:/" + "a" * 5000 + ".npz"), "characters"),
    "noise-10**12": (("--outliers", "noise:gaussian:1000000000000"),
                     "noise:gaussian:1000000000000"),
}


def _train_argv(npz, out, extra) -> list:
    return ["train", "--train", f"npz:{npz}:x_train,y_train", "--test",
            f"npz:{npz}:x_test,y_test", "--epochs", "1", "--batch-size", "50", "--model",
            "small-cnn", "--model-arg", "width=8", "--quiet", "--out", out, *extra]


@pytest.mark.parametrize("extra, named", list(TRAIN_CASES.values()), ids=list(TRAIN_CASES))
def test_train_refuses_before_creating_the_run(digits_npz, tmp_path, capsys, extra, named):
    out = tmp_path / "new" / "run"
    assert_refused(cli(_train_argv(digits_npz, out, extra), capsys), named)
    assert not (tmp_path / "new").exists(), "a refused run left a folder behind"


def test_a_label_of_a_billion_is_refused_without_allocating(digits_npz, tmp_path, capsys):
    """Label 10**9 asked for a 10**9-class head (a 512 GB allocation) and crashed."""
    arrays = dict(np.load(digits_npz))
    arrays["y_train"] = arrays["y_train"].astype(np.int64)
    arrays["y_train"][3] = 10 ** 9
    np.savez(tmp_path / "labels.npz", **arrays)
    out = tmp_path / "run"
    message = assert_refused(cli(_train_argv(tmp_path / "labels.npz", out, ()), capsys),
                             "--train", "labels.npz", "1000000000")
    assert "classes" in message
    assert not out.exists()


def test_tune_refuses_a_nan_energy_weight(evaluated_run, tmp_path, capsys):
    before = folder_digest(evaluated_run)
    out = tmp_path / "tuned"
    assert_refused(cli(["tune", evaluated_run, "--loss", "energy", "--energy-weight", "nan",
                        "--epochs", "1", "--out", out, "--quiet"], capsys), "--energy-weight")
    assert not out.exists() and folder_digest(evaluated_run) == before


# (extra `oe eval` arguments, what the message must name)
EVAL_CASES = {
    "knn-k-0": (("--score", "knn", "--knn-k", "0"), "--knn-k"),
    "odin-T-0": (("--score", "odin", "--odin-T", "0", "--odin-eps", "0.001"), "--odin-T"),
    "odin-eps-negative": (("--score", "odin", "--odin-T", "1000", "--odin-eps", "-5"),
                          "--odin-eps"),
    "mahalanobis-eps-nan": (("--score", "mahalanobis", "--mahalanobis-eps", "nan"),
                            "--mahalanobis-eps"),
    "seed-negative": (("--seed", "-1"), "--seed"),
    "draws-10**8": (("--draws", "100000000"), "--draws"),
    "recall-2": (("--recall", "2"), "--recall"),
    "noise-10**12": (("--ood", "noise:gaussian:1000000000000"), "noise:gaussian:1000000000000"),
}


@pytest.mark.parametrize("extra, named", list(EVAL_CASES.values()), ids=list(EVAL_CASES))
def test_eval_refuses_bad_settings_and_changes_nothing(evaluated_run, capsys, extra, named):
    before = folder_digest(evaluated_run)
    argv = ["eval", evaluated_run, "--ood", "noise:gaussian", "--draws", "2", *extra]
    assert_refused(cli(argv, capsys), named)
    assert folder_digest(evaluated_run) == before


@pytest.mark.parametrize("extra, named", [(("--score", "knn", "--knn-k", "0"), "--knn-k"),
                                          (("--tpr", "nan"), "--tpr")], ids=["knn-k", "tpr"])
def test_detector_refuses_bad_settings(evaluated_run, capsys, extra, named):
    before = folder_digest(evaluated_run)
    assert_refused(cli(["detector", evaluated_run, *extra], capsys), named)
    assert folder_digest(evaluated_run) == before


@pytest.mark.parametrize("extra, named", [
    (("--lr", "0.5"), "--lr"), (("--model", "wrn"), "--model"),
    (("--train", "digits:train"), "--train"), (("--epochs", "0"), "--epochs"),
], ids=["lr", "model", "train", "epochs-0"])
def test_resume_refuses_flags_it_would_have_ignored(cut_run, capsys, extra, named):
    """`--resume --lr 0.5` used to run with the recorded lr and say nothing."""
    before = folder_digest(cut_run)
    assert_refused(cli(["train", "--resume", "--out", cut_run, "--quiet", *extra], capsys),
                   named)
    assert folder_digest(cut_run) == before


def test_allow_changed_data_needs_resume(digits_npz, tmp_path, capsys):
    out = tmp_path / "run"
    assert_refused(cli(_train_argv(digits_npz, out, ("--allow-changed-data",)), capsys),
                   "--allow-changed-data")
    assert not out.exists()
