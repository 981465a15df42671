"""`oe outliers check` measured on the offline sets: planted duplicates, distances, rate.

    python benchmarks/bench_hygiene.py plant /tmp/planted.npz [--source dtd10]
    oe outliers check npz:/tmp/planted.npz --against ... --write /tmp/flagged.txt
    python benchmarks/bench_hygiene.py score /tmp/planted.npz /tmp/flagged.txt
    python benchmarks/bench_hygiene.py distances [--source dtd10] # the docs' distributions
    python benchmarks/bench_hygiene.py rate --records 2000000     # streaming rate, 80M format

plant: the Tiny ImageNet OE outliers (12,000) plus, for each kind, copies of 500 CIFAR-10 test
images (distinct images per kind, seed 0; `--source dtd10`: 240 textures per kind, never
JPEG-compressed before, the harder case): exact; JPEG quality 75 (PIL); mirrored left-right;
cropped (a square box keeping 28..30 of the 32 pixels, at a random sub-pixel position, PIL
bicubic back to 32x32); mirrored + cropped + JPEG 75. All shuffled together; the npz holds `x`
and the planted positions, kinds and sources.

score: recall per kind (a planted copy counts when its index is in the flagged file) and every
flagged index that is not planted (a false positive, or a real duplicate across the sets: the
pair is shown by `oe outliers check --examples`).

distances: for each kind, the hash distance of a copy to the closest variant of its source and
the similarity of that pair; for the distinct outliers, the distance to their closest reference
variant and the highest similarity among their candidates (the margins of both thresholds).

rate: a `tiny_images.bin`-format file (column-major records) of --records images, made of the
Tiny ImageNet OE images each moved by a random shift and brightness change, written to the
system temp dir, read through the 80M reader (a memmap, lazy) and checked against the offline
CIFAR-10 train + test, the held-out Tiny ImageNet classes and the textures; deleted at the end.
Just written, the file sits in the page cache: the rate excludes the disk.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

KINDS = ("exact", "jpeg75", "mirror", "crop", "mirror+crop+jpeg75")
PER_KIND = 500
CROP_SIDES = (28.0, 30.0)


def shared_data() -> Path:
    """The project's offline sets: env OE_SHARED_DATA, else shared/data beside the checkout
    (data/storage/roots.py, as every command finds them)."""
    from outlier_exposure.data.storage.roots import data_root

    folder = data_root(shared=True)
    if not (folder / "cifar10").is_dir():
        raise SystemExit(f"the offline data folder {folder} is not there: set OE_SHARED_DATA")
    return folder


def offline(name: str, key: str = "x") -> np.ndarray:
    files = {"cifar": "cifar10/cifar10_subset_32.npz", "tin": "tinyimagenet32_oe/tin32_oe_train.npz",
             "heldout": "tinyimagenet32_heldout/tin32_heldout_val.npz", "dtd": "dtd10/dtd10_32.npz"}
    with np.load(shared_data() / files[name], allow_pickle=False) as npz:
        return npz[key]


def crop(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    from PIL import Image

    out = np.empty_like(x)
    for i, pixels in enumerate(x):
        side = rng.uniform(*CROP_SIDES)
        top, left = rng.uniform(0, 32 - side, size=2)
        box = (left, top, left + side, top + side)
        out[i] = np.asarray(Image.fromarray(pixels).resize((32, 32), Image.BICUBIC, box=box))
    return out


def make_kind(kind: str, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    from outlier_exposure.data.modifiers import jpeg_round_trip

    mirror = np.ascontiguousarray(x[:, :, ::-1])
    return {"exact": lambda: x.copy(), "jpeg75": lambda: jpeg_round_trip(x, 75),
            "mirror": lambda: mirror, "crop": lambda: crop(x, rng),
            "mirror+crop+jpeg75": lambda: jpeg_round_trip(crop(mirror, rng), 75)}[kind]()


def sources_of(name: str) -> np.ndarray:
    """The images copied: CIFAR-10 test (stored as JPEG 75 once: a JPEG 75 copy is often
    identical) or the textures (never JPEG-compressed: the harder case for JPEG copies)."""
    return offline("cifar", "x_test") if name == "cifar10" else offline("dtd")


def pick_sources(n: int, rng: np.random.Generator) -> np.ndarray:
    """(kinds, per kind) distinct indices of the images copied: `plant` and `distances` draw
    the same ones from the same seed."""
    per_kind = min(PER_KIND, n // len(KINDS))  # distinct sources for every copy
    return rng.choice(n, len(KINDS) * per_kind, replace=False).reshape(len(KINDS), -1)


def plant(out: str, source: str = "cifar10") -> None:
    rng = np.random.default_rng(0)
    outliers, test = offline("tin"), sources_of(source)
    sources = pick_sources(len(test), rng)
    per_kind = sources.shape[1]
    copies = [make_kind(kind, test[sources[k]], rng) for k, kind in enumerate(KINDS)]
    x = np.concatenate([outliers] + copies)
    kind = np.concatenate([np.full(len(outliers), -1)] + [np.full(per_kind, k) for k in range(len(KINDS))])
    copied = np.concatenate([np.full(len(outliers), -1), sources.ravel()])
    order = rng.permutation(len(x))
    np.savez(out, x=x[order], planted_kind=kind[order], planted_source=copied[order],
             kinds=np.array(KINDS))
    print(f"wrote {out}: {len(x)} images, {len(outliers)} Tiny ImageNet OE outliers + "
          f"{per_kind} copies of {source} images of each kind {', '.join(KINDS)}")


def score(planted: str, flagged_file: str) -> None:
    from outlier_exposure.data.hygiene.exclusion import read_exclusion

    with np.load(planted) as npz:
        kind, n = npz["planted_kind"], len(npz["planted_kind"])
    flagged = np.zeros(n, dtype=bool)
    flagged[read_exclusion(flagged_file, n)] = True
    for k, name in enumerate(KINDS):
        hit = flagged[kind == k]
        print(f"{name:20s} recall {hit.mean():.3f} ({hit.sum()}/{hit.size})")
    extra = np.flatnonzero(flagged & (kind == -1))
    print(f"flagged but not planted: {len(extra)} of {int((kind == -1).sum())} outliers"
          + (f": {extra.tolist()[:50]}" if len(extra) else ""))


def distances(source: str = "cifar10") -> None:
    from outlier_exposure.data.hygiene.duplicates import VERIFIED, ReferenceIndex, find_duplicates
    from outlier_exposure.data.hygiene.phash import (
        PRIORITY, VARIANTS, phash, variant_box, variant_hashes,
    )
    from outlier_exposure.data.hygiene.verify import similarity

    rng = np.random.default_rng(0)
    test = sources_of(source)
    sources = pick_sources(len(test), rng)
    for k, kind in enumerate(KINDS):
        src = test[sources[k]]
        copies = make_kind(kind, src, rng)
        d = np.bitwise_count(phash(copies)[:, None] ^ variant_hashes(src))
        # as the check does: the VERIFIED closest variants (ties: by PRIORITY)
        closest = np.argsort(d.astype(np.int64) * VARIANTS + PRIORITY, axis=1)[:, :VERIFIED]
        sim = np.max([similarity(copies, src, *variant_box(closest[:, j]))
                      for j in range(VERIFIED)], axis=0)
        print(f"{kind:20s} distance to the closest variant: {histogram(d.min(axis=1))}; "
              f"similarity min {sim.min():.3f}, 1st/5th percentile {np.percentile(sim, 1):.3f}/"
              f"{np.percentile(sim, 5):.3f}")
    if source != "cifar10":
        return
    references = ReferenceIndex([("cifar10 train", offline("cifar", "x_train")),
                                 ("cifar10 test", test), ("heldout", offline("heldout")),
                                 ("dtd10", offline("dtd"))])
    outliers = offline("tin")
    qi, _, d = references.index.query(phash(outliers), 8)
    closest = np.full(len(outliers), 99)
    np.minimum.at(closest, qi, d)
    print(f"distinct outliers ({len(outliers)}) vs {len(references)} reference images x 110 "
          f"variants, distance to the closest: {histogram(closest, over=8)}")
    for limit in (4, 6, 8):
        report = find_duplicates(outliers, references, max_distance=limit, min_similarity=1e-9)
        sims = sorted((m.similarity for m in report.pairs), reverse=True)
        print(f"  candidates within {limit} bits: {len(report.pairs)} pairs "
              f"({len(report.flagged)} outliers); highest similarities "
              f"{[round(v, 3) for v in sims[:5]]}")


def histogram(d: np.ndarray, over: int = 12) -> str:
    counts = np.bincount(np.minimum(d, over + 1), minlength=over + 2)
    parts = [f"{v}: {counts[v]}" for v in range(over + 1) if counts[v]]
    if counts[over + 1]:
        parts.append(f">{over}: {counts[over + 1]}")
    return ", ".join(parts)


def rate(records: int, chunk: int) -> None:
    from outlier_exposure.data.formats.tinyimages import load_tinyimages
    from outlier_exposure.data.hygiene.duplicates import ReferenceIndex, find_duplicates

    base = offline("tin")
    references = [("cifar10 train", offline("cifar", "x_train")),
                  ("cifar10 test", offline("cifar", "x_test")), ("heldout", offline("heldout")),
                  ("dtd10", offline("dtd"))]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
          f"numpy {np.__version__}; load average {os.getloadavg()[0]:.1f}")
    start = time.perf_counter()
    index = ReferenceIndex(references)
    print(f"index: {len(index)} reference images in {time.perf_counter() - start:.1f} s")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "tiny_images.bin"
        write_records(path, base, records)
        images = load_tinyimages(path)
        cpu, peak = time.process_time(), {"anon": 0, "file": 0}

        def sample_memory(*_):  # per chunk: anonymous memory vs the memmap's page-cache pages
            for key, field in (("anon", "RssAnon"), ("file", "RssFile")):
                peak[key] = max(peak[key], resident_kb(field))

        report = find_duplicates(images.x, index, chunk=chunk, progress=sample_memory)
        cpu = time.process_time() - cpu
    print(f"checked {report.outliers} images in {report.seconds:.1f} s: {report.rate:,.0f} "
          f"images/s ({report.outliers / cpu:,.0f} per CPU second); flagged {len(report.flagged)}; "
          f"80M (79,302,017) at this rate: {79_302_017 / report.rate / 3600:.1f} h")
    print(f"memory while checking (peak of per-chunk samples): anonymous {peak['anon'] / 1024:,.0f} "
          f"MB (index, chunks, candidates); file-backed {peak['file'] / 1024:,.0f} MB (the "
          f"memmap's pages in the page cache, which the kernel reclaims under pressure)")


def resident_kb(field: str) -> int:
    """This process's resident memory of one kind (RssAnon, RssFile) in KB, from /proc."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def write_records(path: Path, base: np.ndarray, records: int) -> None:
    """Records in the 80M format (column-major), each a base image shifted by up to 2 pixels and
    brightened by -8..8: realistic content, no two records identical."""
    rng = np.random.default_rng(1)
    with open(path, "wb") as f:
        for start in range(0, records, 32768):
            n = min(32768, records - start)
            pick = base[rng.integers(len(base), size=n)]
            shift = rng.integers(-2, 3, size=(n, 2))
            moved = np.empty(pick.shape, dtype=np.int16)
            for dy in range(-2, 3):
                for dx in range(-2, 3):
                    these = (shift[:, 0] == dy) & (shift[:, 1] == dx)
                    moved[these] = np.roll(pick[these], (dy, dx), axis=(1, 2))
            moved += rng.integers(-8, 9, size=(n, 1, 1, 1), dtype=np.int16)
            x = np.clip(moved, 0, 255).astype(np.uint8)
            f.write(np.ascontiguousarray(x.transpose(0, 3, 2, 1)).tobytes())  # (C, W, H) order


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("plant")
    p.add_argument("out")
    p.add_argument("--source", choices=("cifar10", "dtd10"), default="cifar10")
    p = sub.add_parser("score")
    p.add_argument("planted")
    p.add_argument("flagged")
    p = sub.add_parser("distances")
    p.add_argument("--source", choices=("cifar10", "dtd10"), default="cifar10")
    p = sub.add_parser("rate")
    p.add_argument("--records", type=int, default=2_000_000)
    p.add_argument("--chunk", type=int, default=10_000)
    args = parser.parse_args()
    if args.what == "plant":
        plant(args.out, args.source)
    elif args.what == "score":
        score(args.planted, args.flagged)
    elif args.what == "distances":
        distances(args.source)
    else:
        rate(args.records, args.chunk)


if __name__ == "__main__":
    main()
