"""One writer per run folder: an advisory lock held for the life of a command that writes there.

`run_lock(RUN, "train")` holds `RUN/.oe.lock` with `fcntl.flock`. The kernel drops a flock when
its holder dies, however it dies, so a lock left by a killed command is taken over with no
guessing about pids or ages; the pid, command and start time written into the file only serve
the message a second writer gets:

    RUN is in use by `oe train` (pid 1234, since 12:03:04); wait for it to finish, or stop it ...

The file is removed when the lock is released. Removing it opens a race (a second process may
have opened the old file just before), so a new holder checks, once it has the lock, that the
path still names the file it locked, and starts over when not.

Taking the lock also removes the temporary files that earlier writers, killed mid-write, left
in the folder (runs.remove_stale_temps): nobody else can be writing there while we hold it.
A process may take the lock of a folder it holds again (nested calls); only the outermost
release frees it.
"""

from __future__ import annotations

import errno
import functools
import inspect
import json
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ..errors import UserInputError
from .records import LOCK_FILE
from .runs import folder_error, prepare_folder, remove_stale_temps, umask


# {resolved folder: times taken} of the locks this process holds (see `run_lock`).
_HELD: dict[Path, int] = {}


@contextmanager
def run_lock(run_dir: str | Path, command: str, *, arg: str | None = "--out",
             create: bool = True, enabled: bool = True) -> Iterator[Path]:
    """Hold RUN/.oe.lock while the block runs; creates RUN (and removes it again when the block
    leaves it empty, so a refused command leaves nothing behind).

    `command` names the writer in the message another one gets (`train`, `eval`, ...); `arg` is
    the option that chose the folder (`--out`), offered as the fix when it cannot be made or
    written (None: the folder is the run itself, as for `oe eval RUN`). `create=False`: a
    missing folder is not made and not locked; the command says in its own words that there
    is no run there. `enabled=False` (the ranks > 0 of a torchrun) holds nothing."""
    run_dir = Path(run_dir)
    if not enabled or (not create and not run_dir.is_dir()):
        yield run_dir
        return
    created = prepare_folder(run_dir, arg)
    key = run_dir.resolve()
    if key in _HELD:
        _HELD[key] += 1
        try:
            yield run_dir
        finally:
            _HELD[key] -= 1
        return
    fd = _acquire(run_dir, command, arg)
    _HELD[key] = 1
    try:
        remove_stale_temps(run_dir)
        yield run_dir
    finally:
        del _HELD[key]
        _release(run_dir, fd, created)


def locks_run_folder(command: str, param: str = "run_dir"):
    """Decorator: the call holds the lock of the folder passed as `param` (training functions,
    which must hold it before they check whether the folder holds a run). Under torchrun only
    rank 0 writes the run folder (distributed.py), so only rank 0 takes the lock: RANK is read
    from the environment because the process group is not joined yet."""
    def decorate(fn):
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def locked(*args, **kwargs):
            run_dir = signature.bind(*args, **kwargs).arguments[param]
            with run_lock(run_dir, command, enabled=os.environ.get("RANK", "0") == "0"):
                return fn(*args, **kwargs)
        return locked
    return decorate


def _acquire(run_dir: Path, command: str, arg: str | None) -> int | None:
    """The open, locked lock file (None where the filesystem has no locks, e.g. some network
    mounts: the command then runs unguarded rather than not at all)."""
    import fcntl  # POSIX; imported here so that the module still imports elsewhere

    path = run_dir / LOCK_FILE
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666 & ~umask())
        except PermissionError as exc:
            try:  # a lock file left by another user: flock needs no write access to it
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                raise folder_error(exc, path, arg) from None
        except OSError as exc:
            refused = folder_error(exc, path, arg)
            if refused is None:
                raise
            raise refused from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise UserInputError(_in_use_message(run_dir, holder)) from None
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                return None
            raise
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the holder we waited on removed the file: lock the new one
    stale = _read_holder(fd)
    if stale.get("pid"):  # a lock file whose flock is free: its writer was killed
        print(f"note: {run_dir} was left locked by {_describe(stale)}, which is no longer "
              "running; taking it over", file=sys.stderr)
    info = {"pid": os.getpid(), "command": _command_line(command), "since": time.time()}
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
    except OSError:
        pass  # a full disk: the lock holds all the same, the message just lacks the holder
    return fd


def _release(run_dir: Path, fd: int | None, created: Path | None) -> None:
    if fd is not None:
        try:
            # Unlinked while still locked: whoever opened it meanwhile sees a new file is due.
            os.unlink(run_dir / LOCK_FILE)
        except OSError:
            pass
        os.close(fd)
    # Folders this lock made, if nothing was written into them (a refused or failed command).
    folder = run_dir
    while created is not None:
        try:
            folder.rmdir()
        except OSError:
            break
        if folder == created:
            break
        folder = folder.parent


def _read_holder(fd: int) -> dict:
    try:
        found = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
        return found if isinstance(found, dict) else {}
    except (OSError, ValueError):
        return {}


def _command_line(command: str) -> str:
    """`oe train` when run from the command line, else the program and the library call."""
    program = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
    if program in ("oe", "cli.py", "__main__.py") and len(sys.argv) > 1:
        return f"oe {sys.argv[1]}"
    return f"{command} ({program})"


def _describe(holder: dict) -> str:
    since = holder.get("since")
    when = f", since {time.strftime('%H:%M:%S', time.localtime(since))}" if since else ""
    return f"`{holder.get('command', 'another command')}` (pid {holder.get('pid', '?')}{when})"


def _in_use_message(run_dir: Path, holder: dict) -> str:
    return (f"{run_dir} is in use by {_describe(holder)}; wait for it to finish, or stop it "
            "(an interrupted training continues with --resume) and run this command again "
            f"(nothing was changed; the lock is {run_dir / LOCK_FILE})")
