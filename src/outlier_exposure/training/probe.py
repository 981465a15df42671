"""Linear probing (`--linear-probe`): train the classifier head of a pretrained model only.

The rest of the model is frozen (no gradients, so the optimiser holds the head alone) and kept in
eval mode while the head trains: its batch-norm layers then normalise with the pretrained running
statistics instead of re-estimating them from every batch (and, under OE, from batches half made
of outliers), which is what a linear probe of a frozen feature extractor means.
"""

from __future__ import annotations

from torch import nn


def classifier_layer(model: nn.Module) -> nn.Linear:
    """The model's classifier head: the last `nn.Linear` producing `model.num_classes` logits."""
    heads = [m for m in model.modules()
             if isinstance(m, nn.Linear) and m.out_features == getattr(model, "num_classes", None)]
    if not heads:
        raise ValueError(f"{type(model).__name__} has no linear classifier head to probe")
    return heads[-1]


def freeze_all_but_head(model: nn.Module) -> list[nn.Parameter]:
    """Freeze every parameter but the head's; return the head's (what the optimiser trains)."""
    head = classifier_layer(model)
    for param in model.parameters():
        param.requires_grad_(False)
    for param in head.parameters():
        param.requires_grad_(True)
    return list(head.parameters())


def train_head_only(model: nn.Module) -> None:
    """Put `model` in training mode for one epoch of a linear probe: the head trains, everything
    else (dropout, batch-norm statistics) behaves as at evaluation."""
    model.eval()
    classifier_layer(model).train()


def trainable(model: nn.Module, linear_probe: bool) -> list[nn.Parameter]:
    """The parameters the optimiser updates."""
    if linear_probe:
        return freeze_all_but_head(model)
    return list(model.parameters())
