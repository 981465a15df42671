"""torch.distributed: 2 gloo processes launched by torchrun against one process, same global batch."""

import json
import os
import shutil
import subprocess
import sys

import pytest
import torch

from outlier_exposure.training.distributed import Context, shard


def test_shards_cover_the_global_batch_in_order():
    batch = torch.arange(10)
    parts = [shard(batch, Context(rank=r, world_size=3)) for r in range(3)]
    assert [p.tolist() for p in parts] == [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]
    assert shard(batch, Context()).tolist() == batch.tolist()


def _train_args(npz, out, *extra):
    return ["train", "--preset", "quickstart", "--train", f"npz:{npz}:x_train,y_train",
            "--test", f"npz:{npz}:x_test,y_test", "--out", str(out), "--epochs", "2",
            "--batch-size", "40", "--oe-batch-size", "60", "--outliers", "skimage-photos",
            "--model", "small-cnn", "--model-arg", "width=8", "--model-arg", "batchnorm=false",
            "--device", "cpu", "--quiet", *extra]


@pytest.mark.skipif(shutil.which("torchrun") is None and sys.platform != "linux",
                    reason="needs torchrun")
def test_two_gloo_processes_match_one_process(tmp_path, digits_npz):
    from outlier_exposure.cli import main

    # One process, global batch 40 + 60 (400 training images: 10 full steps per epoch).
    assert main(_train_args(digits_npz, tmp_path / "single")) == 0
    # Two processes with torchrun (gloo on the CPU), each taking half of every global batch.
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "outlier_exposure.cli", *_train_args(digits_npz, tmp_path / "ddp")],
        capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]

    single = torch.load(tmp_path / "single" / "model.pt", weights_only=True)
    ddp = torch.load(tmp_path / "ddp" / "model.pt", weights_only=True)
    assert single.keys() == ddp.keys()
    # Same data, same global batch, gradients averaged over two equal shards: the weights agree
    # up to float summation order (measured max abs difference 5.9e-8; tolerance 1e-4).
    for key in single:
        torch.testing.assert_close(ddp[key], single[key], rtol=0, atol=1e-4, msg=key)
    log = [json.loads(line) for line in (tmp_path / "ddp" / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2]  # rank 0 alone writes the run files
    assert json.loads((tmp_path / "ddp" / "environment.json").read_text())["world_size"] == 2
