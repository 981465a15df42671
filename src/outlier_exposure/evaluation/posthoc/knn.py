"""Deep nearest neighbours (Sun, Ming, Zhu, Li, "Out-of-Distribution Detection with Deep
Nearest Neighbors", ICML 2022).

Fit: the L2-normalised penultimate features z_i = f_i / ||f_i|| of the training set (the
"bank"). Score (higher = more anomalous): the Euclidean distance from z(x) = f(x) / ||f(x)|| to
its k-th nearest neighbour in the bank, k = 50 by default (the paper's CIFAR-10 choice):

    s(x) = || z(x) - z_(k)(x) ||,   and for unit vectors ||z - z'||^2 = 2 - 2 z.z'

so the k-th neighbour is the k-th largest inner product. The search is exact, in torch, on
chunks of queries (no faiss): memory stays near `chunk_elements` floats whatever the bank size.
A deployed detector (`KNNScore`) holds the bank as a buffer and searches a batch in one piece.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import Batches, Scorer, training_features


def kth_neighbour_distance(queries: torch.Tensor, bank: torch.Tensor, k: int) -> torch.Tensor:
    """Distance from each normalised query to its k-th nearest row of the normalised `bank`."""
    sims = queries @ bank.T
    kth = sims.topk(k, dim=1).values[:, -1]
    return (2.0 - 2.0 * kth).clamp_min(0.0).sqrt()


class KNNScore(nn.Module):
    """A deployed KNN score: the bank as a buffer, one search per batch (no chunks, so that a
    traced module takes any batch size)."""

    def __init__(self, bank: torch.Tensor, k: int):
        super().__init__()
        self.register_buffer("bank", bank)
        self.k = int(k)

    def forward(self, logits: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        return kth_neighbour_distance(F.normalize(features.float(), dim=1), self.bank, self.k)


class KNN(Scorer):
    """Distance to the k-th nearest normalised training feature."""

    name = "knn"
    needs_features = True
    needs_training_features = True
    fitted = ("bank",)

    def __init__(self, k: int = 50, chunk_elements: int = 2 ** 24):
        super().__init__()
        if int(k) < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        self.k, self.chunk_elements = int(k), int(chunk_elements)
        self.bank: torch.Tensor | None = None

    def fit(self, model, data: Batches | None = None, labels=None, batch_size: int = 200) -> "KNN":
        """`data`: training features (N, D), or batches of inputs (labels are not used)."""
        super().fit(model)
        features, _ = training_features(model, data, None, batch_size)
        if len(features) < self.k:
            raise ValueError(f"KNN with k={self.k} needs at least {self.k} training features, "
                             f"got {len(features)}")
        self.bank = F.normalize(features.float(), dim=1)
        return self

    def params(self) -> dict:
        return {"k": self.k, "n_train": 0 if self.bank is None else len(self.bank)}

    def settings(self) -> dict:
        return {"k": self.k}

    def deployed(self) -> nn.Module:
        return KNNScore(self.fitted_state()["bank"], self.k)

    @torch.no_grad()
    def score_outputs(self, logits, features) -> torch.Tensor:
        if self.bank is None:
            raise RuntimeError("KNN: call fit(model, training data) before scoring")
        bank = self.bank.to(features.device)
        queries = F.normalize(features.float(), dim=1)
        rows = max(1, self.chunk_elements // len(bank))  # queries per chunk
        return torch.cat([kth_neighbour_distance(queries[i:i + rows], bank, self.k)
                          for i in range(0, len(queries), rows)])
