"""The deployable detector: the threshold's TPR on held-out data, `oe score` on image folders,
.npz and files, the TorchScript export round trip, and bad input."""

import csv
import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

import outlier_exposure as oe
from outlier_exposure.training import holdout, runs
from outlier_exposure.cli import main
from outlier_exposure.data.datasets import load_labelled
from outlier_exposure.deploy import threshold_at_tpr
from outlier_exposure.errors import UserInputError
from outlier_exposure.evaluation.protocol import load_trained_model, predict_logits, predict_outputs
from outlier_exposure.evaluation.posthoc import Mahalanobis
from outlier_exposure.scores import compute_score
from tests.helpers.tiny_runs import train_tiny

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def cal_run(tmp_path_factory, digits_npz):
    """A run with a calibration hold-out (40 of the 400 training digits)."""
    return train_tiny(tmp_path_factory.mktemp("det") / "cal", digits_npz, calibration=True)


@pytest.fixture(scope="module")
def plain_run(tmp_path_factory, digits_npz):
    return train_tiny(tmp_path_factory.mktemp("det") / "plain", digits_npz)


def _direct_scores(run, images, score="msp"):
    """Scores by the evaluation's own path (predict_logits + compute_score)."""
    model, cfg = load_trained_model(run, "cpu")
    return compute_score(score, predict_logits(model, images, cfg, "cpu", 100)).numpy()


def test_threshold_at_tpr():
    assert threshold_at_tpr(np.arange(1, 21), 0.95) == 19  # 19 of 20 accepted
    assert threshold_at_tpr(np.arange(1, 21), 1.0) == 20
    scores = np.random.default_rng(0).normal(size=997)
    for tpr in (0.5, 0.9, 0.95, 0.99):
        t = threshold_at_tpr(scores, tpr)
        accepted = np.mean(scores <= t)
        assert tpr <= accepted < tpr + 1 / len(scores)


def test_threshold_gives_the_tpr_on_the_calibration_holdout(cal_run, capsys):
    assert main(["detector", str(cal_run), "--tpr", "0.9"]) == 0
    assert "warning" not in capsys.readouterr().out
    info = json.loads((cal_run / "detector.json").read_text())
    assert info["score"] == "msp" and info["n_holdout"] == 40
    assert "calibration hold-out" in info["holdout"]
    assert info["model"] == "small-cnn" and info["num_classes"] == 10
    assert info["package_version"] == oe.__version__
    # recompute the held-out scores independently: the threshold accepts 90% of them
    _, cfg = load_trained_model(cal_run, "cpu")
    train = load_labelled(cfg.train, cfg.image_shape)
    held = holdout.subset(train, holdout.load_split(cal_run, len(train)))
    s = _direct_scores(cal_run, held)
    assert np.mean(s <= info["threshold"] + 1e-7) == pytest.approx(math.ceil(0.9 * 40) / 40)
    assert info["tpr_achieved"] == pytest.approx(0.9)


def test_without_a_holdout_the_test_set_is_used_with_a_warning(plain_run, capsys):
    assert main(["detector", str(plain_run)]) == 0
    assert "warning" in capsys.readouterr().out
    info = json.loads((plain_run / "detector.json").read_text())
    assert info["holdout"].startswith("npz:") and info["n_holdout"] == 200


def _write_pngs(folder, images):
    (folder / "sub").mkdir(parents=True)
    paths = []
    for i, img in enumerate(images):
        path = folder / ("sub" if i % 2 else ".") / f"img{i:02d}.png"
        Image.fromarray(img[..., 0]).save(path)
        paths.append(path.resolve())
    return paths


def test_oe_score_on_a_folder_of_images(cal_run, tmp_path, capsys):
    assert main(["detector", str(cal_run)]) == 0
    _, cfg = load_trained_model(cal_run, "cpu")
    test = load_labelled(cfg.test, cfg.image_shape)
    digits = np.asarray(test.x[:6])
    _write_pngs(tmp_path / "imgs", digits)
    noise = np.random.default_rng(0).integers(0, 256, (40, 30, 3), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "imgs" / "z_noise.png")  # RGB, another size
    out = tmp_path / "scores.csv"
    assert main(["score", str(cal_run), str(tmp_path / "imgs"), "--out", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 7
    det = oe.load_detector(cal_run)
    by_name = {r["input"]: r for r in rows}
    # digits in the order the folder lists them (sorted relative paths): img00, img02, img04,
    # sub/img01, sub/img03, sub/img05, z_noise
    order = [0, 2, 4, 1, 3, 5]
    names = [r["input"] for r in rows]
    assert names[-1].endswith("z_noise.png")
    want = _direct_scores(cal_run, type(test)(x=digits[order], y=None, name="d"))
    got = np.array([float(by_name[n]["score"]) for n in names[:6]])
    np.testing.assert_allclose(got, want, rtol=1e-5)
    for r in rows:
        assert int(r["is_anomaly"]) == (float(r["score"]) > det.threshold)
    # the resized RGB image is scored as its grey 16x16 centre crop
    grey = np.asarray(Image.fromarray(noise).convert("L").resize((16, 21), Image.BILINEAR)
                      .crop((0, 2, 16, 18)))[..., None]
    assert float(by_name[names[-1]]["score"]) == pytest.approx(det.score(grey[None])[0], rel=1e-5)
    # writes never overwrite
    assert main(["score", str(cal_run), str(tmp_path / "imgs"), "--out", str(out)]) == 2


def test_python_api_arrays_npz_and_single_files(cal_run, tmp_path):
    assert main(["detector", str(cal_run)]) == 0
    det = oe.load_detector(cal_run)
    _, cfg = load_trained_model(cal_run, "cpu")
    test = load_labelled(cfg.test, cfg.image_shape)
    x = np.asarray(test.x[:5])
    pred = det.predict(x)
    model, _ = load_trained_model(cal_run, "cpu")
    logits = predict_logits(model, test, cfg, "cpu", 100)[:5]
    np.testing.assert_array_equal(pred.label, logits.argmax(1).numpy())
    np.testing.assert_allclose(pred.score, compute_score("msp", logits).numpy(), rtol=1e-5)
    np.testing.assert_array_equal(pred.is_anomaly, pred.score > det.threshold)
    np.savez(tmp_path / "batch.npz", x=x)
    np.testing.assert_allclose(det.score(tmp_path / "batch.npz"), pred.score, rtol=1e-6)
    Image.fromarray(x[0, ..., 0]).save(tmp_path / "one.png")
    single = det.predict(str(tmp_path / "one.png"))  # one file: scalars
    assert isinstance(single.label, int) and single.score == pytest.approx(float(pred.score[0]))
    assert det.predict(x[0]).label == int(pred.label[0])  # one HWC array: scalars


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated")
@pytest.mark.parametrize("score", ["energy", "knn", "mahalanobis"])
def test_export_round_trip(plain_run, tmp_path, score):
    assert main(["detector", str(plain_run), "--score", score, "--knn-k", "7"]) == 0
    assert main(["export", str(plain_run), "--out", str(tmp_path / "model.pt")]) == 0
    extra = {"detector.json": ""}
    exported = torch.jit.load(str(tmp_path / "model.pt"), _extra_files=extra)
    assert json.loads(extra["detector.json"])["score"] == score
    det = oe.load_detector(plain_run)
    _, cfg = load_trained_model(plain_run, "cpu")
    x = np.random.default_rng(2).integers(0, 256, (7, 16, 16, 1), dtype=np.uint8)  # traced with 2
    x[:4] = np.asarray(load_labelled(cfg.test, cfg.image_shape).x[:4])  # and real digits
    label, s, flag = exported(torch.from_numpy(x))
    np.testing.assert_allclose(s.numpy(), det.score(x), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(flag.numpy(), s.numpy() > det.threshold)
    np.testing.assert_array_equal(label.numpy(), det.predict(x).label)
    if score == "mahalanobis":  # the deployed score is the post-hoc scorer's
        model, _ = load_trained_model(plain_run, "cpu")
        train = load_labelled(cfg.train, cfg.image_shape)
        _, feats = predict_outputs(model, train, cfg, "cpu", 100, features=True)
        scorer = Mahalanobis().fit(model, feats, torch.from_numpy(train.y))
        with torch.no_grad():
            inputs = (torch.from_numpy(x).permute(0, 3, 1, 2).float() / 255 - 0.5) / 0.5
            want = scorer.score_outputs(None, model.features(inputs)).numpy()
        np.testing.assert_allclose(s.numpy(), want, rtol=1e-4)


def test_detector_files_of_before_the_scorer_registry_still_load(plain_run):
    """Format-1 files written before `score_settings` kept knn's k at the top level."""
    assert main(["detector", str(plain_run), "--score", "knn", "--knn-k", "7"]) == 0
    path = plain_run / "detector.json"
    info = json.loads(path.read_text())
    assert info["score_settings"] == {"k": 7}
    x = np.random.default_rng(3).integers(0, 256, (5, 16, 16, 1), dtype=np.uint8)
    want = oe.load_detector(plain_run).score(x)
    old = {key: value for key, value in info.items() if key != "score_settings"}
    try:
        runs.write_json(path, dict(old, k=7))
        np.testing.assert_array_equal(oe.load_detector(plain_run).score(x), want)
    finally:
        runs.write_json(path, info)


def test_loading_refuses_other_versions_and_other_models(plain_run, tmp_path, capsys):
    assert main(["detector", str(plain_run)]) == 0
    path = plain_run / "detector.json"
    info = json.loads(path.read_text())
    try:
        runs.write_json(path, dict(info, package_version="99.0.0"))
        with pytest.raises(UserInputError, match="another major version"):
            oe.load_detector(plain_run)
        runs.write_json(path, dict(info, model_sha256="0" * 64))
        with pytest.raises(UserInputError, match="another model"):
            oe.load_detector(plain_run)
        runs.write_json(path, dict(info, num_classes=3))
        with pytest.raises(UserInputError, match="another model"):
            oe.load_detector(plain_run)
    finally:
        runs.write_json(path, info)
    oe.load_detector(plain_run)
    with pytest.raises(UserInputError, match="oe detector"):
        oe.load_detector(tmp_path)  # no detector.json (and no run)


@pytest.mark.parametrize("argv, message", [
    (["detector", "RUN", "--tpr", "1.5"], "--tpr"),
    (["detector", "RUN", "--score", "odin"], "cannot be deployed"),
    (["detector", "RUN", "--holdout", "noise:gaussian"], "synthetic noise"),
    (["score", "RUN", "TEXT", "--out", "OUT"], "not an image file"),
    (["score", "RUN", "missing.png", "--out", "OUT"], "not found"),
    (["score", "RUN", "BAD_PNG", "--out", "OUT"], "cannot read image"),
    (["export", "RUN", "--out", "EXISTING"], "already exists"),
])
def test_bad_input(plain_run, tmp_path, capsys, argv, message):
    assert main(["detector", str(plain_run)]) == 0
    (tmp_path / "bad.png").write_bytes(b"not a png")
    (tmp_path / "existing.pt").write_bytes(b"")
    subs = {"RUN": str(plain_run), "OUT": str(tmp_path / "o.csv"),
            "BAD_PNG": str(tmp_path / "bad.png"), "EXISTING": str(tmp_path / "existing.pt"),
            "TEXT": str(tmp_path / "notes.txt")}
    (tmp_path / "notes.txt").write_text("text")
    capsys.readouterr()
    assert main([subs.get(a, a) for a in argv]) == 2
    assert message in capsys.readouterr().err
    with pytest.raises(UserInputError, match="uint8"):
        oe.load_detector(plain_run).score(np.zeros((2, 16, 16, 1), dtype=np.float32))
