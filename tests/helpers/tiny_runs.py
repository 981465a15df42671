"""Tiny trained runs for the energy, post-hoc and detector tests: the quickstart preset on the
`digits_npz` fixture (400 training / 200 test digits at 16x16), a width-8 small CNN, 1 epoch;
and a run interrupted after a given step, for the resume tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from outlier_exposure.training.config import config_from_preset
from outlier_exposure.training.loop import train_run


def train_tiny(run_dir: Path, npz: Path, *, calibration: bool = False, epochs: int = 1,
               **overrides) -> Path:
    """`overrides`: more run-config values (e.g. lr=0.1 for a baseline worth fine-tuning)."""
    cfg = config_from_preset(
        "quickstart", "baseline", train=f"npz:{npz}:x_train,y_train",
        test=f"npz:{npz}:x_test,y_test", epochs=epochs, batch_size=50,
        model_kwargs={"width": 8}, calibration_holdout="random:0.1" if calibration else None,
        **overrides)
    return train_run(cfg, run_dir, device="cpu", progress=False)


class Interrupted(Exception):
    """Stops a run from its `on_step` callback, as a kill between two steps would."""


def train_until(cfg, run_dir: Path, step: int) -> None:
    """Train `cfg` into `run_dir` and interrupt it right after optimiser step `step`."""
    def interrupt(done: int) -> None:
        if done == step:
            raise Interrupted

    with pytest.raises(Interrupted):
        train_run(cfg, run_dir, device="cpu", progress=False, on_step=interrupt)
