"""Text spec strings, parallel to the image specs of `data/spec.py`.

    NAME[:SPLIT]                      a named set under the data root (see `registry.py`),
                                      e.g. sst:train, snli, wikitext2:valid, ewt-email:dev
    tsv:PATH:TEXT_COLUMN[,LABEL_COLUMN]  a TSV with a header row (.gz allowed); columns by header
                                      name or 0-based number, e.g. tsv:reviews.tsv:text,label
    lines:PATH                        one example per non-empty line, unlabelled

Any spec may end with `@firstN` (the first N examples, in the file's order). Tokenisation of
tsv/lines files is `str.split()`, as the reference's fields do.

Colons in paths: the kind is the text before the FIRST ':'; for tsv the columns are split off
at the LAST ':' (so a path may hold ':'; columns are letters, digits, '_', '-', '.').
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from ..errors import UserInputError
from .registry import NAMED_SETS

TEXT_KINDS = ("tsv", "lines")
TEXT_SPEC_FORMS = (
    "NAME[:SPLIT] (e.g. sst:train, snli, wikitext2:valid) | "
    "tsv:PATH:TEXT_COLUMN[,LABEL_COLUMN] (e.g. tsv:data/train.tsv:sentence,label) | "
    "lines:PATH (one text per line); any of them may end with @firstN"
)
_COLUMNS = re.compile(r"([\w.\-]+)(?:,([\w.\-]+))?", re.ASCII)
_NAME = re.compile(r"[a-z0-9][a-z0-9\-]*(?::[\w.\-]+)?", re.ASCII)
_FIRST = re.compile(r"@first(\d+)$")


@dataclass(frozen=True)
class TextSpec:
    """kind: "tsv", "lines" or "named"; target: path or set name; options: tsv {"text",
    "label"}, named {"split"}; first: @firstN or None; text: as written."""

    kind: str
    target: str
    options: Mapping[str, Any] = field(default_factory=dict, hash=False)
    first: int | None = None
    text: str = ""


def _malformed(text: str, reason: str) -> UserInputError:
    return UserInputError(f"malformed text spec {text!r}: {reason}. Accepted forms: {TEXT_SPEC_FORMS}")


def parse_text_spec(text: str) -> TextSpec:
    if not isinstance(text, str) or not text.strip():
        raise _malformed(str(text), "the spec is empty")
    text = text.strip()
    base, first = text, None
    match = _FIRST.search(base)
    if match:
        first, base = int(match.group(1)), base[: match.start()]
        if first < 1:
            raise _malformed(text, "@first needs N >= 1")
    head, sep, rest = base.partition(":")
    kind = head.lower()
    if sep and kind == "lines":
        if not rest:
            raise _malformed(text, "lines: needs a path")
        return TextSpec("lines", rest, {}, first, text)
    if sep and kind == "tsv":
        path, _, columns = rest.rpartition(":")
        found = _COLUMNS.fullmatch(columns) if path else None
        if found is None:
            raise _malformed(text, "tsv needs a path and the text column (and optionally the "
                                   "label column), e.g. tsv:train.tsv:sentence,label")
        return TextSpec("tsv", path, {"text": found.group(1), "label": found.group(2)}, first, text)
    if _NAME.fullmatch(base):
        name, _, split = base.partition(":")
        return TextSpec("named", name, {"split": split} if split else {}, first, text)
    raise _malformed(text, f"{head!r} is neither tsv:, lines: nor a set NAME[:SPLIT]")


def looks_like_text_spec(text: str | None) -> bool:
    """True when `text` names a text set (a tsv:/lines: file or a registered text name)."""
    if not text:
        return False
    try:
        spec = parse_text_spec(text)
    except UserInputError:
        return False
    return spec.kind != "named" or spec.target in NAMED_SETS
