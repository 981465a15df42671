"""LeNet-style ConvNet, the MNIST classifier of the Outlier Exposure experiments.

The MNIST model of Hendrycks, Mazeika & Dietterich, "Deep Anomaly Detection with Outlier
Exposure", ICLR 2019 (the classic PyTorch MNIST example net, with GELU), for 28x28 images:

    conv5x5(in -> 10)  - maxpool 2 - GELU                         28x28 -> 24x24 -> 12x12
    conv5x5(10 -> 20)  - channel dropout 0.5 - maxpool 2 - GELU   12x12 -> 8x8   -> 4x4
    flatten (320) - linear(320 -> 50) - GELU - linear(50 -> num_classes)

GELU is the sigmoid approximation ``x * sigmoid(1.702 x)`` and the channel dropout is
`nn.Dropout2d`, as in the reference. All layers keep PyTorch's default initialisation (the
reference sets none), and the module names match the reference state_dict keys.
"""

import torch
from torch import nn

from outlier_exposure.errors import UserInputError
from outlier_exposure.models.allconv import SigmoidGELU


class ConvNet(nn.Module):
    """The reference MNIST ConvNet; `features(x)` is the 50-wide hidden layer (`feature_dim`)."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1):
        super().__init__()
        for name, value in (("num_classes", num_classes), ("in_channels", in_channels)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise UserInputError(f"ConvNet {name}={value!r} must be a positive integer.")
        self.num_classes = num_classes
        self.feature_dim = 50
        self.conv1 = nn.Conv2d(in_channels, 10, kernel_size=5)
        self.conv2 = nn.Conv2d(10, 20, kernel_size=5)
        self.conv2_drop = nn.Dropout2d(p=0.5)
        self.fc1 = nn.Linear(320, 50)
        self.fc2 = nn.Linear(50, num_classes)
        self.act = SigmoidGELU()
        self.pool = nn.MaxPool2d(2)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Hidden activations GELU(fc1(.)), shape (B, 50)."""
        # fc1 takes 20 x 4 x 4 = 320 inputs; sides of 28 to 31 pixels reach the 4x4 map.
        if not all(28 <= s <= 31 for s in x.shape[-2:]):
            raise UserInputError(
                f"ConvNet got {tuple(x.shape[-2:])} images; its first linear layer expects a 4x4 "
                "map, which 28x28 inputs give. Resize the images to 28x28 (MNIST size)."
            )
        out = self.act(self.pool(self.conv1(x)))
        out = self.act(self.pool(self.conv2_drop(self.conv2(out))))
        return self.act(self.fc1(torch.flatten(out, 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits, shape (B, num_classes)."""
        return self.fc2(self.features(x))
