"""Loaded text sets: raw texts kept as strings, tokenised (and lower-cased) when encoded.

Keeping strings and tokenising on demand means a 25,000-review OOD set costs its text, not
millions of token objects, and the evaluation tokenises only the examples its draws use.

Roles decide the defaults, as the reference does:
- "train" / "test" (in-distribution): the named set's lower-casing (SST keeps case, every other
  set is lower-cased) and fixed length (20NG: 100); default splits "train" / "test".
- "ood" / "outliers": always lower-cased, no fixed length, the set's reference split (e.g.
  Multi30K train, EWT dev, WikiText-2 train).
- `purpose="lm"`: WikiText is read as its raw lines (not OE sentences).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import UserInputError
from . import readers as R
from .registry import data_roots, locate, named_set
from .sentences import wikitext_sentences
from .spec import parse_text_spec
from .tokenize import TOKENISERS
from .vocab import Vocab

ROLES = ("train", "test", "ood", "outliers")


@dataclass(frozen=True)
class TextSet:
    texts: list[str]
    labels: list[str] | None
    name: str
    tokeniser: str = "whitespace"
    lower: bool = True
    fix_length: int | None = None
    source: str = ""  # the file read, for messages and run records

    def __len__(self) -> int:
        return len(self.texts)

    def tokens(self, i: int) -> list[str]:
        tokens = TOKENISERS[self.tokeniser](self.texts[i])
        return [t.lower() for t in tokens] if self.lower else tokens

    def all_tokens(self):
        return (self.tokens(i) for i in range(len(self)))

    def encode(self, vocab: Vocab, indices: Sequence[int] | None = None) -> list[np.ndarray]:
        """Token ids of each example (all, or those at `indices`), cut to `fix_length`."""
        indices = range(len(self)) if indices is None else indices
        return [vocab.encode(self.tokens(int(i))[: self.fix_length]) for i in indices]

    def first(self, n: int) -> "TextSet":
        return replace(self, texts=self.texts[:n],
                       labels=None if self.labels is None else self.labels[:n])


def _locate_named(spec, role: str, data_root):
    """(entry, path, layout) of a named spec in `role` (its split: the one named, else the
    role's for train/test, else the set's default)."""
    entry = named_set(spec.target)
    in_dist = role in ("train", "test")
    split = spec.options.get("split") or (
        role if in_dist and role in entry.splits else entry.default_split)
    return (entry, *locate(entry, split, data_roots(data_root)))


def check_text_available(spec_text: str, *, role: str, data_root=None) -> None:
    """Raise the loader's UserInputError (which says how to get the data) when the set a spec
    names is not on disk, without reading it."""
    spec = parse_text_spec(spec_text)
    if spec.kind == "named":
        _locate_named(spec, role, data_root)
    elif not Path(spec.target).exists():
        raise UserInputError(f"text spec {spec_text!r}: {spec.target} does not exist")


def _named(spec, role: str, purpose: str, data_root) -> TextSet:
    entry, path, layout = _locate_named(spec, role, data_root)
    in_dist = role in ("train", "test")
    texts, labels = layout.reader(path)
    if entry.sentences and purpose != "lm":
        texts = [" ".join(s) for s in wikitext_sentences(texts)]
    return TextSet(texts, labels, name=entry.name, tokeniser=layout.tokeniser,
                   lower=entry.lower_in_dist if in_dist else True,
                   fix_length=entry.fix_length if in_dist else None, source=str(path))


def load_text(spec_text: str, *, role: str = "ood", purpose: str = "classify",
              data_root: str | Path | None = None, lower: bool | None = None,
              fix_length: int | None = None) -> TextSet:
    """The set a text spec names, with the defaults of its role; `lower` / `fix_length` (when
    not None) override them (a run records the values its training set used)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}")
    spec = parse_text_spec(spec_text)
    if spec.kind == "named":
        data = _named(spec, role, purpose, data_root)
    elif spec.kind == "tsv":
        texts, labels = R.read_tsv(Path(spec.target), spec.options["text"], spec.options["label"])
        data = TextSet(texts, labels, name=Path(spec.target).name.split(".")[0],
                       source=spec.target)
    else:
        texts, labels = R.read_lines(Path(spec.target))
        data = TextSet(texts, labels, name=Path(spec.target).name.split(".")[0],
                       source=spec.target)
    if spec.first is not None:
        data = data.first(spec.first)
    if lower is not None:
        data = replace(data, lower=lower)
    if fix_length is not None:
        data = replace(data, fix_length=fix_length if fix_length > 0 else None)
    if len(data) == 0:
        raise UserInputError(f"text spec {spec_text!r} holds no texts ({data.source})")
    return data


def load_labelled_text(spec_text: str, *, role: str, labels: Sequence[str] | None = None,
                       **kwargs) -> tuple[TextSet, np.ndarray, list[str]]:
    """A labelled set and its labels as ids 0..K-1.

    Without `labels` (training), the classes are the sorted distinct labels (numerically when
    all are integers). With `labels` (a run's classes), a label outside them is an error.
    """
    data = load_text(spec_text, role=role, **kwargs)
    if data.labels is None:
        raise UserInputError(
            f"{role} data {spec_text!r} has no labels; name the label column, e.g. "
            "tsv:PATH:text,label, or use a labelled named set (sst, trec, 20ng)"
        )
    if labels is None:
        distinct = set(data.labels)
        numeric = all(x.lstrip("-").isdigit() for x in distinct)
        labels = sorted(distinct, key=(lambda x: (int(x), x)) if numeric else None)
    index = {name: i for i, name in enumerate(labels)}
    unknown = sorted(set(data.labels) - set(index))
    if unknown:
        raise UserInputError(
            f"{role} data {spec_text!r} has labels {unknown[:5]} that the training data does not "
            f"have (its classes: {list(labels)[:10]}{' ...' if len(labels) > 10 else ''}); "
            "evaluate on data with the training set's classes"
        )
    y = np.fromiter((index[x] for x in data.labels), dtype=np.int64, count=len(data))
    return data, y, list(labels)
