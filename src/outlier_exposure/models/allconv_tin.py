"""The Tiny ImageNet AllConvNet of the Outlier Exposure experiments (64x64 inputs, 200 classes).

The authors' Tiny ImageNet scripts use their own copy of the AllConvNet, which differs from the
CIFAR one (allconv.py) in two ways only:

- ReLU after every conv + BN, where the CIFAR net has the sigmoid GELU;
- after the 8x8 average pool (stride 8), which leaves a 2x2 map at 64x64
  (64 -> 32 -> 16 -> 14 -> 16 -> 18 -> floor((18 - 8) / 8) + 1 = 2), a further 2x2 average pool
  to 1x1, then the linear layer.

Same widths (96, 192), same layer order, same initialisation (he_fan_out_init), hence the same
parameter count as the CIFAR net for the same number of classes. A reference state_dict loads
after renaming its `features.` prefix to `body.`, as for the CIFAR net.
"""

import torch
from torch import nn
from torch.nn import functional as F

from outlier_exposure.models.allconv import AllConvNet

# The stack leaves a map of side s // 4 + 2; its 8x8 pool gives a 2x2 or 3x3 map (which the
# final 2x2 pool takes to 1x1) for 16 <= s // 4 + 2 < 32, i.e. sides 56 to 119.
MIN_SIDE, MAX_SIDE = 56, 119


class AllConvNet64(AllConvNet):
    """The reference Tiny ImageNet AllConvNet for `num_classes` classes on 64x64 images.

    `features(x)` gives the pooled 192-wide penultimate activations; `forward(x)` the logits.
    """

    # The reference's ReLU is in-place; that changes memory use, not a single value.
    ACTIVATION = nn.ReLU
    SIDES = (MIN_SIDE, MAX_SIDE)
    SIZE_HINT = ("Resize or crop the images to 64x64, as in the reference (or use model "
                 "'allconv' for 32x32 images).")

    def after_stack(self, x: torch.Tensor) -> torch.Tensor:
        # The reference's extra functional pool, after the stack's 8x8 one.
        return F.avg_pool2d(x, 2)
