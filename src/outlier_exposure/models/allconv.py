"""All-convolutional network, the second CIFAR classifier of the Outlier Exposure experiments.

Springenberg et al., "Striving for Simplicity: The All Convolutional Net", ICLR 2015 workshop, in
the variant used by Hendrycks, Mazeika & Dietterich, "Deep Anomaly Detection with Outlier
Exposure", ICLR 2019 (the `allconv` model of their CIFAR scripts). Every conv is followed by BN
and the sigmoid approximation of GELU, ``x * sigmoid(1.702 x)``:

    3 x conv3x3(96, pad 1)      - maxpool 2 - dropout 0.5      32x32 -> 16x16
    3 x conv3x3(192, pad 1)     - maxpool 2 - dropout 0.5      16x16 -> 8x8
    conv3x3(192, pad 0)                                        8x8   -> 6x6
    2 x conv1x1(192, pad 1)                                    6x6   -> 8x8 -> 10x10
    avgpool(kernel 8, stride 8)                                10x10 -> 1x1
    linear(192 -> num_classes)

Initialisation: conv weights N(0, sqrt(2 / (k * k * out_channels))), BN weight 1 and bias 0,
linear bias 0; conv biases and the linear weight keep PyTorch's defaults. Modules are created in
the reference's order, so a given seed draws the same initial weights. A reference state_dict
loads after renaming its `features.` prefix to `body.` (here `features` is the method).
"""


import torch
from torch import nn

from outlier_exposure.errors import UserInputError
from outlier_exposure.models.init import he_fan_out_init

MIN_SIDE, MAX_SIDE = 24, 55


class SigmoidGELU(nn.Module):
    """GELU approximated by ``x * sigmoid(1.702 x)`` (Hendrycks & Gimpel 2016), as the reference.

    Not `nn.GELU`: the exact GELU and its tanh form differ from this one by up to ~0.02.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


def _conv_bn_gelu(in_width: int, out_width: int, kernel_size: int, padding: int) -> list[nn.Module]:
    return [
        nn.Conv2d(in_width, out_width, kernel_size=kernel_size, padding=padding),
        nn.BatchNorm2d(out_width),
        SigmoidGELU(),
    ]


class AllConvNet(nn.Module):
    """The reference AllConvNet for `num_classes` classes on 32x32 `in_channels`-channel images.

    `features(x)` gives the pooled 192-wide penultimate activations (`feature_dim`); `forward(x)`
    gives the logits. Inputs with sides from 24 to 55 pixels pool to 1x1 like 32x32 ones.
    """

    def __init__(self, num_classes: int, in_channels: int = 3):
        super().__init__()
        for name, value in (("num_classes", num_classes), ("in_channels", in_channels)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise UserInputError(f"AllConvNet {name}={value!r} must be a positive integer.")
        w1, w2 = 96, 192  # the reference uses these widths for CIFAR-10 and CIFAR-100 alike
        self.num_classes = num_classes
        self.feature_dim = w2

        layers: list[nn.Module] = []
        layers += _conv_bn_gelu(in_channels, w1, 3, 1)
        layers += _conv_bn_gelu(w1, w1, 3, 1)
        layers += _conv_bn_gelu(w1, w1, 3, 1)
        layers += [nn.MaxPool2d(kernel_size=2, stride=2), nn.Dropout(p=0.5)]
        layers += _conv_bn_gelu(w1, w2, 3, 1)
        layers += _conv_bn_gelu(w2, w2, 3, 1)
        layers += _conv_bn_gelu(w2, w2, 3, 1)
        layers += [nn.MaxPool2d(kernel_size=2, stride=2), nn.Dropout(p=0.5)]
        layers += _conv_bn_gelu(w2, w2, 3, 0)
        # Reference quirk, kept: the 1x1 "network in network" convs have padding 1, so each one
        # grows the map by 2 (6x6 -> 8x8 -> 10x10) with a border that sees only the bias.
        layers += _conv_bn_gelu(w2, w2, 1, 1)
        layers += _conv_bn_gelu(w2, w2, 1, 1)
        # Reference quirk, kept: a plain 8x8 average pool on the 10x10 map averages its top-left
        # 8x8 window only, so adaptive pooling would NOT be equivalent here.
        layers += [nn.AvgPool2d(kernel_size=8)]
        self.body = nn.Sequential(*layers)
        self.classifier = nn.Linear(w2, num_classes)
        he_fan_out_init(self)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations, shape (B, 192)."""
        # The final map has side s // 4 + 2 and the 8x8 pool gives 1x1 only for 8 <= that < 16.
        if not all(MIN_SIDE <= s <= MAX_SIDE for s in x.shape[-2:]):
            raise UserInputError(
                f"AllConvNet got {tuple(x.shape[-2:])} images; it takes sides of {MIN_SIDE} to "
                f"{MAX_SIDE} pixels. Resize or crop the images to 32x32, as in the reference."
            )
        return torch.flatten(self.body(x), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits, shape (B, num_classes)."""
        return self.classifier(self.features(x))
