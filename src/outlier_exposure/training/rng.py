"""The random state a checkpoint keeps, written once for the image and the text loops.

A resumed run must draw exactly what an uninterrupted one would: the same data order,
augmentation, outlier batches and dropout masks. Those draws come from the run's own named
generators ("order", "augment", "outliers", ...) and from torch's global generators (dropout:
the CPU one, and each GPU's on CUDA). Nothing in an epoch draws from numpy or Python's `random`,
so their states are not kept (and a checkpoint, loaded with `weights_only=True`, could not hold
numpy's state anyway).

The keys are the checkpoint's "rng" entry as runs made before this module wrote it: one per
named generator, "torch", and "cuda" when a GPU is visible. A checkpoint without "cuda" (made
on the CPU, or by a text run of an older version) restores the rest.
"""

from __future__ import annotations

import torch


def capture(generators: dict[str, torch.Generator]) -> dict:
    """The current state of the named generators and of torch's global ones."""
    state = {name: g.get_state() for name, g in generators.items()}
    state["torch"] = torch.get_rng_state()
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore(generators: dict[str, torch.Generator], state: dict) -> None:
    """Set the named generators and torch's global ones to a state `capture` returned."""
    for name, g in generators.items():
        g.set_state(state[name])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
