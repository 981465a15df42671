"""Training batches from a folder of JPEGs: our streamed path vs torchvision ImageFolder + DataLoader.

Ours (--data-on stream): `load_folder(stream=True)` lists the folder; `BatchPrefetcher` reads each
batch in one background thread, decoding with `--workers` threads (PIL releases the GIL) at the
stored size (256); the uint8 batch then goes through `Preprocess` on `--device` (RandomResizedCrop
to 224, flip, normalise). With `--device cuda` it also measures batched JPEG decoding on the GPU
(`torchvision.io.decode_jpeg`), the alternative to host decoding there. Reference: `ImageFolder` + `DataLoader(num_workers=W, batch_size=B,
shuffle=True)` with RandomResizedCrop(224) + RandomHorizontalFlip + ToTensor + Normalize, each
image decoded at full size and transformed in a worker process.

    python benchmarks/bench_folder_pipeline.py [--images 400] [--batch-size 64] [--workers 2]
                                               [--batches N] [--device cuda]

A seeded folder of `--images` JPEGs (300-500 px a side, 4 classes) is written to the system temp
dir and deleted at the end. Both sides read `--batches` batches (default: one pass), timed from
the start (worker start-up included on both sides) to the last batch. Just written, the files sit
in the page cache: this measures decoding and transforms, not the disk. Prints the machine and
settings, both rates, and as its last line `ratio: X` (our images/s / the reference's).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import tempfile
import time
from contextlib import closing
from pathlib import Path

import numpy as np
import torch

from outlier_exposure.data.batches import Preprocess
from outlier_exposure.data.placement import BatchPrefetcher
from outlier_exposure.data.sources import load_folder

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
INPUT, STORED = 224, 256


def write_folder(root: Path, n: int, seed: int = 0) -> None:
    """n JPEGs of 300-500 px a side in 4 class folders: smooth noise and a few shapes."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    for i in range(n):
        h, w = (int(v) for v in rng.integers(300, 501, size=2))
        coarse = rng.integers(0, 256, size=(h // 16 + 1, w // 16 + 1, 3), dtype=np.uint8)
        image = Image.fromarray(coarse).resize((w, h), Image.BILINEAR)
        draw = ImageDraw.Draw(image)
        for _ in range(4):
            x0, y0 = int(rng.integers(0, w - 20)), int(rng.integers(0, h - 20))
            x1, y1 = x0 + int(rng.integers(10, w - x0)), y0 + int(rng.integers(10, h - y0))
            draw.ellipse([x0, y0, x1, y1], fill=tuple(int(c) for c in rng.integers(0, 256, 3)))
        folder = root / f"class_{i % 4}"
        folder.mkdir(parents=True, exist_ok=True)
        image.save(folder / f"{i:05d}.jpg", quality=90)


def ours_preprocess() -> tuple[Preprocess, int]:
    """Our batch preprocessing (RandomResizedCrop to 224 + flip + normalise) and the stored size."""
    return Preprocess(MEAN, STD, crop_padding=0, flip=True, random_resized_crop=True,
                      input_size=INPUT), STORED


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_ours(root: Path, batch_size: int, workers: int, batches: int,
             device: torch.device) -> tuple[int, float, float]:
    """(images, seconds, of which seconds in `Preprocess` on the main thread)."""
    started = time.perf_counter()
    pre, stored = ours_preprocess()
    x = load_folder(root, size=stored, stream=True, threads=workers).x
    generator = torch.Generator().manual_seed(0)
    order = torch.randperm(len(x), generator=generator).split(batch_size)[:batches]
    seen, in_pre = 0, 0.0
    with closing(BatchPrefetcher(x, order, device)) as prefetcher:
        for pixels in prefetcher:
            t = time.perf_counter()
            inputs = pre(pixels, augment=True, generator=generator)
            _sync(device)
            in_pre += time.perf_counter() - t
            seen += inputs.shape[0]
    return seen, time.perf_counter() - started, in_pre


def run_gpu_decode(root: Path, batch_size: int, batches: int,
                   device: torch.device) -> tuple[int, float]:
    """The alternative for a GPU: the JPEG bytes read on the host, decoded in batches on the GPU
    (`torchvision.io.decode_jpeg(device="cuda")`), brought to the stored size there (covering
    resize, centre crop), then the same `Preprocess`."""
    import torch.nn.functional as F
    from torchvision.io import decode_jpeg, read_file

    pre, stored = ours_preprocess()
    files = sorted(root.rglob("*.jpg"))
    generator = torch.Generator().manual_seed(0)
    order = torch.randperm(len(files), generator=generator).split(batch_size)[:batches]
    started, seen = time.perf_counter(), 0
    for idx in order:
        decoded = decode_jpeg([read_file(str(files[int(i)])) for i in idx], device=device)
        stored_batch = []
        for image in decoded:  # (3, h, w) uint8 on the GPU
            h, w = image.shape[1:]
            scale = stored / min(h, w)
            size = (max(stored, round(h * scale)), max(stored, round(w * scale)))
            image = F.interpolate(image[None].float(), size=size, mode="bilinear",
                                  antialias=True, align_corners=False)[0]
            top, left = (size[0] - stored) // 2, (size[1] - stored) // 2
            stored_batch.append(image[:, top:top + stored, left:left + stored])
        pixels = torch.stack(stored_batch).round().clamp(0, 255).to(torch.uint8)
        inputs = pre(pixels.permute(0, 2, 3, 1), augment=True, generator=generator)
        _sync(device)
        seen += inputs.shape[0]
    return seen, time.perf_counter() - started


def run_decode_only(root: Path, batch_size: int, workers: int,
                    batches: int) -> tuple[int, float]:
    """Our streamed batches without `Preprocess`: the host's share when augmenting on a GPU."""
    started = time.perf_counter()
    _, stored = ours_preprocess()
    x = load_folder(root, size=stored, stream=True, threads=workers).x
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    seen = 0
    with closing(BatchPrefetcher(x, order.split(batch_size)[:batches],
                                 torch.device("cpu"))) as prefetcher:
        for pixels in prefetcher:
            seen += pixels.shape[0]
    return seen, time.perf_counter() - started


def run_reference(root: Path, batch_size: int, workers: int, batches: int) -> tuple[int, float]:
    from torchvision import datasets, transforms

    started = time.perf_counter()
    transform = transforms.Compose([
        transforms.RandomResizedCrop(INPUT), transforms.RandomHorizontalFlip(),
        transforms.ToTensor(), transforms.Normalize(MEAN, STD)])
    loader = torch.utils.data.DataLoader(datasets.ImageFolder(str(root), transform),
                                         batch_size=batch_size, shuffle=True, num_workers=workers)
    seen = 0
    for i, (inputs, _) in enumerate(loader):
        seen += inputs.shape[0]
        if i + 1 == batches:
            break
    return seen, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=400)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batches", type=int, default=None, help="default: one pass")
    parser.add_argument("--device", default="cpu",
                        help="where our batches are augmented (cuda: also GPU JPEG decoding)")
    args = parser.parse_args()
    device = torch.device(args.device)
    batches = args.batches or math.ceil(args.images / args.batch_size)

    stored = STORED
    print(f"machine: {platform.processor() or platform.machine()}, cpus {os.cpu_count()}, "
          f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    print(f"settings: {args.images} JPEGs 300-500 px, batch {args.batch_size}, {batches} batches, "
          f"workers {args.workers}; ours stored at {stored} -> input {INPUT} "
          "(RandomResizedCrop + flip), "
          "reference RandomResizedCrop(224) + flip")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "images"
        write_folder(root, args.images)
        seen_ref, t_ref = run_reference(root, args.batch_size, args.workers, batches)
        seen_ours, t_ours, t_pre = run_ours(root, args.batch_size, args.workers, batches, device)
        seen_dec, t_dec = run_decode_only(root, args.batch_size, args.workers, batches)
        if device.type == "cuda":
            seen_gpu, t_gpu = run_gpu_decode(root, args.batch_size, batches, device)
            print(f"GPU decoding (decode_jpeg on {device}, resize, Preprocess): "
                  f"{seen_gpu / t_gpu:.1f} images/s")
    ours, reference = seen_ours / t_ours, seen_ref / t_ref
    print(f"ours (stream + Preprocess on {device}): {seen_ours} images in {t_ours:.2f} s = {ours:.1f} images/s "
          f"({t_pre:.2f} s of it in Preprocess on the main thread)")
    print(f"ours, decode only (no Preprocess): {seen_dec / t_dec:.1f} images/s")
    print(f"reference (ImageFolder + DataLoader): {seen_ref} images in {t_ref:.2f} s = "
          f"{reference:.1f} images/s")
    print(f"ratio: {ours / reference:.2f}")


if __name__ == "__main__":
    main()
