"""A small CNN for quick CPU runs (quickstart, tests, smoke checks); not a reference model.

Three conv-BN-ReLU stages of widths (w, 2w, 4w), with a 2x2 max-pool after the first two, then
global average pooling and a linear layer:

    conv3x3(in -> w)   - BN - ReLU - maxpool 2
    conv3x3(w -> 2w)   - BN - ReLU - maxpool 2
    conv3x3(2w -> 4w)  - BN - ReLU
    global average pool - linear(4w -> num_classes)

It takes any input of at least 8x8 pixels (8x8 reaches the last stage as 2x2). Initialised like
the WRN of the Outlier Exposure paper: conv weights N(0, sqrt(2 / (k * k * out_channels))), BN
weight 1 and bias 0, linear bias 0. `batchnorm=False` drops the BN layers (the convs get biases):
a model whose output does not depend on how a batch is split, which the multi-process test uses
to compare N processes with one. `stage_convs` repeats the conv-BN-ReLU of each stage (more
depth where the maps are small is cheap: the offline CIFAR-10 preset uses (1, 1, 2)).
"""

import math

import torch
from torch import nn

from outlier_exposure.errors import UserInputError

MIN_SIDE = 8


def _stage(in_width: int, out_width: int, batchnorm: bool) -> nn.Sequential:
    # No conv bias when a BN follows: it would cancel it.
    return nn.Sequential(
        nn.Conv2d(in_width, out_width, kernel_size=3, padding=1, bias=not batchnorm),
        nn.BatchNorm2d(out_width) if batchnorm else nn.Identity(),
        nn.ReLU(inplace=True),
    )


class SmallCNN(nn.Module):
    """Small CNN for `num_classes` classes; `features(x)` is (B, 4 * width) (`feature_dim`)."""

    def __init__(self, num_classes: int, in_channels: int = 3, width: int = 32,
                 batchnorm: bool = True, stage_convs: tuple[int, int, int] = (1, 1, 1)):
        super().__init__()
        for name, value in (("num_classes", num_classes), ("in_channels", in_channels),
                            ("width", width)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise UserInputError(f"SmallCNN {name}={value!r} must be a positive integer.")
        stage_convs = tuple(stage_convs)
        if len(stage_convs) != 3 or not all(isinstance(k, int) and k >= 1 for k in stage_convs):
            raise UserInputError(f"SmallCNN stage_convs={stage_convs!r} must be 3 integers >= 1, "
                                 "e.g. [1, 1, 2]")
        self.num_classes = num_classes
        self.feature_dim = 4 * width
        layers, channels = [], in_channels
        for i, (out, convs) in enumerate(zip((width, 2 * width, 4 * width), stage_convs)):
            for _ in range(convs):
                layers.append(_stage(channels, out, batchnorm))
                channels = out
            layers.append(nn.MaxPool2d(2) if i < 2 else nn.AdaptiveAvgPool2d(1))
        self.body = nn.Sequential(*layers)
        self.fc = nn.Linear(4 * width, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled last-stage activations, shape (B, 4 * width)."""
        if min(x.shape[-2:]) < MIN_SIDE:
            raise UserInputError(
                f"SmallCNN got {tuple(x.shape[-2:])} images; it needs sides of at least "
                f"{MIN_SIDE} pixels. Upsample or pad the images."
            )
        return torch.flatten(self.body(x), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits, shape (B, num_classes)."""
        return self.fc(self.features(x))
