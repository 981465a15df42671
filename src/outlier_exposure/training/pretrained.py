"""`--weights`: which file a run's pretrained weights come from.

A path names a state-dict file (models/weights.py reads it without unpickling code). The word
`pretrained` names the architecture's default pretrained weights in the library's own cache, so
an offline machine can be given the file where the library looks for it:

- torchvision:NAME: `torchvision.models.get_model_weights(NAME).DEFAULT`, cached as
  `$TORCH_HOME/hub/checkpoints/<file of its URL>` (default ~/.cache/torch/hub/checkpoints);
- timm:NAME: the model's pretrained config, `model.safetensors` of its Hugging Face repository in
  the Hugging Face cache ($HF_HOME/hub, default ~/.cache/huggingface/hub), or, for models whose
  weights are a plain URL, the torch hub cache as above.

Nothing is downloaded unless `--download` is given (data.storage.roots.download_missing); then
torchvision's file is checked against the hash prefix in its name, timm's fetched through
huggingface_hub.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..data.storage.roots import download_missing
from ..errors import UserInputError

LIBRARY_WEIGHTS = "pretrained"


def weights_file(model: str, weights: str) -> Path:
    """The file `--weights` names for `model`: the path itself, or for `pretrained` the
    library's cached file (fetched first with --download)."""
    if weights != LIBRARY_WEIGHTS:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise UserInputError(
                f"--weights {weights}: no such file; name a state dict (.pt, .pth or "
                f".safetensors), or `{LIBRARY_WEIGHTS}` for the library's own weights of the model")
        return path.resolve()
    source, _, name = model.partition(":")
    if source == "torchvision":
        return _torchvision_file(name)
    if source == "timm":
        return _timm_file(name)
    raise UserInputError(
        f"--weights {LIBRARY_WEIGHTS} means the library's own pretrained weights, which only "
        f"torchvision:NAME and timm:NAME models have (not {model!r}); pass --weights PATH")


def _torchvision_file(name: str) -> Path:
    import torch
    import torchvision

    try:
        default = torchvision.models.get_model_weights(name).DEFAULT
    except (ValueError, KeyError):
        raise UserInputError(f"torchvision has no pretrained weights for {name!r}; "
                             "pass --weights PATH") from None
    return _hub_file(default.url, f"torchvision:{name}", torch)


def _hub_file(url: str, what: str, torch) -> Path:
    path = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)
    if path.is_file():
        return path
    if not download_missing():
        raise _missing(what, url, path)
    # check_hash: torchvision and timm name their files NAME-<first digits of the sha256>.pth
    torch.hub.load_state_dict_from_url(url, map_location="cpu", progress=True, check_hash=True,
                                       weights_only=True)
    return path


def _timm_file(name: str) -> Path:
    import timm

    cfg = timm.get_pretrained_cfg(name)
    if cfg is None or not (cfg.hf_hub_id or cfg.url):
        raise UserInputError(f"timm has no pretrained weights for {name!r}; pass --weights PATH")
    if not cfg.hf_hub_id:
        import torch

        return _hub_file(cfg.url, f"timm:{name}", torch)
    import huggingface_hub

    filename = "model.safetensors"
    cached = huggingface_hub.try_to_load_from_cache(cfg.hf_hub_id, filename)
    if isinstance(cached, str):
        return Path(cached)
    if not download_missing():
        where = Path(huggingface_hub.constants.HF_HUB_CACHE)
        raise _missing(f"timm:{name}", f"https://huggingface.co/{cfg.hf_hub_id}", where)
    return Path(huggingface_hub.hf_hub_download(cfg.hf_hub_id, filename))


def _missing(what: str, source: str, where: Path) -> UserInputError:
    return UserInputError(
        f"the pretrained weights of {what} are not on this machine (looked in {where}); add "
        f"--download to fetch them from {source}, copy them there from a machine that has them, "
        "or pass --weights PATH (docs/your-model.md)")
