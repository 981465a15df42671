"""Text models and their registry: `create_text_model(name, vocab_size, num_classes, **kw)`.

- ``"gru"``: the reference classifier `ClfGRU`: Embedding(vocab, 50, padding_idx=<pad>) ->
  2-layer unidirectional GRU(128, batch_first) -> Linear(128, K) on h_n of the LAST layer (the
  final hidden state, not a mean: inputs are front-padded so it follows the last real token).
  kwargs: `embed_dim` (50), `hidden` (128), `layers` (2).
- ``"lm-lstm"`` / ``"lm-gru"``: a word-level recurrent language model on PyTorch's built-in
  nn.LSTM / nn.GRU: Embedding -> dropout -> RNN -> dropout -> Linear(vocab), decoder tied to the
  embedding when their sizes agree (as the reference's AWD-LSTM ties them). kwargs: `embed_dim`
  (200), `hidden` (200), `layers` (2), `dropout` (0.2). `forward(ids (B, T)) -> logits (B, T, V)`;
  each call starts from a zero hidden state (the reference restarts it every segment).
- ``"awd-lstm"``: the reference's AWD-LSTM (`awd_lstm.py`: weight drop, embedding and locked
  dropouts, tied decoder); kwargs `embed_dim` (400), `hidden` (1150), `layers` (3), `dropout`
  (0.4), `dropouth` (0.3), `dropouti` (0.65), `dropoute` (0.1), `wdrop` (0.5).
"""

from __future__ import annotations

import inspect
from typing import Callable

import torch
from torch import nn

from ..errors import UserInputError
from .awd_lstm import AWDLSTM


class GRUClassifier(nn.Module):
    def __init__(self, vocab_size: int, num_classes: int, pad_id: int = 1, embed_dim: int = 50,
                 hidden: int = 128, layers: int = 2):
        super().__init__()
        self.num_classes = num_classes
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_id)
        self.gru = nn.GRU(embed_dim, hidden, num_layers=layers, batch_first=True)
        self.linear = nn.Linear(hidden, num_classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        _, h_n = self.gru(self.embedding(ids))  # h_n: (layers, B, hidden)
        return self.linear(h_n[-1])


class RNNLanguageModel(nn.Module):
    def __init__(self, vocab_size: int, cell: str = "lstm", embed_dim: int = 200, hidden: int = 200,
                 layers: int = 2, dropout: float = 0.2):
        super().__init__()
        rnn = {"lstm": nn.LSTM, "gru": nn.GRU}[cell]
        self.vocab_size = vocab_size
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.drop = nn.Dropout(dropout)
        self.rnn = rnn(embed_dim, hidden, num_layers=layers, batch_first=True,
                       dropout=dropout if layers > 1 else 0.0)
        self.project = nn.Linear(hidden, embed_dim) if hidden != embed_dim else nn.Identity()
        self.decoder = nn.Linear(embed_dim, vocab_size)
        self.decoder.weight = self.embedding.weight  # tied
        nn.init.uniform_(self.embedding.weight, -0.1, 0.1)
        nn.init.zeros_(self.decoder.bias)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(self.drop(self.embedding(ids)))
        return self.decoder(self.project(self.drop(out)))


def _lm(cell: str) -> Callable[..., nn.Module]:
    def build(vocab_size: int, num_classes: int | None = None, **kw) -> nn.Module:
        return RNNLanguageModel(vocab_size, cell=cell, **kw)
    build.__doc__ = f"word-level {cell.upper()} language model"
    build.target = RNNLanguageModel  # for the kwargs check
    return build


TEXT_MODELS: dict[str, Callable[..., nn.Module]] = {
    "gru": GRUClassifier,
    "lm-lstm": _lm("lstm"),
    "lm-gru": _lm("gru"),
    "awd-lstm": AWDLSTM,
}
LM_MODELS = ("lm-lstm", "lm-gru", "awd-lstm")


def create_text_model(name: str, vocab_size: int, num_classes: int | None = None, **kw) -> nn.Module:
    """Build text model `name`; UserInputError for an unknown name or keyword."""
    if name not in TEXT_MODELS:
        raise UserInputError(f"unknown text model {name!r}; text models: {', '.join(TEXT_MODELS)}")
    builder = TEXT_MODELS[name]
    target = getattr(builder, "target", builder)
    accepted = set(inspect.signature(target).parameters) - {"self", "vocab_size", "num_classes",
                                                             "cell"}
    unknown = sorted(set(kw) - accepted)
    if unknown:
        raise UserInputError(
            f"text model {name!r} takes no argument {', '.join(unknown)}; it takes: "
            f"{', '.join(sorted(accepted))}"
        )
    if name == "gru":
        if not num_classes or num_classes < 2:
            raise UserInputError(f"the classifier needs >= 2 classes, got {num_classes}")
        return builder(vocab_size, num_classes, **kw)
    return builder(vocab_size, **kw)
