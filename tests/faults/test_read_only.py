"""A read-only run folder (issue 17) used to end every writing command in a traceback. Each one
now stops with one message naming what it could not write, before it changes anything.

Root writes anywhere whatever the permissions, so the commands run in a child process without
CAP_DAC_OVERRIDE (helpers.drop_write_override); the test is skipped where that cannot be
arranged."""

from __future__ import annotations

import shutil

from outlier_exposure.training.lock import LOCK_FILE
from tests.faults.helpers import (
    EVAL, assert_refused, cli, folder_digest, require_permissions_enforced, run_child)


def _read_only(folder, read_only: bool = True) -> None:
    for path in [folder, *folder.rglob("*")]:
        if path.is_dir():
            path.chmod(0o555 if read_only else 0o755)


def test_every_writer_stops_on_a_read_only_folder(trained_run, cut_run, tmp_path, capsys):
    require_permissions_enforced(tmp_path)
    run = trained_run
    assert cli(["eval", run, *EVAL], capsys).rc == 0
    assert cli(["report", run, "--out", run / "report", "--no-figures"], capsys).rc == 0
    shelf = tmp_path / "shelf"  # a read-only folder to make new runs in
    shelf.mkdir()
    folders = (run, cut_run, shelf)
    for folder in folders:
        _read_only(folder)
    before = {folder: folder_digest(folder) for folder in folders}
    try:
        outcomes = run_child(tmp_path, [
            {"argv": ["train", "--resume", "--out", cut_run, "--quiet"]},
            {"argv": ["tune", run, "--outliers", "noise:gaussian:100", "--epochs", "1",
                      "--quiet", "--out", shelf / "tuned"]},
            {"argv": ["eval", run, *EVAL]},
            {"argv": ["calibrate", run, "--ood", "noise:gaussian", "--draws", "2"]},
            {"argv": ["detector", run]},
            {"argv": ["report", run, "--out", run / "report", "--no-figures"]},
            {"argv": ["report", run, "--out", shelf / "report", "--no-figures"]},
        ], read_only_rules=True)
    finally:
        for folder in folders:
            _read_only(folder, read_only=False)
    resume, tune, evaluate, calibrate, detector, report, new_report = outcomes
    assert_refused(resume, cut_run / LOCK_FILE, "--out", "Permission denied")
    assert_refused(tune, shelf / "tuned", "--out")
    for outcome in (evaluate, calibrate, detector):
        assert_refused(outcome, run / LOCK_FILE, f"make {run} writable")
    assert_refused(report, run / "report" / LOCK_FILE, "--out")
    assert_refused(new_report, shelf / "report", "--out")
    for folder in folders:
        assert folder_digest(folder) == before[folder], folder
    assert not any(shelf.iterdir())
    shutil.rmtree(shelf)
