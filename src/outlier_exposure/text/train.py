"""Training a text classifier: baseline, OE fine-tune, OE from scratch.

Each step (reference `train_OE.py`): the in-distribution batch and an outlier batch go through
the model in TWO forward passes; loss = CE(z_in, y) + lambda * mean H(U; softmax(z_out)), with
H(U; p) = logsumexp(z) - mean_k z_k (`losses.uniform_cross_entropy`; the reference writes it as
`-log_softmax(z).mean()`). An epoch ends with the in-distribution batches; outlier batches come
from a fresh bucketed pass over the outlier set each epoch (the reference zips a new outlier
iterator with each epoch), started again if it runs out first.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch

from ..losses import oe_loss
from ..training.lock import locks_run_folder
from ..training.progress import progress_bar
from .batches import bucket_batches, to_batch
from .config import TextConfig
from .fit import fit
from .runio import open_text_run, start_text_run
from .sets import load_labelled_text, load_text
from .vocab import build_vocab


def outlier_batches(lengths, batch_size: int, generator: torch.Generator):
    """Endless bucketed batches over the outlier set: one pass, then another, ..."""
    while True:
        yield from bucket_batches(lengths, batch_size, generator)


@locks_run_folder("train")  # one writer per run folder (training/lock.py)
def train_text_run(cfg: TextConfig, run_dir: str | Path, *, resume: bool = False,
                   device: str | None = "auto", progress: bool = True) -> Path:
    """Train the text classifier `cfg` describes into `run_dir` (see `training.loop.train_run`)."""
    cfg, run_dir, dev, (base, vocab, init) = open_text_run(cfg, run_dir, resume, device)
    train_set, y, labels = load_labelled_text(
        cfg.train, role="train", labels=cfg.labels or (base.labels if base else None),
        data_root=cfg.data_root, lower=cfg.lower, fix_length=cfg.fix_length)
    if vocab is None:
        vocab = build_vocab(train_set.all_tokens(), max_size=cfg.vocab_size)
    cfg = replace(cfg, labels=labels, num_classes=len(labels), lower=train_set.lower,
                  fix_length=train_set.fix_length or 0)
    x = train_set.encode(vocab)
    x_out = None
    if cfg.mode != "baseline":
        x_out = load_text(cfg.outliers, role="outliers", data_root=cfg.data_root).encode(vocab)
    model = start_text_run(run_dir, cfg, vocab, init, dev, resume)
    generators = {"order": torch.Generator().manual_seed(cfg.seed),
                  "outliers": torch.Generator().manual_seed(cfg.seed + 2)}
    lengths = [len(s) for s in x]
    out_lengths = [len(s) for s in x_out] if x_out is not None else None
    targets_all = torch.from_numpy(y)
    fix = cfg.fix_length or None

    def epoch_fn(epoch: int, optimiser) -> dict:
        batches = bucket_batches(lengths, cfg.batch_size, generators["order"])
        stream = (outlier_batches(out_lengths, cfg.oe_batch_size, generators["outliers"])
                  if x_out is not None else None)
        sums = torch.zeros(4, device=dev)  # loss, CE, OE term, correct
        bar = progress_bar(len(x), f"{cfg.mode} {epoch + 1}/{cfg.epochs}", progress, unit="ex")
        for idx in batches:
            targets = targets_all[idx].to(dev)
            logits = model(to_batch(x, idx, vocab.pad_id, fix, dev))
            if stream is not None:
                # A separate forward pass for the outliers, as the reference does.
                logits = torch.cat([logits, model(to_batch(x_out, next(stream), vocab.pad_id,
                                                           None, dev))])
            loss = oe_loss(logits, targets, cfg.lam)
            optimiser.zero_grad(set_to_none=True)
            loss.total.backward()
            if cfg.clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
            optimiser.step()
            n = len(idx)
            with torch.no_grad():
                correct = (logits[:n].argmax(1) == targets).sum().float()
                sums += torch.stack([loss.total.detach() * n, loss.in_dist.detach() * n,
                                     loss.outlier.detach() * n, correct])
            if bar is not None:
                bar.update(n)
        if bar is not None:
            bar.close()
        s = (sums / len(x)).tolist()
        return {"loss": s[0], "loss_in": s[1], "loss_oe": s[2], "train_acc": s[3]}

    fit(run_dir, cfg, model, generators=generators, epoch_fn=epoch_fn, resume=resume)
    return run_dir
