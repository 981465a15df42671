"""Batched augmentation on the device: same distribution as RandomCrop(pad) + RandomHorizontalFlip."""

import numpy as np
import pytest
import torch

from outlier_exposure.data.batches import EpochBatches, OutlierStream, Preprocess, augment_batch


def _recover(crop: torch.Tensor, w: int, pad: int):
    """(oy, ox, flipped) of one crop of an image whose pixel (r, c) holds r * w + c + 1."""
    i, j = [int(v) for v in (crop > 0).nonzero()[0]]
    r, c = divmod(int(crop[i, j]) - 1, w)
    flipped = bool(crop[i, j + 1] < crop[i, j])  # values fall left to right only when flipped
    oy = r - i + pad
    ox = c - (w - 1 - j if flipped else j) + pad
    return oy, ox, flipped


def test_crop_offsets_and_flips_are_uniform():
    b, h, w, pad = 20000, 8, 8, 2
    coded = torch.arange(1, h * w + 1).view(1, 1, h, w).expand(b, 1, h, w).clone()
    out = augment_batch(coded, pad, True, torch.Generator().manual_seed(0))
    draws = np.array([_recover(img, w, pad) for img in out[:, 0]])
    for axis in (0, 1):  # 2 * pad + 1 = 5 offsets per axis, each with probability 1/5
        freq = np.bincount(draws[:, axis], minlength=5) / b
        np.testing.assert_allclose(freq, 0.2, atol=0.015)
    assert abs(draws[:, 2].mean() - 0.5) < 0.015
    # offsets and flips drawn independently: the joint frequencies factorise
    joint = np.zeros((5, 5))
    np.add.at(joint, (draws[:, 0], draws[:, 1]), 1)
    np.testing.assert_allclose(joint / b, 1 / 25, atol=0.008)


def test_crop_equals_pad_then_slice_and_padding_is_zero():
    b, h, w, pad = 500, 6, 5, 3
    x = torch.randint(1, 256, (b, 3, h, w), dtype=torch.uint8)
    out = augment_batch(x, pad, False, torch.Generator().manual_seed(1))
    padded = torch.nn.functional.pad(x, (pad,) * 4)
    seen = set()
    for i in range(b):
        # Find the offset that reproduces the crop exactly: it must exist and be unique.
        matches = [(oy, ox) for oy in range(2 * pad + 1) for ox in range(2 * pad + 1)
                   if torch.equal(padded[i, :, oy:oy + h, ox:ox + w], out[i])]
        assert len(matches) == 1
        seen.add(matches[0])
    assert len(seen) == (2 * pad + 1) ** 2  # every offset occurs
    assert out.dtype == torch.uint8


def test_zero_padding_becomes_minus_mean_over_std_after_normalisation():
    pre = Preprocess(mean=(0.5, 0.25, 0.0), std=(0.5, 0.25, 1.0), crop_padding=4, flip=False)
    x = torch.full((64, 8, 8, 3), 255, dtype=torch.uint8)
    out = pre(x, augment=True, generator=torch.Generator().manual_seed(0))
    values = set(np.round(out[:, 0].unique().numpy(), 5).tolist())
    assert values <= {-1.0, 1.0}
    assert -1.0 in values  # some crops show the padding
    expected_pad = [-(0.5 / 0.5), -(0.25 / 0.25), 0.0]
    for c in range(3):
        assert out[:, c].min().item() == pytest.approx(expected_pad[c])


def test_normalisation_matches_torchvision_formula():
    pre = Preprocess(mean=(0.49, 0.48, 0.45), std=(0.25, 0.24, 0.26))
    x = torch.randint(0, 256, (4, 5, 5, 3), dtype=torch.uint8)
    got = pre(x)
    ref = (x.permute(0, 3, 1, 2).float() / 255 - torch.tensor(pre.mean).view(1, 3, 1, 1)) \
        / torch.tensor(pre.std).view(1, 3, 1, 1)
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)


def test_prenormalised_data_is_only_permuted():
    x = torch.randn(2, 4, 4, 3)
    out = Preprocess(mean=(0.5,) * 3, std=(0.5,) * 3, crop_padding=4, flip=True)(
        x, augment=True, normalised=True)
    torch.testing.assert_close(out, x.permute(0, 3, 1, 2))


def test_epoch_batches_cover_every_example_once_with_a_short_last_batch():
    batches = list(EpochBatches(10, 4, torch.Generator().manual_seed(0)))
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(torch.cat(batches).tolist()) == list(range(10))


def test_outlier_stream_sees_every_outlier_before_repeating_and_resumes():
    stream = OutlierStream(12, 4, torch.Generator().manual_seed(0))
    first_pass = torch.cat([stream.next() for _ in range(3)])
    assert sorted(first_pass.tolist()) == list(range(12))
    state = stream.state_dict()
    gen_state = stream.generator.get_state()
    after = [stream.next() for _ in range(4)]
    stream.load_state_dict(state)
    stream.generator.set_state(gen_state)
    again = [stream.next() for _ in range(4)]
    assert all(torch.equal(a, b) for a, b in zip(after, again))
