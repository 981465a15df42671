"""A full disk (issue 17), simulated with RLIMIT_FSIZE in a child process: every write past the
limit fails with EFBIG, as it would with ENOSPC on a full disk. Each command stops with one
message naming the file it could not write and keeps everything written before: the score
cache, the checkpoint, the log (which a full disk used to leave with a torn line that broke
every later --resume and `oe report`), a report."""

from __future__ import annotations

import shutil

import pytest

from outlier_exposure.training import runs
from tests.faults.helpers import EVAL, assert_refused, cli, folder_digest, run_child


@pytest.mark.usefixtures("one_thread")
def test_a_full_disk_stops_each_writer_and_keeps_what_was_written(
        trained_run, cut_run, tmp_path, digits_npz, capsys):
    evaluated, report = trained_run, tmp_path / "report"
    assert cli(["eval", evaluated, *EVAL], capsys).rc == 0
    assert cli(["report", evaluated, "--out", report, "--no-figures"], capsys).rc == 0
    cut_log = shutil.copytree(cut_run, tmp_path / "cut_log")
    new = tmp_path / "new"
    cache, log, checkpoint = (evaluated / "scores_msp.npz", cut_log / runs.LOG,
                              cut_run / runs.CHECKPOINT)
    assert max(p.stat().st_size for p in evaluated.glob("results.*")) < cache.stat().st_size
    before = {folder: folder_digest(folder) for folder in (evaluated, report, cut_run, cut_log)}

    outcomes = run_child(tmp_path, [
        # the score cache: results.* are written, the cache is not
        {"argv": ["eval", evaluated, *EVAL], "fsize": cache.stat().st_size - 1},
        # the checkpoint of the resumed epoch 2 (the log line, smaller, is written)
        {"argv": ["train", "--resume", "--out", cut_run, "--quiet"], "fsize": 10_000},
        # the log line of epoch 2
        {"argv": ["train", "--resume", "--out", cut_log, "--quiet"],
         "fsize": log.stat().st_size + 1},
        # the first file of a new run
        {"argv": ["train", "--preset", "quickstart", "--train",
                  f"npz:{digits_npz}:x_train,y_train", "--test", f"npz:{digits_npz}:x_test,y_test",
                  "--epochs", "1", "--quiet", "--out", new], "fsize": 200},
        # a report (its first file, report.md)
        {"argv": ["report", evaluated, "--out", report, "--no-figures"], "fsize": 100},
    ])
    assert_refused(outcomes[0], cache, "free some disk space")
    assert_refused(outcomes[1], checkpoint, "--resume")
    assert_refused(outcomes[2], log)
    assert_refused(outcomes[3], new / runs.CONFIG)
    assert_refused(outcomes[4], report / "report.md")

    for folder in (evaluated, report, cut_log):
        assert folder_digest(folder) == before[folder], folder
    # The resumed run: its checkpoint (epoch 1), config and environment as they were; the
    # log gained the line of the epoch whose checkpoint failed, which --resume redoes.
    after = folder_digest(cut_run)
    assert after.pop(runs.LOG) != before[cut_run].pop(runs.LOG)
    assert after == before[cut_run]
    assert [r["epoch"] for r in runs.read_log(cut_run)] == [1, 2]
    assert not new.exists()

    # Space again: the run continues where its checkpoint left it.
    assert cli(["train", "--resume", "--out", cut_run, "--quiet"], capsys).rc == 0
    assert [r["epoch"] for r in runs.read_log(cut_run)] == [1, 2, 3]
