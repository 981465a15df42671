"""The OOD protocol for text runs: the shared protocol (`evaluation.draws.run_protocol`, as for
images) over text scores.

In-distribution test examples are scored once; for each OOD set, `draws` random subsets of
`len(test) // ratio` examples (reference: 10 draws, OOD:ID = 1:5) are planned first and each
example a draw uses is scored once. The paper classifier presets draw as many as the reference's
eval_OOD_*.py read: whole batches of 64 until `batch_idx * 64 > len(test) // 5` (TREC 128,
SST 384; the run's `ood_draw_size`, evaluation/draws.py). Reference NLP settings: FPR at 90% recall (FPR90), anomalies
positive, MSP score for classifiers. A classifier's OOD texts are lower-cased and not cut to a
fixed length, as the reference reads them; the test set is read as the training set was (its
case, its fixed length). Reading the OOD sets, skipping missing default ones and the text
record: `protocol.py`; language models: `lm.evaluate_lm`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import UserInputError
from ..evaluation.draws import DrawSettings, classification_outcome
from ..scores import compute_score
from ..training.setup import resolve_device
from .batches import predict_logits
from .lm import evaluate_lm
from .protocol import DEFAULT_RECALL, text_protocol, text_results, write_text_results
from .runio import load_trained_text_model
from .sets import TextSet, load_labelled_text

__all__ = ["DEFAULT_RECALL", "evaluate_text_run"]


def evaluate_text_run(run_dir: str | Path, ood: list[str] | None = None, *, score: str | None = None,
                      draws: int = 10, ratio: int = 5, recall: float = DEFAULT_RECALL,
                      positive: str = "ood", rule: str = "closest", seed: int = 1,
                      draw_size: str | None = None, device: str | None = "auto",
                      data_root: str | Path | None = None, write: bool = True, log=print,
                      progress: bool = False) -> dict:
    """The protocol on a trained text run (classifier or LM); writes results.{json,csv,md}.

    `score` defaults to the reference's: "msp" for a classifier, "xent" (-H(U; p), averaged
    over a sequence's positions) for a language model. `data_root` overrides the run's;
    `draw_size` (a DRAW_SIZE_RULES name) the run's `ood_draw_size`; `progress=True` shows a bar
    over the OOD sets."""
    run_dir = Path(run_dir)
    DrawSettings(draws=draws, ratio=ratio, recall=recall, seed=seed,
                 draw_size=draw_size or "exact").check()  # before the model loads
    dev = resolve_device(device)
    model, cfg, vocab = load_trained_text_model(run_dir, dev)
    settings = DrawSettings(draws=draws, ratio=ratio, recall=recall, positive=positive,
                            rule=rule, seed=seed,
                            draw_size=draw_size or cfg.ood_draw_size)
    settings.check()
    root = data_root or cfg.data_root
    score = score or ("xent" if cfg.task == "lm" else "msp")
    specs = list(ood) if ood else list(cfg.ood)
    if not specs:
        raise UserInputError("name at least one OOD test set: --ood SPEC [SPEC ...]")
    common = dict(explicit=bool(ood), data_root=root, settings=settings, log=log,
                  progress=progress)
    if cfg.task == "lm":
        record, outcome = evaluate_lm(run_dir, model, cfg, vocab, specs, score=score, dev=dev,
                                      **common)
    else:
        record, outcome = _evaluate_classifier(run_dir, model, cfg, vocab, specs, score=score,
                                               dev=dev, **common)
    if write:
        write_text_results(run_dir, record, outcome)
    return record.to_dict()


def _evaluate_classifier(run_dir: Path, model, cfg, vocab, specs: list[str], *, score: str, dev,
                         settings: DrawSettings, data_root, **common):
    """(record, protocol outcome) of a text classifier: its test set, then the OOD texts."""

    def logits_of(data: TextSet, indices=None, fix_length=None):
        return predict_logits(model, data.encode(vocab, indices), pad_id=vocab.pad_id,
                              fix_length=fix_length, batch_size=cfg.eval_batch_size, device=dev)

    def units(data: TextSet):
        return len(data), lambda idx: compute_score(score, logits_of(data, idx)).numpy()

    test, y, _ = load_labelled_text(cfg.test, role="test", labels=cfg.labels,
                                    data_root=data_root, lower=cfg.lower,
                                    fix_length=cfg.fix_length)
    logits = logits_of(test, fix_length=cfg.fix_length or None)
    in_scores = compute_score(score, logits).numpy().astype(np.float64)
    test_error, error_detection = classification_outcome(logits, y, settings)
    outcome, skipped = text_protocol(in_scores, specs, score=score, units=units,
                                     data_root=data_root, settings=settings, **common)
    record = text_results(run_dir, cfg, score=score, settings=settings, outcome=outcome,
                          skipped=skipped, n_test=len(test), test_error=test_error,
                          error_detection=error_detection)
    return record, outcome
