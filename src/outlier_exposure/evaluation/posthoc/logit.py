"""The scores of the logits alone (`scores.py`: msp, xent, energy, maxlogit) as scorers:
nothing to fit, and their deployed module is the formula itself."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from ... import scores
from ...errors import UserInputError
from .base import Scorer


class LogitScore(nn.Module):
    """forward(logits, features) -> formula(logits, temperature): a deployed logit score."""

    def __init__(self, formula: Callable[..., torch.Tensor], temperature: float = 1.0):
        super().__init__()
        self.formula, self.temperature = formula, float(temperature)

    def forward(self, logits: torch.Tensor, features: torch.Tensor | None = None) -> torch.Tensor:
        return self.formula(logits.float(), self.temperature)


class LogitScorer(Scorer):
    """A score of the logits alone; subclasses name their formula of `scores.py`."""

    formula: Callable[..., torch.Tensor]  # (logits, temperature) -> scores

    def __init__(self, temperature: float = 1.0):
        super().__init__()
        if temperature <= 0:
            raise UserInputError(f"temperature must be > 0, got {temperature}")
        self.temperature = temperature

    def params(self) -> dict:
        return {} if self.temperature == 1.0 else {"temperature": self.temperature}

    def settings(self) -> dict:
        return self.params()

    def score_outputs(self, logits: torch.Tensor, features: torch.Tensor | None = None) -> torch.Tensor:
        return self.formula(logits.float(), self.temperature)

    def deployed(self) -> nn.Module:
        return LogitScore(self.formula, self.temperature)


class MSP(LogitScorer):
    """-max_k softmax(z)_k, the maximum softmax probability (Hendrycks & Gimpel 2017)."""

    name, formula = "msp", staticmethod(scores.msp)


class XEnt(LogitScorer):
    """mean_k z_k - logsumexp(z) = -H(U; p), the OE paper's cross-entropy to uniform."""

    name, formula = "xent", staticmethod(scores.xent)


class Energy(LogitScorer):
    """-T logsumexp(z / T), the free energy (Liu et al. 2020)."""

    name, formula = "energy", staticmethod(scores.energy)


class MaxLogit(LogitScorer):
    """-max_k z_k (Hendrycks et al. 2022)."""

    name, formula = "maxlogit", staticmethod(scores.maxlogit)
