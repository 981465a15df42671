"""The reference's weight initialisation, shared by its WRN and AllConvNet."""

from __future__ import annotations

import math

from torch import nn


def he_fan_out_init(model: nn.Module) -> None:
    """He-normal conv weights with fan-out over the conv's outputs, BN weight 1 / bias 0, and a
    zero Linear bias (the Linear weight keeps PyTorch's default), module by module in order, as
    the reference does: the same calls in the same order give the same weights under a seed."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
            nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.zeros_(m.bias)
