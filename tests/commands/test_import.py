"""`oe import`: reference snapshots (plain state dicts) become run folders that the other
commands accept; a file that does not fit is refused with one message and leaves nothing."""

import hashlib
import json

import pytest
import torch

from outlier_exposure.cli import main
from outlier_exposure.models import create_model
from outlier_exposure.training import runs
from outlier_exposure.training.config import load_config
from outlier_exposure.training.imported import KNOWN_DIGESTS
from outlier_exposure.training.setup import build_model


def _data(npz):
    return ["--train", f"npz:{npz}:x_train,y_train", "--test", f"npz:{npz}:x_test,y_test"]


def _small_cnn_snapshot(folder, name="digits_small_cnn_baseline_epoch_14.pt", prefix="",
                        **model_kwargs):
    """A quickstart-sized model saved as the reference saves: torch.save(net.state_dict())."""
    torch.manual_seed(0)
    model = create_model("small-cnn", 10, in_channels=1, **{"width": 32, **model_kwargs})
    path = folder / name
    torch.save({prefix + k: v for k, v in model.state_dict().items()}, path)
    return path, model


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if ".import-" in p.name)


def test_import_then_eval_and_report(tmp_path, digits_npz, capsys):
    # A DataParallel snapshot (`module.` prefix), as the reference's --ngpu > 1 runs save.
    path, model = _small_cnn_snapshot(tmp_path, prefix="module.")
    run = tmp_path / "imported"
    assert main(["import", str(path), "--preset", "quickstart", "--mode", "baseline",
                 "--out", str(run), *_data(digits_npz)]) == 0

    cfg = load_config(run)
    assert (cfg.mode, cfg.model, cfg.num_classes) == ("baseline", "small-cnn", 10)
    weights = runs.load_final_weights(run)
    assert all(torch.equal(weights[k], v) for k, v in model.state_dict().items())
    log = runs.read_log(run)
    assert log == [{**log[0], "event": "imported", "imported_from": str(path.resolve()),
                    "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}]
    assert json.loads((run / runs.ENVIRONMENT).read_text())["imported_from"] == str(path.resolve())

    assert main(["eval", str(run), "--ood", "noise:gaussian", "--draws", "2",
                 "--device", "cpu"]) == 0
    results = json.loads((run / "results.json").read_text())
    assert 0.0 <= results["test_error"] <= 1.0 and "gaussian" in results["ood"]
    assert main(["detector", str(run), "--device", "cpu"]) == 0
    assert (run / "detector.json").exists()
    assert main(["report", str(run), "--out", str(tmp_path / "report")]) == 0
    capsys.readouterr()


def test_tune_starts_from_an_imported_baseline(tmp_path, digits_npz):
    path, _ = _small_cnn_snapshot(tmp_path)
    base, tuned = tmp_path / "base", tmp_path / "tuned"
    assert main(["import", str(path), "--preset", "quickstart", "--mode", "baseline",
                 "--out", str(base), *_data(digits_npz)]) == 0
    assert main(["tune", str(base), "--outliers", "noise:rademacher:200", "--epochs", "1",
                 "--out", str(tuned), "--quiet", "--device", "cpu"]) == 0
    assert load_config(tuned).init_from == str(base)
    assert [r["epoch"] for r in runs.read_log(tuned)] == [1]


def test_wrn_40_2_in_the_reference_layout_imports_and_runs(tmp_path):
    torch.manual_seed(0)
    model = create_model("wrn-40-2", 10, dropout=0.3).eval()
    # Snapshots of PyTorch < 0.4.1 have no num_batches_tracked counters.
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    path = tmp_path / "cifar10_wrn_baseline_epoch_99.pt"
    torch.save(state, path)
    run = tmp_path / "c10-base"
    assert main(["import", str(path), "--preset", "cifar10-wrn", "--mode", "baseline",
                 "--out", str(run)]) == 0
    assert {p.name for p in run.iterdir()} == {"config.json", "environment.json", "model.pt",
                                              "log.jsonl"}
    cfg = load_config(run)
    assert (cfg.model, cfg.model_kwargs, cfg.num_classes) == (
        "wrn", {"depth": 40, "widen_factor": 2, "dropout": 0.3}, 10)
    loaded = build_model(cfg)
    loaded.load_state_dict(runs.load_final_weights(run))
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(loaded.eval()(x), model(x))


def test_allconv_features_keys_map_to_body(tmp_path):
    model = create_model("allconv", 100)
    reference = {k.replace("body.", "features.", 1): v for k, v in model.state_dict().items()}
    path = tmp_path / "cifar100_allconv_oe_scratch_epoch_99.pt"
    torch.save(reference, path)
    run = tmp_path / "ac"
    assert main(["import", str(path), "--preset", "cifar100-allconv", "--mode", "oe-scratch",
                 "--out", str(run)]) == 0
    cfg = load_config(run)
    assert (cfg.mode, cfg.model, cfg.num_classes) == ("oe-scratch", "allconv", 100)
    weights = runs.load_final_weights(run)
    assert torch.equal(weights["body.0.weight"], model.state_dict()["body.0.weight"])


def test_tiny_imagenet_allconv_features_keys_map_to_body(tmp_path):
    from outlier_exposure.models import model_names

    if "allconv-64" not in model_names():
        pytest.skip("no Tiny ImageNet AllConvNet registered")
    model = create_model("allconv-64", 200)
    path = tmp_path / "tin_allconv_baseline_epoch_99.pt"
    torch.save({k.replace("body.", "features.", 1): v for k, v in model.state_dict().items()},
               path)
    run = tmp_path / "tin"
    assert main(["import", str(path), "--preset", "tinyimagenet-wrn", "--model", "allconv-64",
                 "--mode", "baseline", "--out", str(run)]) == 0
    assert load_config(run).num_classes == 200


def test_energy_fine_tune_is_imported_with_the_energy_loss(tmp_path):
    path = tmp_path / "cifar10_wrn_s2_energy_ft_epoch_9.pt"  # no published digest for seed 2
    torch.save(create_model("wrn-40-2", 10, dropout=0.3).state_dict(), path)
    run = tmp_path / "energy"
    assert main(["import", str(path), "--preset", "cifar10-wrn", "--mode", "oe-tune",
                 "--out", str(run)]) == 0
    assert (load_config(run).mode, load_config(run).loss) == ("oe-tune", "energy")


def test_mismatched_file_is_refused_naming_the_keys(tmp_path, capsys):
    _, model = _small_cnn_snapshot(tmp_path)
    state = model.state_dict()
    first = next(k for k in state if k.endswith("weight") and state[k].dim() == 4)
    wrong = dict(state)
    wrong[first] = torch.zeros(3, *state[first].shape[1:])
    del wrong["fc.bias" if "fc.bias" in state else list(state)[-1]]
    wrong["extra.weight"] = torch.zeros(1)
    path = tmp_path / "wrong.pt"
    torch.save(wrong, path)
    run = tmp_path / "runs" / "refused"
    assert main(["import", str(path), "--preset", "quickstart", "--mode", "baseline",
                 "--out", str(run)]) == 2
    err = capsys.readouterr().err
    assert err.count("error") == 1 and "missing keys" in err and "unexpected keys: extra.weight" \
        in err and f"mismatched shapes: {first} (3," in err and "small-cnn" in err
    assert not run.exists() and not (tmp_path / "runs").exists()


def test_a_file_for_another_model_is_refused(tmp_path, capsys):
    path, _ = _small_cnn_snapshot(tmp_path)
    run = tmp_path / "refused"
    assert main(["import", str(path), "--preset", "cifar10-wrn", "--mode", "baseline",
                 "--out", str(run)]) == 2
    err = capsys.readouterr().err
    assert "missing keys: conv1.weight" in err and "wrn" in err and "--preset" in err
    assert not run.exists() and _leftovers(tmp_path) == []


def test_digest_mismatch_is_refused(tmp_path, capsys):
    # A file under a published name whose digest is not the published one.
    name = "cifar10_wrn_oe_tune_epoch_9.pt"
    path = tmp_path / name
    torch.save(create_model("wrn-40-2", 10, dropout=0.3).state_dict(), path)
    run = tmp_path / "refused"
    args = ["import", str(path), "--preset", "cifar10-wrn", "--mode", "oe-tune", "--out", str(run)]
    assert main(args) == 2
    assert KNOWN_DIGESTS[name] in capsys.readouterr().err and not run.exists()
    assert main(args + ["--sha256", "0" * 64]) == 2
    assert "--sha256" in capsys.readouterr().err and not run.exists()
    assert main(args + ["--sha256", "xyz"]) == 2
    assert "64 hex digits" in capsys.readouterr().err
    # The user's own digest for a file of their own under that name is accepted.
    own = hashlib.sha256(path.read_bytes()).hexdigest()
    assert main(args + ["--sha256", own.upper()]) == 0
    assert runs.read_log(run)[0]["sha256_checked"] == "--sha256"


def test_files_that_are_not_state_dicts_are_refused(tmp_path, capsys):
    run = tmp_path / "refused"
    cases = {"list.pt": [torch.zeros(1)], "empty.pt": {}, "text.pt": None}
    for name, content in cases.items():
        path = tmp_path / name
        if content is None:
            path.write_text("not a torch file")
        else:
            torch.save(content, path)
        assert main(["import", str(path), "--preset", "quickstart", "--mode", "baseline",
                     "--out", str(run)]) == 2
        assert "state dict" in capsys.readouterr().err and not run.exists()
    assert main(["import", str(tmp_path / "missing.pt"), "--preset", "quickstart", "--mode",
                 "baseline", "--out", str(run)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_pickled_code_is_never_run(tmp_path, capsys):
    path = tmp_path / "evil.pt"
    torch.save({"fc.weight": torch.zeros(1), "hook": _Unpicklable()}, path)
    assert main(["import", str(path), "--preset", "quickstart", "--mode", "baseline",
                 "--out", str(tmp_path / "run")]) == 2
    assert "could not be read as a state dict" in capsys.readouterr().err
    assert not _Unpicklable.ran


class _Unpicklable:
    ran = False

    def __setstate__(self, state):  # would run on a full unpickle
        type(self).ran = True


def test_existing_out_folder_is_refused(tmp_path, capsys):
    path, _ = _small_cnn_snapshot(tmp_path)
    run = tmp_path / "taken"
    run.mkdir()
    (run / "notes.txt").write_text("mine")
    assert main(["import", str(path), "--preset", "quickstart", "--mode", "baseline",
                 "--out", str(run)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert [p.name for p in run.iterdir()] == ["notes.txt"]
