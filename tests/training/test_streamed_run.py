"""--data-on stream: a run on an image folder decoded a batch at a time ends with exactly the
weights of the same run in memory, and a resumed streamed run with those of an uninterrupted one."""

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
    """120 JPEGs of mixed sizes in 3 classes (stored at 32x32 by the spec)."""
    return write_jpeg_folder(tmp_path_factory.mktemp("streamed") / "train", 120, classes=3, seed=1)


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
    return _weights(train_run(_cfg(folder, "stream"), tmp_path_factory.mktemp("s") / "run",
                              device="cpu", progress=False))


def test_stream_loads_the_folders_lazily(folder):
    data = load_data(_cfg(folder, "stream"))
    assert isinstance(data.train_set.x, LazyImages) and isinstance(data.outliers.x, LazyImages)
    assert not isinstance(load_data(_cfg(folder, "host")).train_set.x, LazyImages)


def test_a_streamed_run_ends_with_the_weights_of_the_run_in_memory(folder, tmp_path,
                                                                   streamed_run):
    in_memory = train_run(_cfg(folder, "host"), tmp_path / "host", device="cpu", progress=False)
    _assert_same_weights(streamed_run, _weights(in_memory))


def test_a_resumed_streamed_run_ends_with_the_uninterrupted_weights(folder, tmp_path,
                                                                    streamed_run):
    cut = tmp_path / "cut"
    train_until(_cfg(folder, "stream"), cut, 11)  # mid second epoch (8 steps each)
    assert not [t for t in threading.enumerate() if t.name.startswith("oe-batches")]
    train_run(None, cut, resume=True, device="cpu", progress=False)
    _assert_same_weights(streamed_run, _weights(cut))
