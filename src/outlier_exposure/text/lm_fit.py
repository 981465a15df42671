"""The reference's optimisation of a language model (`NLP_language_modeling/train.py`), the epoch
loop of `optimizer="sgd"` runs (`fit.py` keeps Adam + cosine for the CPU substitute).

- Plain SGD (no momentum) at the constant rate `lr` (30) with weight decay (1.2e-6); the caller
  clips the gradient norm (`clip`) before each step.
- After each epoch the validation loss is computed. While on SGD: if more than `nonmono`
  validation losses precede this one and this one is larger than the smallest of all but the
  last `nonmono` of them, the optimiser becomes averaged SGD (`torch.optim.ASGD(t0=0,
  lambd=0)`, same lr and weight decay) for the remaining epochs. On ASGD, validation uses the
  averaged weights (the optimiser's `ax`), and training continues from the raw ones.
- The weights of the best validation loss so far (averaged ones on ASGD) are what the run keeps
  as its final model, as the reference saves on improvement and reloads the best at the end.

Checkpoint and resume as `fit.py`: the last finished epoch's weights, optimiser (and which one),
validation history, best weights and random generators.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Callable

import torch

from ..training import rng, runs
from .config import TextConfig
from .fit import check_finite, resume_from


def switch_to_asgd(previous: list[float], current: float, nonmono: int) -> bool:
    """The reference's non-monotone trigger: `previous` are the earlier epochs' validation
    losses (SGD phase), `current` this epoch's."""
    return len(previous) > nonmono and current > min(previous[:-nonmono])


def make_optimiser(kind: str, model: torch.nn.Module, cfg: TextConfig) -> torch.optim.Optimizer:
    if kind == "asgd":
        return torch.optim.ASGD(model.parameters(), lr=cfg.lr, t0=0, lambd=0.0,
                                weight_decay=cfg.weight_decay)
    return torch.optim.SGD(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)


def averaged_state(model: torch.nn.Module, optimiser: torch.optim.Optimizer) -> dict:
    """The model's state dict with each parameter replaced by ASGD's running average `ax`."""
    by_id = {id(p): optimiser.state[p]["ax"] for p in model.parameters()
             if "ax" in optimiser.state.get(p, {})}
    # keep_vars: the parameters themselves, so that a tied matrix (embedding = decoder) gets its
    # average under both of its names.
    return {k: (by_id[id(v)] if id(v) in by_id else v).detach().clone()
            for k, v in model.state_dict(keep_vars=True).items()}


def fit_lm(run_dir: Path, cfg: TextConfig, model: torch.nn.Module, *,
           generators: dict[str, torch.Generator], epoch_fn: Callable[[int, torch.optim.Optimizer], dict],
           val_fn: Callable[[], float], resume: bool) -> None:
    """Run the remaining epochs of an `optimizer="sgd"` language model (see the module doc)."""
    run_dir = Path(run_dir)
    kind, history, best, best_state = "sgd", [], math.inf, None
    optimiser = make_optimiser(kind, model, cfg)
    ckpt, start = resume_from(run_dir, resume, model, generators)
    if ckpt is not None:
        kind, history, best = ckpt["kind"], list(ckpt["history"]), float(ckpt["best"])
        best_state = ckpt["best_model"]
        optimiser = make_optimiser(kind, model, cfg)
        optimiser.load_state_dict(ckpt["optimiser"])
    if start >= cfg.epochs and (run_dir / runs.MODEL).exists():
        return
    for epoch in range(start, cfg.epochs):
        model.train()
        started = time.perf_counter()
        stats = epoch_fn(epoch, optimiser)
        if kind == "asgd":
            raw = {k: v.clone() for k, v in model.state_dict().items()}
            model.load_state_dict(averaged_state(model, optimiser))
            val = val_fn()
            candidate = {k: v.clone() for k, v in model.state_dict().items()}
            model.load_state_dict(raw)
        else:
            val = val_fn()
            candidate = None
        check_finite((*stats.values(), val), epoch, cfg, run_dir)
        if val < best:
            best = val
            best_state = candidate or {k: v.detach().clone() for k, v in model.state_dict().items()}
        record = {"epoch": epoch + 1, "lr": cfg.lr, "optimizer": kind, **stats, "val_loss": val,
                  "val_ppl": math.exp(min(val, 700.0)), "seconds": time.perf_counter() - started}
        if kind == "sgd":
            if switch_to_asgd(history, val, cfg.nonmono):
                kind = "asgd"
                optimiser = make_optimiser(kind, model, cfg)
                record["switched_to"] = "asgd"
            history.append(val)
        runs.append_log(run_dir, record)
        runs.save_torch(run_dir / runs.CHECKPOINT, {
            "epoch": epoch + 1, "model": model.state_dict(), "optimiser": optimiser.state_dict(),
            "kind": kind, "history": history, "best": best, "best_model": best_state,
            "rng": rng.capture(generators)})
    final = best_state if best_state is not None else model.state_dict()
    runs.save_torch(run_dir / runs.MODEL, {k: v.cpu() for k, v in final.items()})
