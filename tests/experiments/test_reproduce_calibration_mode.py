"""`oe reproduce --calibration` bins RMS / MAD the way the chosen mode says (reference: the top
bin skipped, as the authors' code behind the paper's numbers), defaults to the preset's mode,
and records and prints it."""

import json

import numpy as np
import pytest
import torch

from outlier_exposure.calibration.metrics import MODES, calibration_metrics
from outlier_exposure.calibration.protocol import calibrate_run
from outlier_exposure.data.datasets import load_labelled
from outlier_exposure.errors import UserInputError
from outlier_exposure.evaluation.protocol import load_trained_model, predict_logits
from outlier_exposure.experiments.reproduce import (
    calibration_with_reference,
    reproduce_calibration,
)
from outlier_exposure.training.presets import PRESETS

PAPER_PRESETS = ("cifar10-wrn", "cifar100-wrn", "cifar10-allconv", "cifar100-allconv",
                 "svhn-wrn", "tinyimagenet-wrn", "tinyimagenet-allconv", "mnist-convnet")


def _overrides(npz) -> dict:
    return {"train": f"npz:{npz}:x_train,y_train", "test": f"npz:{npz}:x_test,y_test",
            "epochs": 1, "batch_size": 50, "model_kwargs": {"width": 8},
            "ood": ["noise:gaussian"], "outliers": "noise:rademacher"}


def _test_confidences(run_dir, temperature: float):
    """Max softmax of the test set at `temperature` and its correctness, computed here."""
    model, cfg = load_trained_model(run_dir, torch.device("cpu"))
    test = load_labelled(cfg.test, cfg.image_shape, seed=cfg.seed, role="test set",
                         num_classes=cfg.num_classes)
    logits = predict_logits(model, test, cfg, torch.device("cpu"), 100).double()
    conf = torch.softmax(logits / temperature, dim=1).max(dim=1).values.numpy()
    correct = (logits.argmax(1).numpy() == np.asarray(test.y)).astype(float)
    return conf, correct


@pytest.fixture(scope="module")
def reference_run(digits_npz, tmp_path_factory):
    out = tmp_path_factory.mktemp("reproduce")
    results = reproduce_calibration("quickstart", out, device="cpu", progress=False,
                                    log=lambda *_: None, overrides=_overrides(digits_npz),
                                    mode="reference")
    return out, results


def test_reference_mode_numbers_are_the_reference_binning(reference_run):
    out, results = reference_run
    for key in ("baseline", "oe"):
        r = results[key]
        assert r["mode"] == "reference"
        conf, correct = _test_confidences(out / "calibration" / key, r["temperature"]["value"])
        direct = calibration_metrics(conf, correct, mode="reference")
        corrected = calibration_metrics(conf, correct, mode="corrected")
        for m in ("rms", "mad"):
            assert r["in_distribution"][m] == pytest.approx(direct[m], abs=1e-9)
            # 200 test digits: two bins, the reference adds the first only, so the modes differ
            assert r["in_distribution"][m] != pytest.approx(corrected[m], abs=1e-6)
    # the mode is recorded in the file and printed beside the comparison
    written = json.loads((out / "calibration" / "calibration.json").read_text())
    assert {r["mode"] for r in written.values()} == {"reference"}
    assert "reference mode" in calibration_with_reference("quickstart", results)


def test_the_ood_mixtures_follow_the_mode_too(reference_run):
    out, results = reference_run
    run = out / "calibration" / "oe"
    again = {mode: calibrate_run(run, mode=mode, device="cpu", write=False) for mode in MODES}
    assert again["reference"]["mean"] == pytest.approx(results["oe"]["mean"])
    assert again["corrected"]["mean"]["rms"] != pytest.approx(results["oe"]["mean"]["rms"])


def test_no_mode_takes_the_presets(reference_run, digits_npz):
    out, _ = reference_run  # stages already trained: only the calibration protocol runs
    results = reproduce_calibration("quickstart", out, device="cpu", progress=False,
                                    log=lambda *_: None, overrides=_overrides(digits_npz))
    assert PRESETS["quickstart"].calibration_mode == "corrected"
    assert {r["mode"] for r in results.values()} == {"corrected"}
    assert "corrected mode" in calibration_with_reference("quickstart", results)


def test_paper_presets_default_to_the_reference_binning():
    for name in PAPER_PRESETS:
        assert PRESETS[name].calibration_mode == "reference", name
    assert all(p.calibration_mode in MODES for p in PRESETS.values())


def test_an_unknown_mode_is_refused_naming_the_flag(tmp_path):
    with pytest.raises(UserInputError, match="--calibration-mode 'top'"):
        reproduce_calibration("quickstart", tmp_path, mode="top")


def test_the_command_passes_the_mode_and_refuses_it_alone(monkeypatch, capsys, tmp_path):
    from outlier_exposure.cli import main
    from outlier_exposure.experiments import reproduce as module

    seen = {}

    def fake_calibration(preset, out, **kw):
        seen["mode"] = kw["mode"]
        return {"baseline": {"mode": kw["mode"], "temperature": {"value": 1.0},
                             "mean": {"rms": 0.1, "mad": 0.1, "soft_f1": 0.5}}}

    monkeypatch.setattr(module, "reproduce", lambda *a, **k: {"baseline": {}})
    monkeypatch.setattr(module, "comparison_with_reference", lambda *a: "")
    monkeypatch.setattr(module, "reproduce_calibration", fake_calibration)
    base = ["reproduce", "cifar10-wrn", "--out", str(tmp_path), "--quiet"]
    for flags, mode in (([], None), (["--calibration-mode", "corrected"], "corrected")):
        assert main(base + ["--calibration"] + flags) == 0
        assert seen["mode"] == mode  # None: the library takes the preset's mode
    assert "corrected mode" in capsys.readouterr().out
    assert main(base + ["--calibration-mode", "reference"]) == 2
    assert "add --calibration" in capsys.readouterr().err
