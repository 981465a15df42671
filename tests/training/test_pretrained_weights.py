"""`--weights pretrained`: the library's own weights, found in its cache (never downloaded without
--download), and `--weights PATH` checked before a run writes anything."""

import pytest
import torch

from outlier_exposure.data.storage.roots import set_download_missing
from outlier_exposure.errors import UserInputError
from outlier_exposure.training.pretrained import weights_file


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    set_download_missing(False)
    return tmp_path


def test_torchvision_weights_come_from_the_torch_hub_cache(torch_home):
    with pytest.raises(UserInputError) as err:
        weights_file("torchvision:resnet18", "pretrained")
    message = str(err.value)
    cached = torch_home / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    assert str(cached.parent) in message and "--download" in message
    assert "https://download.pytorch.org/models/resnet18-f37072fd.pth" in message
    cached.parent.mkdir(parents=True)
    torch.save({"fc.weight": torch.zeros(2, 2)}, cached)  # what an offline machine is given
    assert weights_file("torchvision:resnet18", "pretrained") == cached


def test_timm_weights_missing_from_the_hugging_face_cache_name_it(torch_home):
    pytest.importorskip("timm")
    with pytest.raises(UserInputError, match="timm/resnet10t.* --download|--download.*timm"):
        weights_file("timm:resnet10t", "pretrained")


@pytest.mark.parametrize("model", ["wrn-40-2", "python:tests.models.user_factory:make"])
def test_only_library_models_have_library_weights(model):
    with pytest.raises(UserInputError, match="--weights PATH"):
        weights_file(model, "pretrained")


def test_a_missing_weights_file_is_named(tmp_path):
    with pytest.raises(UserInputError, match="nope.pt: no such file"):
        weights_file("torchvision:resnet18", str(tmp_path / "nope.pt"))
    path = tmp_path / "w.safetensors"
    path.write_bytes(b"")
    assert weights_file("torchvision:resnet18", str(path)) == path.resolve()
