"""ResNet-18 for 32x32 inputs, the CIFAR classifier OpenOOD v1.5 trains and releases.

He, Zhang, Ren & Sun, "Deep Residual Learning for Image Recognition", CVPR 2016, in the CIFAR form
of OpenOOD v1.5 (github.com/Jingkang50/OpenOOD, openood/networks/resnet18_32x32.py): a 3x3 stem
at full resolution and no max-pool, so a 32x32 image reaches the last stage as 4x4.

    conv3x3(in_channels -> 64, stride 1) - BN - ReLU            (no max-pool)
    layer1: 2 basic blocks, 64 channels,  stride 1
    layer2: 2 basic blocks, 128 channels, first stride 2
    layer3: 2 basic blocks, 256 channels, first stride 2
    layer4: 2 basic blocks, 512 channels, first stride 2
    global average pool - linear(512 -> num_classes)

A basic block is ``conv3x3(stride) - BN - ReLU - conv3x3 - BN``, added to a shortcut, then ReLU.
The shortcut is ``conv1x1(stride) - BN`` where the stride or the width changes (the first block
of layer2..layer4), else the identity. All convs are bias-free. 11,173,962 parameters for 10
classes.

State-dict keys are OpenOOD's (conv1, bn1, layerK.B.{conv1, bn1, conv2, bn2}, the projection as
layerK.B.shortcut.0 (conv) and .1 (BN), fc), so OpenOOD's released v1.5 checkpoints (its
download script's cifar10_res18_v1.5 / cifar100_res18_v1.5; torch.save'd state dicts) load with
`--weights` (models/weights.py). The input normalisation of those checkpoints is OpenOOD's, not
ours: CIFAR-10 mean (0.4914, 0.4822, 0.4465), std (0.2470, 0.2435, 0.2616); CIFAR-100 mean
(0.5071, 0.4867, 0.4408), std (0.2675, 0.2565, 0.2761).

Initialisation: PyTorch's defaults (Kaiming-uniform convs and linear, BN weight 1, bias 0), not
models/init.py's. OpenOOD builds this network with no init of its own, so its results were trained
from these defaults; init.py's He fan-out init is the 2019 paper's, for its WRN and AllConvNet.
Modules are created in OpenOOD's order, so a given seed draws the same initial weights.
"""

import torch
import torch.nn.functional as F
from torch import nn

from outlier_exposure.errors import UserInputError

WIDTHS = (64, 128, 256, 512)
STRIDES = (1, 2, 2, 2)
BLOCKS_PER_LAYER = 2


def _conv3x3(in_width: int, out_width: int, stride: int) -> nn.Conv2d:
    return nn.Conv2d(in_width, out_width, kernel_size=3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """conv3x3(stride)-BN-ReLU-conv3x3-BN plus a shortcut (a strided 1x1 conv-BN where the shape
    changes, else the identity), then ReLU."""

    def __init__(self, in_width: int, out_width: int, stride: int):
        super().__init__()
        self.conv1 = _conv3x3(in_width, out_width, stride)
        self.bn1 = nn.BatchNorm2d(out_width)
        self.conv2 = _conv3x3(out_width, out_width, 1)
        self.bn2 = nn.BatchNorm2d(out_width)
        # An empty Sequential is the identity and holds no state, so an identity shortcut adds no
        # keys; a projection's keys read shortcut.0.* (conv) and shortcut.1.* (BN), as OpenOOD's.
        if stride != 1 or in_width != out_width:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_width, out_width, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(out_width),
            )
        else:
            self.shortcut = nn.Sequential()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


def _layer(in_width: int, out_width: int, stride: int) -> nn.Sequential:
    """BLOCKS_PER_LAYER blocks; only the first changes the width and applies the stride."""
    return nn.Sequential(*(BasicBlock(in_width if i == 0 else out_width, out_width,
                                      stride if i == 0 else 1)
                           for i in range(BLOCKS_PER_LAYER)))


class ResNet18_32(nn.Module):
    """OpenOOD's ResNet-18 for 32x32 images, `num_classes` classes, `in_channels` channels.

    `features(x)` gives the pooled layer4 activations, (B, 512) (`feature_dim`); `forward(x)` the
    logits `fc(features(x))`. The pooling is adaptive, so other input sizes work too.
    """

    def __init__(self, num_classes: int, in_channels: int = 3):
        super().__init__()
        for name, value in (("num_classes", num_classes), ("in_channels", in_channels)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise UserInputError(f"ResNet18_32 {name}={value!r} must be a positive integer.")
        self.num_classes = num_classes
        self.feature_dim = WIDTHS[-1]
        self.conv1 = _conv3x3(in_channels, WIDTHS[0], 1)
        self.bn1 = nn.BatchNorm2d(WIDTHS[0])
        self.layer1 = _layer(WIDTHS[0], WIDTHS[0], STRIDES[0])
        self.layer2 = _layer(WIDTHS[0], WIDTHS[1], STRIDES[1])
        self.layer3 = _layer(WIDTHS[1], WIDTHS[2], STRIDES[2])
        self.layer4 = _layer(WIDTHS[2], WIDTHS[3], STRIDES[3])
        self.pool = nn.AdaptiveAvgPool2d(1)  # no parameters: no state-dict keys
        self.fc = nn.Linear(WIDTHS[-1], num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations, shape (B, 512): layer4's output, average-pooled."""
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        return torch.flatten(self.pool(out), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits, shape (B, num_classes)."""
        return self.fc(self.features(x))
