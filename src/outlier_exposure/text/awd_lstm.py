"""The AWD-LSTM language model of the reference (`NLP_language_modeling/model.py`, from Merity et
al.'s salesforce/awd-lstm-lm), batch-first.

    ids -> embedding with word dropout (`dropoute`: whole rows of the embedding matrix dropped,
           the rest scaled by 1/(1-p))
        -> locked dropout (`dropouti`)
        -> LSTM layer 1 -> locked dropout (`dropouth`) -> ... -> LSTM layer L
        -> locked dropout (`dropout`) -> decoder tied to the embedding -> logits

- Layer l maps `embed_dim` (l = 0) or `hidden` to `hidden`, except the last, which outputs
  `embed_dim` so that the decoder can share the embedding matrix (the reference ties always).
- Weight drop (DropConnect, `wdrop`): every forward in training draws a fresh elementwise
  dropout of each layer's hidden-to-hidden matrix `weight_hh_l0` (the input-to-hidden matrix
  and the biases are never dropped). The dropped matrix is passed to the layer with
  `torch.func.functional_call`, so the parameter itself stays a plain, untouched nn.LSTM
  parameter (no deleted/renamed parameters, no disabled `flatten_parameters`).
- Locked (variational) dropout: one mask per sequence and feature, shared by every time step.
- Every forward starts from a zero hidden state (the reference re-initialises it each segment).

`forward(ids, return_h=True)` also returns the last layer's output before and after its locked
dropout, the two tensors the reference's AR (alpha * mean(dropped^2)) and TAR
(beta * mean((raw_t+1 - raw_t)^2)) regularise (`lm.activation_regularisation`).
Initialisation as the reference: embedding U(-0.1, 0.1), decoder bias 0, LSTMs PyTorch's own.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call


def locked_dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Dropout of `x` (B, T, H) with one mask per (sequence, feature), shared over time."""
    if not training or p == 0:
        return x
    mask = x.new_empty(x.shape[0], 1, x.shape[2]).bernoulli_(1 - p) / (1 - p)
    return x * mask


def embedding_dropout(weight: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """The embedding matrix with whole rows (words) dropped, the kept rows scaled by 1/(1-p)."""
    if not training or p == 0:
        return weight
    mask = weight.new_empty(weight.shape[0], 1).bernoulli_(1 - p) / (1 - p)
    return weight * mask


class AWDLSTM(nn.Module):
    def __init__(self, vocab_size: int, embed_dim: int = 400, hidden: int = 1150, layers: int = 3,
                 dropout: float = 0.4, dropouth: float = 0.3, dropouti: float = 0.65,
                 dropoute: float = 0.1, wdrop: float = 0.5):
        super().__init__()
        self.vocab_size = vocab_size
        self.dropout, self.dropouth, self.dropouti = dropout, dropouth, dropouti
        self.dropoute, self.wdrop = dropoute, wdrop
        self.encoder = nn.Embedding(vocab_size, embed_dim)
        sizes = [embed_dim] + [hidden] * (layers - 1) + [embed_dim]
        self.rnns = nn.ModuleList(nn.LSTM(sizes[l], sizes[l + 1], batch_first=True)
                                  for l in range(layers))
        self.decoder = nn.Linear(embed_dim, vocab_size)
        self.decoder.weight = self.encoder.weight  # tied, as the reference always ties
        nn.init.uniform_(self.encoder.weight, -0.1, 0.1)
        nn.init.zeros_(self.decoder.bias)

    def _layer(self, rnn: nn.LSTM, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and self.wdrop):
            return rnn(x)[0]
        dropped = F.dropout(rnn.weight_hh_l0, self.wdrop, training=True)
        return functional_call(rnn, {"weight_hh_l0": dropped}, (x,))[0]

    def forward(self, ids: torch.Tensor, return_h: bool = False):
        weight = embedding_dropout(self.encoder.weight, self.dropoute, self.training)
        x = locked_dropout(F.embedding(ids, weight), self.dropouti, self.training)
        for l, rnn in enumerate(self.rnns):
            raw = self._layer(rnn, x)
            last = l == len(self.rnns) - 1
            x = locked_dropout(raw, self.dropout if last else self.dropouth, self.training)
        logits = self.decoder(x)
        return (logits, raw, x) if return_h else logits
