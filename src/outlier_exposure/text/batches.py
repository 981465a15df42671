"""Batches of token ids: length buckets for training, length-sorted batches for scoring.

Training order follows torchtext's `BucketIterator` (train mode), which the reference uses:
shuffle the examples, cut them into pools of 100 batches, sort each pool by length, cut the pool
into batches and shuffle the batches within the pool. Examples of similar length share a batch,
so little padding is run through the GRU, and every epoch still sees a new order. The
shuffles draw from a `torch.Generator`, whose state a checkpoint saves.

Scoring sorts the whole set by length (stable) and batches it in that order (at most 32,768
padded tokens a batch); the logits come back in the set's own order. With front padding and the
last hidden state as the summary, padding does change a score a little, so scores are computed
in this fixed, data-determined order.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from .vocab import pad_batch

POOL_BATCHES = 100
MAX_EVAL_TOKENS = 32768


def bucket_batches(lengths: Sequence[int], batch_size: int, generator: torch.Generator,
                   pool_batches: int = POOL_BATCHES) -> list[np.ndarray]:
    """One epoch of index batches (see the module docstring); the last batch of a pool may be short."""
    lengths = np.asarray(lengths)
    order = torch.randperm(len(lengths), generator=generator).numpy()
    pool_size = batch_size * pool_batches
    batches = []
    for start in range(0, len(order), pool_size):
        pool = order[start: start + pool_size]
        pool = pool[np.argsort(lengths[pool], kind="stable")]
        pool_list = [pool[i: i + batch_size] for i in range(0, len(pool), batch_size)]
        shuffle = torch.randperm(len(pool_list), generator=generator).tolist()
        batches.extend(pool_list[i] for i in shuffle)
    return batches


def sorted_batches(lengths: Sequence[int], batch_size: int,
                   max_tokens: int = MAX_EVAL_TOKENS) -> list[np.ndarray]:
    """Index batches over the set sorted by length (stable): deterministic, little padding.

    A batch holds at most `batch_size` examples and at most `max_tokens` padded tokens, so long
    texts (IMDB reviews run to 2,500 tokens) come in smaller batches and memory stays bounded.
    """
    order = np.argsort(np.asarray(lengths), kind="stable")
    batches, start = [], 0
    while start < len(order):
        end = start + 1
        while (end < len(order) and end - start < batch_size
               and (end - start + 1) * max(1, lengths[order[end]]) <= max_tokens):
            end += 1
        batches.append(order[start:end])
        start = end
    return batches


def to_batch(encoded: Sequence[np.ndarray], indices: np.ndarray, pad_id: int,
             fix_length: int | None, device) -> torch.Tensor:
    return torch.from_numpy(pad_batch([encoded[i] for i in indices], pad_id, fix_length)).to(device)


@torch.no_grad()
def predict_logits(model: torch.nn.Module, encoded: Sequence[np.ndarray], *, pad_id: int,
                   fix_length: int | None, batch_size: int, device) -> torch.Tensor:
    """Logits of every example (float32, CPU), in the set's order."""
    model.eval()
    lengths = [len(e) for e in encoded]
    out = None
    for idx in sorted_batches(lengths, batch_size):
        logits = model(to_batch(encoded, idx, pad_id, fix_length, device)).float().cpu()
        if out is None:
            out = torch.empty((len(encoded), logits.shape[1]), dtype=torch.float32)
        out[torch.from_numpy(idx)] = logits
    if out is None:
        raise ValueError("no examples to score")
    return out
