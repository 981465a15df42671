"""Outlier Exposure: deep anomaly detection by fine-tuning on auxiliary outliers.

Hendrycks, Mazeika, Dietterich, "Deep Anomaly Detection with Outlier Exposure", ICLR 2019.
"""

__version__ = "0.1.0"
