"""Image folders decoded a batch at a time (`load_folder(stream=True)`, --data-on stream): the
same pixels, labels and classes as the eager reader, chosen automatically above the memory
budget (OE_MEMORY_BUDGET), and read ahead in order by `BatchPrefetcher`."""

from __future__ import annotations

import threading
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest
import torch

from outlier_exposure.data import sources
from outlier_exposure.data.datasets import load_labelled
from outlier_exposure.data.formats.lazy import LazyImages
from outlier_exposure.data.placement import BatchPrefetcher
from outlier_exposure.data.sources import load_folder, memory_budget
from outlier_exposure.errors import UserInputError


def write_jpeg_folder(root: Path, n: int, classes: int = 3, seed: int = 0) -> Path:
    """`n` JPEGs of mixed sizes (20..60 px a side) in `classes` class folders: noise + a box."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    for i in range(n):
        h, w = (int(v) for v in rng.integers(20, 61, size=2))
        pixels = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
        image = Image.fromarray(pixels)
        box = sorted(int(v) for v in rng.integers(0, min(h, w), size=2))
        ImageDraw.Draw(image).rectangle([box[0], box[0], box[1], box[1]],
                                        fill=tuple(int(c) for c in rng.integers(0, 256, 3)))
        folder = root / f"class_{i % classes}"
        folder.mkdir(parents=True, exist_ok=True)
        image.save(folder / f"img_{i:04d}.jpg", quality=85)
    return root


@pytest.fixture(scope="module")
def jpeg_folder(tmp_path_factory):
    return write_jpeg_folder(tmp_path_factory.mktemp("jpegs") / "train", 30)


@pytest.mark.parametrize("grey", [False, True])
def test_streamed_folder_equals_the_eager_one(jpeg_folder, grey):
    eager = load_folder(jpeg_folder, size=16, grey=grey, stream=False)
    lazy = load_folder(jpeg_folder, size=16, grey=grey, stream=True, threads=3)
    assert isinstance(lazy.x, LazyImages) and isinstance(eager.x, np.ndarray)
    assert lazy.x.shape == eager.x.shape
    np.testing.assert_array_equal(lazy.x[:], eager.x)  # every pixel
    idx = np.array([7, 0, 29, 3, 3])
    np.testing.assert_array_equal(lazy.x[idx], eager.x[idx])
    np.testing.assert_array_equal(lazy.y, eager.y)
    assert lazy.classes == eager.classes == ["class_0", "class_1", "class_2"]


def test_a_streamed_folder_spec_takes_the_run_shape_without_a_size(jpeg_folder):
    images = load_labelled(f"folder:{jpeg_folder}", (12, 10, 3), stream=True)
    assert isinstance(images.x, LazyImages) and images.x.shape == (30, 12, 10, 3)
    eager = load_labelled(f"folder:{jpeg_folder}:12x10", (12, 10, 3), stream=False)
    np.testing.assert_array_equal(images.x[:], eager.x)


def test_auto_streams_above_the_memory_budget(jpeg_folder, monkeypatch):
    decoded = 30 * 16 * 16 * 3
    monkeypatch.setenv("OE_MEMORY_BUDGET", str(decoded - 1))
    assert isinstance(load_folder(jpeg_folder, size=16).x, LazyImages)
    monkeypatch.setenv("OE_MEMORY_BUDGET", str(decoded))
    assert isinstance(load_folder(jpeg_folder, size=16).x, np.ndarray)
    # via a spec at the run's shape, and only for auto: False is always in memory
    monkeypatch.setenv("OE_MEMORY_BUDGET", "1K")  # 1024 < 30 x 16 x 16 x 3
    assert isinstance(load_labelled(f"folder:{jpeg_folder}", (16, 16, 3)).x, LazyImages)
    assert isinstance(load_labelled(f"folder:{jpeg_folder}:16", (16, 16, 3), stream=False).x,
                      np.ndarray)


@pytest.mark.parametrize("text, expected", [
    ("1234", 1234), ("2K", 2048), ("3M", 3 * 2**20), ("1.5G", 3 * 2**29), ("4 GiB", 4 * 2**30),
])
def test_the_memory_budget_reads_bytes_and_suffixes(monkeypatch, text, expected):
    monkeypatch.setenv("OE_MEMORY_BUDGET", text)
    assert memory_budget() == expected


@pytest.mark.parametrize("text", ["lots", "-5G", "0", "12X", ""])
def test_a_bad_memory_budget_is_a_user_error_naming_it(monkeypatch, jpeg_folder, text):
    monkeypatch.setenv("OE_MEMORY_BUDGET", text)
    with pytest.raises(UserInputError, match="OE_MEMORY_BUDGET"):
        load_folder(jpeg_folder, size=16)


def test_the_default_budget_is_a_quarter_of_the_memory(monkeypatch):
    monkeypatch.delenv("OE_MEMORY_BUDGET", raising=False)
    import os

    assert memory_budget() == os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 4
    monkeypatch.setattr(sources.os, "sysconf", lambda name: (_ for _ in ()).throw(ValueError))
    assert memory_budget() == 8 * 2**30


def test_streamed_mixed_sizes_without_a_size_fail_naming_the_file(jpeg_folder):
    images = load_folder(jpeg_folder, stream=True)  # the first image's size
    with pytest.raises(UserInputError, match="images of mixed sizes need a size"):
        images.x[:]


def test_batch_prefetcher_yields_the_batches_in_order_and_leaves_no_thread(jpeg_folder):
    x = load_folder(jpeg_folder, size=8, stream=True).x
    batches = list(torch.randperm(30, generator=torch.Generator().manual_seed(0)).split(7))
    with closing(BatchPrefetcher(x, batches, torch.device("cpu"), depth=2)) as prefetcher:
        got = list(prefetcher)
    assert [b.shape[0] for b in got] == [7, 7, 7, 7, 2]
    for idx, batch in zip(batches, got, strict=True):
        assert torch.equal(batch, torch.from_numpy(x[idx.numpy()]))
    # an interrupted epoch: closed after one batch, nothing left running
    prefetcher = BatchPrefetcher(x, batches, torch.device("cpu"), depth=3)
    next(iter(prefetcher))
    prefetcher.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("oe-batches")]


@pytest.mark.parametrize("modifiers", ["@first7", "@random9", "@negative", "@jpeg75@first5"])
def test_modifiers_and_subsets_of_a_streamed_folder_stay_lazy_and_equal(jpeg_folder, modifiers):
    from outlier_exposure.data.datasets import load_images
    from outlier_exposure.training.holdout import subset

    spec = f"folder:{jpeg_folder}{modifiers}"
    streamed = load_images(spec, (24, 24, 3), stream=True)
    eager = load_images(spec, (24, 24, 3), stream=False)
    assert isinstance(streamed.x, LazyImages)
    assert np.array_equal(streamed.y, eager.y)
    assert np.array_equal(np.asarray(streamed.x), eager.x)
    held = np.array([4, 0, 2])  # a calibration hold-out's indices, in any order
    part = subset(streamed, held)
    assert isinstance(part.x, LazyImages) and np.array_equal(part.x[:], eager.x[held])
