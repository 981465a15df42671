"""The reference's outlier order and augmentation inside the training loop (issue 12): the
steps see consecutive outlier runs with the outliers' own flip, and a resumed run ends with the
weights of an uninterrupted one."""

from __future__ import annotations

import torch

from outlier_exposure.training import runs
from outlier_exposure.training.config import config_from_preset
from outlier_exposure.training.distributed import Context
from outlier_exposure.training.epoch import Trainer
from outlier_exposure.training.loop import train_run
from outlier_exposure.training.setup import load_data, preprocess_of, start_state
from tests.helpers.tiny_runs import train_until


def _cfg(npz, **extra):
    # digits as in-distribution and (their test split) as outliers: 400 / 200 images
    return config_from_preset(
        "quickstart", "oe-scratch", train=f"npz:{npz}:x_train,y_train",
        test=f"npz:{npz}:x_test,y_test", outliers=f"npz:{npz}:x_test,y_test",
        epochs=3, batch_size=50, oe_batch_size=60, model_kwargs={"width": 8},
        outlier_order="reference", **extra)


def test_a_step_sees_the_first_outlier_records_flipped_and_the_in_distribution_not(digits_npz):
    cfg = _cfg(digits_npz, outlier_random_offset=False, crop_padding=0, flip=False,
               outlier_crop_padding=0, outlier_flip=True)
    data = load_data(cfg)
    cpu = torch.device("cpu")
    state = start_state(data.cfg, data.outliers, cpu, None)
    trainer = Trainer.start(data.cfg, Context(), cpu, state, data.train_set)
    idx = torch.arange(50)
    inputs, _ = trainer.batch(idx)
    pre = preprocess_of(data.cfg)
    assert torch.equal(inputs[:50], pre(trainer.x[idx]))  # no augmentation in-distribution
    steps = ((inputs[50:], slice(0, 60)), (trainer.batch(idx)[0][50:], slice(60, 120)))
    for rows, records in steps:
        # step 1 reads records 0..59 in file order, step 2 the next 60: each whole, some mirrored
        x = torch.from_numpy(data.outliers.x[records])
        same = (rows == pre(x)).flatten(1).all(1)
        flipped = (rows == pre(x.flip(2))).flatten(1).all(1)
        assert bool((same | flipped).all()) and int((flipped & ~same).sum()) > 10


def test_resume_in_reference_order_gives_the_same_weights(tmp_path, digits_npz):
    full = train_run(_cfg(digits_npz), tmp_path / "full", progress=False)

    train_until(_cfg(digits_npz), tmp_path / "cut", 13)  # mid second epoch (8 steps each)
    ckpt = torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=True)
    assert set(ckpt["outliers"]["stream"]) == {"offset", "step"}  # the reference-order stream
    train_run(None, tmp_path / "cut", resume=True, progress=False)
    a = torch.load(full / "model.pt", weights_only=True)
    b = torch.load(tmp_path / "cut" / "model.pt", weights_only=True)
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert runs.load_config(tmp_path / "cut").outlier_order == "reference"
