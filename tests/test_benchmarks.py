"""The benchmark scripts stay runnable: each imports against the package as it is now (a renamed
function once broke three of them unnoticed), and the GPU reproduction runs end to end on the CPU
(`gpu_reproduce.sh --smoke`)."""

import importlib.util
import subprocess
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.mark.parametrize("script", sorted(p.name for p in BENCHMARKS.glob("*.py")))
def test_every_benchmark_imports(script, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # they import each other
    spec = importlib.util.spec_from_file_location(f"bench_{Path(script).stem}", BENCHMARKS / script)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))


def test_gpu_reproduce_smoke_runs_on_the_cpu():
    done = subprocess.run(["bash", str(BENCHMARKS / "gpu_reproduce.sh"), "--smoke"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert any(line.startswith("oe ") and "mean FPR95" in line for line in lines)
    assert lines[-1].startswith("ratio: ") and float(lines[-1].split()[1]) > 0
