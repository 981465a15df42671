"""The `oe` command line: runs the parser of `commands/` (commands/_parser.py) and turns bad
input into one clear message and exit status 2."""

from __future__ import annotations

import sys

# The parser lives with the commands (`oe completion` reads it too); callers use cli.build_parser.
from .commands._parser import build_parser


def main(argv: list[str] | None = None) -> int:
    from .data.storage.roots import data_settings
    from .errors import UserInputError

    args = build_parser().parse_args(argv)
    try:
        # --data-root / --download of the commands that load named datasets (see `oe datasets`)
        with data_settings(getattr(args, "data_root", None), getattr(args, "download_missing", False)):
            return args.func(args)
    except UserInputError as exc:
        print(f"oe {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\noe {args.command}: interrupted; finished epochs are kept, continue with "
              "--resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
