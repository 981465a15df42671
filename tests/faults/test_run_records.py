"""What a run records about itself so that it can be trusted later (issue 17, items 3 and the
"smaller" ones): a fingerprint of its data, checked by --resume; --resume --epochs N extending
a run explicitly (or refusing); absolute data paths in config.json, so `oe eval` works from any
directory."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from outlier_exposure.training import runs
from outlier_exposure.training.config import config_from_preset
from tests.faults.helpers import assert_refused, cli, folder_digest
from tests.helpers.tiny_runs import train_until

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def own_data_run(tmp_path, digits_npz):
    """A 3-epoch run interrupted in epoch 2, trained on its own copy of the digits."""
    data = shutil.copy(digits_npz, tmp_path / "digits.npz")
    cfg = config_from_preset(
        "quickstart", "baseline", train=f"npz:{data}:x_train,y_train",
        test=f"npz:{data}:x_test,y_test", epochs=3, batch_size=50, model_kwargs={"width": 8})
    train_until(cfg, tmp_path / "run", 10)  # 8 steps an epoch: epoch 1 checkpointed
    return tmp_path / "run", tmp_path / "digits.npz"


def test_resume_refuses_changed_training_data_unless_allowed(own_data_run, capsys):
    run, data = own_data_run
    recorded = json.loads((run / runs.ENVIRONMENT).read_text())["data"]["train"]
    assert list(recorded) == [str(data)] and recorded[str(data)]["size"] == data.stat().st_size

    arrays = dict(np.load(data))
    arrays["y_train"] = (arrays["y_train"] + 1) % 10  # relabelled: same size, other bytes
    np.savez(data, **arrays)
    before = folder_digest(run)
    message = assert_refused(cli(["train", "--resume", "--out", run, "--quiet"], capsys),
                             "--train", str(data), "--allow-changed-data")
    assert "changed" in message
    assert folder_digest(run) == before

    resumed = cli(["train", "--resume", "--out", run, "--quiet", "--allow-changed-data"], capsys)
    assert resumed.rc == 0, resumed.stderr
    assert "changed data" in resumed.stderr
    assert (run / runs.MODEL).exists()


def test_resume_on_unchanged_data_passes(own_data_run, capsys):
    run, _ = own_data_run
    resumed = cli(["train", "--resume", "--out", run, "--quiet"], capsys)
    assert resumed.rc == 0, resumed.stderr
    assert [r["epoch"] for r in runs.read_log(run)] == [1, 2, 3]


def test_resume_epochs_extends_says_so_and_refuses_going_back(evaluated_run, capsys):
    run = evaluated_run  # finished after 1 epoch
    same = folder_digest(run)
    kept = cli(["train", "--resume", "--out", run, "--quiet", "--epochs", "1"], capsys)
    assert kept.rc == 0 and folder_digest(run) == same  # N = recorded: nothing to do

    extended = cli(["train", "--resume", "--out", run, "--quiet", "--epochs", "2"], capsys)
    assert extended.rc == 0, extended.stderr
    assert "cosine" in extended.stderr and "from 1 to 2 epochs" in extended.stderr
    assert json.loads((run / runs.CONFIG).read_text())["epochs"] == 2
    environment = json.loads((run / runs.ENVIRONMENT).read_text())
    assert environment["epochs_changed"] == [{"from": 1, "to": 2, "after_epoch": 1}]
    assert [r["epoch"] for r in runs.read_log(run)] == [1, 2]

    before = folder_digest(run)
    message = assert_refused(cli(["train", "--resume", "--out", run, "--quiet", "--epochs", "1"],
                                 capsys), "--epochs 1")
    assert "finished 2" in message
    assert folder_digest(run) == before


def test_config_names_absolute_paths_so_eval_works_from_anywhere(tmp_path, digits_npz, capsys,
                                                                monkeypatch):
    data_dir, elsewhere = tmp_path / "data", tmp_path / "elsewhere"
    data_dir.mkdir()
    elsewhere.mkdir()
    shutil.copy(digits_npz, data_dir / "d.npz")
    monkeypatch.chdir(data_dir)
    trained = cli(["train", "--train", "npz:d.npz:x_train,y_train", "--test",
                   "npz:d.npz:x_test,y_test", "--epochs", "1", "--batch-size", "50", "--model",
                   "small-cnn", "--model-arg", "width=8", "--quiet", "--out", "run"], capsys)
    assert trained.rc == 0, trained.stderr
    config = json.loads((data_dir / "run" / runs.CONFIG).read_text())
    assert config["train"] == f"npz:{data_dir / 'd.npz'}:x_train,y_train"
    assert config["test"] == f"npz:{data_dir / 'd.npz'}:x_test,y_test"

    monkeypatch.chdir(elsewhere)
    result = cli(["eval", data_dir / "run", "--ood", "noise:gaussian", "--draws", "2"], capsys)
    assert result.rc == 0, result.stderr


def test_a_relative_path_left_in_an_old_config_says_why_it_is_not_found(
        evaluated_run, tmp_path, capsys, monkeypatch):
    """config.json written before paths were stored absolute: the message says the path is
    read from the working directory, and how to fix it."""
    path = evaluated_run / runs.CONFIG
    config = json.loads(path.read_text())
    config["test"] = "npz:digits.npz:x_test,y_test"
    path.write_text(json.dumps(config))
    monkeypatch.chdir(tmp_path)
    before = folder_digest(evaluated_run)
    message = assert_refused(cli(["eval", evaluated_run, "--ood", "noise:gaussian"], capsys),
                             "digits.npz")
    assert "relative path" in message and str(tmp_path) in message and "absolute" in message
    assert folder_digest(evaluated_run) == before
