"""Text presets and the resolved configuration of a text run (saved as the run's config.json).

Classifier recipe (reference `NLP_classification/train.py`, `train_OE.py`): Adam, lr 0.01, cosine
annealing over the epochs stepped once per epoch (`CosineAnnealingLR(T_max=epochs)`: epoch e of E
runs at 0.01 * (1 + cos(pi e / E)) / 2), batch 64, 5 epochs; the OE fine-tune starts from the
baseline with a fresh Adam and the same schedule for 5 epochs, lambda 1.0, an outlier batch of 64
per step in a SEPARATE forward pass. No weight decay, no gradient clipping.

Language model (reference `NLP_language_modeling/`): OE term weight 0.5, a 5-epoch OE fine-tune of
the baseline. The reference's model is a 3-layer AWD-LSTM (1150 units, SGD lr 30, hundreds of
epochs); here the default is a small 2-layer nn.LSTM with Adam so that it trains on a CPU (a
preset value: change it with --model-arg / --lr / --epochs).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UserInputError

TASKS = ("text", "lm")
MODES = ("baseline", "oe-tune", "oe-scratch")
CLASSIFIER_OOD = ("snli", "imdb", "multi30k", "wmt16", "yelp", "ewt")


@dataclass(frozen=True)
class TextRecipe:
    epochs: int
    lr: float


@dataclass(frozen=True)
class TextPreset:
    name: str
    description: str
    task: str
    train: str
    test: str
    outliers: str
    ood: tuple[str, ...]
    model: str = "gru"
    model_kwargs: dict = field(default_factory=dict)
    baseline: TextRecipe = TextRecipe(5, 0.01)
    tune: TextRecipe = TextRecipe(5, 0.01)
    batch_size: int = 64
    oe_batch_size: int = 64
    lam: float = 1.0
    clip: float | None = None
    bptt: int = 70
    vocab_size: int = 10000
    eval_batch_size: int = 256


def _classifier(name: str, data: str, what: str) -> TextPreset:
    return TextPreset(name, f"{what}: GRU classifier, OE on WikiText-2 sentences (reference)",
                      "text", f"{data}:train", f"{data}:test", "wikitext2:train", CLASSIFIER_OOD)


TEXT_RECIPES: dict[str, TextPreset] = {p.name: p for p in (
    _classifier("sst", "sst", "SST binary"),
    _classifier("trec", "trec", "TREC, 50 fine classes"),
    _classifier("20ng", "20ng", "20 Newsgroups"),
    TextPreset("offline-sst", "SST binary over shared/data: OE on WikiText-2 *valid* sentences "
               "(no train split offline)", "text", "sst:train", "sst:test", "wikitext2:valid",
               CLASSIFIER_OOD),
    TextPreset("lm", "PTB word-level LSTM LM, OE on WikiText-2 (lambda 0.5), EWT as OOD", "lm",
               "ptb:train", "ptb:test", "wikitext2:train",
               tuple(f"ewt-{d}" for d in ("answers", "email", "newsgroup", "reviews", "weblog")),
               model="lm-lstm", baseline=TextRecipe(20, 0.002), tune=TextRecipe(5, 0.002),
               batch_size=20, oe_batch_size=20, lam=0.5, clip=0.25),
    TextPreset("offline-lm", "WikiText-2 valid (train) / test (eval) LSTM LM; OE on Multi30K "
               "train captions; EWT sentences as OOD", "lm", "wikitext2:valid", "wikitext2:test",
               "multi30k:train", ("ewt",), model="lm-lstm", baseline=TextRecipe(10, 0.002),
               tune=TextRecipe(5, 0.002), batch_size=20, oe_batch_size=20, lam=0.5, clip=0.25,
               eval_batch_size=32),
)}
DEFAULT_PRESET = {"text": "sst", "lm": "lm"}


@dataclass
class TextConfig:
    task: str
    mode: str
    preset: str
    train: str
    test: str
    outliers: str | None
    model: str
    model_kwargs: dict
    epochs: int
    lr: float
    batch_size: int
    oe_batch_size: int
    lam: float
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
    eval_batch_size: int = 256

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TextConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def check(self) -> None:
        if self.task not in TASKS:
            raise UserInputError(f"task {self.task!r} is not one of {', '.join(TASKS)}")
        if self.mode not in MODES:
            raise UserInputError(f"mode {self.mode!r} is not one of {', '.join(MODES)}")
        if self.mode != "baseline" and not self.outliers:
            raise UserInputError(f"{self.mode} needs outliers: pass --outliers SPEC (e.g. wikitext2:train)")
        for name in ("epochs", "batch_size", "oe_batch_size", "bptt", "vocab_size"):
            if getattr(self, name) < 1:
                raise UserInputError(f"--{name.replace('_', '-')} must be >= 1")
        if self.lr <= 0:
            raise UserInputError("--lr must be > 0")


def get_text_preset(name: str) -> TextPreset:
    if name not in TEXT_RECIPES:
        raise UserInputError(f"unknown text preset {name!r}; text presets: {', '.join(TEXT_RECIPES)}")
    return TEXT_RECIPES[name]


def text_config_from_preset(name: str, mode: str, **overrides: Any) -> TextConfig:
    """The preset's values for `mode` with every non-None override applied."""
    p = get_text_preset(name)
    recipe = p.tune if mode == "oe-tune" else p.baseline
    values: dict[str, Any] = dict(
        task=p.task, mode=mode, preset=p.name, train=p.train, test=p.test, outliers=p.outliers,
        model=p.model, model_kwargs=dict(p.model_kwargs), epochs=recipe.epochs, lr=recipe.lr,
        batch_size=p.batch_size, oe_batch_size=p.oe_batch_size, lam=p.lam, clip=p.clip,
        bptt=p.bptt, vocab_size=p.vocab_size, ood=list(p.ood), eval_batch_size=p.eval_batch_size,
    )
    values.update({k: v for k, v in overrides.items() if v is not None})
    if mode == "baseline":
        values["outliers"] = None
    cfg = TextConfig(**values)
    cfg.check()
    return cfg


def read_config_json(run_dir: str | Path) -> dict | None:
    path = Path(run_dir) / "config.json"
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def is_text_run(run_dir: str | Path | None) -> bool:
    """True when `run_dir` holds a text or LM run (its config.json has task text/lm)."""
    data = read_config_json(run_dir) if run_dir else None
    return bool(data) and data.get("task") in TASKS


def load_text_config(run_dir: str | Path) -> TextConfig:
    data = read_config_json(run_dir)
    if data is None or data.get("task") not in TASKS:
        raise UserInputError(f"{run_dir} is not a text run folder (no config.json with a text task)")
    try:
        return TextConfig.from_dict(data)
    except TypeError as exc:
        raise UserInputError(f"{run_dir}/config.json is not a valid text configuration ({exc})") from None


def text_tune_config(baseline_dir: str | Path, **overrides: Any) -> TextConfig:
    """The OE fine-tune of a baseline text run: its data, vocabulary settings, classes and model;
    the preset's fine-tune recipe; non-None `overrides` win (e.g. outliers, epochs)."""
    base = load_text_config(baseline_dir)
    inherited = dict(
        task=base.task, train=base.train, test=base.test, model=base.model,
        model_kwargs=base.model_kwargs, vocab_size=base.vocab_size, lower=base.lower,
        fix_length=base.fix_length, data_root=base.data_root, seed=base.seed, labels=base.labels,
        batch_size=base.batch_size, bptt=base.bptt, clip=base.clip, ood=base.ood,
        eval_batch_size=base.eval_batch_size, init_from=str(baseline_dir),
    )
    inherited.update({k: v for k, v in overrides.items() if v is not None})
    return text_config_from_preset(base.preset, "oe-tune", **inherited)
