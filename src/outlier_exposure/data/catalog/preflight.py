"""Check, before a long job starts, that the registered datasets its data specs name are there.

`oe reproduce` trains the baseline before it reads the outliers, and evaluates last: without
this check a missing outlier or OOD set would be reported hours in. Specs that name files
(npz:, folder:, ...), noise, or sets that are not in the dataset registry are left to the
loader; `val:KIND:SPEC` is checked for its SPEC, and modifiers (`@first5000`) are ignored.
"""

from __future__ import annotations

from typing import Iterable

from . import registry
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


def require_data(specs: Iterable[str | None], purpose: str) -> None:
    """Raise one UserInputError listing every missing registered set of `specs` (see
    `registry.require`), with how to get each; `purpose` names the job in the message."""
    registry.require(registered_sets(specs), purpose)
