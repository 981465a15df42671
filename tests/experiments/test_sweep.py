"""`oe sweep` (experiments/sweep.py): never reads a test set, chooses the argmin of what it
recorded, reuses and resumes points, refuses bad grids before writing anything."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest

from outlier_exposure.cli import main
from outlier_exposure.data import datasets
from outlier_exposure.errors import UserInputError
from outlier_exposure.experiments import sweep
from outlier_exposure.training import runs
from outlier_exposure.training.config import config_from_preset, tune_config
from outlier_exposure.training.loop import train_run
from outlier_exposure.training.presets import PRESETS, Preset
from tests.helpers.tiny_runs import train_tiny, train_until

pytestmark = pytest.mark.usefixtures("one_thread")
OUTLIERS = "noise:blobs:200"
GRID = dict(lambdas=[0.1, 1.0], oe_batch_sizes=[20], epochs=1, outliers=OUTLIERS,
            device="cpu", progress=False)


@pytest.fixture(scope="module")
def files(tmp_path_factory, digits_npz):
    """Training and test digits in two files, so the test file can disappear."""
    root = tmp_path_factory.mktemp("sweep-data")
    with np.load(digits_npz) as f:
        np.savez(root / "train.npz", x=f["x_train"], y=f["y_train"])
        np.savez(root / "test.npz", x=f["x_test"], y=f["y_test"])
    return root


@pytest.fixture(scope="module")
def base(files):
    """A baseline with a hold-out whose OOD sets do not exist and whose test file is no longer
    an npz: it is still there (a new fine-tune checks that its test set exists, resume_plan.py)
    but any read of it fails."""
    cfg = config_from_preset(
        "quickstart", "baseline", train=f"npz:{files / 'train.npz'}:x,y",
        test=f"npz:{files / 'test.npz'}:x,y", epochs=2, lr=0.1, batch_size=50,
        model_kwargs={"width": 8}, calibration_holdout="random:0.1",
        ood=[f"npz:{files / 'gone-ood.npz'}", f"folder:{files / 'gone-folder'}"])
    run = train_run(cfg, files / "base", device="cpu", progress=False)
    (files / "test.npz").write_bytes(b"not an npz any more: reading it fails")
    return run


@pytest.fixture(scope="module")
def swept(base, tmp_path_factory):
    """One sweep of two points, with every spec the data layer reads recorded."""
    read = []
    real = datasets.load_spec
    datasets.load_spec = lambda spec, *a, **k: (read.append(spec), real(spec, *a, **k))[1]
    try:
        out = tmp_path_factory.mktemp("swept") / "out"
        logged = []
        result = sweep.run_sweep(str(base), out, log=logged.append, **GRID)
    finally:
        datasets.load_spec = real
    return out, result, read, logged


def test_the_sweep_never_reads_a_test_set(base, swept):
    out, result, read, _ = swept
    cfg = runs.load_config(base)
    with pytest.raises(UserInputError):  # the trap works: reading the test set fails
        datasets.load_labelled(cfg.test, cfg.image_shape)
    assert read, "the recorder saw no reads"
    assert cfg.test not in read and not set(cfg.ood) & set(read)
    assert set(read) <= {cfg.train, OUTLIERS}
    assert [p["name"] for p in result["points"]] == ["lambda0.1-oeb20-lr0.01",
                                                     "lambda1-oeb20-lr0.01"]


def test_the_chosen_point_is_the_argmin_of_the_recorded_criteria(swept):
    out, result, _, logged = swept
    on_disk = json.loads((out / "sweep.json").read_text())
    assert on_disk == json.loads(json.dumps(result))
    points = on_disk["points"]
    best = min(range(len(points)), key=lambda i: (points[i]["val_fpr95"],
                                                   -points[i]["val_auroc"],
                                                   -points[i]["accuracy"], i))
    assert on_disk["chosen"]["name"] == points[best]["name"]
    for p in points:  # each row is what was measured for that point's weights
        measured = json.loads((out / "points" / p["name"] / sweep.CRITERION_FILE).read_text())
        assert measured["measured"]["val_fpr95"] == p["val_fpr95"]
        assert p["drop"] == pytest.approx(on_disk["baseline_row"]["accuracy"] - p["accuracy"])
        assert runs.load_config(out / "points" / p["name"]).lam == p["lambda"]
    chosen = out / "points" / points[best]["name"]
    assert (out / "best" / "model.pt").read_bytes() == (chosen / "model.pt").read_bytes()
    assert not (out / "best" / "checkpoint.pt").exists()
    assert f"chosen: {points[best]['name']}" in (out / "sweep.md").read_text()
    assert "point 2/2: lambda 1, oe-batch 20, lr 0.01" in "\n".join(logged)


def test_a_second_sweep_reuses_finished_points_and_resumes_an_interrupted_one(base, swept):
    out, result, _, _ = swept
    stamps = {p["name"]: (out / "points" / p["name"] / "model.pt").stat().st_mtime_ns
              for p in result["points"]}
    # A third point, interrupted in its only epoch.
    cfg = tune_config(base, lam=0.5, oe_batch_size=20, epochs=1, outliers=OUTLIERS)
    train_until(cfg, out / "points" / sweep.point_name(cfg), step=2)
    logged = []
    again = sweep.run_sweep(str(base), out, log=logged.append,
                            **{**GRID, "lambdas": [0.1, 1.0, 0.5]})
    text = "\n".join(logged)
    for name, stamp in stamps.items():
        assert f"[{name}] already trained" in text
        assert (out / "points" / name / "model.pt").stat().st_mtime_ns == stamp
    assert "[lambda0.5-oeb20-lr0.01] resuming" in text
    assert [p["val_fpr95"] for p in again["points"][:2]] == [
        p["val_fpr95"] for p in result["points"]]
    assert len(again["points"]) == 3


@pytest.mark.parametrize("content", ["[]", '{"criterion": {}}'])
def test_a_damaged_criterion_cache_is_one_message(base, swept, tmp_path, content):
    out = tmp_path / "out"
    shutil.copytree(swept[0], out)
    name = swept[1]["points"][0]["name"]
    (out / "points" / name / sweep.CRITERION_FILE).write_text(content)  # newer than model.pt
    with pytest.raises(UserInputError, match="is not a criterion record.*delete it"):
        sweep.run_sweep(str(base), out, **GRID)


def test_a_point_made_with_other_settings_is_refused(base, swept):
    out = swept[0]
    with pytest.raises(UserInputError, match="epochs = 1, not 2"):
        sweep.run_sweep(str(base), out, **{**GRID, "epochs": 2})


@pytest.mark.parametrize("grid, flag", [
    (dict(lambdas=[-0.5]), "--lambda"), (dict(lambdas=[math.nan]), "--lambda"),
    (dict(oe_batch_sizes=[0]), "--oe-batch-size"), (dict(lrs=[0.0]), "--lr"),
    (dict(lrs=[math.nan]), "--lr"), (dict(max_accuracy_drop=-1.0), "--max-accuracy-drop"),
])
def test_bad_grids_are_refused_before_anything_is_written(base, tmp_path, grid, flag):
    with pytest.raises(UserInputError, match=flag):
        sweep.run_sweep(str(base), tmp_path / "out", device="cpu", **grid)
    assert not (tmp_path / "out").exists()


def test_the_command_line_refuses_nan_and_a_baseline_without_holdout(tmp_path, digits_npz,
                                                                      capsys):
    assert main(["sweep", "quickstart", "--lambda", "nan", "--out", str(tmp_path / "o")]) == 2
    assert "--lambda nan" in capsys.readouterr().err
    plain = train_tiny(tmp_path / "plain", digits_npz)
    assert main(["sweep", str(plain), "--out", str(tmp_path / "o")]) == 2
    assert "oe train --calibration" in capsys.readouterr().err
    assert main(["sweep", "no-such-thing", "--out", str(tmp_path / "o")]) == 2
    assert "neither a run folder" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_a_preset_source_trains_its_baseline_with_a_holdout_once(files, digits_npz, tmp_path,
                                                                  monkeypatch, capsys):
    quick = PRESETS["quickstart"]
    monkeypatch.setitem(PRESETS, "tiny-sweep", Preset(
        "tiny-sweep", "test", {**quick.config, "train": f"npz:{digits_npz}:x_train,y_train",
                               "test": f"npz:{digits_npz}:x_test,y_test", "epochs": 1,
                               "model_kwargs": {"width": 8}, "outliers": OUTLIERS},
        {"oe-tune": {"epochs": 1, "lr": 0.01}}, calibration_holdout="random:0.1"))
    args = ["sweep", "tiny-sweep", "--out", str(tmp_path / "o"), "--device", "cpu", "--quiet"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "chosen: lambda0.5-oeb100-lr0.01" in out  # the preset's values: a grid of one
    assert (tmp_path / "o" / "baseline" / "calibration_split.json").exists()
    assert main(args) == 0
    assert "[baseline] already trained" in capsys.readouterr().out
