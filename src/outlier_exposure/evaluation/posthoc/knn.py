"""Deep nearest neighbours (Sun, Ming, Zhu, Li, "Out-of-Distribution Detection with Deep
Nearest Neighbors", ICML 2022).

Fit: the L2-normalised penultimate features z_i = f_i / ||f_i|| of the training set (the
"bank"). Score (higher = more anomalous): the Euclidean distance from z(x) = f(x) / ||f(x)|| to
its k-th nearest neighbour in the bank, k = 50 by default (the paper's CIFAR-10 choice):

    s(x) = || z(x) - z_(k)(x) ||,   and for unit vectors ||z - z'||^2 = 2 - 2 z.z'

so the k-th neighbour is the k-th largest inner product. The search is exact, in torch, on
chunks of queries (no faiss): memory stays near `chunk_elements` floats whatever the bank size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import Batches, Scorer, collect_features


def kth_neighbour_distance(queries: torch.Tensor, bank: torch.Tensor, k: int) -> torch.Tensor:
    """Distance from each normalised query to its k-th nearest row of the normalised `bank`."""
    sims = queries @ bank.T
    kth = sims.topk(k, dim=1).values[:, -1]
    return (2.0 - 2.0 * kth).clamp_min(0.0).sqrt()


class KNN(Scorer):
    """Distance to the k-th nearest normalised training feature."""

    name = "knn"
    needs_features = True

    def __init__(self, k: int = 50, chunk_elements: int = 2 ** 24):
        super().__init__()
        if int(k) < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        self.k, self.chunk_elements = int(k), int(chunk_elements)
        self.bank: torch.Tensor | None = None

    def fit(self, model, data: Batches | None = None, labels=None, batch_size: int = 200) -> "KNN":
        """`data`: training features (N, D), or batches of inputs (labels are not used)."""
        super().fit(model)
        if isinstance(data, torch.Tensor) and data.ndim == 2:
            features = data
        else:
            features, _ = collect_features(model, data, batch_size)
        if len(features) < self.k:
            raise ValueError(f"KNN with k={self.k} needs at least {self.k} training features, "
                             f"got {len(features)}")
        self.bank = F.normalize(features.float(), dim=1)
        return self

    def params(self) -> dict:
        return {"k": self.k, "n_train": 0 if self.bank is None else len(self.bank)}

    @torch.no_grad()
    def score_outputs(self, logits, features) -> torch.Tensor:
        if self.bank is None:
            raise RuntimeError("KNN: call fit(model, training data) before scoring")
        bank = self.bank.to(features.device)
        queries = F.normalize(features.float(), dim=1)
        rows = max(1, self.chunk_elements // len(bank))  # queries per chunk
        return torch.cat([kth_neighbour_distance(queries[i:i + rows], bank, self.k)
                          for i in range(0, len(queries), rows)])
