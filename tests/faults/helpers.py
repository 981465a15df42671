"""What every fault test checks: a refused command exits non-zero with one message naming the
file or argument, shows no traceback, and changes nothing already written (the folder's files
hash the same before and after)."""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

CHILD = Path(__file__).with_name("cli_child.py")
REPO = Path(__file__).resolve().parents[2]
# Tiny models in child processes: one thread (see the one_thread fixture in tests/conftest.py).
ONE_THREAD = dict(os.environ, OMP_NUM_THREADS="1")
EVAL = ["--ood", "noise:gaussian", "--draws", "2"]  # the quickest evaluation of a tiny run


def folder_digest(folder: Path, *, ignore=lambda path: False) -> dict[str, str]:
    """{relative path: sha256} of every file under `folder` (`ignore(path)`: leave one out)."""
    folder = Path(folder)
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and not ignore(p)}


@dataclass
class Outcome:
    argv: list[str]
    rc: int | None
    stdout: str
    stderr: str
    escaped: str | None  # the traceback of an exception that escaped `oe`, if any
    seconds: float = 0.0  # how long the command ran
    imported: float = 0.0  # how long the child took to import the package


def assert_refused(outcome: Outcome, *names: str) -> str:
    """Exit status 2 and one `oe CMD: error:` message naming each of `names`; no traceback."""
    assert outcome.escaped is None, f"{outcome.argv}: a traceback escaped:\n{outcome.escaped}"
    assert outcome.rc == 2, f"{outcome.argv}: exit {outcome.rc}\n{outcome.stderr}"
    assert "Traceback" not in outcome.stderr, outcome.stderr
    errors = [line for line in outcome.stderr.splitlines() if ": error: " in line]
    assert len(errors) == 1, outcome.stderr
    for name in names:
        assert str(name) in errors[0], f"{name!r} not named in: {errors[0]}"
    return errors[0]


def cli(argv: list[str], capsys) -> Outcome:
    """`oe ARGV` in this process (cli.main, the `oe` entry point), with what it printed."""
    from outlier_exposure.cli import main

    capsys.readouterr()
    rc = main([str(a) for a in argv])
    printed = capsys.readouterr()
    return Outcome(argv=list(argv), rc=rc, stdout=printed.out, stderr=printed.err, escaped=None)


def drop_write_override() -> None:
    """preexec_fn: the child runs without CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH, so that root
    obeys file permissions like anyone else (dropped from the bounding set before exec)."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH (linux/capability.h)
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def run_child(tmp_path: Path, calls: list[dict], *, kill_in_savez: bool = False,
              read_only_rules: bool = False, timeout: float = 300) -> list[Outcome] | None:
    """Run `calls` ({"argv", "fsize"}) in one child process (cli_child.py); their outcomes, or
    None when the child was killed before it could report (kill_in_savez)."""
    spec, out = tmp_path / "child_spec.json", tmp_path / "child_out.json"
    out.unlink(missing_ok=True)
    spec.write_text(json.dumps({"calls": [dict(c, argv=[str(a) for a in c["argv"]]) for c in calls],
                                "out": str(out), "kill_in_savez": kill_in_savez}))
    done = subprocess.run([sys.executable, str(CHILD), str(spec)], cwd=REPO, timeout=timeout,
                          capture_output=True, text=True, env=ONE_THREAD,
                          preexec_fn=drop_write_override if read_only_rules else None)
    if not out.exists():
        assert kill_in_savez, f"the child died (exit {done.returncode}):\n{done.stderr[-3000:]}"
        return None
    return [Outcome(**found) for found in json.loads(out.read_text())]


def require_permissions_enforced(folder: Path) -> None:
    """Skip unless a child started with `read_only_rules` really cannot write into a folder
    made read-only (a container may refuse to drop capabilities)."""
    probe = folder / "probe"
    probe.mkdir()
    probe.chmod(0o555)
    try:
        done = subprocess.run([sys.executable, "-c", f"open({str(probe / 'x')!r}, 'w')"],
                              capture_output=True, text=True, preexec_fn=drop_write_override)
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"cannot start a process without CAP_DAC_OVERRIDE ({exc})")
    finally:
        probe.chmod(0o755)
    if done.returncode == 0:
        pytest.skip("this process writes into read-only folders whatever their permissions "
                    "(root without a way to drop CAP_DAC_OVERRIDE)")
    probe.rmdir()
