"""A fabricated copy of OpenOOD v1.5's data/ folder with both CIFAR benchmarks, in the exact
format of its image lists and zips (for the registry, protocol and reproduce tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

# images_classic/PATH -> (width, height, PIL mode, format), as OpenOOD's zips unpack them.
IMAGES = {
    "cifar10/train/airplane/0.png": (32, 32, "RGB", "PNG"),
    "cifar10/train/automobile/1.png": (32, 32, "RGB", "PNG"),
    "cifar10/test/airplane/2.png": (32, 32, "RGB", "PNG"),
    "cifar10/test/automobile/3.png": (32, 32, "RGB", "PNG"),
    "cifar100/train/apple/0.png": (32, 32, "RGB", "PNG"),
    "cifar100/test/apple/1.png": (32, 32, "RGB", "PNG"),
    "cifar100/test/aquarium_fish/2.png": (32, 32, "RGB", "PNG"),
    "tin/test/n01443537/val_1.JPEG": (64, 64, "RGB", "JPEG"),
    "tin/test/n01629819/val_2.JPEG": (64, 64, "RGB", "JPEG"),
    "tin597/train/n01641577/n01641577_0.JPEG": (64, 64, "RGB", "JPEG"),
    "tin597/train/n01644900/n01644900_3.JPEG": (64, 64, "RGB", "JPEG"),
    "mnist/test/7/00000.png": (28, 28, "L", "PNG"),  # grey 28x28: must come out 32x32 RGB
    "mnist/test/2/00001.png": (28, 28, "L", "PNG"),
    "svhn/test/00001.png": (32, 32, "RGB", "PNG"),
    "texture/banded/banded_0002.png": (50, 37, "RGB", "PNG"),  # wide: resize, then crop
    "places365/abbey/Places365_test_00000001.png": (36, 45, "RGB", "PNG"),  # tall
}


def _lists(id_set: str, other: str) -> dict[str, list[str]]:
    """The lines of each list of one benchmark (labels as OpenOOD's: class indices for the
    in-distribution lists; OOD lists carry -1 or, for the other CIFAR, its own class index)."""
    mine = {"cifar10": ("cifar10/train/airplane/0.png", "cifar10/train/automobile/1.png",
                        "cifar10/test/airplane/2.png", "cifar10/test/automobile/3.png"),
            "cifar100": ("cifar100/train/apple/0.png", "cifar100/test/apple/1.png",
                         "cifar100/test/apple/1.png", "cifar100/test/aquarium_fish/2.png")}
    train0, train1, test0, test1 = mine[id_set]
    o_train, _, o_test0, o_test1 = mine[other]
    return {
        f"train_{id_set}.txt": [f"{train0} 0", "", f"{train1} 1"],
        f"val_{id_set}.txt": [f"{test0} 0"],
        f"test_{id_set}.txt": [f"{test0} 0", f"{test1} 1"],
        f"val_{other}.txt": [f"{o_train} -1"],
        f"test_{other}.txt": [f"{o_test0} 0", f"{o_test1} 1"],  # OOD: its labels are dropped
        "test_tin.txt": ["tin/test/n01443537/val_1.JPEG -1", "tin/test/n01629819/val_2.JPEG -1"],
        "test_mnist.txt": ["mnist/test/7/00000.png -1", "mnist/test/2/00001.png -1"],
        "test_svhn.txt": ["svhn/test/00001.png -1"],
        "test_texture.txt": ["texture/banded/banded_0002.png -1"],
        "test_places365.txt": ["places365/abbey/Places365_test_00000001.png -1"],
        "train_tin597.txt": ["tin597/train/n01641577/n01641577_0.JPEG 0",
                             "tin597/train/n01644900/n01644900_3.JPEG 596"],
    }


def hand_made(width: int, height: int, mode: str, k: int) -> Image.Image:
    """A deterministic pattern (gradients and stripes), different for each k."""
    yy, xx = np.mgrid[0:height, 0:width]
    r = (xx * 255 // max(width - 1, 1) + 17 * k) % 256
    g = (yy * 255 // max(height - 1, 1) + 5 * k) % 256
    b = ((xx // 3 + yy // 2) % 2) * 200 + k
    rgb = np.stack([r, g, b], axis=-1).astype(np.uint8)
    image = Image.fromarray(rgb)
    return image.convert("L") if mode == "L" else image


def fake_openood(root: Path) -> Path:
    """ROOT/openood/ as OpenOOD's data/ folder with both CIFAR benchmarks; returns it."""
    base = root / "openood"
    for k, (rel, (w, h, mode, fmt)) in enumerate(IMAGES.items()):
        path = base / "images_classic" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        hand_made(w, h, mode, k).save(path, format=fmt)
    for id_set, other in (("cifar10", "cifar100"), ("cifar100", "cifar10")):
        folder = base / "benchmark_imglist" / id_set
        folder.mkdir(parents=True, exist_ok=True)
        for name, lines in _lists(id_set, other).items():
            (folder / name).write_text("".join(f"{line}\n" for line in lines))
    return base
