"""The OOD protocol for text runs: the image protocol's draws and metrics over text scores.

In-distribution test examples are scored once; for each OOD set, `draws` random subsets of
`len(test) // ratio` examples (reference: 10 draws, OOD:ID = 1:5) are planned first and each
example a draw uses is scored once (`evaluate.plan_draws` / `protocol_metrics`, shared with the
images). Reference NLP settings: FPR at 90% recall (FPR90), anomalies positive, MSP score for
classifiers. A classifier's OOD texts are lower-cased and not cut to a fixed length, as the
reference reads them; the test set is read as the training set was (its case, its fixed length).

A default OOD set (the preset's list) that is not under the data root is skipped, and said so in
`results["skipped"]`; an OOD set named with --ood must exist.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import UserInputError
from ..evaluation.protocol import METRICS, plan_draws, protocol_metrics
from ..metrics import detection_metrics
from ..scores import compute_score
from ..evaluation.results import write_results
from ..training.loop import resolve_device
from .batches import predict_logits
from .config import TextConfig
from .runio import load_trained_text_model
from .sets import TextSet, load_labelled_text, load_text

DEFAULT_RECALL = 0.90

# (OOD set, indices) -> anomaly scores of those examples
Scorer = Callable[[TextSet, np.ndarray], np.ndarray]
# OOD set -> number of scoreable units (texts for a classifier, segments for an LM)
Counter = Callable[[TextSet], int]


def ood_protocol(in_scores: np.ndarray, specs: list[str], *, explicit: bool, scorer: Scorer,
                 counter: Counter, data_root, draws: int, ratio: int, recall: float,
                 positive: str, rule: str, seed: int, log=print) -> tuple[dict, dict, dict]:
    """Per-set protocol results, the skipped default sets (spec -> reason) and cached scores."""
    n_per_draw = len(in_scores) // ratio
    if n_per_draw < 1:
        raise UserInputError(f"the test set has {len(in_scores)} examples: too few for 1:{ratio}")
    rng = np.random.default_rng(seed)
    per_set, skipped, cached = {}, {}, {}
    for spec in specs:
        try:
            data = load_text(spec, role="ood", data_root=data_root)
        except UserInputError as exc:
            if explicit:
                raise
            skipped[spec] = str(exc)
            log(f"skipping default OOD set {spec}: not found under the data root")
            continue
        n_units = counter(data)
        plan = plan_draws(n_units, n_per_draw, draws, rng)
        needed = np.unique(np.concatenate(plan))
        out_scores = np.full(n_units, np.nan)
        out_scores[needed] = scorer(data, needed)
        name, k = data.name, 2
        while name in per_set:
            name, k = f"{data.name}-{k}", k + 1
        per_set[name] = protocol_metrics(in_scores, out_scores, plan, recall=recall,
                                         positive=positive, rule=rule)
        per_set[name].update(spec=spec, source=data.source, n_scored=int(len(needed)))
        cached[f"ood:{name}"] = out_scores[needed].astype(np.float32)
        cached[f"ood_index:{name}"] = needed
    if not per_set:
        raise UserInputError(
            "no OOD set could be read: name them with --ood SPEC [SPEC ...] (e.g. snli imdb "
            "lines:PATH) or pass --data-root DIR where the named sets live"
        )
    return per_set, skipped, cached


def results_record(run_dir: Path, cfg: TextConfig, *, score: str, positive: str, rule: str,
                   recall: float, draws: int, ratio: int, seed: int, n_test: int,
                   test_error: float, error_detection, per_set: dict, skipped: dict) -> dict:
    """The results dict, with the keys of the image results (plus task and skipped)."""
    return {
        "run": str(run_dir), "task": cfg.task, "in_dist": cfg.test, "model": cfg.model,
        "mode": cfg.mode, "score": score, "positive": positive, "rule": rule,
        "recall_level": recall, "draws": draws, "ratio": ratio, "seed": seed, "n_test": n_test,
        "test_error": test_error, "error_detection": error_detection, "ood": per_set,
        "mean": {m: float(np.mean([r[m] for r in per_set.values()])) for m in METRICS},
        "skipped": skipped,
    }


def evaluate_text_run(run_dir: str | Path, ood: list[str] | None = None, *, score: str | None = None,
                      draws: int = 10, ratio: int = 5, recall: float = DEFAULT_RECALL,
                      positive: str = "ood", rule: str = "closest", seed: int = 1,
                      device: str | None = "auto", data_root: str | Path | None = None,
                      write: bool = True, log=print) -> dict:
    """The protocol on a trained text run (classifier or LM); writes results.{json,csv,md}.

    `score` defaults to the reference's: "msp" for a classifier, "xent" (-H(U; p), averaged
    over a sequence's positions) for a language model. `data_root` overrides the run's."""
    run_dir = Path(run_dir)
    if draws < 1 or ratio < 1:
        raise UserInputError("--draws and --ratio must be >= 1")
    dev = resolve_device(device)
    model, cfg, vocab = load_trained_text_model(run_dir, dev)
    root = data_root or cfg.data_root
    score = score or ("xent" if cfg.task == "lm" else "msp")
    specs = list(ood) if ood else list(cfg.ood)
    if not specs:
        raise UserInputError("name at least one OOD test set: --ood SPEC [SPEC ...]")
    common = dict(explicit=bool(ood), data_root=root, draws=draws, ratio=ratio, recall=recall,
                  positive=positive, rule=rule, seed=seed, log=log)
    if cfg.task == "lm":
        from .lm import evaluate_lm

        return evaluate_lm(run_dir, model, cfg, vocab, specs, score=score, dev=dev,
                           write=write, **common)

    def logits_of(data: TextSet, indices=None, fix_length=None):
        return predict_logits(model, data.encode(vocab, indices), pad_id=vocab.pad_id,
                              fix_length=fix_length, batch_size=cfg.eval_batch_size, device=dev)

    test, y, _ = load_labelled_text(cfg.test, role="test", labels=cfg.labels, data_root=root,
                                    lower=cfg.lower, fix_length=cfg.fix_length)
    logits = logits_of(test, fix_length=cfg.fix_length or None)
    in_scores = compute_score(score, logits).numpy().astype(np.float64)
    right = logits.argmax(1).numpy() == y
    msp = compute_score("msp", logits).numpy().astype(np.float64)
    error_detection = None
    if 0 < right.sum() < len(right):
        error_detection = detection_metrics(msp[right], msp[~right], recall_level=recall,
                                            positive="ood", rule=rule)
    per_set, skipped, cached = ood_protocol(
        in_scores, specs, counter=len,
        scorer=lambda data, idx: compute_score(score, logits_of(data, idx)).numpy(), **common)
    results = results_record(run_dir, cfg, score=score, positive=positive, rule=rule,
                             recall=recall, draws=draws, ratio=ratio, seed=seed,
                             n_test=len(test), test_error=float(1.0 - right.mean()),
                             error_detection=error_detection, per_set=per_set, skipped=skipped)
    if write:
        write_results(run_dir, results)
        np.savez_compressed(run_dir / f"scores_{score}.npz", **{"in": in_scores.astype(np.float32)},
                            **cached)
    return results
