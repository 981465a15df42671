"""Anomaly scores from logits. Everywhere in this package: higher = more anomalous.

| name     | formula                               | reference                          |
|----------|---------------------------------------|------------------------------------|
| msp      | -max_k softmax(z)_k                   | Hendrycks & Gimpel 2017 (default)  |
| xent     | mean_k z_k - logsumexp(z) = -H(U; p)  | OE paper, "H(U;p)" column          |
| energy   | -T * logsumexp(z / T)                 | Liu et al. 2020 (T = 1 by default) |
| maxlogit | -max_k z_k                            | Hendrycks et al. 2022              |
"""

from __future__ import annotations

from typing import Callable

import torch

from .errors import UserInputError


def msp(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    return -torch.softmax(logits / temperature, dim=1).max(dim=1).values


def xent(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    z = logits / temperature
    return z.mean(dim=1) - torch.logsumexp(z, dim=1)


def energy(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    return -temperature * torch.logsumexp(logits / temperature, dim=1)


def maxlogit(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    return -logits.max(dim=1).values


# name -> function(logits, temperature): the logit scores, named as their functions
SCORES: dict[str, Callable[..., torch.Tensor]] = {f.__name__: f for f in (msp, xent, energy, maxlogit)}


def score_names() -> list[str]:
    return list(SCORES)


def compute_score(name: str, logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """The anomaly score `name` of each row of `logits` (float32 logits in, float out)."""
    if name not in SCORES:
        raise UserInputError(f"unknown score {name!r}; choose one of: {', '.join(SCORES)}")
    if temperature <= 0:
        raise UserInputError(f"temperature must be > 0, got {temperature}")
    return SCORES[name](logits.float(), temperature)
