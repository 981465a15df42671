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

import json
import os
import platform
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._version import __version__
from .config import CONFIG_FILE, load_config  # noqa: F401 (load_config: read as runs.load_config)
from ..errors import UserInputError

CONFIG, CHECKPOINT, MODEL, LOG, ENVIRONMENT = (
    CONFIG_FILE, "checkpoint.pt", "model.pt", "log.jsonl", "environment.json",
)


def umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        # mkstemp makes the file private (0600); give it the mode a plain open() would, so
        # results and reports can be shared like any other file the user writes.
        os.chmod(tmp, 0o666 & ~umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json(path: Path, data: Any) -> None:
    text = json.dumps(data, indent=2, sort_keys=False) + "\n"
    _atomic_write(Path(path), lambda h: h.write(text.encode()))


def read_json(path: Path, fix: str) -> Any:
    """The parsed contents of a JSON file of a run folder; UserInputError naming the file and
    `fix` (what the user can do) when it is not valid JSON."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise UserInputError(f"{path} is not valid JSON ({exc}); {fix}") from None


def write_text(path: Path, text: str) -> None:
    _atomic_write(Path(path), lambda h: h.write(text.encode()))


def save_torch(path: Path, obj: Any) -> None:
    _atomic_write(Path(path), lambda h: torch.save(obj, h))


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
    with open(Path(run_dir) / LOG, "a") as handle:
        handle.write(json.dumps(record) + "\n")


def read_log(run_dir: Path) -> list[dict]:
    path = Path(run_dir) / LOG
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


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
