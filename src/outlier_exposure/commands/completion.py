"""`oe completion bash|zsh`: a shell completion script for `oe`, written by `shtab` (an optional
extra: pip install 'outlier-exposure[completion]') from the command line's own parser, so it
always knows every command and flag of the installed version.

The script is static: the preset names (image and text) and the registered dataset names are
written into it as the choices of `--preset`, `oe reproduce PRESET`, `oe presets PRESET` and
`oe datasets --download NAME`; run folders complete as folders. Regenerate it after an upgrade.
The choices are set on a parser built for the script only: parsing a command never checks them
(the library's messages about an unknown preset say more than argparse's would).
"""

from __future__ import annotations

import argparse

from ..errors import UserInputError

SHELLS = ("bash", "zsh")
INSTALL = """install:
  bash: oe completion bash > ~/.local/share/bash-completion/completions/oe
  zsh:  oe completion zsh > ~/.zfunc/_oe   (and in ~/.zshrc, before compinit:
        fpath+=~/.zfunc; autoload -Uz compinit && compinit)
then open a new shell. Needs shtab: pip install 'outlier-exposure[completion]'"""
# Positionals that name run folders (oe eval RUN, oe tune BASELINE, oe runs DIR, ...).
FOLDER_ARGS = ("run", "runs", "baseline", "dir")


def register(sub) -> None:
    # Not _common.add_parser: its epilog is about data specs; this one says how to install.
    summary = "print a shell completion script for oe (bash, zsh): commands, flags, presets, datasets"
    p = sub.add_parser("completion", help=summary, description=summary, epilog=INSTALL,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(func=run)
    p.add_argument("shell", choices=SHELLS, help="the shell the script is for")


def run(args) -> int:
    print(completion_script(args.shell), end="")
    return 0


def completion_script(shell: str) -> str:
    """The completion script of `oe` for `shell`; UserInputError naming the extra when shtab is
    not installed."""
    try:
        import shtab
    except ImportError:
        raise UserInputError("shell completion needs the optional package shtab: pip install "
                             "'outlier-exposure[completion]' (or pip install shtab), then run "
                             "this again") from None
    from ._parser import build_parser

    parser = build_parser()
    offer_names(parser, preset_names(), dataset_names(), shtab.DIRECTORY)
    return shtab.complete(parser, shell=shell)


def preset_names() -> list[str]:
    """Every preset `--preset` and `oe reproduce` take: the image presets, then the text ones."""
    from ..text.config import TEXT_RECIPES
    from ..training.presets import PRESETS

    return list(dict.fromkeys([*PRESETS, *TEXT_RECIPES]))


def dataset_names() -> list[str]:
    from ..data.catalog.registry import datasets

    return list(datasets())


def offer_names(parser: argparse.ArgumentParser, presets: list[str], datasets: list[str],
                folder) -> None:
    """Set the completion choices on every command's actions (see the module docstring)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command in action.choices.values():
                offer_names(command, presets, datasets, folder)
        elif "--preset" in action.option_strings or (not action.option_strings
                                                     and action.dest == "preset"):
            action.choices = presets
        elif action.dest == "download_names":  # oe datasets --download NAME[:SPLIT]
            action.choices = datasets
        elif not action.option_strings and action.dest in FOLDER_ARGS:
            action.complete = folder
