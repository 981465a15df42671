"""Presets: the reference hyper-parameters of each experiment (docs/protocol.md section 1).

A preset states only what differs from `RunConfig`'s defaults (the paper's CIFAR-10 WRN-40-2
recipe, see training/config.py): `config` in every mode (the model, the input format, the data,
the baseline and from-scratch schedule), `modes["oe-tune"]` what the OE fine-tune changes on top.
Anything can be overridden by a flag; the resolved values are saved with every run.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config_base import Preset as _PresetBase
from ..errors import UserInputError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preset(_PresetBase):
    # What `--calibration` holds out of the training set for temperature tuning (the
    # reference's validation split; rules in holdout.py). Not a run value unless asked for.
    calibration_holdout: str = "last:5000"
    # The binning `oe reproduce --calibration` uses unless `--calibration-mode` says otherwise
    # (calibration/metrics.py MODES): "reference" (the authors' code, which skips the top bin)
    # wherever the paper's numbers are the comparison, "corrected" for the CPU-scale stand-ins.
    calibration_mode: str = "reference"
    # What `oe reproduce` trains: the paper's baseline and OE fine-tune, or, for the presets that
    # train as OpenOOD v1.5 does, its MSP baseline and its OE (from scratch, with the baseline's
    # schedule).
    stages: tuple[str, ...] = ("baseline", "oe-tune")


def _tune(epochs: int, lr: float) -> dict:
    """The OE fine-tune's schedule where it differs from the preset's own."""
    return {"oe-tune": dict(epochs=epochs, lr=lr)}


_NOISE = ("noise:gaussian", "noise:rademacher", "noise:blobs")
# The paper's OOD test sets (docs/protocol.md section 4), by dataset registry name.
_CIFAR_OOD = _NOISE + ("textures", "svhn:test", "places365", "lsun")
# The paper presets' OOD draws follow the reference's test.py: whole batches of 200 OOD images
# (evaluation/draws.py; SVHN: 5,200 a draw, not 26,032 // 5 = 5,206).
_REFERENCE_DRAWS = dict(ood_draw_size="reference-image")
CIFAR10_DATA = dict(train="cifar10:train", test="cifar10:test",
                    outliers="tinyimages-80m:no-cifar", ood=_CIFAR_OOD + ("cifar100:test",),
                    **_REFERENCE_DRAWS)
CIFAR100_DATA = dict(train="cifar100:train", test="cifar100:test",
                     outliers="tinyimages-80m:no-cifar", ood=_CIFAR_OOD + ("cifar10:test",),
                     **_REFERENCE_DRAWS)
# Energy fine-tuning margins (`oe tune --loss energy`, losses.energy_margin_loss): the energy
# authors' scripts use m_in -23 / m_out -5 for CIFAR-10 (the defaults) and -27 / -5 for
# CIFAR-100; the other presets keep the CIFAR-10 pair (no published values; `--m-in/--m-out`).
CIFAR100_MARGIN = dict(m_in=-27.0)
# Inputs in [0, 1], no augmentation: synthetic noise in [0, 1] too (the reference makes its
# noise in [-1, 1] for normalised CIFAR / Tiny ImageNet inputs and in [0, 1] for SVHN / MNIST).
_UNIT_INPUTS = dict(crop_padding=0, flip=False, noise_range=(0.0, 1.0))
# The reference flips the 80M Tiny Images outliers of its SVHN and MNIST runs (SVHN/oe_tune.py,
# MNIST/oe_tune.py: RandomHorizontalFlip in the TinyImages transform) though not their
# in-distribution images; its TinyImages loader excludes the CIFAR images by default there too.
_FLIPPED_OUTLIERS = dict(outlier_crop_padding=0, outlier_flip=True)
# Tiny ImageNet: the ImageNet-22K outliers get Resize(64) + CenterCrop(64) and no augmentation,
# and are read from the first record every epoch (the offset the reference sets each epoch is
# an attribute its ImageFolder never reads; TinyImageNet/oe_tune.py).
_TIN_OUTLIERS = dict(outlier_crop_padding=0, outlier_flip=False, outlier_random_offset=False)
# Tiny ImageNet OE from scratch takes 256 outliers a step, the fine-tune 180
# (TinyImageNet/oe_scratch.py and oe_tune.py, --oe_batch_size defaults).
_TIN_SCRATCH = {"oe-scratch": dict(oe_batch_size=256)}
# CPU-sized presets with small outlier stand-ins (not 80M's keyword-grouped records): outliers
# drawn uniformly, our way.
_UNIFORM_OUTLIERS = dict(outlier_order="uniform")

# ImageNet-style inputs for torchvision / timm models: images stored at 256x256 (Resize(256) +
# CenterCrop(256)), the model sees 224x224: RandomResizedCrop + flip in training, the centre crop
# in evaluation (Resize(256) + CenterCrop(224), as torchvision's and OpenOOD's test transforms).
IMAGENET_INPUTS = dict(image_shape=(256, 256, 3), input_size=224, random_resized_crop=True,
                       crop_padding=0, flip=True, mean=IMAGENET_MEAN, std=IMAGENET_STD)
# OpenOOD v1.5's ImageNet-200 benchmark (configs/datasets/imagenet200/*.yml): its near-OOD and
# far-OOD test sets, near first.
_IMAGENET200_OOD = ("ssb-hard", "ninco", "inaturalist", "textures-openood", "openimage-o")

# OpenOOD v1.5's CIFAR recipe (configs/pipelines/train/baseline.yml + train_oe.yml, datasets/
# cifar10/cifar10_oe.yml; scripts/ood/oe/cifar10_train_oe.sh): its ResNet-18 for 32x32 inputs,
# 100 epochs, SGD lr 0.1, momentum 0.9, Nesterov, decay 5e-4, a per-step cosine down to 1e-6
# (the paper's schedule), batch 128, OE from scratch with 256 TIN-597 outliers a step at lambda
# 0.5 (shuffled: drawn uniformly); RandomCrop(32, padding 4) + flip for both; its normalisation.
# Evaluated with OpenOOD's protocol (near/far groups, data/catalog/benchmarks.py).
_OPENOOD_CIFAR = dict(model="resnet18-32", model_kwargs={}, epochs=100, lr=0.1, batch_size=128,
                      oe_batch_size=256, lam=0.5, **_UNIFORM_OUTLIERS, protocol="openood")
_OPENOOD_STAGES = ("baseline", "oe-scratch")


def _openood_cifar(name: str, classes: int, other: str, mean: tuple, std: tuple) -> Preset:
    bench = f"openood-cifar{classes}"
    return Preset(
        name, f"CIFAR-{classes}, OpenOOD v1.5's ResNet-18 (32x32) and OE recipe, near/far OOD",
        dict(**_OPENOOD_CIFAR, mean=mean, std=std, train=f"{bench}:train",
             test=f"{bench}:test", outliers=f"{bench}:tin597",
             # The benchmark's near then far sets, for `--protocol paper` (OpenOOD's own
             # protocol reads its groups from data/catalog/benchmarks.py).
             ood=tuple(f"{bench}:{s}" for s in (other, "tin", "mnist", "svhn", "texture",
                                                "places365"))),
        stages=_OPENOOD_STAGES, calibration_holdout="random:0.1")


PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset("cifar10-wrn", "CIFAR-10, WRN-40-2 (dropout 0.3)", CIFAR10_DATA),
    Preset("cifar100-wrn", "CIFAR-100, WRN-40-2 (dropout 0.3)",
           dict(**CIFAR100_DATA, **CIFAR100_MARGIN)),
    Preset("cifar10-allconv", "CIFAR-10, AllConvNet",
           dict(model="allconv", model_kwargs={}, **CIFAR10_DATA)),
    Preset("cifar100-allconv", "CIFAR-100, AllConvNet",
           dict(model="allconv", model_kwargs={}, **CIFAR100_DATA, **CIFAR100_MARGIN)),
    Preset("svhn-wrn", "SVHN, WRN-16-4 (dropout 0.4), inputs in [0, 1], no augmentation", dict(
        model_kwargs=dict(depth=16, widen_factor=4, dropout=0.4),
        mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), **_UNIT_INPUTS, epochs=20, lr=0.01,
        train="svhn:train", test="svhn:test", outliers="tinyimages-80m:no-cifar",
        **_FLIPPED_OUTLIERS,
        ood=_NOISE + ("icons50", "textures", "places365", "lsun", "cifar10:test", "chars74k"),
        **_REFERENCE_DRAWS,
    ), _tune(5, 0.0001)),
    Preset("tinyimagenet-wrn", "Tiny ImageNet 64x64, WRN-40-2 (dropout 0.3)", dict(
        image_shape=(64, 64, 3), mean=IMAGENET_MEAN, std=IMAGENET_STD, crop_padding=8,
        oe_batch_size=180, **_TIN_OUTLIERS,
        train="tinyimagenet:train", test="tinyimagenet:val", outliers="imagenet-22k",
        # TinyImageNet/test.py: the CIFAR sets (SVHN resized to 64, the rest Resize + CenterCrop
        # 64; Blobs blurred with sigma 2 at this size) and 800 held-out ImageNet classes.
        ood=_CIFAR_OOD + ("imagenet-800-heldout",), **_REFERENCE_DRAWS,
    ), _TIN_SCRATCH, calibration_holdout="random:0.1"),
    Preset("mnist-convnet", "MNIST 28x28 grey, LeNet-style ConvNet, inputs in [0, 1]", dict(
        model="convnet", model_kwargs={}, image_shape=(28, 28, 1), mean=(0.0,), std=(1.0,),
        **_UNIT_INPUTS, epochs=10, lr=0.01, batch_size=50, oe_batch_size=100, weight_decay=0.0,
        train="mnist:train", test="mnist:test", outliers="tinyimages-80m:no-cifar",
        **_FLIPPED_OUTLIERS,
        # MNIST/test.py, in its order: no Blobs; Negative MNIST is the test digits as 1 - x.
        ood=("noise:gaussian", "noise:rademacher", "cifar10:test", "icons50",
             "fashion-mnist:test", "mnist:test@negative", "notmnist", "omniglot"),
        **_REFERENCE_DRAWS,
    ), {"oe-tune": dict(epochs=5)}, calibration_holdout="last:6000"),
    # Offline CIFAR-10 benchmark over ../shared/data (or any folder with the same files): a
    # CPU-sized model and schedule so baseline + OE fine-tune + evaluation take about 10 minutes
    # on 2 cores. Every real-image set goes through the same JPEG quality-75 round trip (the
    # CIFAR-10 and Tiny ImageNet copies were stored that way; the textures get it here); the
    # noise sets are made in normalised space, as the reference makes them.
    # Chosen by measurement for time to quality on 2 cores (docs/reproducing.md): a second conv
    # in the middle stage (280k parameters) at lr 0.1, channels-last (40% faster convolutions on
    # the CPU), 9 epochs; the fine-tune one epoch of the paper's 128 + 256, at the learning rate
    # the validation sets chose (docs/reproducing.md; never the test sets).
    Preset("offline-cifar10",
           "CIFAR-10 subset (20k train, 5k test) from shared/data, small CNN (280k parameters), "
           "9 + 1 epochs: a CPU-sized stand-in for cifar10-wrn", dict(
               model="small-cnn", model_kwargs=dict(width=32, stage_convs=[1, 2, 2]),
               epochs=9, lr=0.1, channels_last=True,
               # The subset's test images are sorted by class: a seeded 5,000 of all ten.
               train="cifar10-subset:train", test="cifar10-subset:test@random5000",
               outliers="tinyimagenet32-oe", **_UNIFORM_OUTLIERS,
               ood=_NOISE + ("dtd10@jpeg75", "tinyimagenet32-heldout"),
           ), _tune(1, 0.05),  # lr by the mean FPR95 on the val: sets: 69.9 at 0.05, 75.4 at 0.01
           calibration_holdout="random:0.1",  # sorted by class: "last:N" would take 7-9
           calibration_mode="corrected"),
    # Your own image folders with an ImageNet-pretrained torchvision / timm model
    # (docs/your-model.md): a fine-tuning schedule for a pretrained backbone (10 epochs at lr
    # 0.01, batch 64; the OE fine-tune 5 epochs at 0.001), outliers drawn uniformly.
    Preset("pretrained",
           "your own image folders, a pretrained torchvision/timm model (default "
           "torchvision:resnet18 with --weights), 224 px ImageNet-style inputs", dict(
               model="torchvision:resnet18", model_kwargs={}, **IMAGENET_INPUTS, epochs=10,
               lr=0.01, batch_size=64, oe_batch_size=128, weight_decay=1e-4,
               **_UNIFORM_OUTLIERS, ood=_NOISE,
           ), _tune(5, 0.001), calibration_holdout="random:0.1", calibration_mode="corrected"),
    # OpenOOD v1.5's ImageNet-200 OE (scripts/ood/oe/imagenet200_train_oe.sh): ResNet-18 at 224
    # trained from scratch, 90 epochs, SGD lr 0.1 momentum 0.9 (Nesterov) decay 5e-4 on the
    # reference's cosine, 128 in-distribution + 256 ImageNet-800 outliers a step, lambda 0.5.
    # `oe train --outliers` (OE from scratch) is their recipe; the baseline is their MSP
    # ResNet-18 (same schedule, no outliers); the fine-tune is the paper's 10 epochs at 0.001.
    Preset("imagenet200-resnet18",
           "ImageNet-200 (OpenOOD v1.5), torchvision ResNet-18 at 224, ImageNet-800 outliers",
           dict(model="torchvision:resnet18", model_kwargs={}, **IMAGENET_INPUTS, epochs=90,
                batch_size=128, oe_batch_size=256, **_UNIFORM_OUTLIERS,
                train="imagenet200:train", test="imagenet200:test", outliers="imagenet800:train",
                ood=_IMAGENET200_OOD, protocol="openood"),
           _tune(10, 0.001), calibration_holdout="random:0.1", stages=_OPENOOD_STAGES),
    _openood_cifar("cifar10-openood", 10, "cifar100", (0.4914, 0.4822, 0.4465),
                   (0.2470, 0.2435, 0.2616)),
    _openood_cifar("cifar100-openood", 100, "cifar10", (0.5071, 0.4867, 0.4408),
                   (0.2675, 0.2565, 0.2761)),
    # The offline quickstart: scikit-learn's digits at 16x16, a small CNN, inputs in [-1, 1].
    Preset("quickstart", "scikit-learn digits 16x16 grey, small CNN (offline demo, CPU-sized)",
           dict(model="small-cnn", model_kwargs=dict(width=32), image_shape=(16, 16, 1),
                mean=(0.5,), std=(0.5,), crop_padding=0, flip=False, epochs=15, lr=0.05,
                batch_size=50, oe_batch_size=100,
                train="digits:train", test="digits:test", outliers="skimage-photos",
                **_UNIFORM_OUTLIERS,
                ood=("skimage-textures", "sklearn-photos", "lfw-faces", "noise:gaussian",
                     "noise:rademacher", "noise:blobs")),
           _tune(10, 0.01),
           calibration_holdout="random:0.1",  # a seeded 10% of the 1437 training digits
           calibration_mode="corrected"),
)}


def _tinyimagenet_allconv() -> Preset:
    """The reference runs its Tiny ImageNet scripts with `--model allconv` and the same defaults
    as for the WRN (TinyImageNet/baseline.py, oe_tune.py, oe_scratch.py: lr 0.1 / 100 epochs,
    fine-tune 0.001 / 10, batch 128, outliers 180 (256 from scratch), decay 5e-4), so this preset
    is tinyimagenet-wrn's recipe, data and OOD sets (the same objects) with the TIN AllConvNet."""
    wrn = PRESETS["tinyimagenet-wrn"]
    return Preset("tinyimagenet-allconv", "Tiny ImageNet 64x64, AllConvNet (ReLU, 64x64 variant)",
                  {**wrn.config, "model": "allconv-64", "model_kwargs": {}}, wrn.modes,
                  calibration_holdout=wrn.calibration_holdout,
                  calibration_mode=wrn.calibration_mode)


PRESETS["tinyimagenet-allconv"] = _tinyimagenet_allconv()


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise UserInputError(
            f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)} (see `oe presets`)"
        )
    return PRESETS[name]
