"""Download a named text set whose public files have published checksums.

    python -m outlier_exposure.text.download NAME [NAME ...] [--data-root DIR]

Files are fetched and verified by `data/storage/download.py` (`fetch`: nothing unverified is kept;
`extract`: no member may land outside the folder) into ROOT/NAME/ (ROOT: --data-root, else the
public data root of `data/storage/roots.py`). Checksums are those torchtext and scikit-learn publish for
the same files (see `registry.py`). Sets without such a file (TREC, WMT16, Yelp review-full, EWT)
print how to get them by hand.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..data.storage.download import extract, fetch
from ..data.storage.roots import data_root
from ..errors import UserInputError
from .registry import NAMED_SETS, named_set


def download_text_set(name: str, root: str | Path | None = None, progress: bool = True) -> Path:
    """Fetch (and unpack) set `name` under `root`; returns the set's folder."""
    entry = named_set(name)
    if root is None:
        root = data_root(shared=False)
    root = Path(root).expanduser()
    if not entry.downloads:
        raise UserInputError(
            f"{name} has no public file with a published checksum; "
            + entry.manual.replace("DATA_ROOT", str(root))
        )
    for item in entry.downloads:
        algo, _, digest = item.checksum.partition(":")
        dest = root / item.folder / item.filename
        if not dest.exists():
            fetch(item.url, dest, progress=progress, **{algo: digest})
        if item.extract:
            extract(dest, dest.parent)
    return root / entry.downloads[0].folder


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m outlier_exposure.text.download",
                                description="download named text sets (checksums verified)")
    p.add_argument("names", nargs="+", choices=sorted(NAMED_SETS), metavar="NAME")
    p.add_argument("--data-root", help="root folder (default: the public data root)")
    args = p.parse_args(argv)
    try:
        for name in args.names:
            print(f"{name}: {download_text_set(name, args.data_root)}")
    except UserInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
