"""The training loop's pieces (issue 11): one RNG capture/restore for the image and text loops,
the module path of the loop, and functions short enough to read."""

import ast
import importlib
import math
from pathlib import Path

import torch

import outlier_exposure
from outlier_exposure.training import rng
from outlier_exposure.training.setup import cosine_lr

TRAINING = Path(outlier_exposure.__file__).resolve().parent / "training"


def _draws(generators):
    return ([torch.randperm(10, generator=g).tolist() for g in generators.values()]
            + [torch.rand(3).tolist()])


def test_restore_replays_the_draws_made_after_capture():
    generators = {"order": torch.Generator().manual_seed(0),
                  "augment": torch.Generator().manual_seed(1)}
    _draws(generators)
    state = rng.capture(generators)
    first = _draws(generators)
    rng.restore(generators, state)
    assert _draws(generators) == first


def test_a_checkpoint_without_cuda_state_still_restores():
    # What the text loop and CPU runs wrote before rng.py: named generators and "torch" only.
    generators = {"order": torch.Generator().manual_seed(3)}
    state = {"order": generators["order"].get_state(), "torch": torch.get_rng_state()}
    first = _draws(generators)
    rng.restore(generators, state)
    assert _draws(generators) == first


def test_the_loop_module_is_a_module():
    module = importlib.import_module("outlier_exposure.training.loop")
    assert module.__name__ == "outlier_exposure.training.loop" and callable(module.train_run)


def test_cosine_lr_runs_from_lr_to_its_floor():
    assert cosine_lr(0, 100, 0.1, 1e-6) == 0.1
    assert math.isclose(cosine_lr(100, 100, 0.1, 1e-6), 0.1 * 1e-6)
    assert cosine_lr(200, 100, 0.1, 1e-6) == cosine_lr(100, 100, 0.1, 1e-6)  # clamped


def test_no_function_in_training_is_over_80_lines():
    long = [f"{path.name}:{node.name} ({node.end_lineno - node.lineno + 1} lines)"
            for path in sorted(TRAINING.glob("*.py"))
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > 80]
    assert not long, long
