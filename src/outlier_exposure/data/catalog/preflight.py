"""Check, before a long job starts, that the registered datasets its data specs name are there
(`require_data`), or fetch them (`fetch_data`, the `--download` of `oe reproduce`).

`oe reproduce` trains the baseline before it reads the outliers, and evaluates last: without
this check a missing outlier or OOD set would be reported hours in. Specs that name files
(npz:, folder:, ...), noise, or sets that are not in the dataset registry are left to the
loader; `val:KIND:SPEC` is checked for its SPEC, and modifiers (`@first5000`) are ignored.
"""

from __future__ import annotations

from typing import Callable, Iterable

from ...errors import UserInputError
from ..storage.roots import download_missing
from . import plan, registry
from .benchmarks import is_openood_validation
from ..modifiers import split_modifiers
from ..spec import parse_spec
from ..validation import is_validation_spec, parse_validation_spec


def registered_sets(specs: Iterable[str | None]) -> list[tuple[str, str | None]]:
    """(dataset name, split or None for its default) of each spec naming a registered set."""
    known = registry.datasets()
    found = []
    for text in specs:
        if not text:
            continue
        base, _ = split_modifiers(text)
        if is_openood_validation(base):  # resolved per run (benchmarks.resolve_validation_alias)
            continue
        if is_validation_spec(base):
            base = parse_validation_spec(base)[1]
            if base is None:  # the run's own test set
                continue
        spec = parse_spec(base)
        if spec.kind == "builtin" and spec.target in known:
            found.append((spec.target, spec.options.get("split")))
    return found


def require_data(specs: Iterable[str | None], purpose: str, rerun: str | None = None) -> None:
    """Raise one UserInputError listing every missing registered set of `specs`, one line each
    with how to get it, ending with the command that gets them all (`rerun`, the job's own
    command with --download, when it has one; plan.missing_message). `purpose` names the job.
    Sets that loading will download (`--download` of train/tune/eval) pass."""
    missing, _ = plan.find_missing(registered_sets(specs))
    if download_missing():
        missing = [m for m in missing if not m.downloads]
    if missing:
        raise UserInputError(plan.missing_message(missing, purpose, rerun))


def fetch_data(specs: Iterable[str | None], purpose: str, *, progress: bool = True,
               log: Callable[[str], None] = print) -> None:
    """`--download` of a long job: print the plan (each missing set, its size, source and
    checksum), download what has a download, and stop with the steps of any set that must be
    got by hand, before anything trains (plan.py)."""
    missing, present = plan.find_missing(registered_sets(specs))
    if not missing:
        if present:
            log(f"Data for {purpose}: in place ({', '.join(present)})")
        return
    log(plan.plan_text(missing, present, purpose))
    plan.get_missing(missing, progress=progress, log=log)
