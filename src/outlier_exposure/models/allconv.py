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


from collections.abc import Callable

import torch
from torch import nn

from outlier_exposure.errors import UserInputError
from outlier_exposure.models.init import he_fan_out_init

MIN_SIDE, MAX_SIDE = 24, 55
# The reference uses these widths for CIFAR-10, CIFAR-100 and Tiny ImageNet alike.
WIDTHS = (96, 192)


class SigmoidGELU(nn.Module):
    """GELU approximated by ``x * sigmoid(1.702 x)`` (Hendrycks & Gimpel 2016), as the reference.

    Not `nn.GELU`: the exact GELU and its tanh form differ from this one by up to ~0.02.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


def allconv_layers(in_channels: int, activation: Callable[[], nn.Module]) -> list[nn.Module]:
    """The reference AllConvNet's feature stack, up to and including its 8x8 average pool, with
    `activation()` after every conv + BN. Shared by the CIFAR net (SigmoidGELU) and the Tiny
    ImageNet net (ReLU, allconv_tin.py): the two references differ only in the activation and
    in what follows this stack. Modules are made in the reference's order (init draws match)."""
    w1, w2 = WIDTHS

    def conv_bn_act(in_width: int, out_width: int, kernel_size: int, padding: int):
        return [nn.Conv2d(in_width, out_width, kernel_size=kernel_size, padding=padding),
                nn.BatchNorm2d(out_width), activation()]

    layers: list[nn.Module] = []
    layers += conv_bn_act(in_channels, w1, 3, 1)
    layers += conv_bn_act(w1, w1, 3, 1)
    layers += conv_bn_act(w1, w1, 3, 1)
    layers += [nn.MaxPool2d(kernel_size=2, stride=2), nn.Dropout(p=0.5)]
    layers += conv_bn_act(w1, w2, 3, 1)
    layers += conv_bn_act(w2, w2, 3, 1)
    layers += conv_bn_act(w2, w2, 3, 1)
    layers += [nn.MaxPool2d(kernel_size=2, stride=2), nn.Dropout(p=0.5)]
    layers += conv_bn_act(w2, w2, 3, 0)
    # Reference quirk, kept: the 1x1 "network in network" convs have padding 1, so each one
    # grows the map by 2 (6x6 -> 8x8 -> 10x10 at 32x32) with a border that sees only the bias.
    layers += conv_bn_act(w2, w2, 1, 1)
    layers += conv_bn_act(w2, w2, 1, 1)
    # Reference quirk, kept: a plain 8x8 average pool (stride 8) on the 10x10 map averages its
    # top-left 8x8 window only, so adaptive pooling would NOT be equivalent here.
    layers += [nn.AvgPool2d(kernel_size=8)]
    return layers


def check_positive_ints(model: str, **values: int) -> None:
    for name, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise UserInputError(f"{model} {name}={value!r} must be a positive integer.")


class AllConvNet(nn.Module):
    """The reference AllConvNet for `num_classes` classes on 32x32 `in_channels`-channel images.

    `features(x)` gives the pooled 192-wide penultimate activations (`feature_dim`); `forward(x)`
    gives the logits. Inputs with sides from 24 to 55 pixels pool to 1x1 like 32x32 ones.
    """

    # What the Tiny ImageNet variant (allconv_tin.py) changes: the activation, the sides it
    # accepts, the hint of its size error, and a pool after the stack (`after_stack`).
    ACTIVATION: Callable[[], nn.Module] = SigmoidGELU
    SIDES = (MIN_SIDE, MAX_SIDE)  # the final map is s // 4 + 2; the 8x8 pool gives 1x1 for 8..15
    SIZE_HINT = "Resize or crop the images to 32x32, as in the reference."

    def __init__(self, num_classes: int, in_channels: int = 3):
        super().__init__()
        check_positive_ints(type(self).__name__, num_classes=num_classes, in_channels=in_channels)
        self.num_classes = num_classes
        self.feature_dim = WIDTHS[1]
        self.body = nn.Sequential(*allconv_layers(in_channels, self.ACTIVATION))
        self.classifier = nn.Linear(WIDTHS[1], num_classes)
        he_fan_out_init(self)

    def after_stack(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations, shape (B, 192)."""
        low, high = self.SIDES
        if not all(low <= s <= high for s in x.shape[-2:]):
            raise UserInputError(
                f"{type(self).__name__} got {tuple(x.shape[-2:])} images; it takes sides of "
                f"{low} to {high} pixels. {self.SIZE_HINT}"
            )
        return torch.flatten(self.after_stack(self.body(x)), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits, shape (B, num_classes)."""
        return self.classifier(self.features(x))
