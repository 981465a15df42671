"""`oe runs [DIR]`: a table of the run folders under DIR (default runs/), read from their JSON
files only (no PyTorch): kind, preset, epochs, test error, mean FPR95 and AUROC, state."""

from __future__ import annotations

from ._common import add_parser


def register(sub) -> None:
    p = add_parser(sub, "runs", "list the run folders under DIR: kind, preset, epochs done, test "
                   "error, mean FPR95 / AUROC, and whether each finished, was interrupted "
                   "(with the command that resumes it) or failed (and why)", run)
    p.add_argument("dir", nargs="?", default="runs", metavar="DIR",
                   help="folder to search, all the way down (default: runs)")


def run(args) -> int:
    from ..reporting.run_index import index_runs, runs_table

    entries = index_runs(args.dir)
    if not entries:
        print(f"no run folders under {args.dir} (a run folder holds the config.json that "
              "`oe train`, `oe tune`, `oe import` or `oe quickstart` write)")
        return 0
    print(runs_table(entries), end="")
    return 0
