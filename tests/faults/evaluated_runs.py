"""Fixtures of the damaged-file and NaN-model tests: tiny runs that hold every kind of run-folder
file (config, environment, log, checkpoint, model, results, score caches, a detector with its
statistics file), made once per session and copied for each test.

Import the fixtures into a test module with
`from tests.faults.evaluated_runs import evaluated, evaluated_run  # noqa: F401`.
"""

from __future__ import annotations

import shutil

import pytest
import torch

from outlier_exposure.cli import main
from tests.helpers.tiny_runs import train_tiny


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
