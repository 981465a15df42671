"""A kill in the middle of writing a score cache (issue 17): `oe eval` wrote
`scores_<score>.npz` in place, so a kill destroyed the previous cache and `oe report` then died
with EOFError. Now every file goes to a temporary name first: the old cache survives whole, the
next writer removes the leftover temporary file."""

from __future__ import annotations

import numpy as np

from outlier_exposure.training.lock import LOCK_FILE
from tests.faults.helpers import EVAL, cli, folder_digest, run_child


def _leftovers(path) -> bool:
    return path.name == LOCK_FILE or path.name.endswith(".tmp")


def test_a_kill_while_writing_the_score_cache_keeps_the_old_one(trained_run, tmp_path, capsys):
    run = trained_run
    assert cli(["eval", run, *EVAL], capsys).rc == 0
    before = folder_digest(run)
    cache = run / "scores_msp.npz"
    assert cache.name in before

    # The same evaluation again, killed (SIGKILL) half-way through writing the cache.
    assert run_child(tmp_path, [{"argv": ["eval", run, *EVAL]}], kill_in_savez=True) is None
    temps = sorted(p.name for p in run.glob(".*.tmp"))
    assert temps and all(name.startswith(".scores_msp.npz.") for name in temps)
    assert folder_digest(run, ignore=_leftovers) == before  # the results and the old cache
    assert set(np.load(cache)) >= {"in"}  # still a whole, readable archive

    report = cli(["report", run, "--out", tmp_path / "report", "--no-figures"], capsys)
    assert report.rc == 0, report.stderr

    # The next writer takes over the dead one's lock and removes its temporary file.
    assert cli(["eval", run, *EVAL], capsys).rc == 0
    assert not list(run.glob(".*.tmp")) and not (run / LOCK_FILE).exists()
    assert folder_digest(run) == before
