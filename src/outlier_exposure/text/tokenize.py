"""Tokenisers: text -> list of tokens, each the rule the reference applies to that source.

- `whitespace`: `str.split()`, the default tokeniser of the (retired) torchtext `Field` the
  reference uses for every set: SST, TREC, SNLI, IMDB, Yelp, WMT16, WikiText sentences, and the
  already tokenised files (20NG after its preprocessing, Multi30K after its reformatting).
- `multi30k`: the reference's `reformat_multi30k.py` rules for raw Multi30K captions: a space
  before "'s", "'d", "," and "n't"; '"' set apart; a final '.', '?' or '!' split off; lower-cased.
- `newsgroups`: the preprocessing of the Cachopo "20ng-*-no-short" files the reference trains
  on: keep only letters (anything else becomes a space), lower-case, drop words of fewer than
  3 letters.
- `light`: for raw, untokenised sentences whose reference copy was tokenised (the offline
  English Web Treebank sentences; the reference reads the treebank's own tokens): punctuation
  split off words and English clitics ('s, n't, 're, 've, 'll, 'd, 'm) split as in the Penn
  Treebank. An approximation of the treebank's tokenisation, stated where it is used.

Lower-casing is not done here (except where the rule itself includes it): callers lower-case per
data set, as the reference's fields do (see `registry.py`).
"""

from __future__ import annotations

import re
from typing import Callable

_LETTERS_ONLY = re.compile(r"[^A-Za-z]+")
_CLITIC = re.compile(r"(?i)(n't|'s|'re|'ve|'ll|'d|'m)\b")
# A '.' or ',' is split off only at the end of a word, so "U.S." and "1,000" stay whole.
_PUNCT = re.compile(r"([!?;:()\[\]{}\"]|--|\.(?=\s|$|[\"')\]])|,(?!\d))")


def whitespace(text: str) -> list[str]:
    return text.split()


def multi30k(text: str) -> list[str]:
    line = text.rstrip("\n")
    for piece, spaced in (("'s", " 's "), ("'d", " 'd "), (",", " ,"), ("n't", " n't "),
                          ('"', ' " ')):
        line = spaced.join(line.split(piece))
    if line and line[-1] in "?.!":
        line = line[:-1] + " " + line[-1]
    return line.lower().split()


def newsgroups(text: str) -> list[str]:
    return [w for w in _LETTERS_ONLY.sub(" ", text).lower().split() if len(w) >= 3]


def light(text: str) -> list[str]:
    spaced = _PUNCT.sub(r" \1 ", text)
    spaced = _CLITIC.sub(r" \1", spaced)
    return spaced.split()


TOKENISERS: dict[str, Callable[[str], list[str]]] = {
    "whitespace": whitespace,
    "multi30k": multi30k,
    "newsgroups": newsgroups,
    "light": light,
}
