"""The README's main command, `oe quickstart`, run as a user runs it (the console script)."""

import json
import shutil
import subprocess
import sys

import pytest


def test_quickstart_runs_offline_and_oe_lowers_the_mean_fpr(tmp_path):
    exe = shutil.which("oe")
    cmd = [exe] if exe else [sys.executable, "-m", "outlier_exposure.cli"]
    out = tmp_path / "qs"
    done = subprocess.run(cmd + ["quickstart", "--out", str(out), "--quiet"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "FPR95 baseline" in done.stdout and "Mean" in done.stdout

    results = json.loads((out / "results.json").read_text())
    assert set(results) == {"baseline", "oe"}
    for r in results.values():
        assert {"in_dist", "model", "score", "positive", "recall_level", "test_error", "ood",
                "mean"} <= set(r)
        assert len(r["ood"]) == 6
    base, oe = results["baseline"], results["oe"]
    assert base["test_error"] < 0.05 and oe["test_error"] < 0.05
    # OE must clearly lower the mean FPR95 (measured here: about 82% -> 27%).
    assert oe["mean"]["fpr"] < base["mean"]["fpr"] - 0.25
    assert oe["mean"]["auroc"] > base["mean"]["auroc"]
    for run in ("baseline", "oe"):
        assert (out / run / "model.pt").exists() and (out / run / "results.json").exists()

    # A second run reuses the trained stages instead of training again.
    again = subprocess.run(cmd + ["quickstart", "--out", str(out), "--quiet"],
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("already trained") == 2
    assert json.loads((out / "results.json").read_text())["oe"]["mean"] == pytest.approx(oe["mean"])
