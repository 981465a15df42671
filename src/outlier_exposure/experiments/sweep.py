"""`oe sweep`: the OE fine-tune's lambda, outlier batch size and learning rate, chosen on
validation data only (outlier-exposure#8, #24: choosing them on the test sets is leakage).

Each point of the grid (the product of the values given; a value not given is the preset's) is
an ordinary fine-tune of the baseline (training/config.py tune_config, training/loop.py
train_run), scored with the validation criterion (training/val_criterion.py): the hold-out
accuracy and the mean FPR95 over `val:` sets made from the calibration hold-out, which every
point inherits from the baseline. The point with the lowest criterion is chosen (ties: higher
mean AUROC, then higher hold-out accuracy, then the earlier point in grid order); with
`max_accuracy_drop`, every point is a guarded fine-tune (training/guard.py) and only points
within the budget of the baseline's hold-out accuracy are chosen from. No test set and no OOD
test set is ever read.

    OUT/baseline/          the preset's baseline, trained with its calibration hold-out
                           (a preset source only; a finished one is reused)
    OUT/baseline_criterion.json   the baseline's criterion (for the table's first row)
    OUT/points/NAME/       one fine-tune per point (a run folder) and its val_criterion.json
    OUT/sweep.json, .md    the table and the chosen point
    OUT/best/              a copy of the chosen point's run folder (without its checkpoint)

Resumable: a finished point and a criterion newer than its weights are reused, an interrupted
point is resumed; a point folder made with other settings is refused, not overwritten.
"""

from __future__ import annotations

import itertools
import math
import shutil
from pathlib import Path

from ..errors import UserInputError
from ..evaluation.formatting import markdown_table, text_table
from ..training import holdout, runs
from ..training.config import RunConfig, config_from_preset, tune_config
from ..training.presets import PRESETS
from ..training.resume_plan import prepare_new_run
from ..training.run_files import load_trained_weights
from ..training.setup import build_model, resolve_device
from ..training.val_criterion import (
    ValidationData, measure, rank_key, run_score, validation_data)
from .pipeline import run_stage

CRITERION_FILE = "val_criterion.json"
# Settings a finished point may differ in from the grid's config: filled in by training
# (num_classes) or a path that may be spelt differently (init_from, compared resolved).
_UNCOMPARED = ("num_classes", "init_from")


def check_grid(lambdas, batch_sizes, lrs, epochs=None) -> None:
    """Refuse values no fine-tune can take, before anything is written."""
    for value in lambdas or ():
        if not math.isfinite(value) or value < 0:
            raise UserInputError(f"--lambda {value}: the OE weight must be a finite number >= 0")
    for value in batch_sizes or ():
        if value < 1:
            raise UserInputError(f"--oe-batch-size {value}: give outlier batch sizes >= 1")
    for value in lrs or ():
        if not math.isfinite(value) or value <= 0:
            raise UserInputError(f"--lr {value}: give learning rates > 0")
    if epochs is not None and epochs < 1:
        raise UserInputError(f"--epochs {epochs}: a fine-tune needs at least 1 epoch")


def point_name(cfg: RunConfig) -> str:
    """The point's folder name (values to 6 significant digits: closer ones are one point)."""
    return f"lambda{cfg.lam:g}-oeb{cfg.oe_batch_size}-lr{cfg.lr:g}"


def resolve_baseline(source: str, out: Path, device, progress: bool, log) -> Path:
    """The baseline run: the folder `source`, or the preset `source`'s baseline trained (or
    reused) in OUT/baseline with the preset's calibration hold-out."""
    folder = Path(source)
    if (folder / runs.CONFIG).exists():
        base_cfg = runs.load_config(folder)
        if not base_cfg.calibration_holdout or not (folder / holdout.SPLIT_FILE).exists():
            raise UserInputError(
                f"{folder} has no calibration hold-out, which the sweep scores every point on: "
                "retrain it with `oe train --calibration ...` (the preset's split, or "
                "--calibration random:0.1), or give a preset name to train one")
        if not (folder / runs.MODEL).exists():
            raise UserInputError(f"{folder} has no trained model yet; finish it with "
                                 f"`oe train --resume --out {folder}`")
        return folder
    if source not in PRESETS:
        raise UserInputError(
            f"{source!r} is neither a run folder (no {runs.CONFIG} there) nor a preset; give a "
            f"baseline trained with --calibration, or one of: {', '.join(PRESETS)}")
    base_dir = out / "baseline"
    rule = PRESETS[source].calibration_holdout
    run_stage(lambda: config_from_preset(source, "baseline", calibration_holdout=rule),
              base_dir, device, progress, log)
    if not (base_dir / holdout.SPLIT_FILE).exists():
        raise UserInputError(f"{base_dir} was trained without a calibration hold-out; remove it "
                             "(or choose another --out) and rerun the sweep")
    return base_dir


def grid_configs(base_dir: Path, lambdas, batch_sizes, lrs, **tune_overrides) -> list[RunConfig]:
    """One fine-tune config per point, in grid order (lambda slowest); repeated points once."""
    configs = {}
    for lam, batch, lr in itertools.product(lambdas or [None], batch_sizes or [None],
                                            lrs or [None]):
        # With absolute data paths, as train_run records them (compared on a rerun).
        cfg = prepare_new_run(tune_config(base_dir, lam=lam, oe_batch_size=batch, lr=lr,
                                          **tune_overrides))
        configs.setdefault(point_name(cfg), cfg)
    return list(configs.values())


def _check_same_point(run_dir: Path, cfg: RunConfig) -> None:
    """A point folder from an earlier sweep must hold this very fine-tune."""
    if not (run_dir / runs.CONFIG).exists():
        return
    old, new = runs.load_config(run_dir).to_dict(), cfg.to_dict()
    for key in new:
        # "auto" values (energy margins) are resolved when the run starts.
        if key not in _UNCOMPARED and new[key] != "auto" and old.get(key) != new[key]:
            raise UserInputError(
                f"{run_dir} holds a fine-tune with {key} = {old.get(key)!r}, not {new[key]!r}; "
                "it is from another sweep: choose another --out, or remove that folder")
    if Path(old["init_from"]).resolve() != Path(new["init_from"]).resolve():
        raise UserInputError(f"{run_dir} fine-tunes {old['init_from']}, not {new['init_from']}; "
                             "choose another --out")


def _scored(run_dir: Path, target: Path, cfg: RunConfig, data: ValidationData, device,
            score: str) -> dict:
    """The criterion of the run's model.pt, reused from `target` when that is newer than the
    weights and was measured with the same score on the same validation sets."""
    wanted = {"score": score, **data.describe()}
    model_path = run_dir / runs.MODEL
    if target.exists() and target.stat().st_mtime_ns >= model_path.stat().st_mtime_ns:
        cached = runs.read_json(target, "delete it to measure again")
        if not (isinstance(cached, dict) and isinstance(cached.get("measured"), dict)):
            raise UserInputError(f"{target} is not a criterion record (an object with "
                                 "'criterion' and 'measured'); delete it to measure again")
        if cached.get("criterion") == wanted:
            return cached["measured"]
    model = load_trained_weights(build_model(cfg), run_dir, finite=False)
    measured = measure(model.to(device), data, cfg, device, score)
    runs.write_json(target, {"criterion": wanted, "measured": measured})
    return measured


def _row(name: str, cfg: RunConfig | None, measured: dict, base_accuracy: float) -> dict:
    row = {"name": name, "lambda": cfg and cfg.lam, "oe_batch_size": cfg and cfg.oe_batch_size,
           "lr": cfg and cfg.lr}
    row.update({k: measured[k] for k in ("accuracy", "val_fpr95", "val_auroc")})
    row["drop"] = base_accuracy - measured["accuracy"]
    row["per_set"] = measured["per_set"]
    return row


def choose(rows: list[dict], budget: float | None) -> tuple[dict | None, str]:
    """(the chosen point's row or None, why): the best `rank_key` of the points within the
    budget (all without one), the earlier point on a tie."""
    within = [r for r in rows if budget is None or r["drop"] <= budget + 1e-9]
    if not within:
        return None, (f"no point kept the hold-out accuracy within {budget:g} points of the "
                      "baseline's; lower --lr or --lambda")
    best = min(enumerate(within), key=lambda ir: (*rank_key(ir[1]), ir[0]))[1]
    where = f" of the {len(within)} points within {budget:g} points" if budget is not None else ""
    return best, f"the lowest validation mean FPR95 ({best['val_fpr95']:.2f}%){where}"


def table_text(result: dict, markdown: bool = False) -> str:
    """The sweep's table (percent), the baseline first, and the chosen point."""
    head = ["point", "lambda", "oe-batch", "lr", "hold-out acc", "drop", "val FPR95", "val AUROC"]
    body = []
    for row in [result["baseline_row"]] + result["points"]:
        cells = [row["name"]] + ["-" if row[k] is None else f"{row[k]:g}"
                                 for k in ("lambda", "oe_batch_size", "lr")]
        cells += [f"{row[k]:.2f}" for k in ("accuracy", "drop", "val_fpr95", "val_auroc")]
        body.append(cells)
    lines = [(markdown_table if markdown else text_table)(head, body)]
    chosen = result["chosen"]
    lines.append(f"chosen: {chosen['name'] or 'none'} ({chosen['reason']})")
    crit = result["criterion"]
    lines.append(f"percent; {crit['score']} score on the calibration hold-out "
                 f"({crit['n_heldout']} images) against {', '.join(crit['sets'])}; FPR95 rule "
                 f"'{crit['rule']}', anomalies positive; no test set read")
    return "\n".join(lines)


def _copy_best(point_dir: Path, out: Path) -> Path:
    """OUT/best: the chosen point's run folder (its checkpoint left out), replaced atomically
    enough that an interruption leaves the old copy or the new one."""
    tmp, best = out / ".best.tmp", out / "best"
    shutil.rmtree(tmp, ignore_errors=True)
    # Hidden files are the folder's lock and half-written temporaries: not part of the run.
    shutil.copytree(point_dir, tmp, ignore=shutil.ignore_patterns(runs.CHECKPOINT, ".*"))
    shutil.rmtree(best, ignore_errors=True)
    tmp.rename(best)
    return best


def run_sweep(source: str, out: str | Path, *, lambdas=None, oe_batch_sizes=None, lrs=None,
              epochs: int | None = None, outliers: str | None = None,
              max_accuracy_drop: float | None = None, device: str | None = "auto",
              progress: bool = True, log=print) -> dict:
    """Fine-tune and score every point of the grid; write OUT/sweep.{json,md} and OUT/best;
    return the sweep's record (as sweep.json)."""
    out = Path(out)
    check_grid(lambdas, oe_batch_sizes, lrs, epochs)
    if max_accuracy_drop is not None and (not math.isfinite(max_accuracy_drop)
                                          or max_accuracy_drop < 0):
        raise UserInputError(f"--max-accuracy-drop {max_accuracy_drop}: give percentage points "
                             ">= 0, e.g. 1")
    base_dir = resolve_baseline(source, out, device, progress, log)
    configs = grid_configs(base_dir, lambdas, oe_batch_sizes, lrs, epochs=epochs,
                           outliers=outliers, max_accuracy_drop=max_accuracy_drop)
    for cfg in configs:  # every refusal before the first point trains
        _check_same_point(out / "points" / point_name(cfg), cfg)
    base_cfg = runs.load_config(base_dir)
    dev = resolve_device(device)
    data = validation_data(base_cfg, run_dir=base_dir)
    score = run_score(configs[0])  # the baseline is judged by the points' score
    base_measured = _scored(base_dir, out / "baseline_criterion.json", base_cfg, data, dev, score)
    base_accuracy = base_measured["accuracy"]
    rows = []
    for i, cfg in enumerate(configs, 1):
        name = point_name(cfg)
        point_dir = out / "points" / name
        log(f"point {i}/{len(configs)}: lambda {cfg.lam:g}, oe-batch {cfg.oe_batch_size}, "
            f"lr {cfg.lr:g} ({point_dir})")
        run_stage(lambda cfg=cfg: cfg, point_dir, device, progress, log)
        # The saved config: training filled in what the grid's left open (the class count).
        measured = _scored(point_dir, point_dir / CRITERION_FILE, runs.load_config(point_dir),
                           data, dev, score)
        rows.append(_row(name, cfg, measured, base_accuracy))
        log(f"point {i}/{len(configs)}: hold-out accuracy {measured['accuracy']:.2f}%, "
            f"validation mean FPR95 {measured['val_fpr95']:.2f}%")
    best, reason = choose(rows, max_accuracy_drop)
    result = {
        "source": source, "baseline": str(base_dir),
        "grid": {"lambda": [c.lam for c in configs], "oe_batch_size":
                 [c.oe_batch_size for c in configs], "lr": [c.lr for c in configs]},
        "max_accuracy_drop": max_accuracy_drop,
        "criterion": {"score": base_measured["score"], **data.describe()},
        "baseline_row": _row("baseline", None, base_measured, base_accuracy),
        "points": [{**r, "dir": str(out / "points" / r["name"])} for r in rows],
        "chosen": {"name": best and best["name"], "reason": reason,
                   "dir": best and str(out / "points" / best["name"]),
                   "copy": best and str(out / "best")},
    }
    if best is not None:
        _copy_best(out / "points" / best["name"], out)
    runs.write_json(out / "sweep.json", result)
    runs.write_text(out / "sweep.md", "# oe sweep\n\n" + table_text(result, markdown=True) + "\n")
    return result
