"""The Tiny ImageNet AllConvNet ("allconv-64") against a re-derivation of the reference's
TinyImageNet/models/allconv.py: its layer list, its initialisation and its forward pass (ReLU
after every conv + BN, the 8x8 average pool, then a further 2x2 average pool)."""

import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from outlier_exposure.models import create_model

# The reference's layer list: ints are 3x3 convs (pad 1) to that width, "Md" max pool 2 +
# dropout 0.5, "nopad" a 3x3 conv without padding, "NIN" a 1x1 conv with padding 1, "A" an 8x8
# average pool; every conv is followed by BN and ReLU.
REFERENCE_LAYERS = [96, 96, 96, "Md", 192, 192, 192, "Md", "nopad", "NIN", "NIN", "A"]


def reference_tin_allconv(num_classes: int) -> nn.Module:
    """Built here from the reference's layer list and init, in its module order."""
    layers, width = [], 3
    for v in REFERENCE_LAYERS:
        if v == "Md":
            layers += [nn.MaxPool2d(2, 2), nn.Dropout(0.5)]
        elif v == "A":
            layers += [nn.AvgPool2d(8)]
        else:
            out = width if v in ("nopad", "NIN") else v
            k, pad = {"nopad": (3, 0), "NIN": (1, 1)}.get(v, (3, 1))
            layers += [nn.Conv2d(width, out, k, padding=pad), nn.BatchNorm2d(out), nn.ReLU()]
            width = out
    net = nn.Sequential(nn.Sequential(*layers), nn.Linear(192, num_classes))
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            m.weight.data.normal_(0, math.sqrt(2.0 / (m.kernel_size[0] * m.kernel_size[1]
                                                      * m.out_channels)))
        elif isinstance(m, nn.BatchNorm2d):
            m.weight.data.fill_(1)
            m.bias.data.zero_()
        elif isinstance(m, nn.Linear):
            m.bias.data.zero_()
    return net


def test_parameter_count_is_the_sum_of_the_reference_layer_sizes():
    def bn(c: int) -> int:
        return 2 * c  # weight and bias per channel

    expected = (
        (3 * 96 * 9 + 96) + bn(96)               # conv3x3 3 -> 96
        + 2 * ((96 * 96 * 9 + 96) + bn(96))      # 2 x conv3x3 96 -> 96
        + (96 * 192 * 9 + 192) + bn(192)         # conv3x3 96 -> 192
        + 2 * ((192 * 192 * 9 + 192) + bn(192))  # 2 x conv3x3 192 -> 192
        + (192 * 192 * 9 + 192) + bn(192)        # "nopad" conv3x3 192 -> 192
        + 2 * ((192 * 192 + 192) + bn(192))      # 2 x "NIN" conv1x1 192 -> 192
        + (192 * 200 + 200)                      # linear 192 -> 200
    )
    assert expected == 1_446_344
    model = create_model("allconv-64", 200)
    assert sum(p.numel() for p in model.parameters()) == expected


def test_forward_on_64x64_gives_200_logits():
    model = create_model("allconv-64", 200).eval()
    with torch.no_grad():
        assert model(torch.randn(3, 3, 64, 64)).shape == (3, 200)


def test_same_seed_gives_the_reference_initial_weights():
    torch.manual_seed(5)
    ours = create_model("allconv-64", 200)
    torch.manual_seed(5)
    ref = reference_tin_allconv(200)
    ours_state, ref_state = list(ours.state_dict().values()), list(ref.state_dict().values())
    assert len(ours_state) == len(ref_state)
    for a, b in zip(ours_state, ref_state):
        assert torch.equal(a, b)


def test_forward_is_the_reference_forward():
    # Same weights, made non-trivial in BN so the activation and pooling choices show.
    torch.manual_seed(0)
    ours = create_model("allconv-64", 200)
    ref = reference_tin_allconv(200)
    with torch.no_grad():
        for m in ours.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.bias.uniform_(-0.5, 0.5)
    ref.load_state_dict(dict(zip(ref.state_dict().keys(), ours.state_dict().values())))
    ours.eval(), ref.eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        # The reference's forward: features, then avg_pool2d(2), flatten, classifier.
        expected = ref[1](torch.flatten(F.avg_pool2d(ref[0](x), 2), 1))
        assert torch.allclose(ours(x), expected, atol=1e-5)


def test_relu_not_the_cifar_gelu():
    model = create_model("allconv-64", 10)
    activations = {type(m).__name__ for m in model.modules()
                   if not isinstance(m, (nn.Conv2d, nn.BatchNorm2d, nn.Sequential, nn.MaxPool2d,
                                         nn.Dropout, nn.AvgPool2d, nn.Linear))} - {"AllConvNet64"}
    assert activations == {"ReLU"}


@pytest.mark.parametrize("side", [56, 64, 119])
def test_sides_that_pool_to_one_pixel_are_accepted(side):
    model = create_model("allconv-64", 7).eval()
    with torch.no_grad():
        assert model.features(torch.randn(1, 3, side, side)).shape == (1, 192)
