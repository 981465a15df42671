"""Folders larger than the memory budget: a run on an image folder decoded a batch at a time
(--data-on stream, or auto above OE_MEMORY_BUDGET) ends with exactly the weights of the same run
in memory, and a resumed streamed run with those of an uninterrupted one."""

from __future__ import annotations

import threading

import pytest
import torch

from outlier_exposure.data.formats.lazy import LazyImages
from outlier_exposure.training.config import config_from_preset
from outlier_exposure.training.loop import train_run
from outlier_exposure.training.setup import load_data
from tests.data.test_streaming import write_jpeg_folder
from tests.helpers.tiny_runs import train_until


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """200 JPEGs of mixed sizes in 3 classes (stored at 32x32 by the spec: 614 KB decoded)."""
    return write_jpeg_folder(tmp_path_factory.mktemp("streamed") / "train", 200, classes=3, seed=1)


BUDGET = "64K"  # OE_MEMORY_BUDGET below the folder's decoded size: `auto` streams it


def _cfg(folder, data_on):
    # oe-scratch with the folder as outliers too: the training batches and the outlier batches
    # both come from streamed folders; crops and flips so the augmentation draws matter.
    spec = f"folder:{folder}:32"
    return config_from_preset(
        "quickstart", "oe-scratch", train=spec, test=spec, outliers=spec, epochs=2,
        batch_size=16, oe_batch_size=16, image_shape=(32, 32, 3), mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5), model_kwargs={"width": 8}, crop_padding=2, flip=True,
        data_on=data_on)


def _weights(run_dir):
    return torch.load(run_dir / "model.pt", weights_only=True)


def _assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


@pytest.fixture(scope="module")
def streamed_run(folder, tmp_path_factory):
    with pytest.MonkeyPatch.context() as env:
        env.setenv("OE_MEMORY_BUDGET", BUDGET)
        run = train_run(_cfg(folder, "auto"), tmp_path_factory.mktemp("s") / "run",
                        device="cpu", progress=False)
    return _weights(run)


def test_stream_loads_the_folders_lazily(folder, monkeypatch):
    data = load_data(_cfg(folder, "stream"))
    assert isinstance(data.train_set.x, LazyImages) and isinstance(data.outliers.x, LazyImages)
    assert not isinstance(load_data(_cfg(folder, "host")).train_set.x, LazyImages)
    assert not isinstance(load_data(_cfg(folder, "auto")).train_set.x, LazyImages)
    monkeypatch.setenv("OE_MEMORY_BUDGET", BUDGET)
    assert isinstance(load_data(_cfg(folder, "auto")).train_set.x, LazyImages)


def test_a_streamed_run_ends_with_the_weights_of_the_run_in_memory(folder, tmp_path,
                                                                   streamed_run):
    in_memory = train_run(_cfg(folder, "host"), tmp_path / "host", device="cpu", progress=False)
    _assert_same_weights(streamed_run, _weights(in_memory))


def test_a_resumed_streamed_run_ends_with_the_uninterrupted_weights(folder, tmp_path,
                                                                    streamed_run):
    cut = tmp_path / "cut"
    train_until(_cfg(folder, "stream"), cut, 20)  # mid second epoch (13 steps each)
    assert not [t for t in threading.enumerate() if t.name.startswith("oe-batches")]
    train_run(None, cut, resume=True, device="cpu", progress=False)
    _assert_same_weights(streamed_run, _weights(cut))
