"""What a new run settles before it starts, and what `--resume` may change or must find as it was.

A new run (`prepare_new_run`): its data specs' relative paths are made absolute (config.json then
names the same files from any directory: `oe eval RUN` works wherever it is run), and its test
set must exist (else it would be found missing only at `oe eval`, after the training).

At the start the run records a fingerprint of its training data and outliers in
environment.json ("data", `data_record`; data/fingerprint.py). `--resume` (`ResumePlan.open`)
compares it with the files as they are now and refuses to continue on other data, saying what
changed, unless `allow_changed_data` (`--allow-changed-data`). Runs written before the record
existed are resumed unchecked.

`--resume --epochs N`:
- N equal to the recorded epochs: the run continues as recorded;
- N below the epochs the checkpoint has finished: refused (those epochs cannot be undone);
- otherwise the run is extended (or shortened) to N epochs. The cosine learning-rate schedule
  runs over all of a run's steps, so from the checkpoint on it follows the cosine of an N-epoch
  run: the lr jumps to that schedule's value at the current step, and the result is neither
  the recorded run nor an N-epoch run trained from the start. A note says so, config.json
  takes the new epoch count and environment.json's "epochs_changed" keeps the history
  (from, to, at which finished epoch).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

from . import runs
from .config import RunConfig, load_config
from .run_files import load_checkpoint, load_environment, load_log
from ..data.fingerprint import absolute_spec, check_exists, differences, fingerprint
from ..errors import UserInputError

DATA_KEY, EPOCHS_KEY = "data", "epochs_changed"
ROLES = (("train", "--train"), ("outliers", "--outliers"))


def settle_run(cfg: RunConfig, run_dir: Path, resume: bool, epochs: int | None = None,
               allow_changed_data: bool = False) -> tuple[RunConfig, "ResumePlan | None"]:
    """The checked config a training starts from, before anything is written: the run to
    resume (its data and --epochs checked; the plan records the new length later), or the new
    run's values, test set and absolute data paths."""
    plan = ResumePlan.open(run_dir, epochs, allow_changed_data) if resume else None
    cfg = plan.cfg if plan else cfg
    cfg.check()
    return (cfg if plan else prepare_new_run(cfg)), plan


def prepare_new_run(cfg: RunConfig) -> RunConfig:
    """`cfg` with absolute data paths, after checking that its test set is there."""
    check_exists(cfg.test, "--test")
    specs = {name: absolute_spec(getattr(cfg, name)) for name in ("train", "test", "outliers")}
    specs["ood"] = [absolute_spec(s) for s in cfg.ood]
    for name in ("weights", "init_from"):  # files or run folders (a weights name stays)
        value = getattr(cfg, name)
        if value and not os.path.isabs(value) and os.path.exists(value):
            specs[name] = os.path.abspath(value)
    return replace(cfg, **specs)


def data_record(cfg: RunConfig) -> dict:
    """{role: {path: fingerprint}} of the data the run trains on (environment.json "data")."""
    return {role: fingerprint(getattr(cfg, role)) for role, _ in ROLES}


@dataclass
class ResumePlan:
    """The run to continue: its config (with --epochs applied) and what it had recorded."""

    run_dir: Path
    cfg: RunConfig
    recorded_epochs: int
    done: int  # epochs the checkpoint has finished (0 without one)
    # checkpoint.pt as `open` read and checked it (None without one), until `take_checkpoint`
    checkpoint: dict | None = field(default=None, repr=False)

    @classmethod
    def open(cls, run_dir: Path, epochs: int | None = None,
             allow_changed_data: bool = False) -> "ResumePlan":
        """Read and check the run to resume (nothing is written)."""
        run_dir = Path(run_dir)
        cfg = load_config(run_dir)
        load_log(run_dir)  # checked now: the resume rewrites it (runs.truncate_log)
        _check_data(run_dir, cfg, allow_changed_data)
        checkpoint = (load_checkpoint(run_dir) if (run_dir / runs.CHECKPOINT).exists()
                      else None)
        done = checkpoint["epoch"] if checkpoint else 0
        plan = cls(run_dir, cfg, cfg.epochs, done, checkpoint)
        if epochs is not None and epochs != cfg.epochs:
            if epochs < max(done, 1):
                raise UserInputError(
                    f"--resume --epochs {epochs}: {run_dir} has already finished {done} of its "
                    f"{cfg.epochs} epochs; give --epochs {max(done, 1)} or more (or drop "
                    "--epochs to finish as recorded)")
            plan.cfg = replace(cfg, epochs=epochs)
        return plan

    def take_checkpoint(self) -> dict | None:
        """The checkpoint `open` read, handed over once (restore.py): read a single time, and
        not kept alive by the plan while the run trains."""
        checkpoint, self.checkpoint = self.checkpoint, None
        return checkpoint

    @property
    def changes_epochs(self) -> bool:
        return self.cfg.epochs != self.recorded_epochs

    def record(self) -> None:
        """Write the new epoch count (config.json) and its history (environment.json), with a
        note: call once everything is checked, before the first epoch."""
        if not self.changes_epochs:
            return
        n, old = self.cfg.epochs, self.recorded_epochs
        print(f"note: --epochs {n} changes {self.run_dir} from {old} to {n} epochs after epoch "
              f"{self.done}: the cosine learning rate now follows an {n}-epoch schedule from its "
              f"value at epoch {self.done}, so the result is neither the recorded run nor a "
              f"{n}-epoch run trained from the start (recorded in environment.json)",
              file=sys.stderr)
        stored = runs.read_json(self.run_dir / runs.CONFIG, "restore it from a copy")
        runs.write_json(self.run_dir / runs.CONFIG, {**stored, "epochs": n})
        environment = load_environment(self.run_dir)
        history = environment.get(EPOCHS_KEY)
        history = history if isinstance(history, list) else []
        history.append({"from": old, "to": n, "after_epoch": self.done})
        runs.write_json(self.run_dir / runs.ENVIRONMENT, {**environment, EPOCHS_KEY: history})


def _check_data(run_dir: Path, cfg: RunConfig, allow: bool) -> None:
    recorded = load_environment(run_dir).get(DATA_KEY)
    if not isinstance(recorded, dict):
        return  # a run from before the record: nothing to compare with
    changed = []
    for role, flag in ROLES:
        before = recorded.get(role)
        if isinstance(before, dict):
            changed += [f"{flag} {change}" for change in
                        differences(before, fingerprint(getattr(cfg, role)))]
    if not changed:
        return
    if allow:
        print(f"note: resuming {run_dir} on changed data (--allow-changed-data): "
              f"{'; '.join(changed)}", file=sys.stderr)
        return
    raise UserInputError(
        f"--resume: the data of {run_dir} changed since the run started: {'; '.join(changed)}. "
        "Restore the data the run was trained on, or pass --allow-changed-data to continue on "
        "the data as it is now (the run then mixes two data sets), or start a new run "
        "(nothing was changed)")
