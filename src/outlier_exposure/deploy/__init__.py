"""Deploying a trained run: a detector with a fixed threshold, scoring new images, export.

- `fix_detector(RUN, tpr=0.95)`: the threshold on held-out in-distribution data (`oe detector`);
- `load_detector(RUN)` -> `Detector` with `score(x)` and `predict(x)` (`oe score`);
- `export_detector(RUN, OUT)`: one TorchScript file with preprocessing, score and threshold
  (`oe export`).
"""

from .detector import Detector, Prediction, fix_detector, load_detector, threshold_at_tpr
from .export import export_detector

__all__ = ["Detector", "Prediction", "fix_detector", "load_detector", "threshold_at_tpr",
           "export_detector"]
