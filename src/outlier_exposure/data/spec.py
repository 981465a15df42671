"""Dataset spec strings: name image data on the command line without writing code.

Accepted forms (the kind word before the first ':' is case-insensitive):

    npz:PATH[:XKEY[,YKEY]]   arrays in a .npz archive. Without keys: "x" and "y" if present,
                             else the only 3-D/4-D array, unlabelled. With only XKEY the set is
                             unlabelled.        e.g. npz:data/cifar.npz:x_test,y_test
    npy:PATH[:LABELS]        a uint8 .npy, memory-mapped; labels from a second .npy.
                                                e.g. npy:300K_random_images.npy
    folder:PATH[:SIZE]       a folder of images (class subfolders give labels); SIZE is 32 or
                             HxW like 32x32 (default: the model's): shorter side resized,
                             then centre-cropped.
                             Read as grey when the target shape has C=1.
                                                e.g. folder:dtd/images:32
    noise:KIND[:N]           synthetic noise in normalised space, KIND one of gaussian,
                             rademacher, blobs, uniform; N images (default: the caller's n,
                             else 10000).       e.g. noise:blobs:2000
    NAME[:SPLIT]             a built-in named set from the caller's registry.
                                                e.g. cifar10:test

Colons inside paths. The kind is the text before the FIRST ':'. An option is split off at
the LAST ':', and only when the text after it has that option's exact form: keys are
letters, digits, '_' or '-' (`x` or `x_train,y_train`); LABELS ends in ".npy" and is taken
only when PATH also ends in ".npy"; SIZE is `32` or `32x32`; N is digits. Otherwise the whole
rest is the path, so `folder:/data/run:1/images` is one path. If a path's last ':' part
happens to look like an option, spell the option out (`npz:a:b:x,y`) or, for a folder, end
the path with '/' (`folder:/data/img:32/`).

Built-in sets are an extension point: `load_spec` takes a mapping from name to a loader
`loader(split, shape, seed) -> ImageSet` (split is None when the spec names none), so a
dataset registry plugs in without this module knowing about it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Callable, Mapping

import numpy as np

from ..errors import UserInputError
from .formats.lazy import LazyImages
from .imageset import ImageSet
from .noise import NOISE_KINDS, make_noise
from .resize import luma, resize_images
from .sources import load_folder, load_npy, load_npz

BuiltinLoader = Callable[[str | None, tuple[int, int, int], int], ImageSet]

DEFAULT_NOISE_COUNT = 10000
FILE_KINDS = ("npz", "npy", "folder", "noise")
SPEC_FORMS = (
    "npz:PATH[:XKEY[,YKEY]] (e.g. npz:data/cifar.npz:x_test,y_test) | "
    "npy:PATH[:LABELS.npy] (e.g. npy:images.npy:labels.npy) | "
    "folder:PATH[:SIZE] (e.g. folder:dtd/images:32) | "
    f"noise:KIND[:N] with KIND in {', '.join(NOISE_KINDS)} (e.g. noise:gaussian:2000) | "
    "NAME[:SPLIT] for a built-in set (e.g. cifar10:test)"
)

_KEYS = re.compile(r"([\w\-]+)(?:,([\w\-]+))?", re.ASCII)
_SIZE = re.compile(r"(\d+)(?:[xX](\d+))?")
_COUNT = re.compile(r"\d+")
_NAME = re.compile(r"[A-Za-z0-9][\w.\-]*", re.ASCII)  # digits first: 300k-random-images
_SPLIT = re.compile(r"[\w.\-]+", re.ASCII)


@dataclass(frozen=True)
class Spec:
    """A parsed data spec.

    kind: "npz", "npy", "folder", "noise" or "builtin".
    target: the file or folder path, the noise kind, or the built-in set's name.
    options: what the spec added, by kind: npz {"x_key", "y_key"}; npy {"labels"};
        folder {"size": (h, w)}; noise {"n"}; builtin {"split"}. Absent means default.
    text: the spec as the user wrote it, for messages.
    """

    kind: str
    target: str
    options: Mapping[str, Any] = field(default_factory=dict, hash=False)
    text: str = ""


def _malformed(text: str, reason: str) -> UserInputError:
    return UserInputError(f"malformed data spec {text!r}: {reason}. Accepted forms: {SPEC_FORMS}")


def _split_option(rest: str, accepts: Callable[[str, str], bool]) -> tuple[str, str | None]:
    """Split "PATH:OPTION" at the last ':' when accepts(path, option); else all is the path."""
    path, sep, option = rest.rpartition(":")
    if sep and path and accepts(path, option):
        return path, option
    return rest, None


def _parse_npz(rest: str, text: str) -> Spec:
    path, keys = _split_option(rest, lambda _, opt: _KEYS.fullmatch(opt) is not None)
    options = {}
    if keys is not None:
        x_key, y_key = _KEYS.fullmatch(keys).groups()
        options = {"x_key": x_key, "y_key": y_key}
    return Spec("npz", path, options, text)


def _parse_npy(rest: str, text: str) -> Spec:
    def both_npy(path: str, opt: str) -> bool:
        return path.lower().endswith(".npy") and opt.lower().endswith(".npy")

    path, labels = _split_option(rest, both_npy)
    return Spec("npy", path, {} if labels is None else {"labels": labels}, text)


def _parse_folder(rest: str, text: str) -> Spec:
    path, size = _split_option(rest, lambda _, opt: _SIZE.fullmatch(opt) is not None)
    if size is None:
        return Spec("folder", path, {}, text)
    h, w = _SIZE.fullmatch(size).groups()
    h, w = int(h), int(w or h)
    if h == 0 or w == 0:
        raise _malformed(text, f"image size {size!r} must be positive")
    return Spec("folder", path, {"size": (h, w)}, text)


def _parse_noise(rest: str, text: str) -> Spec:
    parts = rest.split(":")
    kind = parts[0]
    if len(parts) > 2 or (len(parts) == 2 and not _COUNT.fullmatch(parts[1])):
        raise _malformed(text, "noise takes a kind and an optional number of images, like noise:blobs:2000")
    if kind not in NOISE_KINDS:
        raise UserInputError(
            f"unknown noise kind {kind!r} in data spec {text!r}; choose one of: {', '.join(NOISE_KINDS)}"
        )
    if len(parts) == 1:
        return Spec("noise", kind, {}, text)
    if int(parts[1]) == 0:
        raise _malformed(text, "the number of noise images must be positive")
    return Spec("noise", kind, {"n": int(parts[1])}, text)


def _parse_builtin(text: str) -> Spec:
    parts = text.split(":")
    if len(parts) <= 2 and _NAME.fullmatch(parts[0]) and (len(parts) == 1 or _SPLIT.fullmatch(parts[1])):
        return Spec("builtin", parts[0], {} if len(parts) == 1 else {"split": parts[1]}, text)
    # Not a built-in name: say what was probably meant, e.g. a path without its kind.
    if text.lower().endswith((".npz", ".npy")):
        reason = f"a file needs its kind first, e.g. {text[-3:].lower()}:{text}"
    elif "/" in text or "\\" in text:
        reason = f"a folder needs its kind first, e.g. folder:{text}"
    else:
        reason = (
            f"{parts[0]!r} is not a kind ({', '.join(FILE_KINDS)}) nor a built-in NAME[:SPLIT] "
            "(letters, digits, '_', '-', '.', and at most one ':')"
        )
    raise _malformed(text, reason)


_PARSERS = {"npz": _parse_npz, "npy": _parse_npy, "folder": _parse_folder, "noise": _parse_noise}


def parse_spec(text: str) -> Spec:
    """Parse a data spec string (see the module docstring for the grammar)."""
    if not isinstance(text, str) or not text.strip():
        raise _malformed(str(text), "the spec is empty")
    text = text.strip()
    head, sep, rest = text.partition(":")
    kind = head.lower()
    if sep and kind in _PARSERS:
        if not rest or rest.endswith(":"):
            raise _malformed(text, f"{kind}: needs a {'kind' if kind == 'noise' else 'path'} and no trailing ':'")
        spec = _PARSERS[kind](rest, text)
        if kind != "noise":
            _check_path_length(spec.target, text)
            if spec.options.get("labels"):
                _check_path_length(spec.options["labels"], text)
        return spec
    return _parse_builtin(text)


# Linux's limits (PATH_MAX, NAME_MAX): a longer path fails in the OS with ENAMETOOLONG.
MAX_PATH, MAX_NAME = 4096, 255


def _check_path_length(path: str, text: str) -> None:
    longest = max((len(part.encode()) for part in path.replace("\\", "/").split("/")), default=0)
    if len(path.encode()) > MAX_PATH or longest > MAX_NAME:
        shown = text if len(text) <= 80 else text[:60] + "..." + text[-15:]
        raise _malformed(shown, f"its path is {len(path)} characters long (with a name of "
                                f"{longest}); paths are limited to {MAX_PATH} characters and each "
                                f"name to {MAX_NAME}: check the path")


# ---------------------------------------------------------------------------------------------
# Making images fit the model's input shape


def _chain(steps: tuple[Callable[[np.ndarray], np.ndarray], ...], x: np.ndarray) -> np.ndarray:
    for step in steps:
        x = step(x)
    return x


def fit_to_shape(images: ImageSet, shape: tuple[int, int, int], source: str | None = None) -> ImageSet:
    """Match a uint8 set to shape (H, W, C): channels always; height and width for lazy sets.

    Grey -> RGB repeats the channel; RGB -> grey uses ITU-R 601 luma. For an in-memory set a
    different height or width is an error rather than a silent resize, because resizing
    changes the statistics an OOD detector sees; callers resize on purpose with
    folder:PATH:SIZE or `resize_images`. A lazy set (`LazyImages`: 80 Million Tiny Images, a
    large image folder) cannot be resized up front, and the reference resizes such outliers on
    the fly (80M Tiny Images to 28x28 grey for MNIST: Resize(28), then luma), so its batches
    are resized as they are read: `resize.resize_images` (PIL bilinear, covering then centre
    crop), then the channel conversion (`resize.luma`). It stays lazy.
    """
    h, w, c = (int(s) for s in shape)
    have_h, have_w, have_c = images.shape
    what = f"data spec {source!r}" if source else f"data set {images.name!r}"
    lazy = isinstance(images.x, LazyImages)
    if images.normalised and images.shape != (h, w, c):
        raise UserInputError(
            f"{what} was made for shape {images.shape} but the model takes "
            f"{(h, w, c)}; make it again with the model's shape"
        )
    if (have_h, have_w) != (h, w) and not lazy:
        raise UserInputError(
            f"{what} has {have_h}x{have_w} images but the model takes {h}x{w}; "
            f"resize them: folder:PATH:{h}x{w} for image folders, or "
            f"outlier_exposure.data.resize.resize_images(x, ({h}, {w})) and save the result"
        )
    steps = []
    if (have_h, have_w) != (h, w):  # lazy sets only (refused above otherwise)
        steps.append(partial(resize_images, size=(h, w)))
    if have_c == 1 and c == 3:
        steps.append(partial(np.repeat, repeats=3, axis=-1))
    elif have_c == 3 and c == 1:
        steps.append(luma)
    elif have_c != c:
        raise UserInputError(f"{what} has {have_c} channels; the model takes {c}")
    if not steps:
        return images
    if lazy:  # too big to convert at once: convert each batch read
        return replace(images, x=images.x.map(partial(_chain, tuple(steps)), (h, w, c)))
    return replace(images, x=_chain(tuple(steps), images.x))


# ---------------------------------------------------------------------------------------------
# Loading


def _load_builtin(spec: Spec, shape, seed: int, builtin: Mapping[str, BuiltinLoader] | None) -> ImageSet:
    registry = builtin or {}
    if spec.target not in registry:
        known = ", ".join(sorted(registry)) or "none are registered here"
        raise UserInputError(
            f"unknown data set {spec.target!r} in data spec {spec.text!r}; built-in sets: {known}. "
            f"Or name files: {SPEC_FORMS}"
        )
    return registry[spec.target](spec.options.get("split"), tuple(shape), seed)


def load_spec(
    text: str,
    *,
    shape: tuple[int, int, int] = (32, 32, 3),
    n: int | None = None,
    seed: int = 1,
    builtin: Mapping[str, BuiltinLoader] | None = None,
    noise_range: tuple[float, float] = (-1.0, 1.0),
    stream: bool | None = None,
) -> ImageSet:
    """Load the images a spec names, fitted to the model's input shape (H, W, C).

    n is the default number of noise images (a spec's own :N wins; else 10000); it does
    not subsample file sets. noise_range is the value range of synthetic noise in the
    model's input space ([-1, 1] for CIFAR-style normalisation, [0, 1] for [0, 1] inputs).
    seed drives noise and is passed to built-in loaders. See
    `fit_to_shape` for how channels are matched and why sizes are not.
    stream applies to folders (`sources.load_folder`): True decodes them a batch at a time,
    False into memory, None (auto) streams the ones whose
    decoded pixels exceed `sources.memory_budget()`. Other kinds are unaffected (npy files are
    memory-mapped already).
    """
    spec = parse_spec(text)
    opts = spec.options
    if spec.kind == "npz":
        images = load_npz(spec.target, opts.get("x_key"), opts.get("y_key"))
    elif spec.kind == "npy":
        images = load_npy(spec.target, opts.get("labels"))
    elif spec.kind == "folder":
        # Without SIZE the images are brought to the model's (H, W) (covering resize, then
        # centre crop; images already that size are left as they are).
        images = load_folder(spec.target, size=opts.get("size") or tuple(shape[:2]),
                             grey=shape[2] == 1, stream=stream)
    elif spec.kind == "noise":
        count = opts.get("n") or n or DEFAULT_NOISE_COUNT
        images = make_noise(spec.target, count, shape=tuple(shape), seed=seed,
                            value_range=noise_range)
    else:
        images = _load_builtin(spec, shape, seed, builtin)
    return fit_to_shape(images, shape, source=text)
