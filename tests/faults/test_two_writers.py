"""Two writers, one folder (issue 17): a second `oe train` (or `--resume`) into a run folder
that a running `oe train` holds is refused with the holder's pid, and changes nothing; the lock
of a killed holder is taken over; the lock leaves no trace behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from outlier_exposure.errors import UserInputError
from outlier_exposure.training import runs
from outlier_exposure.training.lock import LOCK_FILE, run_lock
from tests.faults.helpers import ONE_THREAD, REPO, assert_refused, run_child


def _train_argv(npz: Path, out: Path, *extra) -> list[str]:
    return ["train", "--preset", "quickstart", "--train", f"npz:{npz}:x_train,y_train",
            "--test", f"npz:{npz}:x_test,y_test", "--model", "small-cnn", "--model-arg",
            "width=8", "--batch-size", "50", "--quiet", "--out", str(out), *extra]


def _wait_for_epoch(proc: subprocess.Popen, run: Path, timeout: float = 120) -> None:
    """Until `proc` holds the lock of `run` and has logged an epoch."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        try:
            holder = json.loads((run / LOCK_FILE).read_text())
        except (OSError, ValueError):
            holder = {}
        if holder.get("pid") == proc.pid and (run / runs.CHECKPOINT).exists():
            return
        time.sleep(0.1)
    raise AssertionError(f"{run}: no epoch after {timeout} s")


def test_a_second_train_or_resume_is_refused_while_the_first_runs(tmp_path, digits_npz,
                                                                 capsys):
    run = tmp_path / "run"
    # Writer A: a long run, killed at the end (nothing in this test waits for it to finish).
    first = subprocess.Popen(
        [sys.executable, "-m", "outlier_exposure.cli", *_train_argv(digits_npz, run,
                                                                    "--epochs", "1000")],
        cwd=REPO, env=ONE_THREAD, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_epoch(first, run)
        config = (run / runs.CONFIG).read_bytes()
        # Writers B (another run, another seed) and C (a resume), in a second process.
        again, resumed = run_child(tmp_path, [
            {"argv": _train_argv(digits_npz, run, "--epochs", "2", "--seed", "7")},
            {"argv": ["train", "--resume", "--out", run, "--quiet"]},
        ])
        for outcome in (again, resumed):
            message = assert_refused(outcome, str(run), f"pid {first.pid}", "oe train")
            assert "wait for it to finish" in message
        assert first.poll() is None  # A went on, undisturbed
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    # A's run alone: its config, one log line per epoch, a checkpoint that loads.
    assert (run / runs.CONFIG).read_bytes() == config
    epochs = [r["epoch"] for r in runs.read_log(run)]
    assert epochs == list(range(1, len(epochs) + 1))
    assert runs.load_torch(run / runs.CHECKPOINT)["epoch"] in (epochs[-1], epochs[-1] - 1)

    # A was killed holding the lock: the file is left, its flock is not; the next writer
    # takes it over, saying so once.
    assert json.loads((run / LOCK_FILE).read_text())["pid"] == first.pid
    capsys.readouterr()
    with run_lock(run, "test"):
        assert json.loads((run / LOCK_FILE).read_text())["pid"] == os.getpid()
    assert f"pid {first.pid}" in capsys.readouterr().err
    assert not (run / LOCK_FILE).exists()


def test_a_failed_writer_leaves_no_folder_and_a_released_lock_no_file(tmp_path):
    out = tmp_path / "new" / "run"
    with pytest.raises(UserInputError):
        with run_lock(out, "test"):  # e.g. a training whose data turn out to be missing
            raise UserInputError("no data")
    assert not (tmp_path / "new").exists()  # the lock made the folders; nothing else was made
    with run_lock(out, "test"):
        with run_lock(out, "test"):  # the same process again (nested calls): no conflict
            pass
        assert (out / LOCK_FILE).exists()  # held until the outer block ends
        runs.write_text(out / "kept.txt", "written\n")
    assert [p.name for p in out.iterdir()] == ["kept.txt"]  # the lock file went with the lock
