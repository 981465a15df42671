"""The lines of a run's log.jsonl, parsed without torch (so that `oe runs` starts fast)."""

from __future__ import annotations

import json
from pathlib import Path


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
