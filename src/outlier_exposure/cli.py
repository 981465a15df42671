"""The `oe` command line: builds the parser from `commands/` and turns bad input into one
clear message and exit status 2."""

from __future__ import annotations

import argparse
import importlib
import sys

from ._version import __version__
from .commands import COMMANDS
from .commands._common import SPEC_HELP


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="oe", description="Outlier Exposure: train, fine-tune and evaluate OOD detectors.",
        epilog=SPEC_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"oe {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f".commands.{name}", __package__).register(sub)
    return parser


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
