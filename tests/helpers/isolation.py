"""A fixture for tests that register datasets or point at data roots: private caches and
roots, and the registry as it was before each test (use with pytest.mark.usefixtures)."""

import pytest

from outlier_exposure.data.catalog import registry
from outlier_exposure.data.storage import download as dl
from outlier_exposure.data.storage import roots


@pytest.fixture
def isolated_registry(tmp_path, monkeypatch):
    monkeypatch.setenv(dl.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(roots.DATA_ROOT_ENV, raising=False)
    monkeypatch.delenv(roots.SHARED_DATA_ENV, raising=False)
    registry.datasets()
    saved = dict(registry._REGISTRY)
    yield
    registry._REGISTRY.clear()
    registry._REGISTRY.update(saved)
    roots.set_data_root(None)
