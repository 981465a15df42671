"""Vocabulary: the most frequent training tokens, as the reference's torchtext `build_vocab` makes it.

    itos = specials + the `max_size` most frequent training tokens
    order: count descending, ties broken by the token's string order (Python `<`, i.e. code
    points), as torchtext sorts (alphabetically first, then a stable sort by count)

Classification (reference: `TEXT.build_vocab(train, max_size=10000)`): specials `<unk>` (id 0)
and `<pad>` (id 1, the embedding's `padding_idx`), so 10002 ids in all. Every other set (test,
OOD, outliers) is mapped with the training vocabulary; an unknown token becomes `<unk>`.
Language models use the specials `<unk>` and `<eos>` (one `<eos>` ends every line). A training
token equal to a special (PTB's own `<unk>`) is the special, not a second entry.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from ..errors import UserInputError

UNK, PAD, EOS = "<unk>", "<pad>", "<eos>"
CLASSIFIER_SPECIALS = (UNK, PAD)
LM_SPECIALS = (UNK, EOS)


@dataclass(frozen=True)
class Vocab:
    itos: tuple[str, ...]
    specials: tuple[str, ...] = CLASSIFIER_SPECIALS

    def __post_init__(self):
        object.__setattr__(self, "_stoi", {t: i for i, t in enumerate(self.itos)})

    def __len__(self) -> int:
        return len(self.itos)

    @property
    def unk_id(self) -> int:
        return self._stoi[UNK]

    @property
    def pad_id(self) -> int:
        return self._stoi[PAD]

    @property
    def eos_id(self) -> int:
        return self._stoi[EOS]

    def __getitem__(self, token: str) -> int:
        return self._stoi.get(token, self._stoi[UNK])

    def encode(self, tokens: Sequence[str]) -> np.ndarray:
        """Token ids (int64); unknown tokens -> `<unk>`."""
        get, unk = self._stoi.get, self._stoi[UNK]
        return np.fromiter((get(t, unk) for t in tokens), dtype=np.int64, count=len(tokens))

    def to_dict(self) -> dict:
        return {"specials": list(self.specials), "itos": list(self.itos)}

    @classmethod
    def from_dict(cls, data: dict) -> "Vocab":
        try:
            return cls(itos=tuple(data["itos"]), specials=tuple(data["specials"]))
        except (KeyError, TypeError) as exc:
            raise UserInputError(f"not a vocabulary file ({exc}); retrain the run") from None


def build_vocab(texts: Iterable[Sequence[str]], max_size: int | None = 10000,
                specials: Sequence[str] = CLASSIFIER_SPECIALS) -> Vocab:
    """The specials, then the `max_size` most frequent tokens (count desc, then string order)."""
    if UNK not in specials:
        raise UserInputError(f"a vocabulary needs {UNK} among its specials, got {list(specials)}")
    if max_size is not None and max_size < 1:
        raise UserInputError(f"the vocabulary size must be >= 1, got {max_size}")
    counts = Counter()
    for tokens in texts:
        counts.update(tokens)
    for s in specials:
        counts.pop(s, None)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    if max_size is not None:
        ranked = ranked[:max_size]
    return Vocab(itos=tuple(specials) + tuple(t for t, _ in ranked), specials=tuple(specials))


def pad_batch(sequences: Sequence[np.ndarray], pad_id: int, fix_length: int | None = None) -> np.ndarray:
    """(B, T) int64 batch, padded at the FRONT (the reference's `pad_first=True`).

    Without `fix_length`, T is the longest sequence (at least 1, so an empty text is one pad).
    With it, every sequence is cut to its first `fix_length` tokens and padded to exactly that
    (torchtext's `fix_length`: 20 Newsgroups uses 100). Front padding matters: the classifier
    reads the GRU's last hidden state, which thus always follows the last real token.
    """
    if fix_length is not None:
        sequences = [s[:fix_length] for s in sequences]
        length = fix_length
    else:
        length = max([len(s) for s in sequences] + [1])
    out = np.full((len(sequences), length), pad_id, dtype=np.int64)
    for row, s in zip(out, sequences):
        if len(s):
            row[length - len(s):] = s
    return out
