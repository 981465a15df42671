"""OpenOOD v1.5's ResNet-18 for 32x32 inputs (models/resnet_cifar.py, model "resnet18-32"): its size,
our model protocol, OpenOOD's state-dict key names, and a round trip through the weights loader."""

import pytest
import torch
from torch import nn

from outlier_exposure.errors import UserInputError
from outlier_exposure.models import (
    ResNet18_32,
    create_model,
    load_pretrained,
    model_names,
    read_weights,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def build(num_classes: int = 10, seed: int = 0, **kw) -> nn.Module:
    torch.manual_seed(seed)
    return create_model("resnet18-32", num_classes, **kw)


def test_registered_and_the_known_parameter_count():
    assert "resnet18-32" in model_names()
    model = build()
    assert isinstance(model, ResNet18_32)
    assert sum(p.numel() for p in model.parameters()) == 11_173_962
    # 100 classes: only the head grows, by 90 * (512 + 1).
    assert sum(p.numel() for p in build(100).parameters()) == 11_173_962 + 90 * 513


@pytest.mark.parametrize("num_classes, in_channels, side", [(10, 3, 32), (100, 3, 32), (7, 1, 28)])
def test_shapes_and_forward_is_fc_of_features(num_classes, in_channels, side):
    model = build(num_classes, in_channels=in_channels).eval()
    assert model.num_classes == num_classes and model.feature_dim == 512
    x = torch.randn(2, in_channels, side, side)
    with torch.no_grad():
        feats, logits = model.features(x), model(x)
    assert feats.shape == (2, 512) and logits.shape == (2, num_classes)
    torch.testing.assert_close(model.fc(feats), logits, atol=0, rtol=0)


def test_no_max_pool_and_the_last_stage_is_4x4_for_32x32():
    model = build().eval()
    assert not any(isinstance(m, nn.MaxPool2d) for m in model.modules())
    stem = model.conv1
    assert (stem.kernel_size, stem.stride, stem.padding, stem.bias) == ((3, 3), (1, 1), (1, 1), None)
    seen = {}

    def keep_shape(_module, _inputs, out) -> None:
        seen["shape"] = tuple(out.shape)

    model.layer4.register_forward_hook(keep_shape)
    with torch.no_grad():
        model(torch.zeros(1, 3, 32, 32))
    assert seen["shape"] == (1, 512, 4, 4)


def test_state_dict_keys_are_openoods():
    keys = list(build().state_dict())
    for key in ("conv1.weight", "bn1.weight", "bn1.running_mean", "bn1.num_batches_tracked",
                "layer1.0.conv1.weight", "layer1.1.bn2.running_var",
                "layer2.0.shortcut.0.weight", "layer2.0.shortcut.1.weight",
                "layer2.0.shortcut.1.bias", "layer2.0.shortcut.1.running_mean",
                "layer3.0.shortcut.0.weight", "layer4.0.shortcut.1.running_var",
                "layer4.1.conv2.weight", "fc.weight", "fc.bias"):
        assert key in keys, key
    # Identity shortcuts hold nothing: none in layer1, none in the second block of any layer.
    assert not any(k.startswith("layer1.") and ".shortcut." in k for k in keys)
    assert not any(".1.shortcut." in k for k in keys)
    assert [k for k in keys if k.endswith("shortcut.0.weight")] == [
        f"layer{i}.0.shortcut.0.weight" for i in (2, 3, 4)]
    assert keys[:2] == ["conv1.weight", "bn1.weight"] and keys[-2:] == ["fc.weight", "fc.bias"]
    assert len(keys) == 122  # 62 parameters + 20 BatchNorms x 3 buffers


def test_shortcut_is_a_1x1_strided_projection_where_the_shape_changes():
    model = build()
    block = model.layer3[0]
    conv, bn = block.shortcut
    assert isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d)
    assert (conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.bias) == \
        (128, 256, (1, 1), (2, 2), None)
    assert len(model.layer1[0].shortcut) == 0 and len(model.layer3[1].shortcut) == 0


def test_a_block_adds_its_shortcut_then_applies_relu():
    block = build().layer1[0].eval()
    with torch.no_grad():
        block.conv2.weight.zero_()  # the residual branch gives bn2(0) = bn2's bias
        block.bn2.bias.fill_(-0.25)
        x = torch.randn(1, 64, 8, 8)
        torch.testing.assert_close(block(x), torch.relu(x - 0.25))


def test_pytorch_default_init():
    model = build()
    bn = model.layer2[0].bn1
    assert torch.equal(bn.weight, torch.ones_like(bn.weight)) and torch.equal(bn.bias, torch.zeros_like(bn.bias))
    assert model.fc.bias.abs().max() > 0  # PyTorch's default (uniform), not init.py's zero bias
    # Kaiming-uniform with a = sqrt(5): bound 1 / sqrt(fan_in), fan_in = 3 * 3 * 64 for layer1.
    assert model.layer1[0].conv1.weight.abs().max() <= 1 / (3 * 3 * 64) ** 0.5


def test_state_dict_round_trip_through_the_weights_loader(tmp_path):
    source, target = build(seed=0).train(), build(seed=1)
    with torch.no_grad():
        source(torch.randn(8, 3, 32, 32))  # moves the BN running statistics off their defaults
    path = tmp_path / "best.pt"
    torch.save(source.state_dict(), path)
    summary = load_pretrained(target, read_weights(path), str(path))
    assert summary == f"loaded {len(source.state_dict())} tensors from {path}"
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(target.eval()(x), source.eval()(x), atol=0, rtol=0)


def test_a_data_parallel_checkpoint_of_another_class_count_loads_all_but_the_head(tmp_path):
    source = build(100, seed=0)
    path = tmp_path / "ckpt.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in source.state_dict().items()}}, path)
    target = build(10, seed=1)
    summary = load_pretrained(target, read_weights(path), path.name)
    assert "the classifier head fc was replaced (100 -> 10 classes" in summary
    torch.testing.assert_close(target.layer4[1].conv2.weight, source.layer4[1].conv2.weight)


@pytest.mark.parametrize("kw, match", [({"num_classes": 0}, "num_classes=0"),
                                       ({"num_classes": 10, "in_channels": 0}, "in_channels=0"),
                                       ({"num_classes": 10, "width": 2}, "does not take")])
def test_bad_arguments_raise_user_input_error(kw, match):
    with pytest.raises(UserInputError, match=match):
        create_model("resnet18-32", **kw)
