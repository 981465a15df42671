"""`--out` that is a file, or lies under a file (issue 17): one message naming --out and the
file, before anything is written; the file is left as it was."""

from __future__ import annotations

import pytest

from tests.faults.helpers import EVAL, assert_refused, cli, folder_digest


@pytest.mark.usefixtures("one_thread")
def test_out_a_file_or_under_a_file_is_refused_before_anything(trained_run, tmp_path,
                                                               digits_npz, capsys):
    run = trained_run
    assert cli(["eval", run, *EVAL], capsys).rc == 0
    blocker = tmp_path / "notes.txt"
    blocker.write_text("the user's own file\n")
    before = folder_digest(tmp_path)
    train = ["train", "--preset", "quickstart", "--train", f"npz:{digits_npz}:x_train,y_train",
             "--test", f"npz:{digits_npz}:x_test,y_test", "--epochs", "1", "--quiet", "--out"]
    for out in (blocker, blocker / "run", blocker / "deeper" / "run"):
        assert_refused(cli([*train, out], capsys), "--out", out, "is a file")
        assert_refused(cli(["tune", run, "--outliers", "noise:gaussian:100", "--epochs", "1",
                            "--quiet", "--out", out], capsys), "--out", out)
        assert_refused(cli(["report", run, "--no-figures", "--out", out], capsys), "--out", out)
    assert folder_digest(tmp_path) == before
