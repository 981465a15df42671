"""`oe runs DIR`: every run folder under DIR in one table: what it is, how far it got, what it
scored, and what to do next.

A run folder is a folder holding config.json (or, damaged, one of the other training files
without it). The walk lists such a folder and does not descend into it (its report/ or
tensorboard/ hold no runs); other folders, such as an `oe quickstart` or `oe reproduce` output
holding one run per stage, are walked through.

Only the JSON files are read (config.json, log.jsonl, environment.json, results.json) and the
other files are only looked at (present, empty): no PyTorch, so twenty runs list in a blink. A
folder is:
- finished: model.pt is there;
- running: no model.pt, and the command that holds its lock (training/lock.py) is alive;
- interrupted: no model.pt: the row says the command that continues it;
- failed: something is damaged or inconsistent; the row says what, in a few words.
Every problem of one folder is its row's state, never an error of the listing.
"""

from __future__ import annotations

import json
import os
import shlex
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserInputError
from ..evaluation.formatting import pct
from ..text.config import TASKS as TEXT_TASKS
from ..training.config import CONFIG_FILE as CONFIG, MODES
from ..training.records import (
    CHECKPOINT, ENVIRONMENT, LOCK_FILE as LOCK, LOG, MODEL, is_int, is_number, log_records,
)

# results.json is reporting/report_runs.py's RESULTS, spelt out because that module loads
# PyTorch (tests/reporting/test_run_index.py checks that they agree).
RESULTS = "results.json"
# What makes a folder a run folder; config.json is the one every run has.
RUN_FILES = (CONFIG, MODEL, CHECKPOINT, LOG)
STATES = ("finished", "running", "interrupted", "failed")


class Damaged(Exception):
    """A file of the run folder cannot be used; the message says which and why, in a few words."""


@dataclass
class RunEntry:
    """One row of `oe runs`."""

    path: str                        # relative to DIR ("." for DIR itself)
    state: str                       # one of STATES
    detail: str = ""                 # what to do next, or why it failed
    kind: str = "?"                  # baseline, oe-tune, oe-scratch, energy-tune, imported ...,
                                     # text baseline, lm oe-tune, ...
    preset: str = "?"
    epochs_done: int | None = None   # None: unknown (no log)
    epochs_total: int | None = None
    results: dict | None = None      # results.json (checked) when the run was evaluated

    @property
    def epochs(self) -> str:
        if self.kind.startswith("imported"):
            return "-"  # trained elsewhere: the log records the import, not epochs
        done = "?" if self.epochs_done is None else str(self.epochs_done)
        return f"{done}/{'?' if self.epochs_total is None else self.epochs_total}"

    @property
    def state_text(self) -> str:
        return f"{self.state}: {self.detail}" if self.detail else self.state


def index_runs(root: str | Path) -> list[RunEntry]:
    """A row for every run folder under `root`, sorted by path; UserInputError when `root` is
    not a folder."""
    root = Path(root)
    if not root.exists():
        raise UserInputError(f"{root} does not exist; name the folder that holds your runs: "
                             "oe runs DIR (default runs/)")
    if not root.is_dir():
        raise UserInputError(f"{root} is a file, not a folder; name the folder that holds your "
                             "runs: oe runs DIR")
    entries = []
    for folder, problem in run_folders(root):
        rel = folder.relative_to(root).as_posix() if folder != root else "."
        if problem is not None:
            entries.append(RunEntry(rel, "failed", problem))
            continue
        entries.append(inspect_run(folder, rel, shown=root / rel if rel != "." else root))
    return sorted(entries, key=lambda e: Path(e.path).parts)


def run_folders(root: Path) -> list[tuple[Path, str | None]]:
    """(folder, None) for every run folder under `root`, and (folder, why) for a folder that
    could not be listed. Hidden folders are skipped. Symbolic links to folders are followed,
    except one that leads back to a folder of the path it is reached by: that would loop."""
    try:
        os.scandir(root).close()
    except OSError as exc:
        raise UserInputError(f"cannot list {root} ({exc.strerror or exc}); name a folder you "
                             "can read: oe runs DIR") from None
    found: list[tuple[Path, str | None]] = []
    # The real folders along the path to each folder walked (os.walk visits parents first).
    chains: dict[str, frozenset[str]] = {}

    def unlistable(err: OSError) -> None:
        found.append((Path(err.filename), f"cannot list the folder ({err.strerror})"))

    # normpath: "runs/" walks as "runs", so each folder's parent is the key it was stored by
    for top, dirs, files in os.walk(os.path.normpath(root), onerror=unlistable,
                                    followlinks=True):
        chain = chains.get(os.path.dirname(top), frozenset()) | {os.path.realpath(top)}
        chains[top] = chain
        if any(name in files for name in RUN_FILES):
            found.append((Path(top), None))
            dirs[:] = []  # a run's own subfolders (report/, tensorboard/) hold no runs
            continue
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")
                         and os.path.realpath(os.path.join(top, d)) not in chain)
    return found


def inspect_run(folder: Path, rel: str, shown: Path | None = None) -> RunEntry:
    """The row of the run folder `folder`; `shown`: the path the resume command names."""
    shown = shown or folder
    entry = RunEntry(rel, "failed")
    try:
        _fill(entry, folder, shown)
    except Damaged as exc:
        entry.state, entry.detail = "failed", str(exc)
    except OSError as exc:  # a file that vanished or cannot be read between two looks
        entry.state = "failed"
        entry.detail = f"cannot read {Path(exc.filename or folder).name} ({exc.strerror or exc})"
    return entry


def _fill(entry: RunEntry, folder: Path, shown: Path) -> None:
    if not (folder / CONFIG).is_file():
        raise Damaged(f"no {CONFIG} (the run never started, or the file was deleted)")
    config = _json_object(folder / CONFIG)
    mode, preset, epochs = config.get("mode"), config.get("preset"), config.get("epochs")
    if mode not in MODES:
        raise Damaged(f"{CONFIG}: mode {mode!r} is not one of {', '.join(MODES)}")
    entry.preset = preset if isinstance(preset, str) else "?"
    log = _log_epochs(folder / LOG)
    imported = log.imported or "imported_from" in _environment(folder)
    entry.kind = _kind(config, imported)
    if not _is_count(epochs, least=0):  # 0: pretrained weights kept as a run (--epochs 0)
        raise Damaged(f"{CONFIG}: epochs {epochs!r} is not a whole number >= 0")
    entry.epochs_total, entry.epochs_done = epochs, log.done
    if log.done is None and not any((folder / f).is_file() for f in (CHECKPOINT, MODEL)):
        entry.epochs_done = 0  # the log is written at the end of the first epoch
    entry.state, entry.detail = _state(folder, config, log, imported, shown)
    if (folder / RESULTS).is_file():
        try:
            entry.results = _results(folder / RESULTS)
        except Damaged as exc:
            problem = f"{exc}: evaluate again with `oe eval {shlex.quote(str(shown))}`"
            entry.detail = f"{entry.detail}; {problem}" if entry.detail else problem


def _state(folder: Path, config: dict, log: "LogSummary", imported: bool,
           shown: Path) -> tuple[str, str]:
    total = config["epochs"]
    model = folder / MODEL
    if model.is_file():
        if model.stat().st_size == 0:
            raise Damaged(f"{MODEL} is empty (its write was cut short): delete it and resume "
                          f"with `{_resume_command(config, shown)}`")
        if not imported and log.done is not None and log.done < total:
            raise Damaged(f"{MODEL} is there but {LOG} records {log.done} of {total} epochs")
        return "finished", ""
    holder = _lock_holder(folder / LOCK)
    if holder:
        return "running", holder
    checkpoint = folder / CHECKPOINT
    if checkpoint.is_file() and checkpoint.stat().st_size == 0:
        raise Damaged(f"{CHECKPOINT} is empty (its write was cut short): delete it and "
                      f"`{_resume_command(config, shown)}` starts again at epoch 0")
    if not checkpoint.is_file() and log.done:
        raise Damaged(f"{CHECKPOINT} is missing though {LOG} records {log.done} epochs: "
                      f"`{_resume_command(config, shown)}` starts again at epoch 0")
    return "interrupted", f"resume with `{_resume_command(config, shown)}`"


def _resume_command(config: dict, shown: Path) -> str:
    """The command that continues the run (text runs too: both commands read the run's task)."""
    command = "oe tune" if config.get("mode") == "oe-tune" else "oe train"
    return f"{command} --resume --out {shlex.quote(str(shown))}"


def _kind(config: dict, imported: bool) -> str:
    mode = config["mode"]
    if config.get("task") in TEXT_TASKS:  # text/config.py: "text" classifiers, "lm" models
        return f"{config['task']} {mode}"
    # An energy fine-tune is an oe-tune trained with another loss (as evaluation names it).
    kind = "energy-tune" if config.get("loss") == "energy" and mode == "oe-tune" else mode
    return f"imported {kind}" if imported else kind


@dataclass
class LogSummary:
    done: int | None       # the last epoch the log records; None: no log
    imported: bool = False  # the log's record of `oe import`


def _log_epochs(path: Path) -> LogSummary:
    """What log.jsonl says, read as training/runs.py `read_log` does: a torn last line (a write
    cut short by an older version) is ignored, a damaged line before it is a damaged log."""
    if not path.is_file():
        return LogSummary(None)
    try:
        records, _ = log_records(path)
    except ValueError as err:
        raise Damaged(f"{LOG} {err}") from None
    done, imported = 0, False
    for number, record in records:
        imported = imported or record.get("event") == "imported"
        if "epoch" in record:
            if not _is_count(record["epoch"]):
                raise Damaged(f"{LOG} line {number}: epoch {record['epoch']!r} is not a whole "
                              "number >= 1")
            done = max(done, record["epoch"])
    return LogSummary(done, imported)


def _environment(folder: Path) -> dict:
    """environment.json, or {} when absent or damaged: it only tells imported runs apart, which
    their log does too, so a damaged one does not fail the row."""
    try:
        return _json_object(folder / ENVIRONMENT)
    except (Damaged, OSError):
        return {}


def _results(path: Path) -> dict:
    """results.json, its numbers checked: a fraction in [0, 1] or null where the tables read one."""
    results = _json_object(path)
    if "mean" not in results and "test_error" not in results:
        raise Damaged(f"{RESULTS} is not the record of one run")
    _fraction(results, "test_error")
    for metric in ("fpr", "auroc"):
        _fraction(results.get("mean") or {}, metric, "mean.")
    groups = results.get("groups") or {}  # OpenOOD's protocol: {"near": {...}, "far": {...}}
    if not isinstance(groups, dict):
        raise Damaged(f"{RESULTS}: groups is not an object")
    for name, group in groups.items():
        _fraction(group, "auroc", f"groups.{name}.")
    return results


def _fraction(block, key: str, where: str = "") -> None:
    if not isinstance(block, dict):
        raise Damaged(f"{RESULTS}: {where.rstrip('.')} is not an object")
    value = block.get(key)
    if value is not None and not (is_number(value) and 0 <= value <= 1):
        raise Damaged(f"{RESULTS}: {where}{key} = {value!r} is not a fraction")


def _json_object(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        where = f" (line {exc.lineno})" if isinstance(exc, json.JSONDecodeError) else ""
        raise Damaged(f"{path.name} is not valid JSON{where}") from None
    if not isinstance(data, dict):
        raise Damaged(f"{path.name} is not a JSON object")
    return data


def _is_count(value, least: int = 1) -> bool:
    return is_int(value) and value >= least


def _lock_holder(path: Path) -> str:
    """'`oe train` (pid N)' when the run's lock file names a live process, else "". The lock
    is not tried: taking it, even for an instant, could turn a starting writer away."""
    try:
        holder = json.loads(path.read_text())
        pid = int(holder["pid"])
    except (OSError, ValueError, TypeError, KeyError):
        return ""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return ""  # a killed writer's lock file: the run is interrupted
    except PermissionError:
        pass  # alive, someone else's
    except OSError:
        return ""
    return f"`{holder.get('command', 'oe')}` (pid {pid})"


# --- the table ---------------------------------------------------------------------------


def _fpr(results: dict | None) -> str:
    mean = (results or {}).get("mean") or {}
    value = pct(mean.get("fpr"))
    level = round(100 * (results or {}).get("recall_level", 0.95))
    # Text runs are evaluated at 90% recall (the reference's NLP setting): say so in the cell.
    return value if level == 95 or value == "-" else f"{value} (FPR{level})"


def _near_far(results: dict | None) -> str:
    groups = (results or {}).get("groups") or {}
    if not groups:
        return "-"
    return " / ".join(pct((groups.get(g) or {}).get("auroc")) for g in ("near", "far"))


def entry_cells(entry: RunEntry, with_groups: bool) -> list[str]:
    r = entry.results
    cells = [entry.path, entry.kind, entry.preset, entry.epochs,
             pct((r or {}).get("test_error")), _fpr(r), pct(((r or {}).get("mean") or {}).get("auroc"))]
    if with_groups:
        cells.append(_near_far(r))
    return cells + [entry.state_text]


def runs_table(entries: list[RunEntry]) -> str:
    """The rows as an aligned text table (percentages; "-": not evaluated), and a count of the
    states."""
    with_groups = any((e.results or {}).get("groups") for e in entries)
    header = (["run", "kind", "preset", "epochs", "test err", "FPR95", "AUROC"]
              + (["near/far AUROC"] if with_groups else []) + ["state"])
    rows = [entry_cells(e, with_groups) for e in entries]
    numeric = {"epochs", "test err", "FPR95", "AUROC", "near/far AUROC"}
    widths = [max(len(row[i]) for row in [header] + rows) for i in range(len(header))]

    def line(row: list[str]) -> str:
        cells = [cell.rjust(w) if name in numeric else cell.ljust(w)
                 for cell, w, name in zip(row[:-1], widths, header)]
        return "  ".join(cells + [row[-1]])  # the state, last, is not padded

    counts = {s: sum(e.state == s for e in entries) for s in STATES}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    lines = [line(header), line(["-" * w for w in widths])] + [line(r) for r in rows]
    plural = "s" if len(entries) != 1 else ""
    return "\n".join(lines + ["", f"{len(entries)} run{plural}: {summary}"]) + "\n"
