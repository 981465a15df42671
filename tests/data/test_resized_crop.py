"""ImageNet-style preprocessing at any resolution: centre crop as torchvision's CenterCrop,
batched RandomResizedCrop as torchvision's, and the deployed detector's crop."""

import warnings

import pytest
import torch
import torchvision.transforms.functional as TF
from torch import nn
from torchvision.transforms import RandomResizedCrop

from outlier_exposure.data.batches import (
    Preprocess,
    _fallback_box,
    centre_crop,
    random_resized_crop_boxes,
    resample_boxes,
)
from outlier_exposure.deploy.module import DetectorModule

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _normalise(x_bchw: torch.Tensor) -> torch.Tensor:
    mean, std = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)
    return (x_bchw.float() / 255 - mean) / std


def _smooth_image(b: int, c: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    """A smooth random image (low-frequency noise upsampled), in pixel units 0..255."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(b, c, 6, 6, generator=g) * 255
    return torch.nn.functional.interpolate(coarse, size=(h, w), mode="bicubic",
                                           align_corners=True)


@pytest.mark.parametrize("h, w, n", [(8, 8, 4), (9, 9, 4), (11, 10, 5), (13, 12, 8),
                                     (15, 15, 10), (256, 256, 224), (256, 255, 224), (7, 7, 7)])
def test_centre_crop_equals_torchvision_center_crop(h, w, n):
    # odd differences of 1, 3, 5, ... exercise round-half-to-even (3 -> 2, 5 -> 2, 1 -> 0)
    x = torch.randint(0, 256, (2, 3, h, w), dtype=torch.uint8)
    assert torch.equal(centre_crop(x, n), TF.center_crop(x, [n, n]))


def test_centre_crop_larger_than_image_is_refused():
    with pytest.raises(ValueError, match="larger than the stored"):
        centre_crop(torch.zeros(1, 3, 8, 8), 9)


@pytest.mark.parametrize("augment_flag", [False, True])
def test_eval_path_is_normalised_centre_crop(augment_flag):
    x = torch.randint(0, 256, (3, 13, 12, 3), dtype=torch.uint8)
    pre = Preprocess(MEAN, STD, input_size=7)
    got = pre(x)
    ref = _normalise(TF.center_crop(x.permute(0, 3, 1, 2), [7, 7]))
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)
    # the padded crop (no padding, no flip) on the centre crop changes nothing
    torch.testing.assert_close(pre(x, augment=augment_flag), ref, rtol=1e-5, atol=1e-5)


def test_default_preprocess_is_unchanged():
    x = torch.randint(0, 256, (3, 9, 9, 3), dtype=torch.uint8)
    assert torch.equal(Preprocess(MEAN, STD)(x), Preprocess(MEAN, STD, input_size=9)(x))


def test_prenormalised_data_is_centre_cropped_not_augmented():
    x = torch.randn(2, 10, 10, 3)
    pre = Preprocess(MEAN, STD, flip=True, input_size=6, random_resized_crop=True)
    out = pre(x, augment=True, normalised=True, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(out, x.permute(0, 3, 1, 2)[:, :, 2:8, 2:8])


@pytest.mark.parametrize("h, w", [(32, 32), (24, 40), (64, 16)])
def test_rrc_boxes_follow_torchvision_get_params(h, w):
    n = 20000
    boxes = random_resized_crop_boxes(n, h, w, torch.Generator().manual_seed(0))
    top, left, bh, bw = boxes.unbind(1)
    assert boxes.dtype == torch.int64
    assert bool(((top >= 0) & (left >= 0) & (bh > 0) & (bw > 0)).all())
    assert bool(((top + bh <= h) & (left + bw <= w)).all())
    fallback = torch.tensor(_fallback_box(h, w, (3 / 4, 4 / 3)))
    drawn = ~(boxes == fallback).all(1)
    assert drawn.float().mean() > 0.85  # the fallback is rare (10% at a 1:4 ratio)
    area = (bh * bw).double()[drawn] / (h * w)
    ratio = bw.double()[drawn] / bh.double()[drawn]
    # sides are rounded: allow half a pixel on each side
    area_lo = ((bh - 0.5) * (bw - 0.5)).double()[drawn] / (h * w)
    area_hi = ((bh + 0.5) * (bw + 0.5)).double()[drawn] / (h * w)
    assert bool((area_hi >= 0.08).all()) and bool((area_lo <= 1.0).all())
    r_lo = (bw - 0.5).double()[drawn] / (bh + 0.5).double()[drawn]
    r_hi = (bw + 0.5).double()[drawn] / (bh - 0.5).double()[drawn]
    assert bool((r_hi >= 3 / 4).all()) and bool((r_lo <= 4 / 3).all())
    # the whole range is used (large boxes of non-square images are cut by the ratio range)
    assert area.min() < 0.12 and (h != w or area.max() > 0.9)
    assert ratio.min() < 0.8 and ratio.max() > 1.25


@pytest.mark.parametrize("h, w", [(32, 32), (64, 16)])
def test_rrc_boxes_are_distributed_as_torchvision_get_params(h, w):
    n = 4000
    with torch.random.fork_rng():  # get_params draws from the global generator
        torch.manual_seed(0)
        ref = torch.tensor([RandomResizedCrop.get_params(torch.zeros(1, h, w), [0.08, 1.0],
                                                         [3 / 4, 4 / 3]) for _ in range(n)])
    ours = random_resized_crop_boxes(n, h, w, torch.Generator().manual_seed(0))
    for boxes in (ref, ours):
        assert boxes.shape == (n, 4)
    ref, ours = ref.double(), ours.double()

    def summary(b):
        return torch.stack([(b[:, 2] * b[:, 3] / (h * w)).mean(), (b[:, 3] / b[:, 2]).mean(),
                            b[:, 0].mean() / h, b[:, 1].mean() / w])

    # means of 4000 draws: standard errors below 0.005; allow 0.03
    torch.testing.assert_close(summary(ours), summary(ref), rtol=0, atol=0.03)


def test_rrc_offsets_are_uniform_over_the_free_range():
    boxes = random_resized_crop_boxes(20000, 32, 32, torch.Generator().manual_seed(1))
    top, _, bh, _ = boxes.unbind(1)
    rel = (top.double() + 0.5) / (32 - bh + 1).double()  # uniform on (0, 1) if offsets are
    assert abs(rel.mean().item() - 0.5) < 0.01


def test_fallback_box_clamps_the_ratio():
    assert _fallback_box(10, 40, (3 / 4, 4 / 3)) == (0, 13, 10, 13)  # too wide
    assert _fallback_box(40, 10, (3 / 4, 4 / 3)) == (13, 0, 13, 10)  # too tall: round(10 / 0.75)
    assert _fallback_box(10, 12, (3 / 4, 4 / 3)) == (0, 0, 10, 12)
    # images far outside the ratio range almost always fall back
    boxes = random_resized_crop_boxes(100, 4, 100, torch.Generator().manual_seed(0))
    assert (boxes == torch.tensor([0, 47, 4, 5])).all(1).float().mean() > 0.5


def test_rrc_same_seed_same_batch_and_images_get_own_boxes():
    x = torch.randint(0, 256, (16, 20, 20, 3), dtype=torch.uint8)
    pre = Preprocess(MEAN, STD, flip=True, input_size=12, random_resized_crop=True)
    a = pre(x, augment=True, generator=torch.Generator().manual_seed(5))
    b = pre(x, augment=True, generator=torch.Generator().manual_seed(5))
    c = pre(x, augment=True, generator=torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)
    boxes = random_resized_crop_boxes(16, 20, 20, torch.Generator().manual_seed(5))
    assert len({tuple(r) for r in boxes.tolist()}) > 12
    # same image everywhere: different outputs come from different boxes
    same = x[:1].expand(16, -1, -1, -1)
    out = pre(same, augment=True, generator=torch.Generator().manual_seed(5))
    assert len({tuple(o.flatten()[:50].tolist()) for o in out}) > 12


@pytest.mark.parametrize("h, w", [(17, 23), (224, 224)])
def test_full_image_box_at_same_size_is_identity(h, w):
    x = torch.randint(0, 256, (2, 3, h, w), dtype=torch.uint8)
    boxes = torch.tensor([[0, 0, h, w]] * 2)
    out = resample_boxes(x, boxes, h, w)
    # grid_sample's float32 coordinates are off by ~1e-5 pixel: 1e-4 in [0, 1] units
    torch.testing.assert_close(out / 255, x.float() / 255, rtol=0, atol=1e-4)


@pytest.mark.parametrize("box, size", [((3, 5, 40, 30), (24, 24)),   # downscale
                                       ((10, 2, 9, 13), (24, 24)),    # upscale (edges clamp)
                                       ((0, 0, 48, 48), (31, 31)),    # whole image
                                       ((20, 30, 28, 18), (18, 28))])  # to another ratio
def test_resampled_box_matches_torchvision_resized_crop(box, size):
    x = _smooth_image(2, 3, 48, 48)
    out = resample_boxes(x, torch.tensor([box, box]), *size)
    ref = TF.resized_crop(x, *box, list(size), antialias=False)
    # same sample points and weights; only float32 rounding differs (pixel units 0..255;
    # seen: below 2e-4)
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-3)


def test_rrc_output_shape_dtype_and_layout():
    x = torch.randint(0, 256, (5, 20, 24, 3), dtype=torch.uint8)
    g = torch.Generator().manual_seed(0)
    out = Preprocess(MEAN, STD, input_size=16, random_resized_crop=True)(x, augment=True,
                                                                          generator=g)
    assert out.shape == (5, 3, 16, 16) and out.dtype == torch.float32
    assert out.is_contiguous()
    out = Preprocess(MEAN, STD, channels_last=True, random_resized_crop=True)(
        x, augment=True, generator=g)
    assert out.shape == (5, 3, 20, 24)  # input_size None: the stored size
    assert out.is_contiguous(memory_format=torch.channels_last)
    ev = Preprocess(MEAN, STD, channels_last=True, input_size=16)(x)
    assert ev.shape == (5, 3, 16, 16) and ev.is_contiguous(memory_format=torch.channels_last)


def test_rrc_values_stay_in_the_normalised_pixel_range():
    x = torch.randint(0, 256, (8, 16, 16, 3), dtype=torch.uint8)
    out = Preprocess(MEAN, STD, flip=True, input_size=8, random_resized_crop=True)(
        x, augment=True, generator=torch.Generator().manual_seed(0))
    lo = _normalise(torch.zeros(1, 3, 1, 1)).view(1, 3, 1, 1)
    hi = _normalise(torch.full((1, 3, 1, 1), 255.0)).view(1, 3, 1, 1)
    assert bool((out >= lo - 1e-4).all()) and bool((out <= hi + 1e-4).all())


class _TinyNet(nn.Module):
    feature_dim, num_classes = 4, 3

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.LazyLinear(4))
        self.fc = nn.Linear(4, 3)

    def features(self, x):
        return self.body(x)

    def forward(self, x):
        return self.fc(self.features(x))


class _MaxLogit(nn.Module):
    def forward(self, logits, features):
        return -logits.max(1).values


def test_detector_module_crops_like_evaluation_and_traces():
    net = _TinyNet()
    net(torch.zeros(1, 3, 7, 7))  # materialise the lazy layer at the 7 x 7 input size
    module = DetectorModule(net, MEAN, STD, _MaxLogit(), threshold=0.0, input_size=7).eval()
    x = torch.randint(0, 256, (4, 10, 10, 3), dtype=torch.uint8)
    cls, score, flag = module(x)
    expected = net.fc(net.features(Preprocess(MEAN, STD, input_size=7)(x)))
    torch.testing.assert_close(score, -expected.max(1).values)
    assert torch.equal(cls, expected.argmax(1)) and torch.equal(flag, score > 0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", torch.jit.TracerWarning)  # the crop traces cleanly
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.trace's deprecation notice
        traced = torch.jit.trace(module, x, check_trace=False)
    for y in (torch.randint(0, 256, (6, 10, 10, 3), dtype=torch.uint8),  # another batch size
              torch.randint(0, 256, (2, 9, 12, 3), dtype=torch.uint8)):  # another image size
        for got, want in zip(traced(y), module(y)):
            assert torch.equal(got, want)
