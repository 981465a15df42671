"""What every post-hoc scorer shares: the scorer shape, and a model's features and logits.

A scorer has the shape of a scikit-learn estimator: `fit(model, data, ...) -> self` learns
what it needs (training statistics, tuned hyper-parameters), then

- `score_outputs(logits, features)` scores examples from the outputs of ONE forward pass
  (the evaluation caches logits and penultimate features once per set and hands them to every
  scorer), and
- `score(inputs)` scores model inputs (normalised (B, C, H, W) float tensors) itself. Scorers
  that perturb their inputs along a gradient (ODIN, Mahalanobis with epsilon > 0) can only
  work this way: they set `needs_inputs`, and the evaluation re-runs the model for them.

Anomaly scores: higher = more anomalous, as everywhere in this package.

A scorer also says what a deployed detector (`deploy/`) needs to compute it without the
scorer: `deployed()` is an `nn.Module` mapping (logits, features) to the scores, whose buffers
are the tensors `fit` learned (named by `fitted`); `settings()` and `fitted_state()` are what
the detector files keep, and `make_scorer(name, **settings).load_fitted_state(state)` rebuilds
the fitted scorer from them. A scorer that cannot be deployed says why in
`not_deployable_because`.

Every model of `models/` has `features(x)` (penultimate activations) and `forward(x) =
head(features(x))` with `head` a linear layer; `classifier_head` finds that layer, so logits
and features come out of one pass.
"""

from __future__ import annotations

from typing import Iterable, Iterator

import torch
from torch import nn

Batches = torch.Tensor | Iterable  # a (N, ...) tensor, or batches of inputs / (inputs, labels)


def classifier_head(model: nn.Module) -> nn.Linear:
    """The final linear layer of `model` (features -> logits): the last `nn.Linear` mapping
    `model.feature_dim` to `model.num_classes` values."""
    found = [m for m in model.modules() if isinstance(m, nn.Linear)
             and m.in_features == getattr(model, "feature_dim", None)
             and m.out_features == getattr(model, "num_classes", None)]
    if not found:
        raise ValueError(f"{type(model).__name__} has no linear layer from its feature_dim "
                         "features to its num_classes logits; post-hoc scorers need one")
    return found[-1]


def logits_and_features(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits, penultimate features) of a batch from one forward pass."""
    features = model.features(x)
    return classifier_head(model)(features), features


def iter_batches(data: Batches, batch_size: int = 200) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """(inputs, labels or None) batches from a tensor, or from an iterable (a DataLoader) of
    tensors or (inputs, labels) pairs."""
    if isinstance(data, torch.Tensor):
        for start in range(0, len(data), batch_size):
            yield data[start:start + batch_size], None
        return
    for item in data:
        if isinstance(item, (tuple, list)):
            yield item[0], (item[1] if len(item) > 1 else None)
        else:
            yield item, None


@torch.no_grad()
def collect_features(model: nn.Module, data: Batches, batch_size: int = 200,
                     device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Penultimate features (float32, CPU) of every input in `data`, and the labels if it has them."""
    model.eval()
    device = device or next(model.parameters()).device
    feats, labels = [], []
    for x, y in iter_batches(data, batch_size):
        feats.append(model.features(x.to(device)).float().cpu())
        if y is not None:
            labels.append(torch.as_tensor(y).cpu())
    return torch.cat(feats), (torch.cat(labels) if labels else None)


def training_features(model: nn.Module, data, labels, batch_size: int
                      ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """What a feature scorer's `fit` receives: features (N, D) as given with `labels`, or batches
    of inputs (with or without labels) whose features are collected here."""
    if isinstance(data, torch.Tensor) and data.ndim == 2:
        return data, labels
    return collect_features(model, data, batch_size)


def input_step(std, like: torch.Tensor) -> torch.Tensor:
    """Per-channel factor turning a step of epsilon in [0, 1] pixel units into normalised input
    units, 1 / std (shaped (1, C, 1, 1)), as ODIN's and Mahalanobis' code divide the gradient
    sign by the normalisation std. A scalar std of 1 means epsilon is in input units."""
    std = torch.as_tensor(std, dtype=like.dtype, device=like.device).reshape(1, -1, 1, 1)
    return 1.0 / std


def sign_of(grad: torch.Tensor) -> torch.Tensor:
    """+1 where grad >= 0, else -1: the reference code's `(ge(grad, 0) - 0.5) * 2` (a zero
    gradient steps by +1, where torch.sign would not step)."""
    return torch.where(grad >= 0, 1.0, -1.0).to(grad.dtype)


class Scorer:
    """Base class: `fit(model, ...) -> self`, then `score(inputs)` or `score_outputs(...)`;
    `deployed()` for a deployed detector."""

    name = ""
    needs_features = False  # score_outputs reads the penultimate features
    needs_inputs = False    # score_outputs cannot be used: the model must see the inputs
    # fit(model, training features, training labels) learns from the run's training set
    needs_training_features = False
    fitted: tuple[str, ...] = ()  # the attributes (tensors) fit learns: a deployed score's buffers
    not_deployable_because = ""   # why a deployed detector cannot compute this score ("": it can)

    def __init__(self) -> None:
        self.model: nn.Module | None = None

    def fit(self, model: nn.Module, data: Batches | None = None, **kwargs) -> "Scorer":
        self.model = model.eval()
        return self

    def params(self) -> dict:
        """The settings and fitted values worth recording beside the results."""
        return {}

    def score_outputs(self, logits: torch.Tensor, features: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError(f"{self.name} scores inputs only: call score(inputs)")

    def settings(self) -> dict:
        """The constructor keywords (JSON values) that rebuild this scorer's deployed score."""
        return {}

    def fitted_state(self) -> dict[str, torch.Tensor]:
        """The tensors `fit` learned, by name (what a deployed detector stores)."""
        missing = [key for key in self.fitted if getattr(self, key, None) is None]
        if missing:
            raise RuntimeError(f"{type(self).__name__}: call fit(...) first ({missing[0]} unset)")
        return {key: getattr(self, key).contiguous() for key in self.fitted}

    def load_fitted_state(self, state: dict[str, torch.Tensor] | None) -> "Scorer":
        """Set what `fit` learned from `fitted_state()`'s tensors (no model needed)."""
        state = state or {}
        missing = [key for key in self.fitted if key not in state]
        if missing:
            raise ValueError(f"score {self.name} needs the fitted statistic {missing[0]!r}")
        for key in self.fitted:
            setattr(self, key, state[key])
        return self

    def deployed(self) -> nn.Module:
        """An `nn.Module` whose forward(logits, features) gives the scores of `score_outputs`,
        with the fitted tensors as buffers: what a deployed detector runs (and exports)."""
        raise NotImplementedError(f"score {self.name} cannot be deployed"
                                  + (f" ({self.not_deployable_because})"
                                     if self.not_deployable_because else ""))

    def _check_fitted(self) -> nn.Module:
        if self.model is None:
            raise RuntimeError(f"{type(self).__name__}: call fit(model, ...) before scoring")
        return self.model

    @torch.no_grad()
    def score(self, inputs: Batches, batch_size: int = 200) -> torch.Tensor:
        """Anomaly scores (float, CPU) of model inputs: one forward pass each, then
        `score_outputs`."""
        model = self._check_fitted()
        device = next(model.parameters()).device
        out = []
        for x, _ in iter_batches(inputs, batch_size):
            logits, features = logits_and_features(model, x.to(device))
            out.append(self.score_outputs(logits.float(), features.float()).cpu())
        return torch.cat(out)
