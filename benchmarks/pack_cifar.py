"""Pack the offline CIFAR-10 benchmark's images small enough to travel with the checkout to a GPU
machine (which cannot download and gets 64 MiB beside the checkout), and unpack them there.

    python3 benchmarks/pack_cifar.py pack --data-root ../shared/data --out benchmarks/pack/cifar.npz
    python3 benchmarks/pack_cifar.py unpack benchmarks/pack/cifar.npz --out /tmp/cifar.npz
    python3 benchmarks/pack_cifar.py pack --synthetic 64 --out /tmp/pack.npz      # smoke tests

`pack` takes, from the shared data folder (data/README.md there): the first `--train-per-class`
CIFAR-10 training images of each class (2000: all 20,000 of the subset), the first `--test` test
images (5,000), `--oe` Tiny ImageNet OE images (6,000; 50 of each of its 120 classes), and the two real
OOD sets, Tiny ImageNet held-out (1,950) and the DTD textures (1,200, through a JPEG quality-75
round trip first, as the offline preset does, for parity with the JPEG-born CIFAR and Tiny
ImageNet copies). 34,150 images at 3 KB each raw would be 105 MB; each is stored as a JPEG of
quality `--quality` (90) instead, about 1 KB (34 MiB in all): the pack is a re-encoding, so its pixels differ
slightly from the shared files (it is the GPU check's data, not the offline preset's).

The .npz holds, per set NAME, `NAME_jpeg` (all JPEG bytes, concatenated, uint8), `NAME_ends`
(int64 end offsets) and, when labelled, `NAME_y`; `unpack` decodes them into the arrays our
`npz:` spec reads: x_train, y_train, x_test, y_test, x_oe, x_dtd, x_heldout.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np
from PIL import Image

SETS = ("train", "test", "oe", "dtd", "heldout")


def _jpeg(image: np.ndarray, quality: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def _round_trip(images: np.ndarray, quality: int) -> np.ndarray:
    return np.stack([np.asarray(Image.open(io.BytesIO(_jpeg(x, quality))).convert("RGB"))
                     for x in images])


def _first_per_class(y: np.ndarray, per_class: int) -> np.ndarray:
    return np.sort(np.concatenate([np.flatnonzero(y == c)[:per_class] for c in np.unique(y)]))


def shared_sets(root: Path, train_per_class: int, test: int, oe: int) -> dict:
    """{name: (x, y or None)} from the shared data folder."""
    def load(relative):
        with np.load(root / relative, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}

    cifar = load("cifar10/cifar10_subset_32.npz")
    tin = load("tinyimagenet32_oe/tin32_oe_train.npz")
    keep = _first_per_class(cifar["y_train"], train_per_class)
    keep_oe = _first_per_class(tin["y"], max(1, oe // len(np.unique(tin["y"]))))[:oe]
    return {
        "train": (cifar["x_train"][keep], cifar["y_train"][keep]),
        "test": (cifar["x_test"][:test], cifar["y_test"][:test]),
        "oe": (tin["x"][keep_oe], None),
        "dtd": (_round_trip(load("dtd10/dtd10_32.npz")["x"], 75), None),
        "heldout": (load("tinyimagenet32_heldout/tin32_heldout_val.npz")["x"], None),
    }


def synthetic_sets(n: int, seed: int = 0) -> dict:
    """Small random sets of the same names and shapes, for smoke tests without the shared data."""
    rng = np.random.default_rng(seed)

    def images(count):
        return rng.integers(0, 256, (count, 32, 32, 3), dtype=np.uint8)

    return {"train": (images(n), np.arange(n) % 10), "test": (images(n), np.arange(n) % 10),
            "oe": (images(n), None), "dtd": (images(n), None), "heldout": (images(n), None)}


def pack(sets: dict, out: Path, quality: int) -> None:
    arrays = {}
    for name, (x, y) in sets.items():
        encoded = [_jpeg(image, quality) for image in x]
        arrays[f"{name}_jpeg"] = np.frombuffer(b"".join(encoded), dtype=np.uint8)
        arrays[f"{name}_ends"] = np.cumsum([len(e) for e in encoded]).astype(np.int64)
        if y is not None:
            arrays[f"{name}_y"] = np.asarray(y, dtype=np.int64)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, **arrays)


def unpack(packed: Path, out: Path) -> None:
    arrays = {}
    with np.load(packed, allow_pickle=False) as f:
        for name in SETS:
            blob, ends = f[f"{name}_jpeg"].tobytes(), f[f"{name}_ends"]
            starts = np.concatenate([[0], ends[:-1]])
            arrays[f"x_{name}"] = np.stack([
                np.asarray(Image.open(io.BytesIO(blob[s:e])).convert("RGB"))
                for s, e in zip(starts, ends)])
            if f"{name}_y" in f.files:
                arrays[f"y_{name}"] = f[f"{name}_y"]
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, **arrays)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pack")
    p.add_argument("--data-root", type=Path, help="the shared data folder")
    p.add_argument("--synthetic", type=int, metavar="N", help="N random images per set instead")
    p.add_argument("--train-per-class", type=int, default=2000)
    p.add_argument("--test", type=int, default=5000)
    p.add_argument("--oe", type=int, default=6000)
    p.add_argument("--quality", type=int, default=90)
    p.add_argument("--out", type=Path, required=True)
    u = sub.add_parser("unpack")
    u.add_argument("packed", type=Path)
    u.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.command == "unpack":
        unpack(args.packed, args.out)
    else:
        if (args.data_root is None) == (args.synthetic is None):
            parser.error("pack needs exactly one of --data-root DIR and --synthetic N")
        sets = (synthetic_sets(args.synthetic) if args.synthetic else
                shared_sets(args.data_root, args.train_per_class, args.test, args.oe))
        pack(sets, args.out, args.quality)
    print(f"written: {args.out} ({args.out.stat().st_size / 2**20:.1f} MiB)")


if __name__ == "__main__":
    main()
