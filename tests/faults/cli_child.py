"""A child process for the fault tests: runs `oe` commands (cli.main) one after another under
the faults a spec asks for, and writes what each did to a JSON file.

    python cli_child.py SPEC.json

SPEC: {"calls": [{"argv": [...], "fsize": BYTES or null}, ...], "out": RESULT.json,
       "kill_in_savez": false}

- "fsize": a full disk, simulated with RLIMIT_FSIZE: a write past BYTES fails with EFBIG (the
  SIGXFSZ that would kill the process instead is ignored, so the write raises OSError). Only the
  soft limit is set, so it is lifted again after the call.
- "kill_in_savez": np.savez_compressed writes half of its file and then kills this process
  with SIGKILL, as a kill (or power cut) in the middle of writing a score cache would. It opens
  a path argument itself, as numpy does (truncating whatever was there).

One process runs several calls because starting Python with PyTorch takes seconds; each call is
the real entry point, `outlier_exposure.cli.main`, as `oe` runs it. An exception escaping it (the
traceback a user would see) is recorded, not swallowed.
"""

import contextlib
import io
import json
import os
import resource
import signal
import sys
import time
import traceback


def _dying_savez():
    import numpy as np

    real = np.savez_compressed

    def savez_then_die(file, *args, **arrays):
        whole = io.BytesIO()
        real(whole, *args, **arrays)
        data = whole.getvalue()
        handle = open(file, "wb") if isinstance(file, (str, os.PathLike)) else file
        handle.write(data[: len(data) // 2])
        handle.flush()
        os.kill(os.getpid(), signal.SIGKILL)

    np.savez_compressed = savez_then_die


def main() -> None:
    started = time.perf_counter()
    spec = json.loads(open(sys.argv[1]).read())
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    if spec.get("kill_in_savez"):
        _dying_savez()
    from outlier_exposure.cli import main as oe

    imported = time.perf_counter() - started
    _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    done = []
    for call in spec["calls"]:
        out, err, escaped, rc = io.StringIO(), io.StringIO(), None, None
        started = time.perf_counter()
        if call.get("fsize") is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (call["fsize"], hard))
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                rc = oe(call["argv"])
        except SystemExit as exc:  # argparse
            rc = exc.code
        except BaseException:
            escaped = traceback.format_exc()
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))
        done.append({"argv": call["argv"], "rc": rc, "stdout": out.getvalue(),
                     "stderr": err.getvalue(), "escaped": escaped,
                     "seconds": time.perf_counter() - started})
    with open(spec["out"], "w") as handle:
        json.dump([dict(d, imported=imported) for d in done], handle)


if __name__ == "__main__":
    main()
