"""Training losses: cross-entropy plus the Outlier Exposure term.

Outlier Exposure (Hendrycks, Mazeika, Dietterich, ICLR 2019) adds to the usual cross-entropy
the cross-entropy from the softmax to the uniform distribution on auxiliary outliers:

    L = CE(z_in, y) + lambda * mean_over_outliers( logsumexp(z_out) - mean_k(z_out_k) )

`logsumexp(z) - mean_k(z_k)` is H(U; p) for p = softmax(z): it is minimal (log K) when p is
uniform. In-distribution and outlier images go through ONE forward pass (concatenated), so
batch-norm statistics see both; each term is averaged over its own part of the batch.

Energy fine-tuning (Liu, Wang, Owens, Li, "Energy-based Out-of-distribution Detection",
NeurIPS 2020) replaces the OE term by squared hinges on the free energy
E(x) = -T * logsumexp(z / T) (T = 1), pushing in-distribution energies below `m_in` and
outlier energies above `m_out`:

    L = CE(z_in, y) + w * ( mean_in relu(E(z_in) - m_in)^2 + mean_out relu(m_out - E(z_out))^2 )

with w = 0.1 and (m_in, m_out) = (-23, -5) for CIFAR-10, (-27, -5) for CIFAR-100 in the
authors' scripts. `training_loss(cfg, ...)` picks the loss a run's configuration names.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

# E(x) = -T * logsumexp(z / T): the energy score is the quantity the margin loss shapes
from .scores import energy as free_energy


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


LOSSES = ("oe", "energy")


def energy_margin_loss(logits: torch.Tensor, targets: torch.Tensor, m_in: float = -23.0,
                       m_out: float = -5.0, weight: float = 0.1) -> LossParts:
    """CE on the first `len(targets)` rows + `weight` * the energy margin term (Liu et al. 2020).

    margin = mean_in relu(E_in - m_in)^2 + mean_out relu(m_out - E_out)^2, E = -logsumexp(z).
    Both hinges are squared, as in the authors' `train.py`. The in-distribution hinge applies to
    the in-distribution rows (the batch's first `len(targets)`); with no outlier rows only it
    remains. `LossParts.outlier` holds the (unweighted) margin term.
    """
    n_in = targets.shape[0]
    ce = F.cross_entropy(logits[:n_in], targets)
    margin = F.relu(free_energy(logits[:n_in]) - m_in).pow(2).mean()
    if logits.shape[0] > n_in:
        margin = margin + F.relu(m_out - free_energy(logits[n_in:])).pow(2).mean()
    return LossParts(total=ce + weight * margin, in_dist=ce, outlier=margin)


def training_loss(cfg, logits: torch.Tensor, targets: torch.Tensor) -> LossParts:
    """The loss of a run: `cfg.loss` "oe" (`oe_loss`, weight `cfg.lam`) or "energy"
    (`energy_margin_loss` with `cfg.m_in`, `cfg.m_out`, `cfg.energy_weight`)."""
    loss = getattr(cfg, "loss", "oe")
    if loss == "oe":
        return oe_loss(logits, targets, cfg.lam)
    if loss == "energy":
        return energy_margin_loss(logits, targets, cfg.m_in, cfg.m_out, cfg.energy_weight)
    raise ValueError(f"unknown loss {loss!r}; losses: {', '.join(LOSSES)}")
