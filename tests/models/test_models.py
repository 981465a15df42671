"""Tests for outlier_exposure.models: sizes, init, shapes, dropout and the registry's errors."""

import math

import pytest
import torch
from torch import nn

from outlier_exposure.errors import UserInputError
from outlier_exposure.models import create_model, model_names
from outlier_exposure.models.wrn import PreActBlock


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def wrn_params_closed_form(depth: int, k: int, num_classes: int, in_channels: int = 3) -> int:
    """Parameter count of WRN-depth-k, counted by hand from the architecture.

    Stem conv3x3 (no bias); per group, the first block has BN(a) + conv3x3(a->b) + BN(b) +
    conv3x3(b->b) + a 1x1 shortcut when a != b, the other n-1 blocks 2 x (BN(b) + conv3x3(b->b));
    then BN(64k) and linear(64k -> C) with bias. A BN has 2 parameters per channel.
    """
    n = (depth - 4) // 6
    widths = [16, 16 * k, 32 * k, 64 * k]
    total = 9 * in_channels * 16
    for a, b in zip(widths[:-1], widths[1:]):
        total += 2 * a + 9 * a * b + 2 * b + 9 * b * b + (a * b if a != b else 0)
        total += (n - 1) * (2 * (2 * b + 9 * b * b))
    return total + 2 * widths[3] + widths[3] * num_classes + num_classes


def test_wrn_40_2_has_the_reference_parameter_count():
    assert n_params(create_model("wrn-40-2", 10, dropout=0.3)) == 2_243_546


@pytest.mark.parametrize(
    "depth, k, num_classes, in_channels",
    [(40, 2, 10, 3), (16, 4, 10, 3), (28, 10, 100, 3), (10, 1, 7, 1), (22, 3, 200, 3)],
)
def test_wrn_parameter_count_matches_closed_form(depth, k, num_classes, in_channels):
    model = create_model("wrn", num_classes, in_channels=in_channels, depth=depth, widen_factor=k)
    assert n_params(model) == wrn_params_closed_form(depth, k, num_classes, in_channels)


def test_wrn_initialisation_follows_the_reference():
    torch.manual_seed(0)
    model = create_model("wrn-40-2", 10)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            assert torch.all(m.weight == 1) and torch.all(m.bias == 0)
        if isinstance(m, nn.Conv2d):
            assert m.bias is None
    assert torch.all(model.fc.bias == 0)
    # The linear weight keeps PyTorch's default U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    bound = 1 / math.sqrt(model.fc.in_features)
    assert model.fc.weight.abs().max() <= bound and model.fc.weight.std() > bound / 4
    # He init over fan-out, N(0, sqrt(2 / (k * k * out))): a 128x128x3x3 conv (147k weights)
    # and a 64->128 1x1 shortcut (8k weights).
    big = model.block3.layer[1].conv2.weight
    assert big.std().item() == pytest.approx(math.sqrt(2 / (9 * 128)), rel=0.02)
    assert abs(big.mean().item()) < 0.002
    shortcut = model.block3.layer[0].convShortcut.weight
    assert shortcut.std().item() == pytest.approx(math.sqrt(2 / 128), rel=0.05)


def test_allconv_initialisation_follows_the_reference():
    torch.manual_seed(0)
    model = create_model("allconv", 10)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [96] * 3 + [192] * 6
    big = convs[4].weight  # 192x192x3x3
    assert big.std().item() == pytest.approx(math.sqrt(2 / (9 * 192)), rel=0.02)
    assert torch.all(model.classifier.bias == 0)
    assert all(torch.all(m.weight == 1) for m in model.modules() if isinstance(m, nn.BatchNorm2d))


@pytest.mark.parametrize(
    "name, in_channels, side, num_classes, feature_dim",
    [
        ("wrn-40-2", 3, 32, 10, 128),
        ("wrn-16-4", 3, 32, 10, 256),
        ("wrn-40-2", 3, 64, 200, 128),  # Tiny ImageNet
        ("allconv", 3, 32, 100, 192),
        ("allconv-64", 3, 64, 200, 192),  # Tiny ImageNet
        ("convnet", 1, 28, 10, 50),
        ("small-cnn", 3, 32, 10, 128),
        ("small-cnn", 1, 16, 10, 128),
        ("small-cnn", 1, 8, 3, 128),
    ],
)
def test_forward_gives_logits_and_features(name, in_channels, side, num_classes, feature_dim):
    torch.manual_seed(0)
    model = create_model(name, num_classes, in_channels=in_channels).eval()
    x = torch.randn(2, in_channels, side, side)
    with torch.no_grad():
        logits, feats = model(x), model.features(x)
    assert model.num_classes == num_classes and model.feature_dim == feature_dim
    assert logits.shape == (2, num_classes) and feats.shape == (2, feature_dim)
    assert torch.isfinite(logits).all()


def test_wrn_dropout_is_active_in_train_mode_only():
    torch.manual_seed(0)
    x = torch.randn(4, 3, 16, 16)
    model = create_model("wrn-10-2", 5, dropout=0.3)
    model.train()
    assert not torch.allclose(model(x), model(x))
    model.eval()
    assert torch.equal(model(x), model(x))
    still = create_model("wrn-10-2", 5, dropout=0.0).train()
    assert torch.allclose(still(x), still(x))


def test_wrn_block_shortcuts_follow_the_reference():
    # With both 3x3 convs zeroed the block returns its shortcut alone: the raw input when the
    # width is kept, the 1x1 projection of BN-ReLU(input) when it changes.
    torch.manual_seed(0)
    x = torch.randn(2, 8, 6, 6)
    same = PreActBlock(8, 8, 1, 0.0).eval()
    wider = PreActBlock(8, 16, 2, 0.0).eval()
    with torch.no_grad():
        for block in (same, wider):
            block.conv1.weight.zero_()
            block.conv2.weight.zero_()
            block.bn1.running_mean.fill_(0.5)  # so BN-ReLU(x) visibly differs from x
        assert torch.equal(same(x), x)
        expected = wider.convShortcut(torch.relu(wider.bn1(x)))
        assert torch.allclose(wider(x), expected)
        assert not torch.allclose(wider(x), wider.convShortcut(x))


def test_model_names_lists_the_registry():
    names = model_names()
    assert {"wrn", "wrn-40-2", "wrn-16-4", "allconv", "allconv-64", "convnet", "small-cnn"} \
        <= set(names)


@pytest.mark.parametrize(
    "name, kwargs, match",
    [
        ("resnet50", {}, "known models: allconv, allconv-64, convnet, resnet18-32, small-cnn, wrn"),
        (None, {}, "unknown model"),
        ("wrn-41-2", {}, "depth=41"),
        ("wrn", {"depth": 12}, "depth=12"),
        ("wrn", {"widen_factor": 2}, r"needs \['depth'\]"),
        ("wrn-40-2", {"depth": 28}, "already fixes depth"),
        ("wrn-40-2", {"dropout": 1.5}, "dropout=1.5"),
        ("wrn-40-2", {"width": 3}, "does not take"),
        ("allconv", {"dropout": 0.1}, "does not take"),
        ("small-cnn", {"width": 0}, "width=0"),
    ],
)
def test_bad_names_and_options_raise_user_input_error(name, kwargs, match):
    with pytest.raises(UserInputError, match=match):
        create_model(name, 10, **kwargs)


@pytest.mark.parametrize("name", ["wrn-10-1", "allconv", "allconv-64", "convnet", "small-cnn"])
def test_bad_num_classes_raises_user_input_error(name):
    with pytest.raises(UserInputError, match="num_classes=0"):
        create_model(name, 0)


@pytest.mark.parametrize(
    "name, in_channels, side",
    [("allconv", 3, 16), ("allconv", 3, 64), ("convnet", 1, 32), ("convnet", 1, 16),
     ("small-cnn", 1, 7), ("allconv-64", 3, 32), ("allconv-64", 3, 55), ("allconv-64", 3, 128)],
)
def test_unsupported_input_size_raises_user_input_error(name, in_channels, side):
    model = create_model(name, 10, in_channels=in_channels).eval()
    with pytest.raises(UserInputError, match="got"):
        model(torch.zeros(1, in_channels, side, side))


def test_user_input_error_is_a_value_error():
    with pytest.raises(ValueError):
        create_model("nope", 10)
