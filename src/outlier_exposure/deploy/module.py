"""The whole detector as one `nn.Module`: uint8 images in; class, anomaly score and flag out.

    x (B, H, W, C) uint8  ->  (x / 255 - mean) / std  ->  features f  ->  logits z = head(f)
                          ->  score s(z, f)  ->  (argmax z, s, s > threshold)

The same module scores images for `Detector` (Python) and is what `oe export` traces to
TorchScript, so the exported file computes exactly what the detector computes. The score is
fixed at construction (a logit score of `scores.py`, `mahalanobis` with the fitted class means
and precision, or `knn` with the normalised training features as buffers).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..evaluation.posthoc import classifier_head
from ..evaluation.posthoc.knn import kth_neighbour_distance
from ..evaluation.posthoc.mahalanobis import squared_distances
from ..scores import SCORES

DEPLOYABLE = tuple(SCORES) + ("mahalanobis", "knn")
STATS = {"mahalanobis": ("means", "precision"), "knn": ("bank",)}


class DetectorModule(nn.Module):
    """Preprocessing + model + anomaly score + threshold; `forward(x_uint8)` ->
    (class (int64), score (float32), is_anomaly (bool)), one row per image."""

    def __init__(self, model: nn.Module, mean, std, score: str, threshold: float = float("inf"),
                 stats: dict[str, torch.Tensor] | None = None, k: int = 0):
        super().__init__()
        if score not in DEPLOYABLE:
            raise ValueError(f"score {score!r} cannot be deployed; deployable: {DEPLOYABLE}")
        self.model = model.eval()
        self.head = classifier_head(model)
        std_t = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
        mean_t = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        # As data.batches.Preprocess: (x/255 - mean)/std as one multiply-add on the pixels.
        self.register_buffer("scale", 1.0 / (255.0 * std_t))
        self.register_buffer("shift", mean_t / std_t)
        self.score_name, self.threshold, self.k = score, float(threshold), int(k)
        for key in STATS.get(score, ()):
            if stats is None or key not in stats:
                raise ValueError(f"score {score} needs the fitted statistic {key!r}")
            self.register_buffer(key, stats[key])

    def scores_of(self, logits: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        if self.score_name == "mahalanobis":
            return squared_distances(features, self.means, self.precision).min(1).values.float()
        if self.score_name == "knn":
            return kth_neighbour_distance(F.normalize(features.float(), dim=1), self.bank, self.k)
        return SCORES[self.score_name](logits.float(), 1.0)

    def forward(self, x: torch.Tensor):
        x = x.permute(0, 3, 1, 2).float() * self.scale - self.shift
        features = self.model.features(x)
        logits = self.head(features)
        s = self.scores_of(logits, features)
        return logits.argmax(1), s, s > self.threshold
