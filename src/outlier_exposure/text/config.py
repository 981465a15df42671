"""Text presets and the resolved configuration of a text run (saved as the run's config.json).

Classifier recipe (reference `NLP_classification/train.py`, `train_OE.py`): Adam, lr 0.01, cosine
annealing over the epochs stepped once per epoch (`CosineAnnealingLR(T_max=epochs)`: epoch e of E
runs at 0.01 * (1 + cos(pi e / E)) / 2), batch 64, 5 epochs; the OE fine-tune starts from the
baseline with a fresh Adam and the same schedule for 5 epochs, lambda 1.0, an outlier batch of 64
per step in a SEPARATE forward pass. No weight decay, no gradient clipping.

Language model (reference `NLP_language_modeling/train.py`): OE term weight 0.5, a 5-epoch OE
fine-tune of the baseline. `lm` and `lm-char` run the reference's recipe (`optimizer="sgd"`,
`lm_fit.py`): the AWD-LSTM (`awd_lstm.py`), plain SGD at a constant lr 30 with weight decay
1.2e-6 and gradient-norm clipping, AR alpha 2 / TAR beta 1, fixed 70-token (150 for
characters) segments, a switch to averaged SGD when the validation loss stops improving
(`nonmono` 5), the best-validation weights kept, and the OOD score over the first segments of
each OOD stream once (`ood_rule="first"`). `offline-lm` keeps a CPU-sized substitute: a small
2-layer nn.LSTM trained with Adam and a cosine schedule (`optimizer="adam"`, `fit.py`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UserInputError
from ..training.config_base import ConfigBase, Preset, fine_tune_values, resolve_preset

TASKS = ("text", "lm")
MODES = ("baseline", "oe-tune", "oe-scratch")
LM_OPTIMIZERS = ("adam", "sgd")
OOD_RULES = ("draws", "first")
# NLP_classification/eval_OOD_*.py: 10 rows, the five English Web Treebank domains apart, in
# the reference's order. The offline EWT copy has no domains: offline-sst keeps it merged.
CLASSIFIER_OOD = ("snli", "imdb", "multi30k", "wmt16", "ewt-answers", "ewt-email",
                  "ewt-newsgroup", "ewt-reviews", "ewt-weblog", "yelp")
OFFLINE_CLASSIFIER_OOD = ("snli", "imdb", "multi30k", "wmt16", "yelp", "ewt")


@dataclass
class TextConfig(ConfigBase):
    """A text run's configuration. The defaults are the reference classifier recipe (a GRU,
    Adam at lr 0.01 for 5 epochs, batches of 64 + 64 outliers, lambda 1.0); the fine-tune's
    schedule is the same."""

    KIND = "text"

    task: str
    mode: str
    preset: str
    train: str
    test: str
    outliers: str | None = None
    model: str = "gru"
    model_kwargs: dict = field(default_factory=dict)
    epochs: int = 5
    lr: float = 0.01
    batch_size: int = 64
    oe_batch_size: int = 64
    lam: float = 1.0
    clip: float | None = None
    weight_decay: float = 0.0
    bptt: int = 70
    vocab_size: int = 10000
    lower: bool | None = None  # None: the training set's default (recorded once resolved)
    fix_length: int | None = None  # None: the training set's default (20NG: 100)
    data_root: str | None = None
    seed: int = 1
    num_classes: int | None = None
    labels: list[str] | None = None
    init_from: str | None = None
    ood: list[str] = field(default_factory=list)
    # OOD examples per draw (evaluation/draws.py DRAW_SIZE_RULES): "exact" len(test) // 5, or
    # "reference-text", the reference's batches of 64 (the paper classifier presets).
    ood_draw_size: str = "exact"
    eval_batch_size: int = 256
    # Language models: the reference's recipe ("sgd": SGD then ASGD, see lm_fit.py) or Adam with
    # a cosine schedule ("adam", the CPU substitute); AR/TAR weights; the validation split the
    # ASGD switch and the best-weights choice read; how OOD segments are chosen ("first": the
    # reference's first segments once; "draws": --draws random subsets).
    optimizer: str = "adam"
    alpha: float = 0.0
    beta: float = 0.0
    nonmono: int = 5
    valid: str | None = None
    ood_rule: str = "draws"
    # Character-level LM: the in-distribution files are characters already (ptb-char); outlier
    # and OOD words are spelt out as the reference's CorpusWikiTextChar does (lm.char_tokens).
    char_level: bool = False

    def check(self) -> None:
        self.check_types()
        if self.task not in TASKS:
            raise UserInputError(f"task {self.task!r} is not one of {', '.join(TASKS)}")
        if self.mode not in MODES:
            raise UserInputError(f"mode {self.mode!r} is not one of {', '.join(MODES)}")
        if self.mode != "baseline" and not self.outliers:
            raise UserInputError(f"{self.mode} needs outliers: pass --outliers SPEC (e.g. wikitext2:train)")
        for name in ("epochs", "batch_size", "oe_batch_size", "bptt", "vocab_size", "nonmono"):
            if getattr(self, name) < 1:
                raise UserInputError(f"--{name.replace('_', '-')} must be >= 1")
        if self.lr <= 0:
            raise UserInputError("--lr must be > 0")
        if self.optimizer not in LM_OPTIMIZERS:
            raise UserInputError(f"optimizer {self.optimizer!r} is not one of "
                                 f"{', '.join(LM_OPTIMIZERS)}")
        if self.ood_rule not in OOD_RULES:
            raise UserInputError(f"ood_rule {self.ood_rule!r} is not one of {', '.join(OOD_RULES)}")


@dataclass(frozen=True)
class TextPreset(Preset):
    """Overrides of `TextConfig`'s defaults (see training.config_base.Preset)."""

    @property
    def task(self) -> str:
        return self.config["task"]


def _classifier(name: str, description: str, data: str, outliers: str = "wikitext2:train",
                ood: tuple = CLASSIFIER_OOD, draw_size: str = "reference-text") -> TextPreset:
    return TextPreset(name, description, dict(task="text", train=f"{data}:train",
                                              test=f"{data}:test", outliers=outliers,
                                              ood=ood, ood_draw_size=draw_size))


_REFERENCE_GRU = ": GRU classifier, OE on WikiText-2 sentences (reference)"
# The CPU substitute language model: the reference's OE weight 0.5, gradient clipping 0.25,
# batches of 20, but a small nn.LSTM trained with Adam.
_LM = dict(task="lm", model="lm-lstm", lr=0.002, batch_size=20, oe_batch_size=20, lam=0.5,
           clip=0.25)
_EWT_DOMAINS = tuple(f"ewt-{d}" for d in ("answers", "email", "newsgroup", "reviews", "weblog"))
# The reference's LM recipe (NLP_language_modeling/train.py defaults; README's commands): AWD-LSTM,
# SGD lr 30 -> ASGD (nonmono 5), weight decay 1.2e-6, AR 2 / TAR 1, OE weight 0.5 on WikiText-2
# with as many outlier rows as in-distribution rows, seed 9001, 50 epochs then a 5-epoch OE
# fine-tune, the first OOD segments scored once.
_AWD = dict(task="lm", model="awd-lstm", optimizer="sgd", lr=30.0, weight_decay=1.2e-6, alpha=2.0,
            beta=1.0, nonmono=5, lam=0.5, seed=9001, epochs=50, ood_rule="first",
            eval_batch_size=64, ood=_EWT_DOMAINS)

TEXT_RECIPES: dict[str, TextPreset] = {p.name: p for p in (
    _classifier("sst", "SST binary" + _REFERENCE_GRU, "sst"),
    _classifier("trec", "TREC, 50 fine classes" + _REFERENCE_GRU, "trec"),
    _classifier("20ng", "20 Newsgroups" + _REFERENCE_GRU, "20ng"),
    _classifier("offline-sst", "SST binary over shared/data: OE on WikiText-2 *valid* sentences "
                "(no train split offline); EWT merged (the offline copy has no domains)", "sst",
                outliers="wikitext2:valid", ood=OFFLINE_CLASSIFIER_OOD, draw_size="exact"),
    TextPreset("lm", "PTB word-level AWD-LSTM LM (reference recipe: SGD lr 30 -> ASGD, AR/TAR), "
               "OE on WikiText-2 (lambda 0.5), the 5 EWT domains as OOD", dict(
        _AWD, train="ptb:train", valid="ptb:valid", test="ptb:test", outliers="wikitext2:train",
        batch_size=80, oe_batch_size=80, bptt=70, clip=0.25,
        model_kwargs=dict(embed_dim=400, hidden=1150, layers=3, dropout=0.4, dropouth=0.3,
                          dropouti=0.65, dropoute=0.1, wdrop=0.5)),
        {"oe-tune": dict(epochs=5)}),
    TextPreset("lm-char", "PTB character-level LM (reference README's PTBC command; an AWD-LSTM "
               "stands in for its 4-layer QRNN), OE on WikiText-2 characters, EWT as OOD", dict(
        _AWD, train="ptb-char:train", valid="ptb-char:valid", test="ptb-char:test",
        outliers="wikitext2:train", char_level=True, batch_size=20, oe_batch_size=20, bptt=150,
        clip=0.2, model_kwargs=dict(embed_dim=400, hidden=1550, layers=4, dropout=0.4,
                                    dropouth=0.3, dropouti=0.4, dropoute=0.1, wdrop=0.1)),
        {"oe-tune": dict(epochs=5)}),
    TextPreset("offline-lm", "CPU substitute (small 2-layer nn.LSTM with Adam, not the reference's "
               "AWD-LSTM): WikiText-2 valid (train) / test (eval); OE on Multi30K train captions; "
               "EWT sentences as OOD", dict(
                   _LM, train="wikitext2:valid", test="wikitext2:test", outliers="multi30k:train",
                   ood=("ewt",), epochs=10, eval_batch_size=32),
               {"oe-tune": dict(epochs=5)}),
)}
DEFAULT_PRESET = {"text": "sst", "lm": "lm"}

# What a text fine-tune takes from its preset's fine-tune recipe instead of from its baseline
# (a fresh Adam: the outliers, schedule, OE weight and weight decay; the class count is counted
# again). Everything else is the baseline's: data, vocabulary settings, labels, model, seed.
TEXT_TUNE_RESETS = ("outliers", "epochs", "lr", "oe_batch_size", "lam", "weight_decay",
                    "num_classes")


def get_text_preset(name: str) -> TextPreset:
    if name not in TEXT_RECIPES:
        raise UserInputError(f"unknown text preset {name!r}; text presets: {', '.join(TEXT_RECIPES)}")
    return TEXT_RECIPES[name]


def text_config_from_preset(name: str, mode: str, **overrides: Any) -> TextConfig:
    """The preset's values for `mode` with every non-None override applied."""
    cfg = TextConfig(**resolve_preset(TextConfig, get_text_preset(name), mode, overrides))
    cfg.check()
    return cfg


def read_config_json(run_dir: str | Path) -> dict | None:
    path = Path(run_dir) / "config.json"
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, ValueError):  # missing, not UTF-8, not JSON: the image reader says why
        return None
    return data if isinstance(data, dict) else None


def is_text_run(run_dir: str | Path | None) -> bool:
    """True when `run_dir` holds a text or LM run (its config.json has task text/lm)."""
    data = read_config_json(run_dir) if run_dir else None
    return bool(data) and data.get("task") in TASKS


def load_text_config(run_dir: str | Path) -> TextConfig:
    data = read_config_json(run_dir)
    if data is None or data.get("task") not in TASKS:
        raise UserInputError(f"{run_dir} is not a text run folder (no config.json with a text task)")
    return TextConfig.from_file(Path(run_dir) / "config.json")


def text_tune_config(baseline_dir: str | Path, **overrides: Any) -> TextConfig:
    """The OE fine-tune of a baseline text run: the baseline's configuration with
    `TEXT_TUNE_RESETS` taken from the preset's fine-tune recipe; non-None `overrides` win."""
    base = load_text_config(baseline_dir)
    inherited = fine_tune_values(base, TEXT_TUNE_RESETS + ("init_from",))
    inherited.update({k: v for k, v in overrides.items() if v is not None})
    return text_config_from_preset(base.preset, "oe-tune", init_from=str(baseline_dir), **inherited)
