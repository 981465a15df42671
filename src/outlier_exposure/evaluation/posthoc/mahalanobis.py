"""Mahalanobis distance to the closest class (Lee, Lee, Lee, Shin, "A Simple Unified Framework
for Detecting Out-of-Distribution Samples and Adversarial Attacks", NeurIPS 2018).

Fit: class means mu_c and ONE covariance shared by all classes ("tied"), both from the
penultimate features f of the training set:

    mu_c = mean_{i: y_i = c} f_i
    Sigma = 1/N * sum_i (f_i - mu_{y_i}) (f_i - mu_{y_i})^T      (maximum likelihood, as the
                                                                 authors' sklearn EmpiricalCovariance)
    P = pinv(Sigma)

Score (higher = more anomalous): the squared distance to the closest class mean,

    s(x) = min_c (f(x) - mu_c)^T P (f(x) - mu_c)

(the paper's confidence is max_c -0.5 * that distance: the same order). Optional input
perturbation (the paper's "input pre-processing"): x~ = x - eps * sign(grad_x d_c*(x)) / std,
with c* the closest class, which moves an in-distribution example closer to its class more
than it moves an anomaly; then s(x~). Only the penultimate layer is used here, not the
paper's feature ensemble over layers with weights fitted on OOD data.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import Batches, Scorer, input_step, training_features, iter_batches, sign_of


def class_means_and_precision(features: torch.Tensor, labels: torch.Tensor):
    """(class means (C, D), present-class labels (C,), precision pinv(tied covariance) (D, D)),
    computed in float64."""
    f = features.double()
    labels = torch.as_tensor(labels).long()
    classes = torch.unique(labels)
    means = torch.stack([f[labels == c].mean(0) for c in classes])
    centred = f - means[torch.searchsorted(classes, labels)]
    cov = centred.T @ centred / len(f)
    return means, classes, torch.linalg.pinv(cov, hermitian=True)


def squared_distances(features: torch.Tensor, means: torch.Tensor, precision: torch.Tensor) -> torch.Tensor:
    """(N, C) squared Mahalanobis distances (f_n - mu_c)^T P (f_n - mu_c), in float64.

    Expanded as f P f - 2 f P mu + mu P mu (P symmetric), so memory is (N, C), not (N, C, D);
    float64 keeps the cancellation harmless."""
    f = features.to(precision.dtype)
    fp = f @ precision
    mp = means @ precision
    d = (fp * f).sum(1, keepdim=True) - 2.0 * fp @ means.T + (mp * means).sum(1)[None, :]
    return d.clamp_min(0.0)


class MahalanobisScore(nn.Module):
    """A deployed Mahalanobis score (no input perturbation): class means and precision as
    buffers."""

    def __init__(self, means: torch.Tensor, precision: torch.Tensor):
        super().__init__()
        self.register_buffer("means", means)
        self.register_buffer("precision", precision)

    def forward(self, logits: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        return squared_distances(features, self.means, self.precision).min(1).values.float()


class Mahalanobis(Scorer):
    """min_c squared Mahalanobis distance of the penultimate features; `epsilon` > 0 adds the
    paper's input perturbation (in [0, 1] pixel units, divided by `std` per channel)."""

    name = "mahalanobis"
    needs_features = True
    needs_training_features = True
    fitted = ("means", "precision")

    def __init__(self, epsilon: float = 0.0, std=1.0):
        super().__init__()
        if epsilon < 0:
            raise ValueError(f"epsilon must be >= 0, got {epsilon}")
        self.epsilon, self.std = float(epsilon), std
        self.means = self.classes = self.precision = None
        self.n_train = 0

    @property
    def needs_inputs(self) -> bool:  # the perturbation needs a gradient through the model
        return self.epsilon > 0

    def fit(self, model, data: Batches | None = None, labels=None, batch_size: int = 200) -> "Mahalanobis":
        """`data`: training features (N, D) with `labels`, or batches of (inputs, labels)."""
        super().fit(model)
        features, labels = training_features(model, data, labels, batch_size)
        if labels is None:
            raise ValueError("Mahalanobis.fit needs the class labels of the training features")
        self.means, self.classes, self.precision = class_means_and_precision(features, labels)
        self.n_train = len(features)
        return self

    def params(self) -> dict:
        return {"epsilon": self.epsilon, "n_train": self.n_train, "layer": "penultimate"}

    def score_outputs(self, logits, features) -> torch.Tensor:
        if self.needs_inputs:
            raise NotImplementedError("with epsilon > 0 Mahalanobis scores inputs: call score(inputs)")
        return squared_distances(features, self.means, self.precision).min(1).values.float()

    def deployed(self) -> nn.Module:
        if self.needs_inputs:
            raise NotImplementedError("Mahalanobis with epsilon > 0 cannot be deployed (it needs "
                                      "input gradients for every image)")
        state = self.fitted_state()
        return MahalanobisScore(state["means"], state["precision"])

    def score(self, inputs: Batches, batch_size: int = 200) -> torch.Tensor:
        if not self.needs_inputs:
            return super().score(inputs, batch_size)
        model = self._check_fitted()
        device = next(model.parameters()).device
        means, precision = self.means.to(device), self.precision.to(device)
        out = []
        for x, _ in iter_batches(inputs, batch_size):
            x = x.to(device).float().requires_grad_(True)
            d = squared_distances(model.features(x), means, precision)
            # Each example's gradient is that of its own distance (eval mode: no batch coupling).
            closest = d.detach().argmin(1)
            grad, = torch.autograd.grad(d.gather(1, closest[:, None]).sum(), x)
            x_tilde = x.detach() - self.epsilon * sign_of(grad) * input_step(self.std, x)
            with torch.no_grad():
                d_tilde = squared_distances(model.features(x_tilde), means, precision)
            out.append(d_tilde.min(1).values.float().cpu())
        return torch.cat(out)
