"""The package version: one place, read by pyproject (dynamic version), `oe --version` and run folders."""

__version__ = "0.1.0"
