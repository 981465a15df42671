"""Tests for models/weights.py: reading weight files without unpickling code, unwrapping
checkpoint containers, and loading them into a model with one clear error when they do not fit."""


import pytest
import torch
import torchvision
from torch import nn

from outlier_exposure.errors import UserInputError
from outlier_exposure.models import create_model, load_pretrained, read_weights

pytestmark = pytest.mark.usefixtures("one_thread")
FACTORY = "python:tests.models.user_factory:make"



class Opaque:
    """A custom class: pickling an instance stores a reference to code."""

    def __init__(self):
        self.value = 3


def logits(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(x)


def seeded(name: str, seed: int, num_classes: int = 10, **kw) -> nn.Module:
    torch.manual_seed(seed)
    return create_model(name, num_classes, **kw)


@pytest.mark.parametrize("name, kw", [(FACTORY, {}), ("small-cnn", {"width": 8})])
@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_round_trip_gives_identical_logits(tmp_path, name, kw, suffix):
    source, target = seeded(name, 0, **kw), seeded(name, 1, **kw)
    x = torch.randn(3, 3, 16, 16)
    assert not torch.equal(logits(source, x), logits(target, x))
    path = tmp_path / f"w{suffix}"
    if suffix == ".safetensors":
        from safetensors.torch import save_file
        save_file(source.state_dict(), str(path))
    else:
        torch.save(source.state_dict(), path)
    summary = load_pretrained(target, read_weights(path), str(path))
    assert summary == f"loaded {len(source.state_dict())} tensors from {path}"
    torch.testing.assert_close(logits(target, x), logits(source, x), atol=0, rtol=0)


def test_library_checkpoint_with_an_imagenet_head_loads_all_but_the_head(tmp_path):
    torch.manual_seed(0)
    bare = torchvision.models.resnet18()  # the library's own layout, 1000 classes
    path = tmp_path / "resnet18.pth"
    torch.save(bare.state_dict(), path)
    model = seeded("torchvision:resnet18", 1)
    fresh_head = model.head().weight.detach().clone()

    summary = load_pretrained(model, read_weights(path), path.name)

    assert summary == ("loaded 120 tensors from resnet18.pth; the classifier head fc was "
                       "replaced (1000 -> 10 classes; it keeps its fresh initialisation)")
    ours = model.net.state_dict()
    for key, value in bare.state_dict().items():
        if not key.startswith("fc."):
            assert torch.equal(ours[key], value), key
    assert torch.equal(model.head().weight, fresh_head)


def test_a_checkpoint_without_a_head_loads_the_backbone(tmp_path):
    source = seeded(FACTORY, 0)
    state = {k: v for k, v in source.net.state_dict().items() if not k.startswith("6.")}
    summary = load_pretrained(seeded(FACTORY, 1), state, "backbone.pt")
    assert "the classifier head 6 was replaced (the file has no head" in summary


def test_containers_and_the_ddp_prefix_are_unwrapped(tmp_path):
    source = seeded(FACTORY, 0)
    path = tmp_path / "checkpoint.ckpt"
    torch.save({"epoch": 3, "arch": "make",
                "state_dict": {"module." + k: v for k, v in source.net.state_dict().items()},
                "state_dict_ema": {"module.x": torch.zeros(1)}}, path)
    state = read_weights(path)
    assert list(state) == list(source.net.state_dict())
    target = seeded(FACTORY, 1)
    load_pretrained(target, state, path.name)
    x = torch.randn(2, 3, 8, 8)
    torch.testing.assert_close(logits(target, x), logits(source, x), atol=0, rtol=0)


@pytest.mark.parametrize("key", ["model", "model_state_dict", "module"])
def test_other_container_keys(tmp_path, key):
    path = tmp_path / "w.bin"
    torch.save({key: {"a": torch.ones(2)}, "optimizer": {"lr": 0.1}}, path)
    assert list(read_weights(path)) == ["a"]


def test_wrong_architecture_is_one_error_with_counts(tmp_path):
    path = tmp_path / "resnet34.pt"
    torch.save(torchvision.models.resnet34(num_classes=10).state_dict(), path)
    with pytest.raises(UserInputError) as err:
        load_pretrained(create_model("torchvision:resnet18", 10), read_weights(path), path.name)
    message = str(err.value)
    assert message.startswith("the weights in resnet34.pt do not fit model torchvision:resnet18: ")
    assert "unexpected (layer1.2.conv1.weight" in message and "missing" not in message
    assert message.endswith("were they saved from this architecture?")


def test_missing_and_reshaped_keys_are_listed():
    model = create_model(FACTORY, 10)
    state = {k: v for k, v in model.net.state_dict().items() if k != "4.bias"}
    state["0.weight"] = torch.zeros(8, 1, 3, 3)
    with pytest.raises(UserInputError) as err:
        load_pretrained(model, state, "w.pt")
    assert "1 missing (4.bias)" in str(err.value)
    assert ("1 with another shape (0.weight: (8, 1, 3, 3) in the file, (8, 3, 3, 3) in the "
            "model)") in str(err.value)


def test_builtin_model_keys_are_checked_strictly():
    model = create_model("small-cnn", 10, width=8)
    state = dict(model.state_dict())
    state["extra.weight"] = torch.zeros(1)
    with pytest.raises(UserInputError, match="1 unexpected \\(extra.weight\\)"):
        load_pretrained(model, state, "w.pt")


def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "model.pt"
    torch.save({"weight": torch.ones(1), "thing": Opaque()}, path)
    with pytest.raises(UserInputError) as err:
        read_weights(path)
    message = str(err.value)
    assert "holds pickled Python objects" in message and "Opaque" in message
    assert "unpickling can run code" in message and "safetensors" in message


def test_a_whole_saved_module_is_refused(tmp_path):
    path = tmp_path / "net.pt"
    torch.save(nn.Linear(2, 2), path)
    with pytest.raises(UserInputError, match="pickled Python objects"):
        read_weights(path)


@pytest.mark.parametrize("name, content", [
    ("garbage.pt", b"this is not a checkpoint"),
    ("empty.pth", b""),
    ("bad.safetensors", b"garbage"),
])
def test_corrupt_files_are_user_errors(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(UserInputError, match=f"weights file {path} could not be read"):
        read_weights(path)


def test_truncated_file_is_a_user_error(tmp_path):
    path = tmp_path / "w.pt"
    torch.save({"a": torch.ones(100)}, path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(UserInputError, match="could not be read"):
        read_weights(path)


def test_missing_file_is_a_user_error(tmp_path):
    with pytest.raises(UserInputError, match="does not exist"):
        read_weights(tmp_path / "nope.pt")


@pytest.mark.parametrize("content", [{"a": torch.ones(1), "step": 3}, [torch.ones(1)]])
def test_non_tensor_contents_are_user_errors(tmp_path, content):
    path = tmp_path / "w.pt"
    torch.save(content, path)
    with pytest.raises(UserInputError, match="not a state dict"):
        read_weights(path)


def test_safetensors_missing_says_how_to_install(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "safetensors.torch", None)
    path = tmp_path / "w.safetensors"
    path.write_bytes(b"x")
    with pytest.raises(UserInputError, match="pip install safetensors"):
        read_weights(path)
