"""Wide Residual Network (WRN-depth-k), the main classifier of the Outlier Exposure experiments.

Zagoruyko & Komodakis, "Wide Residual Networks", BMVC 2016, in the form used by Hendrycks,
Mazeika & Dietterich, "Deep Anomaly Detection with Outlier Exposure", ICLR 2019 (WRN-40-2 with
dropout 0.3 for CIFAR and Tiny ImageNet, WRN-16-4 with dropout 0.4 for SVHN).

Architecture (n = (depth - 4) / 6 blocks per group, widths (16, 16k, 32k, 64k)):

    conv3x3(in_channels -> 16)
    group 1: n blocks, width 16k, first stride 1
    group 2: n blocks, width 32k, first stride 2
    group 3: n blocks, width 64k, first stride 2
    BN - ReLU - global average pool - linear(64k -> num_classes)

Each block is a pre-activation basic block,
``BN - ReLU - conv3x3(stride) - BN - ReLU - dropout - conv3x3``, added to a shortcut: the identity
when the width is unchanged, else a strided 1x1 conv. All convs are bias-free.

Initialisation: conv weights N(0, sqrt(2 / (k * k * out_channels))), BN weight 1 and bias 0, linear
bias 0; the linear weight keeps PyTorch's default. Modules are created and initialised in the
reference's order, so a given seed draws the same initial weights as the reference code, and the
state_dict keys match it, so the authors' published checkpoints load as they are.
"""


import torch
import torch.nn.functional as F
from torch import nn

from outlier_exposure.errors import UserInputError
from outlier_exposure.models.init import he_fan_out_init


def _conv3x3(in_width: int, out_width: int, stride: int) -> nn.Conv2d:
    return nn.Conv2d(in_width, out_width, kernel_size=3, stride=stride, padding=1, bias=False)


class PreActBlock(nn.Module):
    """Pre-activation basic block: BN-ReLU-conv3x3(stride)-BN-ReLU-dropout-conv3x3 plus shortcut."""

    def __init__(self, in_width: int, out_width: int, stride: int, dropout: float):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_width)
        self.conv1 = _conv3x3(in_width, out_width, stride)
        self.bn2 = nn.BatchNorm2d(out_width)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = _conv3x3(out_width, out_width, 1)
        # The camelCase name matches the reference state_dict keys. In a WRN the width changes
        # exactly where the stride is 2, so an identity shortcut never needs to downsample.
        self.convShortcut = (
            None
            if in_width == out_width
            else nn.Conv2d(in_width, out_width, kernel_size=1, stride=stride, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = F.relu(self.bn1(x))
        # Reference quirk, kept on purpose: the identity shortcut carries the raw input, but the
        # 1x1 projection shortcut is applied to the pre-activated input BN-ReLU(x), not to x.
        shortcut = x if self.convShortcut is None else self.convShortcut(pre)
        out = F.relu(self.bn2(self.conv1(pre)))
        out = self.conv2(self.dropout(out))
        return out + shortcut


class BlockGroup(nn.Module):
    """n blocks of one width; only the first changes the width and applies the stride."""

    def __init__(self, n: int, in_width: int, out_width: int, stride: int, dropout: float):
        super().__init__()
        # Held as `.layer` so the state_dict keys read `block1.layer.0.conv1.weight`, as in the
        # reference checkpoints.
        self.layer = nn.Sequential(
            *(
                PreActBlock(in_width if i == 0 else out_width, out_width, stride if i == 0 else 1,
                            dropout)
                for i in range(n)
            )
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


class WideResNet(nn.Module):
    """WRN-depth-widen_factor for `num_classes` classes on `in_channels`-channel images.

    `features(x)` gives the pooled penultimate activations (width 64 * widen_factor, also in
    `feature_dim`); `forward(x)` gives the logits `fc(features(x))`.
    """

    def __init__(
        self,
        depth: int,
        num_classes: int,
        widen_factor: int = 1,
        dropout: float = 0.0,
        in_channels: int = 3,
    ):
        super().__init__()
        _check_args(depth, num_classes, widen_factor, dropout, in_channels)
        n = (depth - 4) // 6
        widths = (16, 16 * widen_factor, 32 * widen_factor, 64 * widen_factor)
        self.depth = depth
        self.widen_factor = widen_factor
        self.num_classes = num_classes
        self.feature_dim = widths[3]

        self.conv1 = _conv3x3(in_channels, widths[0], 1)
        self.block1 = BlockGroup(n, widths[0], widths[1], 1, dropout)
        self.block2 = BlockGroup(n, widths[1], widths[2], 2, dropout)
        self.block3 = BlockGroup(n, widths[2], widths[3], 2, dropout)
        self.bn1 = nn.BatchNorm2d(widths[3])
        # The reference pools with avg_pool2d(8) (avg_pool2d(16) for 64x64 Tiny ImageNet), i.e.
        # over the whole final 8x8 (16x16) map; adaptive pooling to 1x1 is the same thing at those
        # sizes and also works for any other input size.
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(widths[3], num_classes)
        he_fan_out_init(self)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations, shape (B, feature_dim): after the final BN-ReLU and pooling."""
        out = self.block3(self.block2(self.block1(self.conv1(x))))
        out = F.relu(self.bn1(out))
        return torch.flatten(self.pool(out), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits, shape (B, num_classes)."""
        return self.fc(self.features(x))


def _check_args(depth, num_classes, widen_factor, dropout, in_channels) -> None:
    if not _is_int(depth) or depth < 10 or (depth - 4) % 6 != 0:
        raise UserInputError(
            f"WideResNet depth={depth!r} is not 6n+4 with n >= 1; use one of 10, 16, 22, 28, 34, "
            "40, ... (e.g. 40 for WRN-40-2, 16 for WRN-16-4)."
        )
    for name, value in (("num_classes", num_classes), ("widen_factor", widen_factor),
                        ("in_channels", in_channels)):
        if not _is_int(value) or value < 1:
            raise UserInputError(f"WideResNet {name}={value!r} must be a positive integer.")
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
        raise UserInputError(
            f"WideResNet dropout={dropout!r} must be a probability in [0, 1) "
            "(the reference uses 0.3 for CIFAR, 0.4 for SVHN)."
        )


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
