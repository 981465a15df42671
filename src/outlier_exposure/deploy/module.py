"""The whole detector as one `nn.Module`: uint8 images in; class, anomaly score and flag out.

    x (B, H, W, C) uint8  ->  [centre crop to input_size]  ->  (x / 255 - mean) / std
                          ->  features f  ->  logits z = head(f)
                          ->  score s(z, f)  ->  (argmax z, s, s > threshold)

The same module scores images for `Detector` (Python) and is what `oe export` traces to
TorchScript, so the exported file computes exactly what the detector computes. The score is
the fitted scorer's `deployed()` module (`evaluation/posthoc/`), fixed at construction; this
module knows no score by name. With `input_size` set, the image is centre-cropped exactly as
evaluation crops it (`data.batches.centre_crop`, torchvision's rounding), so the deployed
detector sees what the run's evaluation saw.
"""

from __future__ import annotations

import torch
from torch import nn

from ..data.batches import centre_crop
from ..evaluation.posthoc import classifier_head


class DetectorModule(nn.Module):
    """Preprocessing + model + anomaly score + threshold; `forward(x_uint8)` ->
    (class (int64), score (float32), is_anomaly (bool)), one row per image. `score` maps
    (logits, features) to scores (a scorer's `deployed()`). `input_size`: the model's input
    side when images come larger (centre crop, as evaluation); None: images as given."""

    def __init__(self, model: nn.Module, mean, std, score: nn.Module,
                 threshold: float = float("inf"), input_size: int | None = None):
        super().__init__()
        self.model = model.eval()
        self.head = classifier_head(model)
        std_t = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
        mean_t = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        # As data.batches.Preprocess: (x/255 - mean)/std as one multiply-add on the pixels.
        self.register_buffer("scale", 1.0 / (255.0 * std_t))
        self.register_buffer("shift", mean_t / std_t)
        self.score, self.threshold = score, float(threshold)
        self.input_size = None if input_size is None else int(input_size)

    def forward(self, x: torch.Tensor):
        x = x.permute(0, 3, 1, 2)
        if self.input_size is not None:
            # Same crop and rounding as evaluation; traceable (see centre_crop).
            x = centre_crop(x, self.input_size)
        x = x.float() * self.scale - self.shift
        features = self.model.features(x)
        logits = self.head(features)
        s = self.score(logits, features)
        return logits.argmax(1), s, s > self.threshold
