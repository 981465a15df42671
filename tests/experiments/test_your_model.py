"""Your own model end to end (docs/your-model.md): a torchvision ResNet-18 and a timm model,
from a pretrained-weights file, on image folders of mixed sizes at any resolution: train, OE
fine-tune (from the baseline run, and straight from the weights), evaluate with MSP, energy,
KNN and Mahalanobis, and a deployed detector whose exported scores match the detector's."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from outlier_exposure.cli import main
from outlier_exposure.deploy import load_detector
from outlier_exposure.training import runs

pytestmark = pytest.mark.usefixtures("one_thread")

SIZE = "40"  # the model sees 40x40 cropped from images stored at 46x46 (the 224/256 ratio)


def _photos(folder, n, seed, classes=None):
    """`n` JPEGs of mixed sizes per class folder (or flat), smooth colour fields plus noise."""
    rng = np.random.default_rng(seed)
    for c in classes or [None]:
        target = folder / c if c else folder
        target.mkdir(parents=True)
        tint = rng.integers(0, 256, size=3)
        for i in range(n):
            h, w = rng.integers(40, 90, size=2)
            ramp = np.linspace(0, 1, w)[None, :, None] * rng.integers(0, 120)
            pixels = np.clip(tint + ramp + rng.normal(0, 30, (h, w, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(target / f"{i}.jpg", quality=90)
    return folder


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("own")
    return {
        "train": _photos(root / "train", 12, 0, ["cat", "dog", "fox"]),
        "test": _photos(root / "test", 6, 1, ["cat", "dog", "fox"]),
        "outliers": _photos(root / "outliers", 40, 2),
        "ood": _photos(root / "ood", 20, 3),
    }


@pytest.fixture(scope="module")
def resnet_weights(tmp_path_factory):
    """A torchvision ResNet-18 checkpoint as torchvision saves it (1000-class head)."""
    import torchvision

    path = tmp_path_factory.mktemp("w") / "resnet18.pth"
    torch.manual_seed(0)
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    return path


class Payload:
    """What an unsafe checkpoint holds: an object whose class unpickling would import and run."""


def _common(folders, out):
    return ["--train", f"folder:{folders['train']}", "--test", f"folder:{folders['test']}",
            "--image-size", SIZE, "--epochs", "1", "--batch-size", "12", "--oe-batch-size", "12",
            "--device", "cpu", "--quiet", "--out", str(out)]


def _evaluate_and_deploy(run, folders, tmp_path, capsys):
    assert main(["eval", str(run), "--ood", f"folder:{folders['ood']}", "--draws", "2",
                 "--score", "msp", "energy", "knn", "mahalanobis", "--knn-k", "3",
                 "--device", "cpu"]) == 0
    results = json.loads((run / "results.json").read_text())
    assert results is not None
    capsys.readouterr()
    assert main(["detector", str(run), "--score", "knn", "--knn-k", "3"]) == 0
    exported = tmp_path / f"{run.name}.pt"
    assert main(["export", str(run), "--out", str(exported)]) == 0
    detector = load_detector(run, device="cpu")
    h, w, c = detector.image_shape
    images = np.random.default_rng(5).integers(0, 256, (4, h, w, c), dtype=np.uint8)
    _, expected, _ = detector.module(torch.from_numpy(images))
    _, traced, _ = torch.jit.load(str(exported))(torch.from_numpy(images))
    torch.testing.assert_close(traced, expected, rtol=1e-5, atol=1e-5)


def test_torchvision_resnet_from_pretrained_weights(folders, resnet_weights, tmp_path, capsys):
    base = tmp_path / "base"
    assert main(["train", "--preset", "pretrained", "--model", "torchvision:resnet18",
                 "--weights", str(resnet_weights), *_common(folders, base)]) == 0
    assert "fc was replaced" in capsys.readouterr().err
    cfg = runs.load_config(base)
    assert cfg.image_shape == (46, 46, 3) and cfg.input_size == 40 and cfg.num_classes == 3
    env = json.loads((base / runs.ENVIRONMENT).read_text())
    assert len(env["weights_sha256"]) == 64
    # the pretrained tensors were the starting point: the first conv moved little from them
    start = torch.load(resnet_weights)["conv1.weight"]
    trained = runs.load_final_weights(base)["net.conv1.weight"]
    assert (trained - start).abs().max() < 0.05

    tuned = tmp_path / "tuned"
    assert main(["tune", str(base), "--outliers", f"folder:{folders['outliers']}", "--epochs", "1",
                 "--oe-batch-size", "12", "--device", "cpu", "--quiet", "--out", str(tuned)]) == 0
    _evaluate_and_deploy(tuned, folders, tmp_path, capsys)


def test_tune_straight_from_weights_with_a_linear_probe(folders, resnet_weights, tmp_path):
    run = tmp_path / "probe"
    assert main(["tune", "--model", "torchvision:resnet18", "--weights", str(resnet_weights),
                 "--outliers", f"folder:{folders['outliers']}", "--linear-probe",
                 *_common(folders, run)]) == 0
    cfg = runs.load_config(run)
    assert cfg.mode == "oe-tune" and cfg.linear_probe and cfg.init_from is None
    weights = runs.load_final_weights(run)
    start = torch.load(resnet_weights)
    # a linear probe leaves everything but the head as it was, batch-norm statistics included
    for key, value in start.items():
        if not key.startswith("fc."):
            assert torch.equal(weights[f"net.{key}"], value), key
    assert not torch.equal(weights["net.fc.weight"][:3], start["fc.weight"][:3])


def test_tune_without_baseline_or_weights_is_refused(folders, tmp_path, capsys):
    out = tmp_path / "x"
    assert main(["tune", "--outliers", f"folder:{folders['outliers']}", *_common(folders, out)]) != 0
    assert "--weights W.pt" in capsys.readouterr().err
    assert not out.exists()  # refused before anything was written


def test_missing_or_pickled_weights_are_refused_before_writing(folders, tmp_path, capsys):
    pickled = tmp_path / "object.pt"
    torch.save({"model": Payload()}, pickled)
    for weights, message in ((tmp_path / "none.pt", "no such file"),
                             (pickled, "pickled Python objects")):
        out = tmp_path / f"run-{weights.stem}"
        assert main(["train", "--preset", "pretrained", "--weights", str(weights),
                     *_common(folders, out)]) != 0
        assert message in capsys.readouterr().err
        assert not out.exists()


def test_timm_model(folders, tmp_path, capsys):
    pytest.importorskip("timm")
    run = tmp_path / "timm"
    assert main(["train", "--preset", "pretrained", "--model", "timm:resnet10t",
                 *_common(folders, run)]) == 0
    tuned = tmp_path / "timm-oe"
    assert main(["tune", str(run), "--outliers", f"folder:{folders['outliers']}", "--epochs", "1",
                 "--oe-batch-size", "12", "--device", "cpu", "--quiet", "--out", str(tuned)]) == 0
    _evaluate_and_deploy(tuned, folders, tmp_path, capsys)


def test_epochs_0_makes_a_run_of_a_classifier_trained_elsewhere(folders, tmp_path):
    """A 3-class ResNet-18 saved as safetensors becomes a run folder as it is: same tensors,
    same logits, and a baseline `oe tune` can start from."""
    import torchvision
    from safetensors.torch import save_file

    from outlier_exposure.evaluation.protocol import load_trained_model

    torch.manual_seed(1)
    theirs = torchvision.models.resnet18(weights=None, num_classes=3).eval()
    path = tmp_path / "theirs.safetensors"
    save_file(theirs.state_dict(), path)
    run = tmp_path / "theirs"
    assert main(["train", "--preset", "pretrained", "--weights", str(path),
                 *_common(folders, run), "--epochs", "0"]) == 0
    saved = runs.load_final_weights(run)
    assert all(torch.equal(saved[f"net.{k}"], v) for k, v in theirs.state_dict().items())
    model, _ = load_trained_model(run, "cpu")
    x = torch.randn(2, 3, 40, 40)
    with torch.no_grad():
        torch.testing.assert_close(model(x), theirs(x), rtol=0, atol=0)
