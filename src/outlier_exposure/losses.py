"""Training losses: cross-entropy plus the Outlier Exposure term.

Outlier Exposure (Hendrycks, Mazeika, Dietterich, ICLR 2019) adds to the usual cross-entropy
the cross-entropy from the softmax to the uniform distribution on auxiliary outliers:

    L = CE(z_in, y) + lambda * mean_over_outliers( logsumexp(z_out) - mean_k(z_out_k) )

`logsumexp(z) - mean_k(z_k)` is H(U; p) for p = softmax(z): it is minimal (log K) when p is
uniform. In-distribution and outlier images go through ONE forward pass (concatenated), so
batch-norm statistics see both; each term is averaged over its own part of the batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


def uniform_cross_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Per-example H(U; softmax(z)) = logsumexp(z) - mean_k z_k."""
    return torch.logsumexp(logits, dim=1) - logits.mean(dim=1)


@dataclass
class LossParts:
    """The total loss and its parts (tensors; read them with `.item()` only when logging)."""

    total: torch.Tensor
    in_dist: torch.Tensor
    outlier: torch.Tensor


def oe_loss(logits: torch.Tensor, targets: torch.Tensor, lam: float = 0.5) -> LossParts:
    """Cross-entropy on the first `len(targets)` rows + `lam` * OE term on the rest.

    `logits` are those of the concatenated batch `[in-distribution; outliers]`; the rows after
    `len(targets)` are outliers. With no outlier rows this is plain cross-entropy.
    """
    n_in = targets.shape[0]
    ce = F.cross_entropy(logits[:n_in], targets)
    if logits.shape[0] == n_in:
        zero = ce.new_zeros(())
        return LossParts(total=ce, in_dist=ce, outlier=zero)
    oe = uniform_cross_entropy(logits[n_in:]).mean()
    return LossParts(total=ce + lam * oe, in_dist=ce, outlier=oe)
