"""`oe presets PRESET --json`: the resolved recipe per mode, to diff against the reference
(issue 12). The expected values are the reference scripts' (CIFAR/, SVHN/, TinyImageNet/, MNIST/
oe_tune.py and oe_scratch.py, utils/tinyimages_80mn_loader.py)."""

from __future__ import annotations

import json

import pytest

from outlier_exposure.cli import main

# preset: (outlier crop padding, outlier flip, random offset each epoch, outliers, OE batch of
# the fine-tune, OE batch from scratch)
REFERENCE = {
    "cifar10-wrn": (4, True, True, "tinyimages-80m:no-cifar", 256, 256),
    "svhn-wrn": (0, True, True, "tinyimages-80m:no-cifar", 256, 256),
    "tinyimagenet-wrn": (0, False, False, "imagenet-22k", 180, 256),
    "mnist-convnet": (0, True, True, "tinyimages-80m:no-cifar", 100, 100),
}


def _recipe(capsys, preset):
    assert main(["presets", preset, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("preset", sorted(REFERENCE))
def test_the_json_recipe_is_the_reference_one(capsys, preset):
    pad, flip, offset, outliers, tune_batch, scratch_batch = REFERENCE[preset]
    recipe = _recipe(capsys, preset)
    assert recipe["preset"] == preset
    modes = recipe["modes"]
    assert set(modes) == {"baseline", "oe-tune", "oe-scratch"}
    for mode, cfg in modes.items():
        assert cfg["mode"] == mode
        # the cosine ends at an absolute 1e-6 (LambdaLR factor 1e-6 / lr), whatever the lr
        assert cfg["lr_min"] == 1e-6 and cfg["lr_min_factor"] is None
        assert cfg["outlier_order"] == "reference"
        assert (cfg["outlier_crop_padding"], cfg["outlier_flip"]) == (pad, flip)
        assert cfg["outlier_random_offset"] is offset
        assert isinstance(cfg["ood"], list) and cfg["ood"]
    assert modes["baseline"]["outliers"] is None
    assert modes["oe-tune"]["outliers"] == modes["oe-scratch"]["outliers"] == outliers
    assert modes["oe-tune"]["oe_batch_size"] == tune_batch
    assert modes["oe-scratch"]["oe_batch_size"] == scratch_batch


def test_the_json_holds_every_field_a_run_records(capsys):
    from outlier_exposure.training.config import RunConfig

    for cfg in _recipe(capsys, "cifar10-wrn")["modes"].values():
        assert set(cfg) == set(RunConfig.field_names())


def test_json_without_a_preset_is_one_clear_error(capsys):
    assert main(["presets", "--json"]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "oe presets cifar10-wrn --json" in err
    assert main(["presets", "no-such-preset", "--json"]) == 2
    assert "unknown preset 'no-such-preset'" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["train", "--preset", "cifar10-wrn"], ["tune", "BASE"]])
def test_outlier_order_is_a_flag_of_train_and_tune(command):
    from outlier_exposure.cli import build_parser
    from outlier_exposure.commands._common import training_overrides

    parser = build_parser()
    args = parser.parse_args([*command, "--out", "x", "--outlier-order", "uniform"])
    assert training_overrides(args)["outlier_order"] == "uniform"
    assert training_overrides(parser.parse_args([*command, "--out", "x"]))["outlier_order"] is None
    with pytest.raises(SystemExit):
        parser.parse_args([*command, "--out", "x", "--outlier-order", "sorted"])


@pytest.mark.parametrize("preset, model", [("sst", "gru"), ("lm", "awd-lstm")])
def test_text_presets_print_their_recipe_too(capsys, preset, model):
    recipe = _recipe(capsys, preset)["modes"]
    assert set(recipe) == {"baseline", "oe-tune", "oe-scratch"}
    base = recipe["baseline"]
    assert base["preset"] == preset and base["model"] == model
    if preset == "sst":  # the reference's 10 OOD rows and its batches of 64
        assert base["ood_draw_size"] == "reference-text" and len(base["ood"]) == 10
    else:  # the reference LM: SGD at lr 30, scored on the first segments once
        assert (base["optimizer"], base["lr"], base["ood_rule"]) == ("sgd", 30.0, "first")
