"""Reading random outlier batches from an 80M Tiny Images file: sorted memmap gather vs seek + read.

The reference's loader (`utils/tinyimages_80mn_loader.py`) reads each outlier with its own
`f.seek(i * 3072)` + `f.read(3072)` and decodes it with `reshape(32, 32, 3, order="F")`.
`RecordImages` sorts a batch's indices, gathers all records from a memory map in one fancy-index
and puts them back in the order asked. Both read the same random indices; the results are
checked equal.

    python benchmarks/bench_outliers.py [--size-gb 1] [--batches 200] [--batch-size 256]

A file in the `tiny_images.bin` format (random bytes) is written to the system temp dir and
deleted at the end. Having just been written, it sits in the page cache: this measures the
per-record overhead of the two readers, not the disk (a cold 244 GB file on disk is slower for
both, and benefits more from sorted offsets). Prints the machine and settings, and as its last
line `ratio: X` (reference time / ours).
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time

import numpy as np

from outlier_exposure.data.formats.tinyimages import RECORD_BYTES, RecordImages


def write_file(path: str, n_records: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    chunk = 32768  # records per write: 100 MB
    with open(path, "wb") as f:
        for start in range(0, n_records, chunk):
            count = min(chunk, n_records - start)
            f.write(rng.integers(0, 256, size=count * RECORD_BYTES, dtype=np.uint8).tobytes())


def read_seek(f, indices: np.ndarray) -> np.ndarray:
    """The reference's way: one seek + read per record, decoded column-major."""
    out = np.empty((len(indices), 32, 32, 3), dtype=np.uint8)
    for j, i in enumerate(indices):
        f.seek(int(i) * RECORD_BYTES)
        out[j] = np.frombuffer(f.read(RECORD_BYTES), dtype=np.uint8).reshape(32, 32, 3, order="F")
    return out


def time_raw_reads(path: str, ours: RecordImages, batches, repeats: int) -> tuple[float, float]:
    """Best times of the bare reads: seek + read per record, and one sorted memmap gather."""
    records = ours._records()
    t_ref = t_ours = float("inf")
    for _ in range(repeats):
        with open(path, "rb") as f:
            start = time.perf_counter()
            for b in batches:
                for i in b:
                    f.seek(int(i) * RECORD_BYTES)
                    f.read(RECORD_BYTES)
            t_ref = min(t_ref, time.perf_counter() - start)
        start = time.perf_counter()
        for b in batches:
            records[np.sort(b)]
        t_ours = min(t_ours, time.perf_counter() - start)
    return t_ref, t_ours


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-gb", type=float, default=1.0, help="size of the file to make")
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3, help="best of N passes over the batches")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    n_records = int(args.size_gb * 1e9) // RECORD_BYTES
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"python {platform.python_version()}, numpy {np.__version__}")
    print(f"settings: {n_records} records ({n_records * RECORD_BYTES / 1e9:.2f} GB, in the page "
          f"cache after writing), {args.batches} batches of {args.batch_size} random indices, "
          f"best of {args.repeats}")

    handle, path = tempfile.mkstemp(suffix="_tiny_images.bin")
    os.close(handle)
    try:
        started = time.perf_counter()
        write_file(path, n_records, args.seed)
        print(f"wrote {path} in {time.perf_counter() - started:.1f} s")
        rng = np.random.default_rng(args.seed + 1)
        batches = [rng.integers(0, n_records, size=args.batch_size) for _ in range(args.batches)]
        ours = RecordImages(path)

        def time_reference():
            with open(path, "rb") as f:
                start = time.perf_counter()
                out = [read_seek(f, b) for b in batches]
                return time.perf_counter() - start, out

        def time_ours():
            start = time.perf_counter()
            out = [ours[b] for b in batches]
            return time.perf_counter() - start, out

        t_ref = t_ours = float("inf")
        for _ in range(args.repeats):
            t, ref_out = time_reference()
            t_ref = min(t_ref, t)
            t, our_out = time_ours()
            t_ours = min(t_ours, t)
        same = all(np.array_equal(a, b) for a, b in zip(ref_out, our_out))
        if not same:
            raise SystemExit("the two readers disagree")
        # For information: the reading alone, without decoding to (32, 32, 3) images.
        t_ref_raw, t_ours_raw = time_raw_reads(path, ours, batches, args.repeats)
        total = args.batches * args.batch_size
        for label, t, t_raw in (("reference (seek + read per record)", t_ref, t_ref_raw),
                                ("ours (sorted memmap gather)", t_ours, t_ours_raw)):
            print(f"{label}: {t:.3f} s, {total / t:,.0f} images/s decoded; "
                  f"reading alone {t_raw:.3f} s, {total / t_raw:,.0f} records/s")
        print(f"results equal: {same}")
        print(f"ratio: {t_ref / t_ours:.2f}")
    finally:
        os.unlink(path)


if __name__ == "__main__":
    main()
