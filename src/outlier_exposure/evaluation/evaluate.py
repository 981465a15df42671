"""Evaluate a run with the protocol asked for, or the run's own: the paper's or OpenOOD v1.5's.

The 2019 paper's protocol (`protocol.evaluate_scores`: 1:5 draws, the mean over the OOD sets)
is every paper preset's; OpenOOD v1.5's (`openood.evaluate_openood`: full sets, near/far groups)
is the default of the presets that train as OpenOOD does (RunConfig.protocol). The options of
one protocol that mean nothing in the other are refused rather than ignored.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import UserInputError
from ..training import runs
from ..training.config import PROTOCOLS
from .openood import PROTOCOL as OPENOOD
from .openood import evaluate_openood
from .draws import DrawSettings
from .posthoc.run_data import check_score_options
from .protocol import evaluate_scores

# Options of the paper's protocol only: its draws. (`ood` is its flat list of OOD sets; OpenOOD's
# protocol takes `near` and `far`.)
_PAPER_ONLY = ("draws", "ratio", "draw_size", "ood")
_OPENOOD_ONLY = ("near", "far")
_DEFAULT_RULES = {"paper": "closest", OPENOOD: "roc"}


def run_protocol_name(run_dir: str | Path, protocol: str | None) -> str:
    """`protocol`, or the run's own (its config's `protocol`, "paper" for older runs)."""
    if protocol is None:
        protocol = getattr(runs.load_config(Path(run_dir)), "protocol", "paper") or "paper"
    if protocol not in PROTOCOLS:
        raise UserInputError(f"unknown protocol {protocol!r}; choose one of: {', '.join(PROTOCOLS)}")
    return protocol


def evaluate(run_dir: str | Path, *, protocol: str | None = None, **options) -> dict[str, dict]:
    """{score: results} of the run under `protocol` (None: the run's own). `options` are those
    of `protocol.evaluate_scores` or `openood.evaluate_openood`; None values are left out, and
    `rule` None takes the protocol's own ("closest" for the paper, "roc" for OpenOOD)."""
    # The flags first, then the run (either protocol: seed and recall apply to both).
    check_score_options(options.get("score_options"))
    defaults = DrawSettings()
    DrawSettings(**{k: defaults.__dict__[k] if options.get(k) is None else options[k]
                    for k in ("draws", "ratio", "recall", "seed", "draw_size")}).check()
    protocol = run_protocol_name(run_dir, protocol)
    given = {k: v for k, v in options.items() if v is not None}
    wrong = _OPENOOD_ONLY if protocol == "paper" else _PAPER_ONLY
    misplaced = [k for k in wrong if k in given]
    if misplaced:
        flag = "--" + misplaced[0].replace("_", "-")
        if misplaced[0] == "draw_size":
            flag = "--ood-draw-size"
        other = OPENOOD if protocol == "paper" else "paper"
        raise UserInputError(f"{flag} belongs to the {other} protocol; this evaluation uses the "
                             f"{protocol} protocol (--protocol {protocol}): drop {flag} or pass "
                             f"--protocol {other}")
    given.setdefault("rule", _DEFAULT_RULES[protocol])
    if protocol == OPENOOD:
        return evaluate_openood(run_dir, **given)
    return evaluate_scores(run_dir, given.pop("ood", None), **given)


def evaluate_one(run_dir: str | Path, **options) -> dict:
    """The first score's results of `evaluate` (the only one unless `scores` names several)."""
    return next(iter(evaluate(run_dir, **options).values()))
