"""Run folders: everything needed to trust and redo a result.

    RUN/config.json       resolved configuration
    RUN/environment.json  package, torch, numpy, python versions, git commit, device
    RUN/checkpoint.pt     last finished epoch: weights, optimiser, step, RNG states (for --resume)
    RUN/model.pt          final weights (state dict) once training is done
    RUN/log.jsonl         one JSON line per epoch
    RUN/results.*         written by `oe eval`

Every file is written to a temporary name and renamed, so an interruption never leaves a
half-written file, and loading never unpickles code (`torch.load(weights_only=True)`).
"""

from __future__ import annotations

import errno
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._version import __version__
from .config import CONFIG_FILE, load_config  # noqa: F401 (load_config: read as runs.load_config)
from ..errors import UserInputError
from .records import CHECKPOINT, ENVIRONMENT, LOG, MODEL, log_records  # noqa: F401 (runs.X)

CONFIG = CONFIG_FILE


def umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _atomic_write(path: Path, write) -> None:
    """Write `path` through `write(handle)` into a temporary file beside it, then rename: the
    file is whole or as it was before, whatever stops the writer (a kill, a full disk). A
    filesystem that refuses the write (full, read-only, a file in the way) is a UserInputError
    naming the file and the fix (`folder_error`)."""
    tmp = None
    try:
        prepare_folder(path.parent, None)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())  # the data on disk before the name points at it
        # mkstemp makes the file private (0600); give it the mode a plain open() would, so
        # results and reports can be shared like any other file the user writes.
        os.chmod(tmp, 0o666 & ~umask())
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        # (a Ctrl-C stays a Ctrl-C, whatever error the writer had handled before it)
        error = _os_error(exc) if isinstance(exc, Exception) else None
        refused = folder_error(error, path, None) if error is not None else None
        if refused is not None:
            raise refused from None
        raise


# mkstemp's names: "." + the file's name + "." + 8 random characters + ".tmp"
_TEMP_NAME = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")


def remove_stale_temps(folder: Path) -> list[Path]:
    """Remove the temporary files of `_atomic_write`s that were killed mid-write, in `folder`
    and its subfolders one level down (report figures). Only safe while nobody else writes
    there: called by lock.run_lock once the folder's lock is held."""
    folder = Path(folder)
    removed = []
    for tmp in [*folder.glob(".*.tmp"), *folder.glob("*/.*.tmp")]:
        if _TEMP_NAME.match(tmp.name) and tmp.is_file():
            try:
                tmp.unlink()
                removed.append(tmp)
            except OSError:
                pass  # read-only: harmless, the next writer with rights removes it
    return removed


def _os_error(exc: BaseException) -> OSError | None:
    """The OSError behind `exc`: itself, or the one a library wrapped (torch.save turns a
    failed write into a RuntimeError whose context is the OSError)."""
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, OSError):
            return exc
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None


_NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
_NOT_WRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS)


def folder_error(exc: OSError, path: Path, arg: str | None = "--out") -> UserInputError | None:
    """The message for a filesystem that refused to write `path` (None: not such an error,
    let it propagate). `arg`: the option that chose the folder, offered as the other fix."""
    path = Path(path)
    reason = exc.strerror or str(exc)
    other = f", or choose another {arg}" if arg else ""
    if exc.errno in _NO_SPACE:
        limit = " or raise the file-size limit (ulimit -f)" if exc.errno == errno.EFBIG else ""
        return UserInputError(
            f"could not write {path} ({reason}): free some disk space{limit} and run the "
            f"command again; the {path.name} already there, if any, and every file written "
            "before were kept (an interrupted training continues with --resume)")
    if exc.errno in _NOT_WRITABLE:
        return UserInputError(
            f"cannot write {path} ({reason}): make {path.parent} writable{other} (nothing "
            "there was changed)")
    if exc.errno == errno.EISDIR:
        return UserInputError(f"cannot write {path}: a folder of that name is in the way; "
                              f"move it aside{other}")
    if exc.errno in (errno.ENOTDIR, errno.EEXIST):
        return UserInputError(f"cannot write {path}: a file is in the way of its folder "
                              f"{path.parent}; move it aside{other}")
    return None


def prepare_folder(folder: Path, arg: str | None = "--out") -> Path | None:
    """Make `folder` (and its parents); the topmost folder made, None if it was there. A file
    in the way, or a parent that cannot be written, is a UserInputError naming `arg` (the
    option that chose the folder; None: a folder the command chose)."""
    folder = Path(folder)
    if folder.is_dir():
        return None
    named = f"{arg} {folder}" if arg else str(folder)
    fix = f"choose another {arg}" if arg else "move it aside"
    if folder.exists():
        raise UserInputError(f"{named} is a file, not a folder; {fix} (nothing was changed)")
    ancestor = folder.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if ancestor.exists() and not ancestor.is_dir():
        raise UserInputError(f"{named} lies under {ancestor}, which is a file, not a folder; "
                             f"{fix} (nothing was changed)")
    created = folder
    while not created.parent.exists():
        created = created.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        refused = folder_error(exc, folder, arg)
        if refused is None:
            raise
        raise refused from None
    return created


def write_json(path: Path, data: Any) -> None:
    text = json.dumps(data, indent=2, sort_keys=False) + "\n"
    _atomic_write(Path(path), lambda h: h.write(text.encode()))


def read_json(path: Path, fix: str) -> Any:
    """The parsed contents of a JSON file of a run folder; UserInputError naming the file and
    `fix` (what the user can do) when it is not valid JSON."""
    path = Path(path)
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:  # binary junk: a damaged or overwritten file
        raise UserInputError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}); "
                             f"{fix}") from None
    except json.JSONDecodeError as exc:
        raise UserInputError(f"{path} is not valid JSON ({exc}); {fix}") from None


def write_text(path: Path, text: str) -> None:
    _atomic_write(Path(path), lambda h: h.write(text.encode()))


def write_bytes(path: Path, data: bytes) -> None:
    _atomic_write(Path(path), lambda h: h.write(data))


def save_torch(path: Path, obj: Any) -> None:
    _atomic_write(Path(path), lambda h: torch.save(obj, h))


def save_figure(fig, path: Path, **savefig_options) -> None:
    """A matplotlib figure, atomically (pass `format`: the temporary name has no suffix)."""
    _atomic_write(Path(path), lambda h: fig.savefig(h, **savefig_options))


def save_npz(path: Path, **arrays: np.ndarray) -> None:
    """np.savez_compressed, atomically (a score cache killed mid-write keeps the old one)."""
    _atomic_write(Path(path), lambda h: np.savez_compressed(h, **arrays))


def load_torch(path: Path) -> Any:
    path = Path(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UserInputError(f"{path} does not exist") from None
    except Exception as exc:  # corrupt or truncated file
        raise UserInputError(
            f"{path} could not be read ({type(exc).__name__}: {exc}); it is corrupt or "
            "not a checkpoint of this package: retrain the run"
        ) from None


def append_log(run_dir: Path, record: dict) -> None:
    """Add one line to RUN/log.jsonl. The log is rewritten whole (temp + rename) rather than
    appended to: a full disk or a kill mid-write keeps the previous log instead of leaving a
    torn line (a log is a few hundred lines at most)."""
    lines = [json.dumps(r) + "\n" for r in read_log(run_dir)] + [json.dumps(record) + "\n"]
    write_text(Path(run_dir) / LOG, "".join(lines))


def read_log(run_dir: Path) -> list[dict]:
    """The records of RUN/log.jsonl. A torn last line (an older version appended in place and
    was stopped mid-write) is dropped with a note, since the epochs it describes are redone or
    were never checkpointed; a damaged line before the last is a UserInputError naming the file
    and the line."""
    path = Path(run_dir) / LOG
    if not path.exists():
        return []
    try:
        records, torn = log_records(path)
    except ValueError as err:
        raise UserInputError(
            f"{path} {err}: the log is damaged; delete that line (the log holds the training "
            "curves only: checkpoint.pt and model.pt do not depend on it) and run the command "
            "again") from None
    if torn is not None:
        print(f"note: {path}: dropped its unfinished last line {torn} (a write there was "
              "interrupted)", file=sys.stderr)
    return [record for _, record in records]


def truncate_log(run_dir: Path, epochs_done: int) -> None:
    """Keep the log lines of finished epochs only (an interrupted epoch is redone on resume)."""
    records = [r for r in read_log(run_dir) if r.get("epoch", 0) <= epochs_done]
    write_text(Path(run_dir) / LOG, "".join(json.dumps(r) + "\n" for r in records))


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).parent,
            capture_output=True, text=True, timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def environment(device: str) -> dict:
    return {
        "outlier_exposure": __version__,
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
        "device": device,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def load_final_weights(run_dir: Path) -> dict:
    run_dir = Path(run_dir)
    path = run_dir / MODEL
    if not path.exists():
        hint = (
            "training was interrupted: finish it with --resume"
            if (run_dir / CHECKPOINT).exists() else "train it first"
        )
        raise UserInputError(f"{run_dir} has no trained model ({MODEL}); {hint}")
    return load_torch(path)


def check_run_dir(run_dir: Path, resume: bool) -> None:
    """Refuse to overwrite a finished or started run unless resuming it (creates nothing)."""
    run_dir = Path(run_dir)
    started = (run_dir / CONFIG).exists()
    if started and not resume:
        raise UserInputError(
            f"{run_dir} already holds a run; pass --resume to continue it, or choose another "
            "--out (nothing was changed)"
        )
    if resume and not started:
        raise UserInputError(f"--resume: {run_dir} holds no run to continue")
