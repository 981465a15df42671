"""End to end through the command line: train -> tune -> eval, resume, and bad input."""

import json
import os

import numpy as np
import pytest
import torch

from outlier_exposure.training import runs
from outlier_exposure.cli import main
from outlier_exposure.training.config import config_from_preset
from outlier_exposure.training.loop import train_run
from tests.helpers.tiny_runs import train_until


def _train_args(npz, out, *extra):
    return ["train", "--preset", "quickstart", "--train", f"npz:{npz}:x_train,y_train",
            "--test", f"npz:{npz}:x_test,y_test", "--out", str(out), "--epochs", "3",
            "--batch-size", "25", "--quiet", *extra]


def test_train_tune_eval_end_to_end(tmp_path, digits_npz, capsys):
    base, oe = tmp_path / "base", tmp_path / "oe"
    assert main(_train_args(digits_npz, base)) == 0
    assert main(["tune", str(base), "--outliers", "skimage-photos", "--out", str(oe),
                 "--epochs", "1", "--quiet"]) == 0
    assert main(["eval", str(oe), "--ood", "noise:gaussian", "lfw-faces", "--draws", "3"]) == 0
    out = capsys.readouterr().out
    assert "FPR95" in out and "Mean" in out and "gaussian" in out

    results = json.loads((oe / "results.json").read_text())
    assert set(results["ood"]) == {"gaussian", "lfw-faces"}
    for r in results["ood"].values():
        for key in ("fpr", "fpr_std", "auroc", "auroc_std", "aupr", "aupr_std"):
            assert 0.0 <= r[key] <= 1.0
        assert r["n_per_draw"] == 200 // 5
    assert results["mean"]["fpr"] == pytest.approx(
        np.mean([r["fpr"] for r in results["ood"].values()]))
    assert 0.0 <= results["test_error"] < 0.5  # it learned: chance is 0.9
    assert (oe / "results.csv").exists() and (oe / "results.md").exists()

    cfg = json.loads((oe / "config.json").read_text())
    assert cfg["mode"] == "oe-tune" and cfg["init_from"] == str(base)
    assert cfg["num_classes"] == 10
    log = runs.read_log(oe)
    assert [r["epoch"] for r in log] == [1]
    assert log[0]["loss_oe"] > 0


def test_oe_from_scratch(tmp_path, digits_npz):
    run = tmp_path / "scratch"
    assert main(_train_args(digits_npz, run, "--outliers", "noise:rademacher:500",
                            "--epochs", "1")) == 0
    assert json.loads((run / "config.json").read_text())["mode"] == "oe-scratch"
    assert (run / "model.pt").exists()


def test_resume_after_interruption_gives_the_same_weights(tmp_path, digits_npz):
    def cfg():
        return config_from_preset(
            "quickstart", "oe-scratch", train=f"npz:{digits_npz}:x_train,y_train",
            test=f"npz:{digits_npz}:x_test,y_test", outliers="skimage-photos", epochs=3,
            batch_size=50, oe_batch_size=60, model_kwargs={"width": 8})

    full = train_run(cfg(), tmp_path / "full", progress=False)

    train_until(cfg(), tmp_path / "cut", 13)  # in the middle of the second epoch (8 steps each)
    assert not (tmp_path / "cut" / "model.pt").exists()
    assert torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=True)["epoch"] == 1
    train_run(None, tmp_path / "cut", resume=True, progress=False)

    a = torch.load(full / "model.pt", weights_only=True)
    b = torch.load(tmp_path / "cut" / "model.pt", weights_only=True)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert [r["epoch"] for r in runs.read_log(tmp_path / "cut")] == [1, 2, 3]


# ---- bad input: one clear error each, exit status 2, nothing overwritten ----------------------

def _fails(capsys, argv, *needles):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1
    for needle in needles:
        assert needle in err, err
    return err


def test_missing_file(tmp_path, capsys):
    _fails(capsys, ["train", "--train", f"npz:{tmp_path}/nope.npz", "--test", "digits:test",
                    "--out", str(tmp_path / "r"), "--quiet"], "nope.npz")
    assert not (tmp_path / "r").exists()


def test_malformed_spec(tmp_path, capsys):
    _fails(capsys, ["train", "--train", "zip:foo", "--out", str(tmp_path / "r"), "--quiet"],
           "zip:foo")


def test_wrong_array_shape(tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=np.zeros((10, 5), np.uint8), y=np.zeros(10, np.int64))
    _fails(capsys, ["train", "--train", f"npz:{bad}", "--out", str(tmp_path / "r"), "--quiet"],
           "bad.npz")


def test_image_size_differs_from_preset(tmp_path, capsys):
    bad = tmp_path / "big.npz"
    np.savez(bad, x=np.zeros((10, 32, 32, 1), np.uint8), y=np.zeros(10, np.int64))
    _fails(capsys, ["train", "--train", f"npz:{bad}", "--out", str(tmp_path / "r"), "--quiet"],
           "big.npz")


def test_labels_out_of_range_at_evaluation(tmp_path, digits_npz, capsys):
    base = tmp_path / "base"
    assert main(_train_args(digits_npz, base, "--epochs", "1")) == 0
    data = np.load(digits_npz)
    bad = tmp_path / "labels.npz"
    np.savez(bad, x=data["x_test"], y=data["y_test"] + 10)
    cfg = json.loads((base / "config.json").read_text())
    cfg["test"] = f"npz:{bad}"
    (base / "config.json").write_text(json.dumps(cfg))
    _fails(capsys, ["eval", str(base), "--ood", "noise:gaussian"], "labels.npz", "10 classes")


def test_tune_with_a_different_class_count(tmp_path, digits_npz, capsys):
    base = tmp_path / "base"
    assert main(_train_args(digits_npz, base, "--epochs", "1")) == 0
    data = np.load(digits_npz)
    more = tmp_path / "more.npz"
    np.savez(more, x=data["x_train"], y=(data["y_train"] + 3))  # labels up to 12: 13 classes
    _fails(capsys, ["tune", str(base), "--train", f"npz:{more}", "--outliers", "noise:gaussian",
                    "--out", str(tmp_path / "oe"), "--quiet"], "10 classes", "13")
    assert not (tmp_path / "oe").exists()


def test_existing_run_is_not_overwritten(tmp_path, digits_npz, capsys):
    base = tmp_path / "base"
    assert main(_train_args(digits_npz, base, "--epochs", "1")) == 0
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in base.iterdir()}
    _fails(capsys, _train_args(digits_npz, base), "--resume")
    after = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in base.iterdir()}
    assert before == after


def test_eval_of_an_unfinished_run(tmp_path, capsys):
    (tmp_path / "r").mkdir()
    _fails(capsys, ["eval", str(tmp_path / "r"), "--ood", "noise:gaussian"], "not a run folder")


def test_metrics_command(tmp_path, capsys):
    rng = np.random.default_rng(0)
    ins, outs = rng.normal(size=500), rng.normal(1.0, size=100)
    np.save(tmp_path / "in.npy", ins)
    (tmp_path / "out.txt").write_text("\n".join(map(str, outs)))
    assert main(["metrics", str(tmp_path / "in.npy"), str(tmp_path / "out.txt")]) == 0
    got = json.loads(capsys.readouterr().out)
    from sklearn.metrics import roc_auc_score
    labels = np.r_[np.zeros(500), np.ones(100)]
    assert got["auroc"] == pytest.approx(roc_auc_score(labels, np.r_[ins, outs]), abs=1e-9)
    assert got["positive"] == "ood" and got["rule"] == "closest"


def test_public_api_train_finetune_evaluate(tmp_path, digits_npz):
    import outlier_exposure as oe

    data = dict(train=f"npz:{digits_npz}:x_train,y_train", test=f"npz:{digits_npz}:x_test,y_test")
    base = oe.train(tmp_path / "b", "quickstart", epochs=1, progress=False, **data)
    tuned = oe.finetune(base, tmp_path / "o", outliers="noise:blobs:300", epochs=1,
                        progress=False)
    results = oe.evaluate(tuned, ["noise:gaussian"], draws=2)
    assert results["mode"] == "oe-tune" and set(results["ood"]) == {"gaussian"}


def test_run_files_get_the_mode_of_an_ordinary_file(tmp_path):
    mask = os.umask(0o022)
    try:
        runs.write_json(tmp_path / "r.json", {"a": 1})
    finally:
        os.umask(mask)
    assert (tmp_path / "r.json").stat().st_mode & 0o777 == 0o644  # mkstemp alone gives 0600
    assert json.loads((tmp_path / "r.json").read_text()) == {"a": 1}
