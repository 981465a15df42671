"""The `oe` parser, built from the modules of `COMMANDS`: here rather than in cli.py so that a
command can read the whole command line too (`oe completion` writes a script from it)."""

from __future__ import annotations

import argparse
import importlib

from .._version import __version__
from . import COMMANDS
from ._common import SPEC_HELP


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="oe", description="Outlier Exposure: train, fine-tune and evaluate OOD detectors.",
        epilog=SPEC_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"oe {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f".{name}", __package__).register(sub)
    return parser
