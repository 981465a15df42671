"""`oe datasets`: every registered dataset, present / missing / checksum bad, and downloads."""

from __future__ import annotations

from ._common import add_data_root_flag, add_parser


def register(sub) -> None:
    p = add_parser(sub, "datasets", "list the registered datasets (state, size, where, how to get "
                   "them) and download them", run)
    add_data_root_flag(p)
    p.add_argument("--download", nargs="+", metavar="NAME[:SPLIT]", dest="download_names",
                   help="download, verify and unpack these datasets (or one split's files) first")
    p.add_argument("--verify", action="store_true",
                   help="re-compute the checksums of the files present (else presence and size)")
    p.add_argument("--quiet", action="store_true", help="no download progress bar")


def run(args) -> int:
    from ..data.catalog import registry
    from ..data.catalog.inventory import inventory, inventory_text

    for item in args.download_names or []:
        name, _, split = item.partition(":")
        registry.download(name, split or None, progress=not args.quiet)
        print()
    statuses = inventory(verify=args.verify)
    print(inventory_text(statuses, verify=args.verify))
    return 1 if any(st.state == "bad checksum" for st in statuses) else 0
