"""What run-folder records hold, read without torch (so that `oe runs` starts fast): the lines
of log.jsonl, and the type tests every checked reader of a run file applies to JSON values."""

from __future__ import annotations

import json
import numbers
from pathlib import Path

# The files of a run folder that training writes (config.json: config.py's CONFIG_FILE), named
# here so that `oe runs` reads them by the same names without importing runs.py (torch).
CHECKPOINT, MODEL, LOG, ENVIRONMENT = "checkpoint.pt", "model.pt", "log.jsonl", "environment.json"
LOCK_FILE = ".oe.lock"  # lock.py: held by the command writing into the folder


def log_records(path: Path) -> tuple[list[tuple[int, dict]], int | None]:
    """(line number, record) of each JSON object line of a log file, and the number of a torn
    last line (not JSON, no newline after it: a write cut short) or None. A damaged line before
    the last raises ValueError naming the line. Shared by `read_log` and `oe runs`."""
    lines = path.read_bytes().decode("utf-8", errors="replace").split("\n")
    records, torn = [], None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            record = None
        if isinstance(record, dict):
            records.append((number, record))
        elif number == len(lines):
            torn = number
        else:
            raise ValueError(f"line {number} is not a JSON record")
    return records, torn


def is_int(value) -> bool:
    """A whole number as JSON gives it (True / False are not numbers here)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value) -> bool:
    """A real number as JSON gives it (True / False are not numbers here)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)
