"""bf16, channels-last, torch.compile and data placement: the fast paths train to finite losses."""

import json

import pytest
import torch

from outlier_exposure.cli import main
from outlier_exposure.data.batches import Preprocess


def _train(npz, out, *flags):
    argv = ["train", "--train", f"npz:{npz}:x_train,y_train", "--test", f"npz:{npz}:x_test,y_test",
            "--outliers", "noise:blobs:300", "--epochs", "1", "--batch-size", "50",
            "--model", "small-cnn", "--model-arg", "width=8", "--out", str(out), "--quiet", *flags]
    assert main(argv) == 0
    return json.loads((out / "log.jsonl").read_text().splitlines()[-1])


@pytest.fixture(scope="module")
def fp32_record(digits_npz, tmp_path_factory):
    return _train(digits_npz, tmp_path_factory.mktemp("fp32") / "run")


def test_bf16_autocast_trains_to_a_finite_loss_close_to_fp32(digits_npz, tmp_path, fp32_record):
    record = _train(digits_npz, tmp_path / "run", "--precision", "bf16")
    assert torch.isfinite(torch.tensor(record["loss"]))
    # bf16 keeps ~3 significant digits; one epoch from the same start stays close
    assert record["loss"] == pytest.approx(fp32_record["loss"], rel=0.05)
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["precision"] == "bf16"


def test_channels_last_gives_the_fp32_result(digits_npz, tmp_path, fp32_record):
    record = _train(digits_npz, tmp_path / "run", "--channels-last")
    assert record["loss"] == pytest.approx(fp32_record["loss"], rel=1e-4)


def test_host_placement_gives_the_device_result(digits_npz, tmp_path, fp32_record):
    record = _train(digits_npz, tmp_path / "run", "--data-on", "host")
    assert record["loss"] == pytest.approx(fp32_record["loss"], rel=1e-6)


def test_compiled_model_trains_to_a_finite_loss(digits_npz, tmp_path, fp32_record):
    record = _train(digits_npz, tmp_path / "run", "--compile")
    assert record["loss"] == pytest.approx(fp32_record["loss"], rel=1e-3)


def test_fp16_on_the_cpu_is_a_clear_error(digits_npz, tmp_path, capsys):
    argv = ["train", "--train", f"npz:{digits_npz}:x_train,y_train", "--test",
            f"npz:{digits_npz}:x_test,y_test", "--precision", "fp16", "--device", "cpu",
            "--out", str(tmp_path / "r"), "--quiet"]
    assert main(argv) == 2
    assert "fp16 needs a GPU" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()  # refused before anything was written


def test_channels_last_batches_have_nhwc_strides():
    x = torch.randint(0, 256, (4, 8, 8, 3), dtype=torch.uint8)
    pre = Preprocess(mean=(0.5,) * 3, std=(0.5,) * 3, channels_last=True)
    out = pre(x)
    assert out.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(out, Preprocess(mean=(0.5,) * 3, std=(0.5,) * 3)(x))
