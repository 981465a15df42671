"""Factories for the 'python:tests.models.user_factory:NAME' models of test_external.py: a
user's own nn.Module, with and without this package's model protocol."""

import torch
from torch import nn

# What model_preprocessing reports for the models of this module.
PREPROCESSING = {"mean": (0.5, 0.5, 0.5), "std": (0.25, 0.25, 0.25), "input_size": 32,
                 "crop_pct": 1.0, "interpolation": "bilinear"}


def make(num_classes: int, width: int = 8) -> nn.Module:
    """A plain classifier: no features method, the head is its last Linear."""
    return nn.Sequential(
        nn.Conv2d(3, width, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(width, 16), nn.ReLU(), nn.Linear(16, num_classes))


class ProtocolNet(nn.Module):
    """A classifier that already has features / feature_dim / num_classes."""

    def __init__(self, num_classes: int, in_channels: int = 3):
        super().__init__()
        self.num_classes, self.feature_dim = num_classes, 12
        self.body = nn.Sequential(nn.Conv2d(in_channels, 12, 3, padding=1), nn.ReLU(),
                                  nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.out = nn.Linear(12, num_classes)
        self.features_calls = 0

    def features(self, x: torch.Tensor) -> torch.Tensor:
        self.features_calls += 1
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.body(x))


def make_protocol(num_classes: int, in_channels: int = 3) -> nn.Module:
    return ProtocolNet(num_classes, in_channels)


def make_vit(num_classes: int) -> nn.Module:
    """A tiny torchvision ViT (head at heads.head) that builds and runs in milliseconds."""
    from torchvision.models import VisionTransformer

    return VisionTransformer(image_size=32, patch_size=8, num_layers=1, num_heads=2,
                             hidden_dim=16, mlp_dim=32, num_classes=num_classes)


def not_a_module(num_classes: int) -> int:
    return num_classes
