"""A torn log line (issue 17): a full disk while the log was appended to left half a JSON line,
and from then on every --resume and `oe report` failed with JSONDecodeError, although the
checkpoint was intact. The log is now rewritten whole (temp + rename), and read tolerantly: a
torn LAST line (no newline after it) is dropped with a note; a damaged line before the last is
one message naming the file and the line."""

from __future__ import annotations

import pytest

from outlier_exposure.errors import UserInputError
from outlier_exposure.training import runs
from tests.faults.helpers import EVAL, assert_refused, cli


def _tear(run, text: str) -> None:
    """What the old append left on a full disk: the start of a line, no newline."""
    with open(run / runs.LOG, "a") as handle:
        handle.write(text)


@pytest.mark.usefixtures("one_thread")
def test_a_torn_last_line_is_dropped_and_the_run_resumes(cut_run, capsys):
    _tear(cut_run, '{"epoch": 2, "step": 16, "lr": 0.0')
    assert [r["epoch"] for r in runs.read_log(cut_run)] == [1]
    assert "dropped its unfinished last line 2" in capsys.readouterr().err

    resumed = cli(["train", "--resume", "--out", cut_run, "--quiet"], capsys)
    assert resumed.rc == 0, resumed.stderr
    text = (cut_run / runs.LOG).read_text()
    assert text.endswith("\n") and [r["epoch"] for r in runs.read_log(cut_run)] == [1, 2, 3]


@pytest.mark.usefixtures("one_thread")
def test_report_reads_a_torn_log_and_names_a_damaged_line(trained_run, tmp_path, capsys):
    assert cli(["eval", trained_run, *EVAL], capsys).rc == 0
    _tear(trained_run, '{"epoch": 2, "lo')
    made = cli(["report", trained_run, "--no-figures", "--out", tmp_path / "report"], capsys)
    assert made.rc == 0 and "unfinished last line" in made.stderr

    _tear(trained_run, '\n{"epoch": 3}\n')  # the torn line is now in the middle: damage
    before = (tmp_path / "report" / "report.md").read_bytes()
    refused = cli(["report", trained_run, "--no-figures", "--out", tmp_path / "report"], capsys)
    assert_refused(refused, trained_run / runs.LOG, "line 2", "delete that line")
    assert (tmp_path / "report" / "report.md").read_bytes() == before
    with pytest.raises(UserInputError, match="line 2"):
        runs.append_log(trained_run, {"epoch": 4})  # never written over a damaged log


def test_a_record_that_is_not_an_object_is_damage(tmp_path):
    (tmp_path / runs.LOG).write_text('{"epoch": 1}\n[1, 2]\n{"epoch": 3}\n')
    with pytest.raises(UserInputError, match=r"log.jsonl line 2 is not a JSON record"):
        runs.read_log(tmp_path)
    (tmp_path / runs.LOG).write_text('{"epoch": 1}\n{"epoch": 2}')  # whole, just no newline
    assert [r["epoch"] for r in runs.read_log(tmp_path)] == [1, 2]
