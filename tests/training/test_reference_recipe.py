"""The reference's training recipe (issue 12): the learning-rate floor, the outlier order and the
outliers' own augmentation, each against a computation written here from the reference's code."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from outlier_exposure.data.batches import OutlierStream
from outlier_exposure.errors import UserInputError
from outlier_exposure.training import runs
from outlier_exposure.training.config import config_from_preset, load_config, tune_config
from outlier_exposure.training.epoch import step_lr
from outlier_exposure.training.setup import outlier_preprocess_of, preprocess_of


def _reference_cosine(step, total_steps, lr_max, lr_min):
    # CIFAR/oe_tune.py's cosine_annealing, as the reference writes it.
    return lr_min + (lr_max - lr_min) * 0.5 * (1 + np.cos(step / total_steps * np.pi))


def _reference_lrs(lr: float, total_steps: int) -> list[float]:
    """The lr of every update of the reference: a LambdaLR on the factor above, ending at
    1e-6 / lr, stepped *before* each optimizer.step()."""
    param = torch.nn.Parameter(torch.zeros(1))
    optimiser = torch.optim.SGD([param], lr=lr, momentum=0.9, nesterov=True)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: _reference_cosine(step, total_steps, 1, 1e-6 / lr))
    lrs = []
    with warnings.catch_warnings():  # torch warns about the scheduler-before-step order
        warnings.simplefilter("ignore")
        for _ in range(total_steps):
            scheduler.step()
            lrs.append(optimiser.param_groups[0]["lr"])
            optimiser.step()
    return lrs


@pytest.mark.parametrize("preset, train_size", [
    ("cifar10-wrn", 50_000),    # CIFAR-10 train, batch 128: 391 steps an epoch, 10 epochs
    ("svhn-wrn", 604_388),      # SVHN train + extra, batch 128: 4722 steps an epoch, 5 epochs
])
def test_the_fine_tune_schedule_is_the_reference_lambdalr_step_by_step(preset, train_size):
    cfg = config_from_preset(preset, "oe-tune")
    total = cfg.epochs * math.ceil(train_size / cfg.batch_size)
    expected = _reference_lrs(cfg.lr, total)
    ours = [step_lr(cfg, step, total) for step in range(total)]
    assert ours == expected  # bit for bit: the same factor, evaluated in the same order
    assert math.isclose(ours[-1], 1e-6, rel_tol=1e-12)  # the absolute floor, not lr * 1e-6


def test_a_run_from_before_lr_min_keeps_its_relative_floor(tmp_path):
    # config.json as main wrote it before issue 12: lr_min_factor, no lr_min, no outlier fields.
    data = config_from_preset("cifar10-wrn", "oe-tune", init_from="x").to_dict()
    for key in ("lr_min", "outlier_order", "outlier_random_offset", "outlier_crop_padding",
                "outlier_flip"):
        del data[key]
    data["lr_min_factor"] = 1e-6
    runs.write_json(tmp_path / "config.json", data)
    old = load_config(tmp_path)
    old.check()
    total = 3910
    assert step_lr(old, total - 1, total) == pytest.approx(0.001 * 1e-6, rel=1e-12)
    mid = 0.001 * (1e-6 + (1 - 1e-6) * 0.5 * (1 + math.cos(math.pi * 1000 / total)))
    assert step_lr(old, 999, total) == mid
    # ... and its outliers as they were drawn: uniformly, augmented as the in-distribution.
    assert old.outlier_order == "uniform"
    assert outlier_preprocess_of(old) == preprocess_of(old)
    # A fine-tune of such a baseline takes the preset's recipe: the absolute floor.
    data["mode"] = "baseline"
    runs.write_json(tmp_path / "config.json", data)
    tuned = tune_config(tmp_path)
    assert tuned.lr_min_factor is None and tuned.lr_floor() == 1e-6 / tuned.lr
    assert tuned.outlier_order == "reference"


def test_bad_recipe_values_are_one_clear_error():
    with pytest.raises(UserInputError, match="--outlier-order 'sorted'"):
        config_from_preset("cifar10-wrn", "oe-tune", outlier_order="sorted")
    with pytest.raises(UserInputError, match="lr_min 0.5 must lie in"):
        config_from_preset("cifar10-wrn", "oe-tune", lr_min=0.5)
    with pytest.raises(UserInputError, match="outlier_crop_padding -1"):
        config_from_preset("cifar10-wrn", "oe-tune", outlier_crop_padding=-1)


# ---- outlier order --------------------------------------------------------------------------

def _epochs(stream: OutlierStream, epochs: int, steps: int) -> list[list[torch.Tensor]]:
    return [[stream.next() for _ in range(steps)] for _ in range(epochs)]


def test_reference_order_reads_consecutive_records_from_a_random_offset_each_epoch():
    n, batch, steps = 1000, 64, 6
    stream = OutlierStream(n, batch, torch.Generator().manual_seed(4), order="reference")
    stream.steps_per_epoch = steps
    offsets = []
    for epoch in _epochs(stream, 8, steps):
        flat = torch.cat(epoch).tolist()
        start = flat[0]
        offsets.append(start)
        # the reference's DataLoader(shuffle=False) with dataset.offset = start, wrapping at n
        assert flat == [(start + i) % n for i in range(steps * batch)]
    assert len(set(offsets)) > 4  # a fresh offset each epoch (8 draws out of 1000 records)
    assert any(o + steps * batch > n for o in offsets)  # and some epoch wrapped around the end
    # The offsets are the generator's: uniform over the records, drawn once per epoch.
    again = torch.Generator().manual_seed(4)
    assert offsets == [int(torch.randint(n, (1,), generator=again)) for _ in offsets]


def test_without_random_offset_every_epoch_reads_the_first_records_in_file_order():
    stream = OutlierStream(50, 8, torch.Generator().manual_seed(0), order="reference",
                           random_offset=False)
    stream.steps_per_epoch = 4
    for epoch in _epochs(stream, 3, 4):
        assert torch.cat(epoch).tolist() == list(range(32))


@pytest.mark.parametrize("cut", [3, 5, 6])  # mid-epoch, mid-epoch, at an epoch boundary
def test_reference_order_resumes_exactly(cut):
    def fresh():
        s = OutlierStream(100, 16, torch.Generator().manual_seed(2), order="reference")
        s.steps_per_epoch = 3
        return s

    stream = fresh()
    whole = [stream.next() for _ in range(12)]
    stream = fresh()
    for _ in range(cut):
        stream.next()
    state, gen = stream.state_dict(), stream.generator.get_state()
    resumed = fresh()
    resumed.load_state_dict(state)
    resumed.generator.set_state(gen)
    rest = [resumed.next() for _ in range(12 - cut)]
    assert all(torch.equal(a, b) for a, b in zip(whole[cut:], rest))


def test_uniform_order_is_the_shuffled_passes_it_always_was():
    stream = OutlierStream(12, 4, torch.Generator().manual_seed(0))  # order defaults to uniform
    gen = torch.Generator().manual_seed(0)
    expected = torch.cat([torch.randperm(12, generator=gen), torch.randperm(12, generator=gen)])
    assert torch.equal(torch.cat([stream.next() for _ in range(6)]), expected)


def test_reference_order_needs_the_epoch_length():
    stream = OutlierStream(10, 2, torch.Generator(), order="reference")
    with pytest.raises(RuntimeError, match="steps_per_epoch"):
        stream.next()


# ---- the outliers' augmentation -------------------------------------------------------------

def _batch(n=64, size=8, channels=3):
    g = torch.Generator().manual_seed(9)
    return torch.randint(0, 256, (n, size, size, channels), generator=g, dtype=torch.uint8)


def _as_input(pre, x):  # the un-augmented model input of x and of its mirror image
    return pre(x), pre(x.flip(2))


@pytest.mark.parametrize("preset", ["svhn-wrn", "mnist-convnet"])
def test_svhn_and_mnist_outliers_are_flipped_but_not_cropped(preset):
    cfg = config_from_preset(preset, "oe-tune")
    x = _batch(channels=cfg.image_shape[2])
    pre = outlier_preprocess_of(cfg)
    out = pre(x, augment=True, generator=torch.Generator().manual_seed(1))
    plain, mirrored = _as_input(pre, x)
    same = (out == plain).flatten(1).all(1)
    flipped = (out == mirrored).flatten(1).all(1)
    assert bool((same | flipped).all())           # each image whole: no crop
    assert 0 < int((flipped & ~same).sum()) < 64  # about half of them mirrored
    # while the in-distribution images pass untouched, as in the reference
    assert torch.equal(preprocess_of(cfg)(x, augment=True, generator=torch.Generator()), plain)


def test_tiny_imagenet_outliers_are_not_augmented():
    for mode in ("oe-tune", "oe-scratch"):
        cfg = config_from_preset("tinyimagenet-wrn", mode)
        x = _batch(size=64)
        pre = outlier_preprocess_of(cfg)
        assert torch.equal(pre(x, augment=True, generator=torch.Generator().manual_seed(1)),
                           pre(x))
        assert cfg.outlier_order == "reference" and cfg.outlier_random_offset is False
        # the in-distribution keeps its random crop (padding 8) and flip
        assert (cfg.crop_padding, cfg.flip) == (8, True)


def test_cifar_outliers_are_augmented_as_the_in_distribution():
    cfg = config_from_preset("cifar10-wrn", "oe-tune")
    assert outlier_preprocess_of(cfg) == preprocess_of(cfg)
    assert (cfg.outlier_crop_padding, cfg.outlier_flip) == (4, True)


def test_tiny_imagenet_from_scratch_takes_256_outliers_a_step():
    assert config_from_preset("tinyimagenet-wrn", "oe-scratch").oe_batch_size == 256
    assert config_from_preset("tinyimagenet-wrn", "oe-tune").oe_batch_size == 180


@pytest.mark.parametrize("preset", ["svhn-wrn", "mnist-convnet"])
def test_svhn_and_mnist_outliers_exclude_the_cifar_images(preset):
    assert config_from_preset(preset, "oe-tune").outliers == "tinyimages-80m:no-cifar"
