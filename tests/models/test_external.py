"""Tests for models/external.py: torchvision, timm and user-code classifiers behind the model
protocol (logits == classifier_head(features)), and the errors users get for bad names."""

import copy
import sys

import pytest
import torch
import torchvision  # imported at collection: its seconds are no test's time
from torch import nn

from outlier_exposure.errors import UserInputError
from outlier_exposure.evaluation.posthoc.base import classifier_head
from outlier_exposure.models import create_model, is_external, model_preprocessing
from outlier_exposure.models.external import ExternalClassifier

pytestmark = pytest.mark.usefixtures("one_thread")
FACTORY = "python:tests.models.user_factory"



def check_protocol(model: nn.Module, size: int = 32, channels: int = 3) -> torch.Tensor:
    """Features have feature_dim columns and the head of them gives the logits."""
    model.eval()
    x = torch.randn(2, channels, size, size)
    with torch.no_grad():
        logits, features = model(x), model.features(x)
        assert features.shape == (2, model.feature_dim)
        assert logits.shape == (2, model.num_classes)
        assert classifier_head(model) is model.head()
        torch.testing.assert_close(classifier_head(model)(features), logits, atol=1e-5, rtol=0)
    return features


def test_is_external():
    assert is_external("torchvision:resnet18") and is_external("timm:resnet18")
    assert is_external(" Python:pkg.mod:make")
    assert not is_external("wrn-40-2") and not is_external("resnet18") and not is_external(None)


@pytest.mark.parametrize("name, head, dim", [
    ("torchvision:resnet18", "fc", 512),
    ("torchvision:mobilenet_v3_small", "classifier.3", 1024),
])
def test_torchvision_features_feed_the_head(name, head, dim):
    torch.manual_seed(0)
    model = create_model(name, 10)
    assert isinstance(model, ExternalClassifier)
    assert (model.head_name, model.feature_dim, model.num_classes) == (head, dim, 10)
    check_protocol(model)


def test_state_dict_keys_are_the_library_keys_under_net():
    model = create_model("torchvision:resnet18", 10)
    bare = torchvision.models.resnet18(num_classes=10)
    assert list(model.state_dict()) == ["net." + k for k in bare.state_dict()]


class FeaturesOf(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.features(x)


@pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::torch.jit.TracerWarning")
@pytest.mark.parametrize("name", ["torchvision:resnet18", f"{FACTORY}:make_vit"])
def test_hooked_features_survive_jit_trace_and_deepcopy(name):
    torch.manual_seed(0)
    model = create_model(name, 10).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = model.features(x)
        traced = torch.jit.trace(FeaturesOf(model), x, check_trace=False)
        torch.testing.assert_close(traced(x), expected)
        # the copy's hook writes into the copy, not into the original
        torch.testing.assert_close(copy.deepcopy(model).features(x), expected)
    assert model._captured is None


def test_hooked_features_carry_gradients():
    model = create_model(f"{FACTORY}:make", 4)
    model.features(torch.randn(2, 3, 8, 8)).sum().backward()
    assert model.net[0].weight.grad is not None


def test_timm_convnet_and_vit():
    pytest.importorskip("timm")
    torch.manual_seed(0)
    convnet = create_model("timm:test_convnext", 10)
    assert (convnet.head_name, convnet.feature_dim) == ("head.fc", convnet.net.num_features)
    check_protocol(convnet)
    vit = create_model("timm:test_vit", 7)
    assert vit.head_name == "head" and vit.head().out_features == 7
    check_protocol(vit, size=vit.net.patch_embed.img_size[0])


def test_timm_takes_in_chans_and_kwargs():
    pytest.importorskip("timm")
    model = create_model("timm:test_resnet", 5, in_channels=1, drop_rate=0.1)
    assert model.net.drop_rate == 0.1
    check_protocol(model, channels=1)


def test_timm_resnet18_feature_dim():
    pytest.importorskip("timm")
    model = create_model("timm:resnet18", 10)
    assert (model.head_name, model.feature_dim) == ("fc", 512)
    check_protocol(model)


def test_python_factory_without_the_protocol():
    model = create_model(f"{FACTORY}:make", 6, width=4)
    assert (model.head_name, model.feature_dim, model.num_classes) == ("6", 16, 6)
    assert model.net[0].out_channels == 4
    check_protocol(model, size=8)


def test_python_factory_with_the_protocol_uses_its_own_features():
    model = create_model(f"{FACTORY}:make_protocol", 3, in_channels=1)
    assert (model.head_name, model.feature_dim) == ("out", 12)
    check_protocol(model, size=8, channels=1)
    assert model.net.features_calls == 1


def test_python_factory_vit_head_is_found():
    model = create_model(f"{FACTORY}:make_vit", 5)
    assert (model.head_name, model.feature_dim) == ("heads.head", 16)
    check_protocol(model)


@pytest.mark.parametrize("name, words", [
    ("torchvision:no_such_net", ["unknown torchvision model", "list_models()"]),
    ("timm:no_such_net", ["unknown timm model", "timm.list_models("]),
    ("python:no_such_package.models:make", ["no_such_package.models", "importable"]),
    (f"{FACTORY}:missing", ["has no callable 'missing'"]),
    (f"{FACTORY}:not_a_module", ["not a torch.nn.Module"]),
    ("python:just_a_module", ["python:package.module:factory"]),
    ("timm:", ["names no architecture"]),
])
def test_bad_names_are_user_errors(name, words):
    if name.startswith("timm:no_such"):
        pytest.importorskip("timm")
    with pytest.raises(UserInputError) as err:
        create_model(name, 10)
    for word in words:
        assert word in str(err.value)


def test_bad_kwargs_are_user_errors():
    with pytest.raises(UserInputError, match="could not be built with these options"):
        create_model("torchvision:resnet18", 10, no_such_option=3)
    with pytest.raises(UserInputError, match="could not be built"):
        create_model(f"{FACTORY}:make", 10, depth=3)


def test_torchvision_needs_three_channels():
    with pytest.raises(UserInputError, match="3-channel images only.*timm"):
        create_model("torchvision:resnet18", 10, in_channels=1)


def test_timm_missing_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)  # `import timm` now raises ImportError
    with pytest.raises(UserInputError, match=r"needs the timm package: pip install"):
        create_model("timm:resnet18", 10)
    with pytest.raises(UserInputError, match="needs the timm package"):
        model_preprocessing("timm:resnet18")


def test_model_preprocessing():
    tv = model_preprocessing("torchvision:resnet18")
    assert tv == {"mean": pytest.approx((0.485, 0.456, 0.406)),
                  "std": pytest.approx((0.229, 0.224, 0.225)), "input_size": 224,
                  "crop_pct": pytest.approx(224 / 256), "interpolation": "bilinear"}
    assert model_preprocessing(f"{FACTORY}:make") == {
        "mean": (0.5, 0.5, 0.5), "std": (0.25, 0.25, 0.25), "input_size": 32, "crop_pct": 1.0,
        "interpolation": "bilinear"}
    assert model_preprocessing("python:torch.nn:Linear") is None


def test_model_preprocessing_timm():
    pytest.importorskip("timm")
    cfg = model_preprocessing("timm:test_vit")
    assert set(cfg) == {"mean", "std", "input_size", "crop_pct", "interpolation"}
    assert cfg["input_size"] == 160 and len(cfg["mean"]) == 3
    assert model_preprocessing("timm:vit_tiny_patch16_224", img_size=32)["input_size"] == 32
