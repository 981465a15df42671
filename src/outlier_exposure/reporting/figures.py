"""Report figures, PNG and PDF, from the cached scores and logs of evaluated runs.

- ROC and precision-recall curves: one panel per OOD set, every run on the same axes (baseline
  against OE, as in the paper's figure). The positive class is the one the results used.
- Histograms of the anomaly scores: in-distribution against each OOD set, one figure per run.
- Training curves from `log.jsonl`: loss, training accuracy, learning rate per epoch.
- Reliability diagrams, when `calibration.json` holds binned confidence and accuracy.

The curves pool every OOD example the protocol scored (the union of its draws) against the
whole test set; the tables report means over the draws, so the areas differ slightly. For the
precision-recall curve the OOD examples are weighted so that they count as one draw's worth
(`n_per_draw`, OOD:ID = 1:ratio), the class balance of the protocol's AUPR: precision depends
on it, the ROC curve does not.

Figures are drawn on `matplotlib.figure.Figure` objects directly (the Agg renderer), never
through pyplot, so making a report neither opens windows nor changes the caller's backend.
Every panel is PANEL_INCHES at DPI: a figure of R x C panels is (C * 320) x (R * 280) pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from sklearn.metrics import precision_recall_curve, roc_curve

from ..training import runs

DPI = 100
PANEL_INCHES = (3.2, 2.8)
MAX_COLUMNS = 3


@dataclass
class FigureFile:
    """A saved figure: its PNG and PDF, relative to the report folder, and a caption."""

    title: str
    png: str
    pdf: str | None
    caption: str


def grid(n_panels: int) -> tuple[int, int]:
    """(rows, columns) of a figure with `n_panels` panels: at most MAX_COLUMNS a row."""
    cols = min(n_panels, MAX_COLUMNS)
    return math.ceil(n_panels / cols), cols


def pixel_size(rows: int, cols: int) -> tuple[int, int]:
    """(width, height) in pixels of the PNG of a figure of rows x cols panels."""
    return round(cols * PANEL_INCHES[0] * DPI), round(rows * PANEL_INCHES[1] * DPI)


# Fixed margins around every panel (inches): left, right, bottom, top. Fixed margins rather
# than a layout engine: constrained layout measures every label and doubles the drawing time.
MARGINS = (0.58, 0.12, 0.45, 0.28)


def _figure(rows: int, cols: int):
    (pw, ph), (ml, mr, mb, mt) = PANEL_INCHES, MARGINS
    fig = Figure(figsize=(cols * pw, rows * ph), dpi=DPI)
    fig.subplots_adjust(left=ml / (cols * pw), right=1 - mr / (cols * pw),
                        bottom=mb / (rows * ph), top=1 - mt / (rows * ph),
                        wspace=(ml + mr) / (pw - ml - mr), hspace=(mb + mt) / (ph - mb - mt))
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    return fig, axes


def _save(fig: Figure, out_dir: Path, stem: str, title: str, caption: str,
          rel_to: Path) -> FigureFile:
    png, pdf = out_dir / f"{stem}.png", out_dir / f"{stem}.pdf"
    runs.save_figure(fig, png, dpi=DPI, format="png")  # atomic, as every file of a report
    runs.save_figure(fig, pdf, format="pdf")
    rel = lambda p: p.relative_to(rel_to).as_posix()  # noqa: E731
    return FigureFile(title=title, png=rel(png), pdf=rel(pdf), caption=caption)


def _safe(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in label)


def copied_figure(source: Path, out_dir: Path, stem: str, label: str,
                  rel_to: Path) -> FigureFile:
    """A reliability diagram that `oe calibrate` drew (PNG only), copied into the report."""
    target = out_dir / f"{stem}_{_safe(label)}.png"
    runs.write_bytes(target, Path(source).read_bytes())  # atomic, as every file of a report
    return FigureFile(title=f"Reliability: {label}", png=target.relative_to(rel_to).as_posix(),
                      pdf=None, caption=f"Reliability diagram of {label}, as `oe calibrate` drew "
                      f"it ({source}).")


# ---- ROC and precision-recall ------------------------------------------------------------------

def labelled_scores(in_scores: np.ndarray, out_scores: np.ndarray, positive: str):
    """(labels, scores) with the positive class labelled 1 and scored higher, as the metrics."""
    scores = np.concatenate([in_scores, out_scores])
    if positive == "in":
        return np.r_[np.ones(len(in_scores)), np.zeros(len(out_scores))], -scores
    return np.r_[np.zeros(len(in_scores)), np.ones(len(out_scores))], scores


def pr_weights(n_in: int, n_out: int, n_per_draw: int) -> np.ndarray:
    """Sample weights giving the OOD examples a total weight of one draw (`n_per_draw`)."""
    return np.r_[np.ones(n_in), np.full(n_out, n_per_draw / n_out)]


def curves(in_scores, out_scores, positive: str, n_per_draw: int) -> dict:
    """ROC (fpr, tpr) and precision-recall (precision, recall) of one run on one OOD set."""
    y, s = labelled_scores(np.asarray(in_scores), np.asarray(out_scores), positive)
    fpr, tpr, _ = roc_curve(y, s)
    w = pr_weights(len(in_scores), len(out_scores), n_per_draw)
    precision, recall, _ = precision_recall_curve(y, s, sample_weight=w)
    chance = float(np.sum(w * y) / np.sum(w))  # precision of a detector that guesses
    return {"fpr": fpr, "tpr": tpr, "precision": precision, "recall": recall, "chance": chance}


def evaluated_sets(results: dict) -> dict:
    """The OOD sets of `results`, then its validation sets (scored alike, apart from the mean)."""
    return {**results["ood"], **(results.get("validation") or {})}


def _set_order(entries) -> list[str]:
    names: list[str] = []
    for _, results, scores in entries:
        if scores is not None:
            names += [n for n in evaluated_sets(results) if n in scores["ood"] and n not in names]
    return names


def _n_per_draw(results: dict, name: str, n_in: int) -> int:
    entry = evaluated_sets(results)[name]
    # OpenOOD's protocol has no draws: the whole set (`n_ood`) against the test set.
    return int(entry.get("n_per_draw") or entry.get("n_ood")
               or max(1, n_in // (results.get("ratio") or 5)))


def curve_figures(entries, out_dir: Path, rel_to: Path) -> list[FigureFile]:
    """ROC and PR figures; `entries` = [(label, results, scores or None)], one colour each."""
    names = _set_order(entries)
    if not names:
        return []
    rows, cols = grid(len(names))
    roc_fig, roc_axes = _figure(rows, cols)
    pr_fig, pr_axes = _figure(rows, cols)
    positive = entries[0][1].get("positive", "ood")
    for i, name in enumerate(names):
        roc_ax, pr_ax = roc_axes[i], pr_axes[i]
        chance = None
        for k, (label, results, scores) in enumerate(entries):
            if scores is None or name not in scores["ood"] or name not in evaluated_sets(results):
                continue
            c = curves(scores["in"], scores["ood"][name], results.get("positive", "ood"),
                       _n_per_draw(results, name, len(scores["in"])))
            roc_ax.plot(c["fpr"], c["tpr"], color=f"C{k}", lw=1.4, label=label)
            pr_ax.plot(c["recall"], c["precision"], color=f"C{k}", lw=1.4, label=label,
                       drawstyle="steps-post")
            chance = c["chance"]
        roc_ax.plot([0, 1], [0, 1], color="0.6", lw=0.8, ls="--")
        level = entries[0][1].get("recall_level", 0.95)
        roc_ax.axhline(level, color="0.6", lw=0.8, ls=":")
        if chance is not None:
            pr_ax.axhline(chance, color="0.6", lw=0.8, ls="--")
        for ax in (roc_ax, pr_ax):
            validation = any(name in (r.get("validation") or {}) for _, r, _ in entries)
            ax.set_title(name + (" (validation)" if validation else ""), fontsize=9)
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1.02)
            ax.tick_params(labelsize=7)
            ax.legend(fontsize=7, loc="lower right" if ax is roc_ax else "lower left")
        pos, neg = ("anomalies", "in-dist") if positive == "ood" else ("in-dist", "anomalies")
        roc_ax.set_xlabel(f"false positive rate ({neg} flagged)", fontsize=7)
        roc_ax.set_ylabel(f"true positive rate ({pos} flagged)", fontsize=7)
        pr_ax.set_xlabel(f"recall ({pos} positive)", fontsize=7)
        pr_ax.set_ylabel("precision", fontsize=7)
    for ax in list(roc_axes[len(names):]) + list(pr_axes[len(names):]):
        ax.set_visible(False)
    return [
        _save(roc_fig, out_dir, "roc", "ROC curves", (
            "ROC curve per OOD set, every run on one axis; dashed: chance, dotted: the recall "
            "level of the FPR column. Curves pool the scored OOD examples of all draws."),
            rel_to),
        _save(pr_fig, out_dir, "pr", "Precision-recall curves", (
            "Precision-recall curve per OOD set; OOD examples weighted to one draw's worth "
            "(the protocol's class balance); dashed: the precision of chance."), rel_to),
    ]


# ---- score histograms --------------------------------------------------------------------------

def histogram_figure(label: str, results: dict, scores: dict, out_dir: Path,
                     rel_to: Path, index: int) -> FigureFile | None:
    names = [n for n in evaluated_sets(results) if n in scores["ood"]]
    if not names:
        return None
    rows, cols = grid(len(names))
    fig, axes = _figure(rows, cols)
    for ax, name in zip(axes, names):
        both = np.concatenate([scores["in"], scores["ood"][name]])
        bins = np.histogram_bin_edges(both, bins=40)
        ax.hist(scores["in"], bins=bins, density=True, histtype="stepfilled", alpha=0.45,
                color="C0", label="in-distribution")
        ax.hist(scores["ood"][name], bins=bins, density=True, histtype="stepfilled", alpha=0.45,
                color="C3", label=name)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel(f"{results['score']} score (higher = more anomalous)", fontsize=7)
        ax.set_ylabel("density", fontsize=7)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7)
    for ax in axes[len(names):]:
        ax.set_visible(False)
    return _save(fig, out_dir, f"scores_{index}_{_safe(label)}", f"Anomaly scores: {label}",
                 f"Histograms (densities) of the {results['score']} anomaly score of {label}: the "
                 "in-distribution test set against each OOD set.", rel_to)


# ---- training curves ---------------------------------------------------------------------------

def training_figure(logs: list[tuple[str, list[dict]]], out_dir: Path,
                    rel_to: Path) -> FigureFile | None:
    """Loss, training accuracy and learning rate per epoch, one colour per run (k = its index)."""
    # only epoch records: an imported run's log holds one "imported" line and no epochs
    epochs_of = [(label, [r for r in log if "epoch" in r and "loss" in r]) for label, log in logs]
    logs = [(k, label, log) for k, (label, log) in enumerate(epochs_of) if log]
    if not logs:
        return None
    fig, axes = _figure(1, 3)
    for k, label, log in logs:
        epoch = [r["epoch"] for r in log]
        axes[0].plot(epoch, [r["loss"] for r in log], color=f"C{k}", marker=".", label=label)
        if any(r.get("loss_oe") for r in log):
            axes[0].plot(epoch, [r.get("loss_oe", 0.0) for r in log], color=f"C{k}", ls=":",
                         label=f"{label}: OE term")
        axes[1].plot(epoch, [r["train_acc"] for r in log], color=f"C{k}", marker=".",
                     label=label)
        axes[2].plot(epoch, [r["lr"] for r in log], color=f"C{k}", marker=".", label=label)
    for ax, title in zip(axes, ("loss", "training accuracy", "learning rate (end of epoch)")):
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("epoch", fontsize=7)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7)
    axes[2].set_yscale("log")
    return _save(fig, out_dir, "training", "Training curves", (
        "Per-epoch means from each run's log.jsonl: total loss (dotted: the OE term H(U;p), "
        "before its weight lambda), "
        "training accuracy on the in-distribution batches, and the learning rate."), rel_to)


# ---- reliability diagrams ----------------------------------------------------------------------

def reliability_bins(calibration, path: str = "") -> list[tuple[str, dict]]:
    """Every {"confidence": [...], "accuracy": [...]} inside `calibration`, with its key path."""
    found = []
    if isinstance(calibration, dict):
        conf, acc = calibration.get("confidence"), calibration.get("accuracy")
        if isinstance(conf, list) and isinstance(acc, list) and len(conf) == len(acc) and conf:
            return [(path or "test", calibration)]
        for key, value in calibration.items():
            found += reliability_bins(value, f"{path}/{key}" if path else str(key))
    return found


def reliability_figure(label: str, calibration: dict, out_dir: Path, rel_to: Path,
                       index: int) -> FigureFile | None:
    diagrams = reliability_bins(calibration)
    if not diagrams:
        return None
    rows, cols = grid(len(diagrams))
    fig, axes = _figure(rows, cols)
    for ax, (name, bins) in zip(axes, diagrams):
        conf = np.asarray(bins["confidence"], dtype=float)
        acc = np.asarray(bins["accuracy"], dtype=float)
        ax.plot([0, 1], [0, 1], color="0.6", lw=0.8, ls="--")
        ax.plot(conf, acc, color="C0", marker="o", ms=3, lw=1.2, label="accuracy per bin")
        ax.bar(conf, acc - conf, bottom=conf, width=0.02, color="C3", alpha=0.5, label="gap")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("confidence", fontsize=7)
        ax.set_ylabel("accuracy", fontsize=7)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7, loc="upper left")
    for ax in axes[len(diagrams):]:
        ax.set_visible(False)
    return _save(fig, out_dir, f"reliability_{index}_{_safe(label)}",
                 f"Reliability: {label}",
                 f"Accuracy against confidence per bin for {label} (from calibration.json); "
                 "dashed: perfect calibration.", rel_to)
