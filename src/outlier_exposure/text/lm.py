"""Language models with Outlier Exposure (reference `NLP_language_modeling/`).

Data. A corpus is one stream of token ids: every example (line) followed by `<eos>`. Training
cuts the stream into `batch_size` contiguous rows and walks along them in segments of `bptt`
tokens; each segment starts from a zero hidden state (the reference re-initialises the hidden
state every segment "because this makes evaluation easier and more meaningful").

OE. The outlier stream is cut the same way; the outlier segment at the same offset (wrapping
around a shorter stream) goes through the model in the same forward pass (the reference
concatenates them along the batch), and

    loss = CE(next token) + lambda * mean over outlier positions of H(U; p_t),
    H(U; p) = -(1/V) sum_v log p_v = logsumexp(z) - mean_v z_v,   lambda = 0.5.

Anomaly score of a sequence (a `bptt`-token segment of the test or OOD stream, batch size 1 in
the reference): the mean over its positions of -H(U; p_t) (`scores.xent`), higher = closer to
uniform = more anomalous; the reference computes the same `sum_v (1/V) log p_v`, averaged over
the segment. FPR90. OOD segments (`ood_rule`): "first", the reference's rule (`eval_ood.py`),
scores each OOD stream's segments starting before token `n // 5` (n = tokens of the test
stream), once; "draws" takes --draws random subsets of `len(test segments) // 5` segments.
Test error = 1 - next-token accuracy; perplexity = exp(mean CE) is reported beside it.

The reference's recipe (`optimizer="sgd"`, presets `lm`, `lm-char`): the AWD-LSTM, AR/TAR added
to the loss (`activation_regularisation`), SGD -> ASGD with a validation loss after each epoch
(`lm_fit.py`). Character level (`char_level`): outlier and OOD texts are spelt out as the
reference's `CorpusWikiTextChar` does (`char_tokens`).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import UserInputError
from ..losses import oe_loss
from ..training.lock import locks_run_folder
from ..training.progress import progress_bar
from ..scores import compute_score
from ..evaluation.draws import DrawSettings, ScoreOutcome
from ..evaluation.results import Results
from .config import TextConfig
from .fit import fit
from .lm_fit import fit_lm
from .protocol import text_protocol, text_results
from .runio import open_text_run, start_text_run
from .sets import TextSet, load_text
from .vocab import LM_SPECIALS, Vocab, build_vocab


WORD_BREAK = "_"  # the character between words in Mikolov's ptb.char files


def char_tokens(words: list[str], alphabet: set[str]) -> list[str]:
    """Words spelt as the reference's `CorpusWikiTextChar`: lower-cased characters, those not in
    the character vocabulary `alphabet` dropped, `_` between words."""
    out: list[str] = []
    for i, word in enumerate(words):
        if i:
            out.append(WORD_BREAK)
        out.extend(c for c in word.lower() if c in alphabet)
    return out


def stream_ids(data: TextSet, vocab: Vocab, spell: bool = False) -> np.ndarray:
    """The corpus as one id stream: each example's tokens (spelt out as characters when
    `spell`), then `<eos>`."""
    eos = np.array([vocab.eos_id], dtype=np.int64)
    if spell:
        alphabet = set(vocab.itos)
        encoded = [vocab.encode(char_tokens(data.tokens(i), alphabet)) for i in range(len(data))]
    else:
        encoded = data.encode(vocab)
    parts = [p for ids in encoded for p in (ids, eos)]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def activation_regularisation(raw: torch.Tensor, dropped: torch.Tensor, alpha: float,
                              beta: float) -> torch.Tensor:
    """The reference's AR + TAR on the last layer's output (B, T, H): alpha * mean(dropped^2)
    (after its locked dropout) + beta * mean((raw_{t+1} - raw_t)^2) (before it)."""
    ar = alpha * dropped.pow(2).mean()
    tar = beta * (raw[:, 1:] - raw[:, :-1]).pow(2).mean()
    return ar + tar


def first_segments(n_test_tokens: int, bptt: int, n_segments: int) -> int:
    """How many OOD segments the reference scores: those starting at a token offset below
    `n_test_tokens // 5` (`eval_ood.py`: `i >= ood_num_examples` breaks), at most all of them."""
    return min(n_segments, -(-(n_test_tokens // 5) // bptt))


@torch.no_grad()
def validation_loss(model, data: torch.Tensor, bptt: int, device) -> float:
    """Mean over the full `bptt` segments of `data` (rows, n) of their mean next-token CE, each
    from a zero state (the reference's per-epoch validation; its short last segment is skipped
    because the paired outlier segment is longer)."""
    model.eval()
    losses = []
    for i in segment_starts(data.shape[1], bptt):
        if i + bptt > data.shape[1] - 1:
            break
        inputs, targets = data[:, i: i + bptt].to(device), data[:, i + 1: i + 1 + bptt].to(device)
        logits = model(inputs).float()
        losses.append(F.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                      targets.reshape(-1)).item())
    model.train()
    if not losses:
        raise UserInputError(f"the validation split has no full {bptt}-token segment; use a "
                             "longer validation split or a smaller --bptt")
    return float(np.mean(losses))


def batchify(ids: np.ndarray, rows: int, what: str = "the corpus") -> torch.Tensor:
    """(rows, n) tensor: the stream cut into `rows` contiguous pieces (the tail is dropped)."""
    n = len(ids) // rows
    if n < 2:
        raise UserInputError(
            f"{what} has {len(ids)} tokens: too few for {rows} rows of at least 2; use more text "
            "or a smaller --batch-size / --oe-batch-size")
    return torch.from_numpy(ids[: n * rows].reshape(rows, n))


def segment_starts(length: int, bptt: int) -> list[int]:
    """Starts of the segments along a row of `length` ids (each needs a next-token target)."""
    return list(range(0, length - 1, bptt))


def sequences(ids: np.ndarray, bptt: int) -> list[np.ndarray]:
    """Evaluation sequences: consecutive pieces of `bptt` inputs (+1 for the last target)."""
    return [ids[i: i + min(bptt, len(ids) - 1 - i) + 1] for i in segment_starts(len(ids), bptt)]


@torch.no_grad()
def score_sequences(model, seqs: list[np.ndarray], score: str, batch_size: int, device
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per sequence: mean anomaly score over positions, summed CE, number of correct next tokens."""
    model.eval()
    scores, ce, correct = (np.zeros(len(seqs)) for _ in range(3))
    by_length: dict[int, list[int]] = {}
    for i, s in enumerate(seqs):
        by_length.setdefault(len(s), []).append(i)
    for length, members in by_length.items():
        for start in range(0, len(members), batch_size):
            idx = members[start: start + batch_size]
            batch = torch.from_numpy(np.stack([seqs[i] for i in idx])).to(device)
            logits = model(batch[:, :-1]).float()  # (B, T, V)
            b, t, v = logits.shape
            flat, targets = logits.reshape(-1, v), batch[:, 1:].reshape(-1)
            scores[idx] = compute_score(score, flat).view(b, t).mean(1).cpu().numpy()
            ce[idx] = F.cross_entropy(flat, targets, reduction="none").view(b, t).sum(1).cpu().numpy()
            correct[idx] = (flat.argmax(1) == targets).view(b, t).sum(1).cpu().numpy()
    return scores, ce, correct


def lm_loss(logits: torch.Tensor, targets: torch.Tensor, lam: float):
    """`logits` (B_in + B_out, T, V), ID rows first; `targets` (B_in, T) next tokens.

    CE over the ID positions + lam * mean over the outlier positions of H(U; p_t)
    (`losses.oe_loss` on the flattened positions; the LossParts it returns)."""
    flat = logits.reshape(-1, logits.shape[-1])
    return oe_loss(flat, targets.reshape(-1), lam)


@locks_run_folder("train")  # one writer per run folder (training/lock.py)
def train_lm_run(cfg: TextConfig, run_dir: str | Path, *, resume: bool = False,
                 device: str | None = "auto", progress: bool = True) -> Path:
    """Train (baseline) or fine-tune with OE (oe-tune / oe-scratch) a language model."""
    cfg, run_dir, dev, (_, vocab, init) = open_text_run(cfg, run_dir, resume, device)
    train_set = load_text(cfg.train, role="train", purpose="lm", data_root=cfg.data_root,
                          lower=cfg.lower)
    if vocab is None:
        vocab = build_vocab(train_set.all_tokens(), max_size=cfg.vocab_size, specials=LM_SPECIALS)
    cfg = replace(cfg, lower=train_set.lower, fix_length=0)
    data = batchify(stream_ids(train_set, vocab), cfg.batch_size, f"--train {cfg.train}")
    val_data = None
    if cfg.optimizer == "sgd":
        if not cfg.valid:
            raise UserInputError("optimizer sgd (the reference's SGD -> ASGD) needs a validation "
                                 "split: set valid (e.g. ptb:valid)")
        try:
            valid_set = load_text(cfg.valid, role="test", purpose="lm", data_root=cfg.data_root,
                                  lower=cfg.lower)
        except UserInputError as exc:
            raise UserInputError(
                f"the reference's recipe (optimizer sgd) validates every epoch on {cfg.valid}: "
                f"{exc} (or train the CPU substitute: --preset offline-lm)") from None
        val_data = batchify(stream_ids(valid_set, vocab), 10, f"valid {cfg.valid}")  # ref: 10 rows
        if val_data.shape[1] - 1 < cfg.bptt:  # refused now, not after the first epoch
            raise UserInputError(
                f"the validation split {cfg.valid} has no full {cfg.bptt}-token segment in 10 "
                "rows; use a longer validation split or a smaller --bptt")
    oe_data = None
    if cfg.mode != "baseline":
        outliers = load_text(cfg.outliers, role="outliers", purpose="lm", data_root=cfg.data_root)
        oe_data = batchify(stream_ids(outliers, vocab, spell=cfg.char_level), cfg.oe_batch_size,
                           f"--outliers {cfg.outliers}")
        if oe_data.shape[1] <= cfg.bptt:
            raise UserInputError(
                f"--outliers {cfg.outliers} gives rows of {oe_data.shape[1]} tokens, not more "
                f"than one {cfg.bptt}-token segment; use more outlier text or a smaller "
                "--oe-batch-size")
    model = start_text_run(run_dir, cfg, vocab, init, dev, resume)
    generators: dict[str, torch.Generator] = {}  # segment order is fixed; dropout uses torch's RNG
    starts = segment_starts(data.shape[1], cfg.bptt)
    if cfg.optimizer == "sgd":
        # The reference's recipe trains on full segments only: its last, shorter one is skipped
        # because the paired WikiText-2 segment is longer (train.py, `data.size(0) != ...`).
        starts = [i for i in starts if i + cfg.bptt <= data.shape[1] - 1]
        if not starts:
            raise UserInputError(
                f"--train {cfg.train} gives rows of {data.shape[1]} tokens, no full "
                f"{cfg.bptt}-token segment; use more text, a smaller --batch-size or --bptt")

    def epoch_fn(epoch: int, optimiser) -> dict:
        sums = torch.zeros(3, device=dev)
        # The tokens the steps below predict (the last segment of a row may be short), so that
        # the bar ends at its total.
        predicted = data.shape[0] * sum(min(cfg.bptt, data.shape[1] - 1 - i) for i in starts)
        bar = progress_bar(predicted, f"lm {cfg.mode} {epoch + 1}/{cfg.epochs}", progress,
                           unit="tok")
        tokens = 0
        for i in starts:
            seq = min(cfg.bptt, data.shape[1] - 1 - i)
            inputs, targets = data[:, i: i + seq].to(dev), data[:, i + 1: i + 1 + seq].to(dev)
            if oe_data is not None:
                j = i % max(1, oe_data.shape[1] - seq)
                inputs = torch.cat([inputs, oe_data[:, j: j + seq].to(dev)])
            if cfg.alpha or cfg.beta:
                logits, raw, dropped = model(inputs, return_h=True)
                loss = lm_loss(logits, targets, cfg.lam)
                # Over every row of the pass, outlier rows included, as the reference.
                total = loss.total + activation_regularisation(raw, dropped, cfg.alpha, cfg.beta)
            else:
                loss = lm_loss(model(inputs), targets, cfg.lam)
                total = loss.total
            optimiser.zero_grad(set_to_none=True)
            total.backward()
            if cfg.clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
            optimiser.step()
            n = targets.numel()
            tokens += n
            sums += torch.stack([loss.total.detach(), loss.in_dist.detach(),
                                 loss.outlier.detach()]) * n
            if bar is not None:
                bar.update(n)
        if bar is not None:
            bar.close()  # draws the final count (training/progress.py)
        s = (sums / tokens).tolist()
        return {"loss": s[0], "loss_in": s[1], "loss_oe": s[2], "train_ppl": float(np.exp(s[1]))}

    if cfg.optimizer == "sgd":
        fit_lm(run_dir, cfg, model, generators=generators, epoch_fn=epoch_fn, resume=resume,
               val_fn=lambda: validation_loss(model, val_data, cfg.bptt, dev))
    else:
        fit(run_dir, cfg, model, generators=generators, epoch_fn=epoch_fn, resume=resume)
    return run_dir


def evaluate_lm(run_dir: Path, model, cfg: TextConfig, vocab: Vocab, specs: list[str], *,
                score: str, dev, settings: DrawSettings, data_root, **common
                ) -> tuple[Results, ScoreOutcome]:
    """(record, protocol outcome) over sequences (see the module docstring); called by
    `evaluate.evaluate_text_run`, which writes them."""
    test = load_text(cfg.test, role="test", purpose="lm", data_root=data_root, lower=cfg.lower)
    test_stream = stream_ids(test, vocab)
    test_seqs = sequences(test_stream, cfg.bptt)
    in_scores, ce, correct = score_sequences(model, test_seqs, score, cfg.eval_batch_size, dev)
    n_tokens = sum(len(s) - 1 for s in test_seqs)
    first = cfg.ood_rule == "first"
    unit = f"sequences of {cfg.bptt} tokens"
    if first:
        # One "draw" holding every unit the set exposes (ratio 1 makes the draw size at least
        # the set's size): the first segments, as the reference scores them.
        settings = replace(settings, draws=1, ratio=1)
        unit += f"; OOD: the segments starting before token {len(test_stream) // 5}, once"

    def units(data: TextSet):
        seqs = sequences(stream_ids(data, vocab, spell=cfg.char_level), cfg.bptt)
        if first:
            seqs = seqs[: first_segments(len(test_stream), cfg.bptt, len(seqs))]
        return len(seqs), lambda idx: score_sequences(
            model, [seqs[i] for i in idx], score, cfg.eval_batch_size, dev)[0]

    outcome, skipped = text_protocol(in_scores, specs, score=score, units=units,
                                     data_root=data_root, settings=settings, **common)
    record = text_results(run_dir, cfg, score=score, settings=settings, outcome=outcome,
                          skipped=skipped, n_test=len(test_seqs),
                          test_error=float(1.0 - correct.sum() / n_tokens), error_detection=None,
                          test_perplexity=float(np.exp(ce.sum() / n_tokens)), unit=unit)
    return record, outcome
