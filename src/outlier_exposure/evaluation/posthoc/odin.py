"""ODIN: temperature scaling and input perturbation (Liang, Li, Srikant, "Enhancing the
Reliability of Out-of-distribution Image Detection in Neural Networks", ICLR 2018).

With temperature T, S_c(x; T) = softmax(z(x) / T)_c and yhat = argmax_c z_c(x):

    x~ = x - eps * sign( -grad_x log S_yhat(x; T) ) / std        (per channel)
    s(x) = -max_c S_c(x~; T)                                      (higher = more anomalous)

The step raises the winning softmax score, more for in-distribution inputs than for anomalies.
eps is in [0, 1] pixel units: like the authors' code, the gradient sign is divided by the
normalisation std of each channel, because the model sees normalised inputs. A zero gradient
steps by +eps (the code's `ge(grad, 0)`). With T = 1 and eps = 0, ODIN is MSP.

T and eps are tuned on validation data, never on the test sets: `fit` tries every pair of
the grid on in-distribution validation inputs and a validation OOD set the user names, and
keeps the pair with the lowest FPR at the chosen recall (ties: the higher AUROC). Default grid
T in {1, 10, 100, 1000} and eps in {0, 0.0005, 0.001, 0.0014, 0.002, 0.0024, 0.005, 0.01, 0.05,
0.1, 0.2} (the paper's), 44 pairs; one backward pass per T and one forward pass per pair, so
tuning costs about 4 * 3 + 44 forward-pass equivalents of the validation sets (1000 + 1000
images by default in `oe eval`). Scoring needs a gradient, so ODIN always re-runs the model on
its inputs: it cannot use cached logits.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ...metrics import detection_metrics
from .base import Batches, Scorer, input_step, iter_batches, sign_of

TEMPERATURES = (1.0, 10.0, 100.0, 1000.0)
EPSILONS = (0.0, 0.0005, 0.001, 0.0014, 0.002, 0.0024, 0.005, 0.01, 0.05, 0.1, 0.2)


def odin_batch_scores(model, x: torch.Tensor, temperature: float, epsilons: Sequence[float],
                      std=1.0) -> list[torch.Tensor]:
    """ODIN scores of one batch of normalised inputs, one tensor per eps (one gradient for all)."""
    x = x.detach().float().requires_grad_(True)
    logits = model(x)
    # -log S_yhat(x; T) summed over the batch: in eval mode each example's input gradient is
    # that of its own term.
    loss = F.cross_entropy(logits / temperature, logits.detach().argmax(1), reduction="sum")
    grad, = torch.autograd.grad(loss, x)
    step = sign_of(grad) * input_step(std, x)  # sign(-grad log S) = sign(grad loss)
    scores = []
    with torch.no_grad():
        for eps in epsilons:
            z = model(x.detach() - eps * step) if eps else logits.detach()
            scores.append(-torch.softmax(z.float() / temperature, dim=1).max(1).values.cpu())
    return scores


class ODIN(Scorer):
    """ODIN with fixed (`temperature`, `epsilon`), or tuned over the grid by `fit`."""

    name = "odin"
    needs_inputs = True
    not_deployable_because = "it needs input gradients for every image"

    def __init__(self, temperature: float | None = None, epsilon: float | None = None, *,
                 temperatures: Sequence[float] = TEMPERATURES,
                 epsilons: Sequence[float] = EPSILONS, std=1.0, recall: float = 0.95,
                 positive: str = "ood", rule: str = "closest"):
        super().__init__()
        if (temperature is None) != (epsilon is None):
            raise ValueError("give both temperature and epsilon, or neither (to tune them)")
        if temperature is not None and (temperature <= 0 or epsilon < 0):
            raise ValueError(f"ODIN needs temperature > 0 and epsilon >= 0, got "
                             f"{temperature}, {epsilon}")
        self.temperature, self.epsilon = temperature, epsilon
        self.temperatures, self.epsilons = tuple(temperatures), tuple(epsilons)
        self.std, self.recall, self.positive, self.rule = std, recall, positive, rule
        self.tuned: dict | None = None

    def fit(self, model, data: Batches | None = None, ood: Batches | None = None,
            batch_size: int = 200, tuned_on: str | None = None) -> "ODIN":
        """Keep the model; without fixed T and eps, tune them on in-distribution validation
        inputs `data` against validation OOD inputs `ood` (never a test set)."""
        super().fit(model)
        if self.temperature is not None:
            return self
        if data is None or ood is None:
            raise ValueError("ODIN.fit needs in-distribution validation inputs and a validation "
                             "OOD set to tune T and eps (or fix both in ODIN(T, eps))")
        # Each temperature reads the data again: keep a one-shot iterator's batches.
        data, ood = (d if isinstance(d, (torch.Tensor, list, tuple)) else list(d) for d in (data, ood))
        grid = []
        for t in self.temperatures:
            s_in = self._grid_scores(data, t, batch_size)
            s_out = self._grid_scores(ood, t, batch_size)
            for eps, a, b in zip(self.epsilons, s_in, s_out):
                m = detection_metrics(a, b, recall_level=self.recall, positive=self.positive,
                                      rule=self.rule)
                grid.append({"temperature": t, "epsilon": eps, "fpr": m["fpr"],
                             "auroc": m["auroc"]})
        best = min(grid, key=lambda g: (g["fpr"], -g["auroc"]))
        self.temperature, self.epsilon = best["temperature"], best["epsilon"]
        self.tuned = {"tuned_on": tuned_on, "validation_fpr": best["fpr"],
                      "validation_auroc": best["auroc"], "grid": grid}
        return self

    def _grid_scores(self, data: Batches, temperature: float, batch_size: int) -> list[np.ndarray]:
        device = next(self.model.parameters()).device
        parts = [odin_batch_scores(self.model, x.to(device), temperature, self.epsilons, self.std)
                 for x, _ in iter_batches(data, batch_size)]
        return [torch.cat([p[i] for p in parts]).double().numpy() for i in range(len(self.epsilons))]

    def params(self) -> dict:
        out = {"temperature": self.temperature, "epsilon": self.epsilon}
        if self.tuned:
            out.update({k: v for k, v in self.tuned.items() if k != "grid"})
            out["grid_size"] = len(self.tuned["grid"])
        return out

    def score(self, inputs: Batches, batch_size: int = 200) -> torch.Tensor:
        model = self._check_fitted()
        if self.temperature is None:
            raise RuntimeError("ODIN: T and eps are not set; fit on validation data first")
        device = next(model.parameters()).device
        return torch.cat([odin_batch_scores(model, x.to(device), self.temperature,
                                            [self.epsilon], self.std)[0]
                          for x, _ in iter_batches(inputs, batch_size)])
