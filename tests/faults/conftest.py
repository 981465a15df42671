"""Tiny run folders for the fault tests, trained once per session and copied for each test
(every test damages or locks its own copy): a finished run, an interrupted one, and an
evaluated one holding every kind of run-folder file (config, environment, log, checkpoint,
model, results, score caches, a detector with its statistics file)."""

import shutil

import pytest
import torch

from outlier_exposure.cli import main
from outlier_exposure.training.config import config_from_preset
from tests.helpers.tiny_runs import train_tiny, train_until


@pytest.fixture(scope="session")
def _pristine(tmp_path_factory, digits_npz):
    """A finished 1-epoch run and a 3-epoch run interrupted after its first epoch."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: one thread is faster (see the one_thread fixture)
    root = tmp_path_factory.mktemp("fault_runs")
    train_tiny(root / "trained", digits_npz)
    cfg = config_from_preset(
        "quickstart", "baseline", train=f"npz:{digits_npz}:x_train,y_train",
        test=f"npz:{digits_npz}:x_test,y_test", epochs=3, batch_size=50,
        model_kwargs={"width": 8})
    train_until(cfg, root / "cut", 10)  # 8 steps an epoch: checkpoint and log of epoch 1
    torch.set_num_threads(before)
    return root


@pytest.fixture
def trained_run(_pristine, tmp_path):
    """A copy of a finished tiny run (not evaluated yet)."""
    return shutil.copytree(_pristine / "trained", tmp_path / "run")


@pytest.fixture
def cut_run(_pristine, tmp_path):
    """A copy of a tiny run interrupted after epoch 1 of 3 (continue it with --resume)."""
    return shutil.copytree(_pristine / "cut", tmp_path / "cut")


@pytest.fixture(scope="session")
def evaluated(tmp_path_factory, digits_npz):
    """A finished 1-epoch run with a calibration hold-out, evaluated with msp and knn (results,
    score caches) and with a knn detector (detector.json and detector_stats.pt)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: one thread is faster (the one_thread fixture)
    run = train_tiny(tmp_path_factory.mktemp("evaluated") / "run", digits_npz, calibration=True)
    assert main(["eval", str(run), "--ood", "noise:gaussian", "--draws", "2", "--score", "msp",
                 "knn", "--knn-k", "5", "--device", "cpu"]) == 0
    assert main(["detector", str(run), "--score", "knn", "--knn-k", "5"]) == 0
    torch.set_num_threads(before)
    return run


@pytest.fixture
def evaluated_run(evaluated, tmp_path):
    """A copy of `evaluated` for one test to damage."""
    return shutil.copytree(evaluated, tmp_path / "run")
