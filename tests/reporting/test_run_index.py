"""`oe runs DIR`: one row per run folder under DIR, read back from the printed table.

Real runs where the state comes from training itself (finished and evaluated, interrupted by a
kill between two steps, an interrupted fine-tune, a quickstart-style parent folder); hand-made
folders for the damage training never leaves on purpose (broken JSON, a missing checkpoint, an
empty model file) and for kinds that need no training to tell apart (imported, energy, text,
OpenOOD-protocol results). The numbers are checked against the JSON files' values, formatted
here as percent.
"""

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from outlier_exposure.cli import main
from outlier_exposure.reporting import run_index
from outlier_exposure.evaluation.evaluate import evaluate
from outlier_exposure.training.config import config_from_preset, tune_config
from tests.helpers.tiny_runs import train_tiny, train_until

def listing(capsys, *argv) -> tuple[dict[str, dict], str]:
    """`oe runs ARGV` as {run path: {column: cell}}, parsed from the printed table, and the
    count of states under it."""
    assert main(["runs", *argv]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = re.split(r"\s{2,}", lines[0].strip())
    rows = {}
    for line in lines[2:]:
        if not line.strip():
            break
        cells = re.split(r"\s{2,}", line.strip(), maxsplit=len(header) - 1)
        rows[cells[0]] = dict(zip(header, cells))
    return rows, lines[-1]


def table(capsys, *argv) -> dict[str, dict]:
    return listing(capsys, *argv)[0]


def percent(value: float) -> str:
    return f"{100 * value:.2f}"


def write(path, text: str):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory, digits_npz, one_thread):
    """DIR with real runs: finished and evaluated, interrupted (baseline and fine-tune), and a
    quickstart-style folder holding two stage runs."""
    root = tmp_path_factory.mktemp("runs")
    done = train_tiny(root / "finished", digits_npz)
    evaluate(done, ood=["noise:gaussian", "noise:blobs"], device="cpu", draws=2)
    cfg = config_from_preset("quickstart", "baseline",
                             train=f"npz:{digits_npz}:x_train,y_train",
                             test=f"npz:{digits_npz}:x_test,y_test", epochs=3, batch_size=50,
                             model_kwargs={"width": 8})
    train_until(cfg, root / "interrupted", step=9)  # 8 steps an epoch: one epoch finished
    train_until(tune_config(done, epochs=2), root / "tune-interrupted", step=1)
    quick = root / "quick"
    for stage in ("baseline", "oe"):
        shutil.copytree(done, quick / stage)
    (quick / "results.json").write_text(json.dumps({"baseline": {}, "oe": {}}))
    # a run's own subfolder is not searched: this is no run of its own
    write(done / "tensorboard" / "config.json", "{}")
    return root


def test_finished_interrupted_and_quickstart_runs(runs_dir, capsys):
    rows = table(capsys, str(runs_dir))
    assert list(rows) == ["finished", "interrupted", "quick/baseline", "quick/oe",
                          "tune-interrupted"]  # sorted by path, tensorboard/ not searched
    results = json.loads((runs_dir / "finished" / "results.json").read_text())
    row = rows["finished"]
    assert row["kind"] == "baseline" and row["preset"] == "quickstart"
    assert row["epochs"] == "1/1" and row["state"] == "finished"
    assert row["test err"] == percent(results["test_error"])
    assert row["FPR95"] == percent(results["mean"]["fpr"])
    assert row["AUROC"] == percent(results["mean"]["auroc"])
    assert rows["quick/oe"]["AUROC"] == row["AUROC"]

    row = rows["interrupted"]
    assert row["epochs"] == "1/3" and row["test err"] == row["FPR95"] == "-"
    assert row["state"] == (f"interrupted: resume with `oe train --resume --out "
                            f"{runs_dir / 'interrupted'}`")
    row = rows["tune-interrupted"]
    assert row["kind"] == "oe-tune" and row["epochs"] == "0/2"
    assert row["state"] == (f"interrupted: resume with `oe tune --resume --out "
                            f"{runs_dir / 'tune-interrupted'}`")


def test_the_resume_command_it_prints_resumes_the_run(runs_dir, tmp_path, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(runs_dir / "interrupted", copy / "run")
    state = table(capsys, str(copy))["run"]["state"]
    command = re.search(r"`oe (.*)`", state).group(1).split()
    assert main([*command, "--quiet", "--device", "cpu"]) == 0
    capsys.readouterr()
    row = table(capsys, str(copy))["run"]
    assert (row["epochs"], row["state"]) == ("3/3", "finished")


def finished_folder(folder, config: dict, epochs: int | None = None, log: str | None = None):
    """A hand-made run folder as training leaves it: config, a log of `epochs` epochs, model.pt."""
    write(folder / "config.json", json.dumps(config))
    if log is None:
        log = "".join(json.dumps({"epoch": e + 1, "loss": 1.0}) + "\n"
                      for e in range(epochs or config["epochs"]))
    write(folder / "log.jsonl", log)
    (folder / "model.pt").write_bytes(b"weights")
    return folder


def test_damaged_folders_are_rows_saying_why(tmp_path, capsys):
    base = {"mode": "baseline", "preset": "cifar10-wrn", "epochs": 4}
    write(tmp_path / "bad-config" / "config.json", '{"mode": "baseline",')
    finished_folder(tmp_path / "bad-log", base,
                    log='{"epoch": 1}\nnot json\n{"epoch": 2}\n')
    finished_folder(tmp_path / "torn-log", base, log='{"epoch": 1}\n{"epoch": 2}\n{"epoch": 3}\n'
                                                     '{"epoch": 4}\n{"epo')
    no_ckpt = finished_folder(tmp_path / "no-checkpoint", base, epochs=2)
    (no_ckpt / "model.pt").unlink()
    empty = finished_folder(tmp_path / "empty-model", base)
    (empty / "model.pt").write_bytes(b"")
    short = finished_folder(tmp_path / "short-log", base, epochs=2)
    (tmp_path / "no-config").mkdir()
    (tmp_path / "no-config" / "checkpoint.pt").write_bytes(b"x")
    write(finished_folder(tmp_path / "bad-results", base) / "results.json", "[1, 2")
    finished_folder(tmp_path / "odd-mode", {**base, "mode": "tune"})
    finished_folder(tmp_path / "weights-only", {**base, "epochs": 0})  # --epochs 0 --weights W
    assert short.exists()

    rows, summary = listing(capsys, str(tmp_path))
    assert summary == "10 runs: 3 finished, 7 failed"
    state = {name: row["state"] for name, row in rows.items()}
    assert state["bad-config"] == "failed: config.json is not valid JSON (line 1)"
    assert state["bad-log"] == "failed: log.jsonl line 2 is not a JSON record"
    assert state["torn-log"] == "finished"  # a torn last line is dropped, as training does
    assert rows["torn-log"]["epochs"] == "4/4"
    assert state["no-checkpoint"].startswith("failed: checkpoint.pt is missing though log.jsonl "
                                             "records 2 epochs")
    assert state["empty-model"].startswith("failed: model.pt is empty")
    assert state["short-log"] == "failed: model.pt is there but log.jsonl records 2 of 4 epochs"
    assert state["no-config"].startswith("failed: no config.json")
    assert state["bad-results"].startswith("finished: results.json is not valid JSON")
    assert rows["bad-results"]["FPR95"] == "-"
    assert state["odd-mode"].startswith("failed: config.json: mode 'tune' is not one of")
    assert (rows["weights-only"]["epochs"], state["weights-only"]) == ("0/0", "finished")


def test_kinds_openood_results_and_running_runs(tmp_path, capsys):
    tune = {"mode": "oe-tune", "preset": "cifar10-wrn", "epochs": 10}
    imported = finished_folder(tmp_path / "imported", tune,
                               log=json.dumps({"event": "imported", "sha256": "0" * 64}) + "\n")
    energy = finished_folder(tmp_path / "energy", {**tune, "loss": "energy"})
    groups = {"near": {"fpr": 0.5, "auroc": 0.875}, "far": {"fpr": 0.25, "auroc": 0.9375}}
    openood = {"protocol": "openood", "test_error": 0.0525, "recall_level": 0.95,
               "mean": {"fpr": 0.375, "auroc": 0.90625}, "groups": groups, "ood": {}}
    write(energy / "results.json", json.dumps(openood))
    text = finished_folder(tmp_path / "text", {"task": "text", "mode": "baseline",
                                               "preset": "sst", "epochs": 5})
    write(text / "results.json", json.dumps({"test_error": 0.2, "recall_level": 0.9,
                                             "mean": {"fpr": 0.4, "auroc": 0.8}}))
    busy = finished_folder(tmp_path / "busy", tune, epochs=3)
    (busy / "model.pt").unlink()
    (busy / "checkpoint.pt").write_bytes(b"x")
    write(busy / ".oe.lock", json.dumps({"pid": os.getpid(), "command": "oe tune"}))
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True)
    stale = finished_folder(tmp_path / "stale-lock", tune, epochs=3)
    (stale / "model.pt").unlink()
    (stale / "checkpoint.pt").write_bytes(b"x")
    write(stale / ".oe.lock", json.dumps({"pid": int(gone.stdout), "command": "oe tune"}))
    assert imported.exists()

    rows = table(capsys, str(tmp_path))
    assert rows["imported"]["kind"] == "imported oe-tune" and rows["imported"]["epochs"] == "-"
    assert rows["imported"]["state"] == "finished"
    row = rows["energy"]
    assert (row["kind"], row["epochs"], row["state"]) == ("energy-tune", "10/10", "finished")
    assert (row["test err"], row["FPR95"], row["AUROC"]) == ("5.25", "37.50", "90.62")
    assert row["near/far AUROC"] == "87.50 / 93.75"
    assert rows["text"]["kind"] == "text baseline" and rows["text"]["near/far AUROC"] == "-"
    assert rows["text"]["FPR95"] == "40.00 (FPR90)"  # text runs: FPR at 90% recall, said so
    assert rows["busy"]["state"] == f"running: `oe tune` (pid {os.getpid()})"
    assert rows["busy"]["epochs"] == "3/10"
    assert rows["stale-lock"]["state"].startswith("interrupted: resume with `oe tune --resume")


def test_no_runs_a_missing_folder_and_a_run_folder_itself(tmp_path, capsys):
    assert main(["runs", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith(f"no run folders under {tmp_path}")

    assert main(["runs", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert "nowhere does not exist" in err and "Traceback" not in err

    folder = finished_folder(tmp_path / "one", {"mode": "baseline", "preset": "quickstart",
                                                "epochs": 2})
    rows = table(capsys, str(folder))
    assert list(rows) == ["."] and rows["."]["state"] == "finished"


def test_links_are_followed_but_never_round_in_a_loop(tmp_path, capsys):
    finished_folder(tmp_path / "a" / "run", {"mode": "baseline", "preset": "quickstart",
                                             "epochs": 1})
    (tmp_path / "a" / "up").symlink_to(tmp_path)  # a loop back to DIR
    (tmp_path / "linked").symlink_to(tmp_path / "a" / "run")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "to-a").symlink_to(tmp_path / "a")
    (tmp_path / "a" / "to-b").symlink_to(tmp_path / "b")  # a loop through two links
    rows = table(capsys, f"{tmp_path}/")
    assert list(rows) == ["a/run", "b/to-a/run", "linked"]
    assert {row["state"] for row in rows.values()} == {"finished"}


def test_listing_loads_no_torch(runs_dir):
    code = ("import sys; from outlier_exposure.cli import main; "
            f"assert main(['runs', {str(runs_dir)!r}]) == 0; "
            "assert 'torch' not in sys.modules, 'oe runs loads torch'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_the_results_file_name_agrees_with_the_module_that_writes_it():
    from outlier_exposure.reporting import report_runs

    assert run_index.RESULTS == report_runs.RESULTS
