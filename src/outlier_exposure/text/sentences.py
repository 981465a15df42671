"""WikiText sentences for Outlier Exposure, made as the reference's `reformat_wikitext.py` makes them.

The reference, on a raw WikiText token file (`wiki.train.tokens`):

1. drops blank lines (" \\n") and headings (lines starting with " =");
2. splits the rest into sentences with NLTK's Punkt tokenizer, paragraphs kept apart;
3. drops a sentence that starts with "@" or a digit, that spans two paragraphs (a paragraph's
   unfinished tail), or whose number of space-separated tokens is below 3 or above 60.

WikiText is already tokenised (a sentence ends with a standalone ".", "!" or "?" token), so here
step 2 splits at those tokens; Punkt (not a dependency) would in a few places split elsewhere
(inside "@.@" decimals, whose second half it then drops by rule 3). A paragraph's tail without a
final ".", "!" or "?" is dropped, as the reference drops it (it ran into the next paragraph).
Sentences keep their case; the reference lower-cases them when it reads them (OE field
`lower=True`), which the caller does.
"""

from __future__ import annotations

from typing import Iterable

SENTENCE_END = frozenset({".", "!", "?"})
MIN_TOKENS, MAX_TOKENS = 3, 60


def is_heading_or_blank(line: str) -> bool:
    """WikiText's blank lines are ' ' and headings start with ' =' (e.g. ' = = History = = ')."""
    return not line.strip() or line.lstrip(" ").startswith("=")


def paragraph_sentences(tokens: list[str]) -> list[list[str]]:
    """The finished sentences of one paragraph (each ends with '.', '!' or '?')."""
    sentences, start = [], 0
    for i, token in enumerate(tokens):
        if token in SENTENCE_END:
            sentences.append(tokens[start: i + 1])
            start = i + 1
    return sentences


def keep_sentence(tokens: list[str]) -> bool:
    first = tokens[0][0] if tokens and tokens[0] else ""
    return (MIN_TOKENS <= len(tokens) <= MAX_TOKENS and first != "@" and not first.isdigit())


def wikitext_sentences(lines: Iterable[str]) -> list[list[str]]:
    """OE sentences (token lists) from the lines of a raw WikiText token file."""
    out = []
    for line in lines:
        if is_heading_or_blank(line):
            continue
        out.extend(s for s in paragraph_sentences(line.split()) if keep_sentence(s))
    return out
