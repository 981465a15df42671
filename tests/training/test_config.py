"""One source of configuration: presets as overrides of the run config's defaults, the fine-tune
as its baseline's config with a named list of resets, one base for image and text configs.

pinned_configs.json holds what every image and text preset resolves to in every mode, their
fine-tunes, and `oe presets`: first generated from the code before the reshape (which had to
keep every value), then changed only on purpose (the reference recipes of issue 12: absolute LR
floor, outlier order and augmentation, OOD lists and draw sizes, the AWD-LSTM presets), each
change reviewed as a diff of this file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from outlier_exposure.commands.presets import run as print_presets
from outlier_exposure.errors import UserInputError
from outlier_exposure.text.config import (
    TEXT_RECIPES, TextConfig, load_text_config, text_config_from_preset, text_tune_config)
from outlier_exposure.training import runs
from outlier_exposure.training.config import (
    TUNE_RESETS, RunConfig, config_from_preset, load_config, tune_config)
from outlier_exposure.training.config_base import ConfigError
from outlier_exposure.training.presets import PRESETS

PINNED = json.loads((Path(__file__).parent / "pinned_configs.json").read_text())
MODES = ("baseline", "oe-tune", "oe-scratch")
# The baseline settings the pinned fine-tunes start from: every one differs from its preset.
BASE_EXTRAS = dict(precision="bf16", calibration_holdout="last:10", seed=3, batch_size=64,
                   weight_decay=0.01, lr_min_factor=0.5, nesterov=False, num_classes=10,
                   momentum=0.5, lam=0.7, oe_batch_size=33, eval_batch_size=7, data_on="host",
                   channels_last=True, ood=["noise:gaussian"])
TUNE_OVERRIDES = dict(epochs=3, loss="energy", m_in=-30.0, outliers="noise:blobs")
TEXT_EXTRAS = dict(lower=True, fix_length=100, labels=["a", "b"], num_classes=2,
                   weight_decay=0.1, seed=2, batch_size=8, oe_batch_size=9, lam=0.3, clip=1.0,
                   data_root="/data", vocab_size=50, bptt=11, epochs=2, lr=0.5)


def user_data(name: str) -> dict:
    """The --train / --test / --outliers a preset without data of its own (`pretrained`) needs
    to resolve."""
    if PRESETS[name].train:
        return {}
    return dict(train="folder:my/train", test="folder:my/test", outliers="folder:my/outliers")


def as_json(cfg) -> dict:
    return json.loads(json.dumps(cfg.to_dict()))


def test_presets_are_the_same_set():
    assert set(PRESETS) == set(PINNED["image"])
    assert set(TEXT_RECIPES) == set(PINNED["text"])


@pytest.mark.parametrize("name", sorted(PINNED["image"]))
@pytest.mark.parametrize("mode", MODES)
def test_every_image_preset_resolves_as_before(name, mode):
    assert as_json(config_from_preset(name, mode, **user_data(name))) == PINNED["image"][name][mode]


@pytest.mark.parametrize("name", sorted(PINNED["text"]))
@pytest.mark.parametrize("mode", MODES)
def test_every_text_preset_resolves_as_before(name, mode):
    assert as_json(text_config_from_preset(name, mode)) == PINNED["text"][name][mode]


@pytest.mark.parametrize("name", sorted(PINNED["image_tune"]))
def test_image_fine_tunes_resolve_as_before(tmp_path, name):
    runs.write_json(tmp_path / "config.json",
                    config_from_preset(name, "baseline", **BASE_EXTRAS, **user_data(name)).to_dict())
    for key, overrides in (("plain", {}), ("overrides", TUNE_OVERRIDES)):
        outliers = {"outliers": user_data(name)["outliers"]} if user_data(name) else {}
        found = as_json(tune_config(tmp_path, **{**outliers, **overrides}))
        assert found.pop("init_from") == str(tmp_path)
        expected = dict(PINNED["image_tune"][name][key])
        assert expected.pop("init_from") == "BASELINE"
        assert found == expected


@pytest.mark.parametrize("name", sorted(PINNED["text_tune"]))
def test_text_fine_tunes_resolve_as_before(tmp_path, name):
    runs.write_json(tmp_path / "config.json",
                    text_config_from_preset(name, "baseline", **TEXT_EXTRAS).to_dict())
    for key, overrides in (("plain", {}), ("overrides", dict(epochs=1, outliers="lines:x.txt"))):
        found = as_json(text_tune_config(tmp_path, **overrides))
        assert found.pop("init_from") == str(tmp_path)
        expected = dict(PINNED["text_tune"][name][key])
        assert expected.pop("init_from") == "BASELINE"
        assert found == expected


def test_oe_presets_prints_as_before(capsys):
    assert print_presets(None) == 0
    assert capsys.readouterr().out.splitlines() == PINNED["oe_presets_output"]


def test_a_fine_tune_keeps_the_calibration_holdout(tmp_path):
    runs.write_json(tmp_path / "config.json", config_from_preset(
        "quickstart", "baseline", calibration_holdout="random:0.1").to_dict())
    assert tune_config(tmp_path).calibration_holdout == "random:0.1"
    assert "calibration_holdout" not in TUNE_RESETS


def test_preset_keys_are_run_config_fields():
    fields = set(RunConfig.field_names())
    for preset in PRESETS.values():
        for mode in MODES:
            assert set(preset.overrides(mode)) <= fields, preset.name


def test_config_json_round_trips(tmp_path):
    cfg = config_from_preset("cifar100-wrn", "oe-tune", init_from="x", calibration_holdout="last:9")
    runs.write_json(tmp_path / "config.json", cfg.to_dict())
    assert load_config(tmp_path) == cfg
    text = text_config_from_preset("lm", "oe-tune", init_from="x")
    runs.write_json(tmp_path / "config.json", text.to_dict())
    assert load_text_config(tmp_path) == text


def test_unknown_keys_are_refused_naming_the_key_and_the_file(tmp_path):
    data = config_from_preset("quickstart", "baseline").to_dict()
    runs.write_json(tmp_path / "config.json", {**data, "learning_rate": 0.1})
    with pytest.raises(UserInputError, match=rf"{tmp_path}.*config\.json.*'learning_rate'"):
        load_config(tmp_path)
    text = text_config_from_preset("sst", "baseline").to_dict()
    runs.write_json(tmp_path / "config.json", {**text, "dropout": 0.5})
    with pytest.raises(UserInputError, match=rf"{tmp_path}.*config\.json.*'dropout'"):
        load_text_config(tmp_path)


def test_mistyped_and_missing_values_are_refused(tmp_path):
    data = config_from_preset("quickstart", "baseline").to_dict()
    with pytest.raises(ConfigError, match="epochs = '15' is not of type int"):
        RunConfig.from_dict({**data, "epochs": "15"})
    with pytest.raises(ConfigError, match="image_shape"):
        RunConfig.from_dict({**data, "image_shape": [16, 16]})
    with pytest.raises(ConfigError, match="required key 'train'"):
        RunConfig.from_dict({k: v for k, v in data.items() if k != "train"})
    with pytest.raises(ConfigError, match="lr = 'fast'"):
        config_from_preset("quickstart", "baseline", lr="fast")
    # an int where a float is expected is a number all the same
    assert RunConfig.from_dict({**data, "lr": 1}).lr == 1
    with pytest.raises(ConfigError, match="lam"):
        TextConfig.from_dict({**text_config_from_preset("sst", "baseline").to_dict(), "lam": None})


def test_json_lists_become_tuples():
    data = json.loads(json.dumps(config_from_preset("quickstart", "baseline").to_dict()))
    cfg = RunConfig.from_dict(data)
    assert cfg.image_shape == (16, 16, 1) and cfg.noise_range == (-1.0, 1.0)
    assert isinstance(cfg.mean, tuple) and isinstance(cfg.ood, list)


def test_a_preset_never_shares_its_mutable_values():
    cfg = config_from_preset("offline-cifar10", "baseline")
    cfg.model_kwargs["width"] = 1
    cfg.model_kwargs["stage_convs"].append(9)
    assert config_from_preset("offline-cifar10", "baseline").model_kwargs == dict(
        width=32, stage_convs=[1, 2, 2])


def test_every_field_flag_names_a_run_config_field():
    from outlier_exposure.commands._common import RECIPE_FLAGS, SPEED_FLAGS, _dest
    from outlier_exposure.commands.tune import LOSS_FLAGS

    fields = set(RunConfig.field_names())
    for flag, options in RECIPE_FLAGS + SPEED_FLAGS + LOSS_FLAGS:
        assert _dest(flag, options) in fields, flag
