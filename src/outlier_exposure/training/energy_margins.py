"""`oe tune --loss energy --m-in auto --m-out auto`: the energy margins read from the baseline.

The energy loss (losses.energy_margin_loss) pushes in-distribution energies E = -logsumexp(z)
below m_in and outlier energies above m_out with squared hinges. The authors' margins
(-23 / -5 for CIFAR-10) are numbers on their WRN's energy scale; the authors advise margins
set from the pre-trained model's own energies on other data (energy_ood#13, #21). `auto` reads
them from the weights the fine-tune starts from, ONCE, before anything is written:

    m_in  = IN_FACTOR * Q_in(IN_QUANTILE)                     2.5 x the median
    m_out = max(Q_out(OUT_QUANTILE), Q_in(OUT_QUANTILE))      the 99th percentiles

In words: m_in is 2.5 times the median in-distribution energy, and m_out the 99th percentile
of the outlier energies, or of the in-distribution energies when that is higher.

Q_in and Q_out are quantiles (numpy's linear rule) of the starting model's energies, in eval
mode and without augmentation, on at most MAX_SAMPLE in-distribution images (the calibration
hold-out when the run has one, else the training images) and MAX_SAMPLE outliers, each a
seeded sample (the run's seed; the outliers' seed + 1).

Why this shape. For a confident classifier E is about minus the largest logit, so m_in asks
the in-distribution images for a multiple of the logit scale they already have; on the
authors' CIFAR-10 WRN (median in-distribution energy about -11.5 in their Figure 2(b),
demo_figs/cifar10_vs_svhn.png of wetliu/energy_ood) their -23 is twice it. m_out sits at the
top of the outliers' energies (99% of them are below it), so the hinge acts on all but a few.
The max() is for a baseline that gives its outliers LOWER energies than its own data (the
quickstart's small CNN on photographs): m_out is then placed at the top of the
in-distribution energies, so the outlier hinge still has to separate the two. The factor and
the quantiles were chosen on validation data only (the quickstart's calibration hold-out and
`val:` sets made from it; docs/scores-and-energy.md, "Margins from your model").

m_in < m_out holds whenever the median in-distribution energy is negative
(m_in < Q_in(0.5) <= Q_in(0.99) <= m_out); a baseline whose median energy is not negative has
no scale to multiply and is refused, as is an auto margin on the wrong side of a given one.
The numbers used, the rule and what they were measured on go into config.json (`m_in`,
`m_out`, `energy_margins`), so a resumed run reuses them unchanged.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from .config import AUTO_MARGIN, RunConfig
from .holdout import subset
from .setup import TrainingData
from .val_criterion import logits_of
from ..data.imageset import ImageSet
from ..errors import UserInputError
from ..scores import energy

IN_FACTOR = 2.5
IN_QUANTILE = 0.5
OUT_QUANTILE = 0.99
MAX_SAMPLE = 2000  # images of each side: quantiles to about a percent, a bounded forward pass
RULE = "m_in = in_factor * Q_in(in_quantile); m_out = max(Q_out(out_quantile), Q_in(out_quantile))"


def margins_from_energies(e_in: np.ndarray, e_out: np.ndarray, in_factor: float = IN_FACTOR,
                          in_quantile: float = IN_QUANTILE,
                          out_quantile: float = OUT_QUANTILE) -> tuple[float, float]:
    """(m_in, m_out) of the rule above from in-distribution energies `e_in` and outlier
    energies `e_out` (not checked for m_in < m_out: `resolve_margins` does, also against a
    margin the user gave)."""
    if not (in_factor >= 1 and 0 < in_quantile <= out_quantile < 1):
        raise ValueError(f"need in_factor {in_factor} >= 1 and 0 < in_quantile {in_quantile} "
                         f"<= out_quantile {out_quantile} < 1")
    e_in, e_out = np.asarray(e_in, np.float64), np.asarray(e_out, np.float64)
    m_in = in_factor * float(np.quantile(e_in, in_quantile))
    m_out = max(float(np.quantile(e_out, out_quantile)), float(np.quantile(e_in, out_quantile)))
    return m_in, m_out


def needs_margins(cfg: RunConfig) -> bool:
    return cfg.loss == "energy" and AUTO_MARGIN in (cfg.m_in, cfg.m_out)


def seeded_sample(images: ImageSet, limit: int, seed: int) -> ImageSet:
    """All of `images` when they are at most `limit`, else a seeded sample of `limit`
    (sorted, so that a file-backed set is read in order)."""
    if len(images) <= limit:
        return images
    idx = np.sort(np.random.default_rng(seed).choice(len(images), limit, replace=False))
    return subset(images, idx)


def measurement_sets(cfg: RunConfig, data: TrainingData) -> tuple[ImageSet, str, ImageSet]:
    """(in-distribution sample, what it is, outlier sample) the margins are measured on."""
    if data.held_out is not None:
        images, where = data.held_out_images, f"calibration hold-out of {cfg.train}"
    else:
        images, where = data.train_set, f"training images of {cfg.train}"
    return (seeded_sample(images, MAX_SAMPLE, cfg.seed), where,
            seeded_sample(data.outliers, MAX_SAMPLE, cfg.seed + 1))


def resolve_margins(cfg: RunConfig, data: TrainingData, model: torch.nn.Module,
                    device: torch.device | str, verbose: bool = True) -> RunConfig:
    """`cfg` with each `auto` margin replaced by the rule's value on `model` (the starting
    weights) and the record in `energy_margins`; `cfg` itself when no margin is auto (a
    resumed run: its config.json holds the numbers)."""
    if not needs_margins(cfg):
        return cfg
    in_set, where, out_set = measurement_sets(cfg, data)
    e_in = energy(logits_of(model, in_set, cfg, device)).numpy()
    e_out = energy(logits_of(model, out_set, cfg, device)).numpy()
    source = (f"the energies of {cfg.init_from or cfg.weights} on {len(in_set)} {where} and "
              f"{len(out_set)} outliers of {cfg.outliers}")
    median_in = float(np.quantile(e_in, IN_QUANTILE))
    if median_in >= 0:
        raise UserInputError(
            f"--m-in/--m-out auto: the median in-distribution energy is {median_in:.4g}, not "
            f"negative ({source}), so the rule has no scale to read; give both margins as "
            "numbers, e.g. --m-in -10 --m-out -5")
    rule_in, rule_out = margins_from_energies(e_in, e_out, IN_FACTOR, IN_QUANTILE, OUT_QUANTILE)
    auto = [name for name in ("m_in", "m_out") if getattr(cfg, name) == AUTO_MARGIN]
    m_in = rule_in if "m_in" in auto else cfg.m_in
    m_out = rule_out if "m_out" in auto else cfg.m_out
    if not m_in < m_out:
        raise UserInputError(
            f"--m-in {m_in:.4g} is not below --m-out {m_out:.4g} ({' and '.join(auto)} auto, "
            f"from {source}); give the other margin as auto too, or both as numbers")
    record = {
        "rule": RULE, "auto": auto, "in_factor": IN_FACTOR, "in_quantile": IN_QUANTILE,
        "out_quantile": OUT_QUANTILE,
        "measured_on": {"in": where, "outliers": cfg.outliers,
                        "weights": cfg.init_from or cfg.weights},
        "n_in": len(in_set), "n_out": len(out_set), "seed": cfg.seed,
        "energies": {"in_at_in_quantile": median_in,
                     "in_at_out_quantile": float(np.quantile(e_in, OUT_QUANTILE)),
                     "out_at_out_quantile": float(np.quantile(e_out, OUT_QUANTILE)),
                     "out_median": float(np.median(e_out))},
    }
    if verbose:
        print(f"energy margins ({', '.join(auto)} auto): m_in = {m_in:.3f}, m_out = {m_out:.3f} "
              f"({RULE} with in_factor {IN_FACTOR:g}, in_quantile {IN_QUANTILE:g}, out_quantile "
              f"{OUT_QUANTILE:g}, from {source})", flush=True)
    return replace(cfg, m_in=m_in, m_out=m_out, energy_margins=record)
