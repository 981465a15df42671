"""The accuracy guard of a fine-tune (`oe tune --max-accuracy-drop P`: RunConfig.max_accuracy_drop).

OE fine-tuning can cost in-distribution accuracy (outlier-exposure#20). The guard measures the
hold-out accuracy and the validation criterion (val_criterion.py) of the weights the fine-tune
starts from ("epoch 0") and after every epoch; of the epochs whose hold-out accuracy is at most
P percentage points below epoch 0's, it keeps the one with the best criterion (ties: the later
epoch), and RUN/model.pt gets that epoch's weights.

When no fine-tuned epoch is within the budget, epoch 0 is kept: the starting weights, within
budget by definition. The guard never hands back a model that breaks its budget; it says so and
what to change (a lower --lr or --lambda). Keeping the smallest drop instead would break the
promise the flag makes.

Resume: the record and the kept weights travel in the checkpoint (key "guard"), in the same
atomic file as the epoch they belong to, so a resumed run keeps what an uninterrupted one keeps.
RUN/guard.json is the readable copy, rewritten after every epoch:

    {"max_accuracy_drop": P, "criterion": {score, n_heldout, sets, ...},
     "epochs": [{"epoch": 0, "accuracy", "drop", "val_fpr95", "val_auroc", "within_budget",
                 "per_set"}, {"epoch": 1, ...}, ...],
     "kept": {"epoch": K, "reason": "..."}}
"""

from __future__ import annotations

from pathlib import Path

import torch

from . import runs
from .config import RunConfig
from .val_criterion import ValidationData, measure, rank_key, validation_data
from ..data.imageset import ImageSet
from ..errors import UserInputError

GUARD_FILE = "guard.json"
CHECKPOINT_KEY = "guard"
# Accuracies are multiples of 100/n; a drop equal to the budget is within it despite rounding.
_TOLERANCE = 1e-9


def epoch_entry(epoch: int, measured: dict, initial_accuracy: float, budget: float) -> dict:
    """One epoch's line of the record."""
    drop = initial_accuracy - measured["accuracy"]
    return {"epoch": epoch, "accuracy": measured["accuracy"], "drop": drop,
            "val_fpr95": measured["val_fpr95"], "val_auroc": measured["val_auroc"],
            "within_budget": bool(drop <= budget + _TOLERANCE), "per_set": measured["per_set"]}


def choose(epochs: list[dict], budget: float) -> tuple[int, str]:
    """(the epoch to keep, why) from the record's epochs (epoch 0: the starting weights)."""
    initial = epochs[0]
    within = [e for e in epochs[1:] if e["within_budget"]]
    if not within:
        return 0, (f"no fine-tuned epoch kept the hold-out accuracy within {budget:g} points of "
                   f"the starting {initial['accuracy']:.2f}%, so the starting weights are kept; "
                   "lower --lr or --lambda")
    best = min(within, key=lambda e: (*rank_key(e), -e["epoch"]))
    return best["epoch"], (f"the lowest validation mean FPR95 ({best['val_fpr95']:.2f}%) of the "
                           f"{len(within)} of {len(epochs) - 1} epochs within {budget:g} points "
                           f"of the starting {initial['accuracy']:.2f}%")


def _cpu_copy(model: torch.nn.Module) -> dict:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


class AccuracyGuard:
    """Measures each epoch and keeps the chosen weights; `loop.train_run` calls `after_epoch`
    before writing an epoch's checkpoint and `finish` before writing model.pt."""

    def __init__(self, cfg: RunConfig, run_dir: Path, data: ValidationData,
                 device: torch.device, record: dict, kept_weights: dict, verbose: bool):
        self.cfg, self.run_dir, self.data, self.device = cfg, run_dir, data, device
        self.record, self.kept_weights, self.verbose = record, kept_weights, verbose

    @classmethod
    def start(cls, cfg: RunConfig, run_dir: Path, held: ImageSet, model: torch.nn.Module,
              device: torch.device, start_epoch: int, saved: dict | None,
              verbose: bool = True) -> AccuracyGuard | None:
        """None without a budget. A fresh run measures `model` (the starting weights); a run
        resumed after epoch `start_epoch` > 0 takes the record `saved` in its checkpoint
        (restore.py hands it over)."""
        if cfg.max_accuracy_drop is None:
            return None
        data = validation_data(cfg, held)  # held: the hold-out's images (setup.load_data)
        if start_epoch > 0:
            if saved is None:
                raise UserInputError(
                    f"{run_dir / runs.CHECKPOINT} holds no accuracy-guard state although the run "
                    "has --max-accuracy-drop; it was written by another version: retrain the run")
            record = saved["record"]
            record["epochs"] = [e for e in record["epochs"] if e["epoch"] <= start_epoch]
            guard = cls(cfg, run_dir, data, device, record, saved["kept_weights"], verbose)
        else:
            measured = measure(model, data, cfg, device)
            first = epoch_entry(0, measured, measured["accuracy"], cfg.max_accuracy_drop)
            record = {"max_accuracy_drop": cfg.max_accuracy_drop,
                      "criterion": {"score": measured["score"], **data.describe()},
                      "epochs": [first]}
            guard = cls(cfg, run_dir, data, device, record, _cpu_copy(model), verbose)
            guard._choose()
        guard.write()
        return guard

    @property
    def budget(self) -> float:
        return self.record["max_accuracy_drop"]

    def _choose(self) -> int:
        kept, reason = choose(self.record["epochs"], self.budget)
        self.record["kept"] = {"epoch": kept, "reason": reason}
        return kept

    def after_epoch(self, epoch: int, model: torch.nn.Module) -> dict:
        """Measure the weights after `epoch` (1-based); return the checkpoint's guard entry."""
        initial = self.record["epochs"][0]["accuracy"]
        entry = epoch_entry(epoch, measure(model, self.data, self.cfg, self.device), initial,
                            self.budget)
        self.record["epochs"] = [e for e in self.record["epochs"] if e["epoch"] < epoch] + [entry]
        if self._choose() == epoch:
            self.kept_weights = _cpu_copy(model)
        if self.verbose:
            print(f"accuracy guard, epoch {epoch}: hold-out accuracy {entry['accuracy']:.2f}% "
                  f"(drop {entry['drop']:.2f}, {'within' if entry['within_budget'] else 'over'} "
                  f"{self.budget:g}), validation mean FPR95 {entry['val_fpr95']:.2f}%", flush=True)
        return {CHECKPOINT_KEY: {"record": self.record, "kept_weights": self.kept_weights}}

    def write(self) -> None:
        runs.write_json(self.run_dir / GUARD_FILE, self.record)

    def finish(self, model: torch.nn.Module) -> None:
        """Load the kept weights into `model` (for model.pt), write the record, say what was kept."""
        model.load_state_dict(self.kept_weights)
        self.write()
        kept = self.record["kept"]
        entry = next(e for e in self.record["epochs"] if e["epoch"] == kept["epoch"])
        print(f"accuracy guard: kept epoch {kept['epoch']} of {len(self.record['epochs']) - 1} "
              f"(hold-out accuracy {entry['accuracy']:.2f}%, validation mean FPR95 "
              f"{entry['val_fpr95']:.2f}%): {kept['reason']}; record in "
              f"{self.run_dir / GUARD_FILE}", flush=True)
