"""`oe outliers check OUTLIERS --against SPEC ...`: which outliers are copies (exact, or
JPEG-recompressed, mirrored, slightly cropped) of in-distribution or OOD test images; writes
their indices for `--outliers 'OUTLIERS@exclude:FILE'`. A group: more outlier-set actions may
join `check`. The method and its measured thresholds: docs/hygiene.md."""

from __future__ import annotations

import sys

from ._common import add_data_root_flag, add_parser


def register(sub) -> None:
    group = add_parser(sub, "outliers", "outlier-set hygiene: `oe outliers check` finds the "
                       "outliers that duplicate in-distribution or OOD test images", _no_action)
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = add_parser(actions, "check", "find the outliers that are exact or near duplicates "
                   "(JPEG-recompressed, mirrored, slightly cropped) of images of other sets; "
                   "print counts per set, write their indices with --write", run_check)
    p.add_argument("outliers", metavar="OUTLIERS", help="the outlier set (a spec, e.g. "
                   "tinyimages-80m:no-cifar or npy:300K_random_images.npy); read in chunks")
    p.add_argument("--against", nargs="+", required=True, metavar="SPEC",
                   help="the sets the outliers must not overlap: in-distribution train and "
                        "test sets, OOD test sets (held in memory: about 8 KB per image)")
    p.add_argument("--write", metavar="FILE",
                   help="write the flagged outlier indices (0-based, one per line, sorted) "
                        "to FILE, for --outliers 'OUTLIERS@exclude:FILE'")
    p.add_argument("--image-size", type=int, default=32, metavar="N",
                   help="load every set at NxN (default 32; they are compared at 32x32)")
    p.add_argument("--max-distance", type=int, default=6, metavar="BITS",
                   help="stage 1: pHash distance (of 63 bits, to any crop / mirror variant) "
                        "within which a pair is checked (default 6; 0..8)")
    p.add_argument("--min-similarity", type=float, default=0.95, metavar="S",
                   help="stage 2: band-limited colour similarity a pair needs to count as a "
                        "near duplicate (default 0.95; identical pixels always count)")
    p.add_argument("--chunk", type=int, default=10000, metavar="N",
                   help="outlier images read and checked at once (default 10000)")
    p.add_argument("--examples", type=int, default=3, metavar="K",
                   help="example pairs printed per set and kind (default 3)")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    add_data_root_flag(p)


def _no_action(args) -> int:  # pragma: no cover - argparse requires an action
    return 2


def run_check(args) -> int:
    from ..data.hygiene.check import check_outliers
    from ..data.hygiene.exclusion import check_destination, write_exclusion

    if args.write:
        check_destination(args.write)  # before the check: its result must have somewhere to go
    progress = None if args.quiet else _progress
    report = check_outliers(
        args.outliers, args.against, image_size=args.image_size,
        max_distance=args.max_distance, min_similarity=args.min_similarity, chunk=args.chunk,
        examples=args.examples, progress=progress, log=None if args.quiet else _log)
    if progress is not None:
        print(file=sys.stderr)
    print(report_text(report, args.outliers), end="")
    if args.write:
        header = (f"oe outliers check {args.outliers} --against {' '.join(args.against)}\n"
                  f"{len(report.flagged)} of {report.outliers} outlier indices (0-based positions "
                  f"in {args.outliers}) that duplicate an image of those sets (pHash distance "
                  f"<= {args.max_distance} bits, similarity >= {args.min_similarity}; "
                  "docs/hygiene.md)")
        path = write_exclusion(args.write, report.flagged, header)
        print(f"written: {path} ({len(report.flagged)} indices); train without them: "
              f"--outliers '{args.outliers}@exclude:{path}'")
    return 0


def report_text(report, outliers: str) -> str:
    """A table per --against set: its size, the outlier images with an exact copy in it, and
    with a near duplicate (no exact copy); then examples `outlier~index (kind, distance,
    similarity)` per set, and the total."""
    from ..evaluation.formatting import text_table

    rows = [[r.name, f"{r.size:,}", f"{r.exact:,}", f"{r.near:,}"] for r in report.sets]
    lines = [text_table(["--against", "images", "exact", "near"], rows)]
    shown = [(r.name, r.examples) for r in report.sets if r.examples]
    if shown:
        lines.append("examples (outlier index ~ index in the set: kind, hash distance, "
                     "similarity):\n")
        lines += [f"  {name}: " + ", ".join(
            f"{m.outlier}~{m.reference} ({'exact' if m.exact else 'near'}, {m.distance} bits, "
            f"{m.similarity:.3f})" for m in examples) + "\n" for name, examples in shown]
    share = 100 * len(report.flagged) / max(report.outliers, 1)
    lines.append(f"{len(report.flagged):,} of {report.outliers:,} outliers ({share:.2f}%) "
                 f"duplicate an image of the --against sets ({outliers}; checked at "
                 f"{report.rate:,.0f} images/s, {report.seconds:.1f} s)\n")
    return "".join(lines)


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _progress(done: int, total: int, seconds: float) -> None:
    rate = done / seconds if seconds > 0 else 0.0
    print(f"\rchecked {done:,} of {total:,} outliers ({rate:,.0f} images/s)", end="",
          file=sys.stderr, flush=True)
