"""Pins every resize and channel rule of `data/resize.py` to the pixels it gave before the
rules were gathered there: a hash of each output on small hand-made images. A change of filter,
rounding or crop offset changes the pixels an OOD detector sees, so any difference fails here."""

from __future__ import annotations

import hashlib
from functools import lru_cache

import numpy as np
import pytest
from PIL import Image

from outlier_exposure.data import resize
from outlier_exposure.errors import UserInputError

# sha256 (first 16 hex digits) of (shape, dtype) + bytes of each output, recorded on main
# before the move (the rules then lived in sources.py, spec.py, formats/readers.py and
# catalog/offline.py).
PINNED = {
    'resize_images/rgb/(32, 32)': 'ee4a8b5742e080a2',
    'resize_array/rgb/(32, 32)/crop': 'e9e85fba41940878',
    'resize_array/rgb/(32, 32)/squash': 'cab4972954b19d03',
    'fit_image/rgb/(32, 32)': '8acf581fe8f6dbc3',
    'resize_images/rgb/(28, 28)': '0aa90c36203e2ccf',
    'resize_array/rgb/(28, 28)/crop': '0aa90c36203e2ccf',
    'resize_array/rgb/(28, 28)/squash': '79a183e8bbadfb1e',
    'fit_image/rgb/(28, 28)': '00d73fc4df92c807',
    'resize_images/rgb/(16, 24)': '3662003f97f529b7',
    'resize_array/rgb/(16, 24)/crop': '3662003f97f529b7',
    'resize_array/rgb/(16, 24)/squash': 'b5835448025aa6dd',
    'fit_image/rgb/(16, 24)': '845959d2ffa8ba86',
    'resize_images/rgb/(64, 64)': '7ee0e803558474f4',
    'resize_array/rgb/(64, 64)/crop': '2f1780f0fdc589a2',
    'resize_array/rgb/(64, 64)/squash': 'fb2c8a4ee6d3761a',
    'fit_image/rgb/(64, 64)': '21daef13d0b45f37',
    'resize_images/rgb/(7, 7)': '2369bef2e53646ef',
    'resize_array/rgb/(7, 7)/crop': '2369bef2e53646ef',
    'resize_array/rgb/(7, 7)/squash': '0ab128ec0f3bfbbc',
    'fit_image/rgb/(7, 7)': '7dabf751be17a120',
    'luma/rgb': '42b634ca61e6daca',
    'resize_images/wide/(32, 32)': 'bc24911f320fab02',
    'resize_array/wide/(32, 32)/crop': 'bc24911f320fab02',
    'resize_array/wide/(32, 32)/squash': '77f72fee7cb8792f',
    'fit_image/wide/(32, 32)': 'b55c719d13d71058',
    'resize_images/wide/(28, 28)': 'd39f6e0c4f1985f9',
    'resize_array/wide/(28, 28)/crop': '063ce54d1c362707',
    'resize_array/wide/(28, 28)/squash': '156e4b3416197c4c',
    'fit_image/wide/(28, 28)': 'fc8e7ed14bb9e500',
    'resize_images/wide/(16, 24)': '5f1227183b65d7e1',
    'resize_array/wide/(16, 24)/crop': '5f1227183b65d7e1',
    'resize_array/wide/(16, 24)/squash': 'fea62d63862083fa',
    'fit_image/wide/(16, 24)': 'bb9292d9d8319745',
    'resize_images/wide/(64, 64)': 'd9cb44fbd1f67673',
    'resize_array/wide/(64, 64)/crop': 'd9cb44fbd1f67673',
    'resize_array/wide/(64, 64)/squash': 'a6108c7ae637707f',
    'fit_image/wide/(64, 64)': 'bf3b14654029b295',
    'resize_images/wide/(7, 7)': '404961552612e866',
    'resize_array/wide/(7, 7)/crop': 'e06b1cce5242a600',
    'resize_array/wide/(7, 7)/squash': 'db455e4f428e8128',
    'fit_image/wide/(7, 7)': 'daec8fb1fd122a0a',
    'luma/wide': '924ab7cf5241786d',
    'resize_images/grey/(32, 32)': '6cd45f49334e8e7f',
    'resize_array/grey/(32, 32)/crop': '6cd45f49334e8e7f',
    'resize_array/grey/(32, 32)/squash': '6cd45f49334e8e7f',
    'fit_image/grey/(32, 32)': 'b0576215e72755c6',
    'resize_images/grey/(28, 28)': 'a4cba1f98f10e6ad',
    'resize_array/grey/(28, 28)/crop': 'a4cba1f98f10e6ad',
    'resize_array/grey/(28, 28)/squash': 'a4cba1f98f10e6ad',
    'fit_image/grey/(28, 28)': '0c67f2c9e5ab093f',
    'resize_images/grey/(16, 24)': '465b56f1e85cca1a',
    'resize_array/grey/(16, 24)/crop': '465b56f1e85cca1a',
    'resize_array/grey/(16, 24)/squash': '193b8ffc6eb1a5e5',
    'fit_image/grey/(16, 24)': '9a6eaed74b347612',
    'resize_images/grey/(64, 64)': 'eea95783bbe722c9',
    'resize_array/grey/(64, 64)/crop': 'eea95783bbe722c9',
    'resize_array/grey/(64, 64)/squash': 'eea95783bbe722c9',
    'fit_image/grey/(64, 64)': 'a6abc98c26d3fb7a',
    'resize_images/grey/(7, 7)': '36f23411eb4d13f7',
    'resize_array/grey/(7, 7)/crop': '36f23411eb4d13f7',
    'resize_array/grey/(7, 7)/squash': '36f23411eb4d13f7',
    'fit_image/grey/(7, 7)': '7a321c5e09544807',
    'resize_images/ramp/(32, 32)': '66c2ee40fdb89883',
    'resize_array/ramp/(32, 32)/crop': '66c2ee40fdb89883',
    'resize_array/ramp/(32, 32)/squash': '66c2ee40fdb89883',
    'fit_image/ramp/(32, 32)': 'e96db0049c559379',
    'resize_images/ramp/(28, 28)': '95f01de8ff39479a',
    'resize_array/ramp/(28, 28)/crop': '95f01de8ff39479a',
    'resize_array/ramp/(28, 28)/squash': '95f01de8ff39479a',
    'fit_image/ramp/(28, 28)': 'e0f4232a52e8e0d0',
    'resize_images/ramp/(16, 24)': '8418fe8c84fc2876',
    'resize_array/ramp/(16, 24)/crop': '8418fe8c84fc2876',
    'resize_array/ramp/(16, 24)/squash': 'fd6788902d44757e',
    'fit_image/ramp/(16, 24)': 'a6d1b180dd710fd1',
    'resize_images/ramp/(64, 64)': '09de9f22a0b1932a',
    'resize_array/ramp/(64, 64)/crop': '09de9f22a0b1932a',
    'resize_array/ramp/(64, 64)/squash': '09de9f22a0b1932a',
    'fit_image/ramp/(64, 64)': 'aba1a8aa309b4612',
    'resize_images/ramp/(7, 7)': 'c89f2f2658fa0432',
    'resize_array/ramp/(7, 7)/crop': 'c89f2f2658fa0432',
    'resize_array/ramp/(7, 7)/squash': 'c89f2f2658fa0432',
    'fit_image/ramp/(7, 7)': 'aeca126e6852321f',
    'luma/ramp': '6b5827aae2347283',
    'luma/ties': '2877ba2a4a1af550',
    'binary_strokes/(28, 28)': '040f13a0f9a6e4e9',
    'binary_strokes/(16, 20)': 'e06068861444836e',
    'float_resize/(32, 32)': '22da5a369b8cc4da',
    'float_resize/(8, 8)': 'd070d240d3c7225e',
    'float_resize/(13, 19)': 'd6531f78186c40ba',
    'float_resize/same': '0d165b9b8b2a3f0d',
    'float_channels/rgba/1': 'a6adcf9d92e66608',
    'float_channels/2d/1': '2fa7945553566e10',
    'float_channels/grey/1': '536338826619a679',
    'float_channels/rgba/3': '08bfbc26c9527e7f',
    'float_channels/2d/3': '58af84c0d998ece4',
    'float_channels/grey/3': 'a14f1d6c5f42ed2f',
}


def _digest(a) -> str:
    a = np.ascontiguousarray(np.asarray(a))
    return hashlib.sha256(str((a.shape, str(a.dtype))).encode() + a.tobytes()).hexdigest()[:16]


@lru_cache(maxsize=1)
def outputs() -> dict[str, str]:
    """Every rule on the same inputs, drawn in the same order as when the pins were made."""
    rng = np.random.default_rng(11)
    rgb = rng.integers(0, 256, (3, 37, 23, 3), dtype=np.uint8)   # tall, odd sizes
    wide = rng.integers(0, 256, (2, 20, 45, 3), dtype=np.uint8)  # wide
    grey = rng.integers(0, 256, (2, 30, 30, 1), dtype=np.uint8)  # square, one channel
    ramp = np.broadcast_to(np.arange(0, 256, 8, dtype=np.uint8)[None, :, None, None],
                           (1, 32, 32, 3)).copy()
    out = {}
    for name, x in [("rgb", rgb), ("wide", wide), ("grey", grey), ("ramp", ramp)]:
        for size in [(32, 32), (28, 28), (16, 24), (64, 64), (7, 7)]:
            out[f"resize_images/{name}/{size}"] = _digest(resize.resize_images(x, size))
            for rule in ("crop", "squash"):
                out[f"resize_array/{name}/{size}/{rule}"] = _digest(resize.resize_array(x, size, rule))
            image = Image.fromarray(x[0, ..., 0] if x.shape[-1] == 1 else x[0])
            out[f"fit_image/{name}/{size}"] = _digest(resize.cover_and_centre_crop(image, size))
        if x.shape[-1] == 3:
            out[f"luma/{name}"] = _digest(resize.luma(x))
    # pixels whose exact luma is k + 0.5 (rounded half to even)
    ties = np.array([[[[1, 0, 0], [0, 1, 0], [255, 255, 255], [3, 1, 2]]]], dtype=np.uint8)
    out["luma/ties"] = _digest(resize.luma(ties))
    strokes = np.full((40, 35), 255, np.uint8)
    strokes[5:30, 10:14] = 0
    strokes[20:24, 3:33] = 0
    for size in [(28, 28), (16, 20)]:
        out[f"binary_strokes/{size}"] = _digest(resize.binary_strokes(size)(Image.fromarray(strokes)))
    floats = rng.random((2, 19, 13, 3)).astype(np.float32)
    for size in [(32, 32), (8, 8), (13, 19)]:
        out[f"float_resize/{size}"] = _digest(resize.antialiased_bilinear_to_uint8(floats, size))
    out["float_resize/same"] = _digest(resize.antialiased_bilinear_to_uint8(floats, (19, 13)))
    for c in (1, 3):
        out[f"float_channels/rgba/{c}"] = _digest(resize.float_channels(rng.random((9, 7, 4)).astype(np.float32), c))
        out[f"float_channels/2d/{c}"] = _digest(resize.float_channels(rng.random((9, 7)).astype(np.float32), c))
        out[f"float_channels/grey/{c}"] = _digest(resize.float_channels(rng.random((9, 7, 1)).astype(np.float32), c))
    return out


def test_every_rule_is_pinned():
    assert set(outputs()) == set(PINNED)


@pytest.mark.parametrize("key", sorted(PINNED))
def test_rule_gives_the_pinned_pixels(key):
    assert outputs()[key] == PINNED[key]


def test_rules_are_distinct_where_the_reference_differs():
    """The torchvision rule truncates the long side, the cover rule rounds it: on a 37x23
    image at 16 (long side 25.7: 25 against 26) they differ, which is why both exist."""
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (37, 23, 3), dtype=np.uint8))
    tv = np.asarray(resize.torchvision_resize_centre_crop(image, 16))
    cover = np.asarray(resize.cover_and_centre_crop(image, (16, 16)))
    assert tv.shape == cover.shape == (16, 16, 3)
    assert (tv != cover).any()


def test_resize_array_keeps_an_array_already_at_size():
    x = np.zeros((2, 8, 8, 3), np.uint8)
    assert resize.resize_array(x, (8, 8), "crop") is x


def test_unknown_rule_and_bad_arrays_are_refused():
    with pytest.raises(ValueError, match="unknown resize rule"):
        resize.resize_rule((8, 8), "stretch")
    with pytest.raises(UserInputError, match="uint8"):
        resize.resize_images(np.zeros((1, 8, 8, 3), np.float32), 4)
