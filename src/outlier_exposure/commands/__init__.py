"""One module per `oe` subcommand.

Each module defines `register(subparsers)`, which adds its parser and sets `func` to a
function `run(args) -> int`. Argument parsing only: the work is done by the library.
Adding a command = adding a module here and its name to `COMMANDS` (`import_` for `oe import`:
`import` is a Python keyword).
"""

COMMANDS = ("train", "tune", "eval", "calibrate", "metrics", "presets", "quickstart", "reproduce",
            "report", "datasets", "detector", "score", "export", "import_", "sweep", "runs",
            "outliers", "completion")
