"""Outlier Exposure: deep anomaly detection by fine-tuning on auxiliary outliers.

Hendrycks, Mazeika, Dietterich, "Deep Anomaly Detection with Outlier Exposure", ICLR 2019.

    import outlier_exposure as oe
    oe.train("runs/base", "quickstart")
    oe.finetune("runs/base", "runs/oe", outliers="skimage-photos")
    results = oe.evaluate("runs/oe", ["noise:gaussian", "lfw-faces"])
    det = oe.load_detector("runs/oe")    # after `oe detector runs/oe`
    label, score, is_anomaly = det.predict("photo.png")
"""

__version__ = "0.1.0"

from .api import evaluate, finetune, train  # noqa: E402
from .deploy import load_detector  # noqa: E402
from .losses import oe_loss  # noqa: E402
from .metrics import detection_metrics  # noqa: E402
from .models import create_model  # noqa: E402
from .scores import compute_score  # noqa: E402

__all__ = ["train", "finetune", "evaluate", "load_detector", "oe_loss", "detection_metrics", "create_model",
           "compute_score", "__version__"]
