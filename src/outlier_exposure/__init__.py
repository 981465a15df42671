"""Outlier Exposure: deep anomaly detection by fine-tuning on auxiliary outliers.

Hendrycks, Mazeika, Dietterich, "Deep Anomaly Detection with Outlier Exposure", ICLR 2019.

    import outlier_exposure as oe
    oe.train("runs/base", "quickstart")
    oe.finetune("runs/base", "runs/oe", outliers="skimage-photos")
    results = oe.evaluate("runs/oe", ["noise:gaussian", "lfw-faces"])
    det = oe.load_detector("runs/oe")    # after `oe detector runs/oe`
    label, score, is_anomaly = det.predict("photo.png")

The public API only. Names load on first use (PEP 562), so `import outlier_exposure` (and
`oe --help`) does not import PyTorch.
"""

from __future__ import annotations

import importlib

from ._version import __version__

# public name -> module that defines it
_PUBLIC = {
    "train": ".experiments.api",
    "finetune": ".experiments.api",
    "evaluate": ".experiments.api",
    "load_detector": ".deploy",
    "oe_loss": ".losses",
    "energy_margin_loss": ".losses",
    "detection_metrics": ".metrics",
    "create_model": ".models",
    "compute_score": ".scores",
    # the scorers (`evaluation/posthoc/`): the one place a new anomaly score is added
    "make_scorer": ".evaluation.posthoc",
    "SCORERS": ".evaluation.posthoc",
    "Scorer": ".evaluation.posthoc",
    "MSP": ".evaluation.posthoc",
    "XEnt": ".evaluation.posthoc",
    "Energy": ".evaluation.posthoc",
    "MaxLogit": ".evaluation.posthoc",
    "ODIN": ".evaluation.posthoc",
    "Mahalanobis": ".evaluation.posthoc",
    "KNN": ".evaluation.posthoc",
}


def __getattr__(name: str):
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name], __name__), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_PUBLIC])


__all__ = [*_PUBLIC, "__version__"]
