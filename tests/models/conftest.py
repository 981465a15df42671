from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _repo_on_path(monkeypatch):
    """`python:tests.models.user_factory:make` must import: `python -m pytest` puts the repo
    root on sys.path already, plain `pytest` may not."""
    monkeypatch.syspath_prepend(str(REPO))
