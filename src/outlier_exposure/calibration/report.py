"""Tables (console, Markdown, CSV) and the reliability diagram of `oe calibrate` results.

Results hold fractions; tables show percentages, as the reference prints them.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from ..training import runs
from .metrics import ECE_BINS
from ..evaluation.formatting import markdown_table, pct, text_table

COLUMNS = (("rms", "RMS"), ("mad", "MAD"), ("soft_f1", "Soft F1"), ("ece", "ECE"))
RELIABILITY_PNG = "reliability.png"


def headline(results: dict) -> str:
    t = results["temperature"]
    return (
        f"{results['in_dist']} | model {results['model']} ({results['run_mode']}) | "
        f"{t['note']} | binning mode: {results['mode']} ({results['bin_size']} per bin) | "
        f"0-1 rescaling: {'on' if results['rescale'] else 'off'} | {results['draws']} draws at "
        f"OOD:ID = 1:{results['ratio']}, OOD examples count as mistakes"
    )


def calibration_rows(results: dict) -> list[list[str]]:
    rows = [["In-distribution (test)"] + [pct(results["in_distribution"][k]) for k, _ in COLUMNS]]
    for name, r in results["ood"].items():
        rows.append([f"+ {name}"] + [f"{pct(r[k])} ± {pct(r[k + '_std'])}" for k, _ in COLUMNS])
    rows.append(["Mean over OOD sets"] + [pct(results["mean"][k]) for k, _ in COLUMNS])
    return rows


def calibration_text(results: dict, markdown: bool = False) -> str:
    header = ["Test set"] + [label for _, label in COLUMNS]
    table = (markdown_table if markdown else text_table)(header, calibration_rows(results))
    lines = [headline(results), f"Test error: {pct(results['test_error'])}%"]
    return ("\n\n" if markdown else "\n").join(lines) + "\n\n" + table


def calibration_csv(results: dict) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["set"] + [x for k, _ in COLUMNS for x in (k, f"{k}_std")]
                    + ["mode", "temperature"])
    tail = [results["mode"], f"{results['temperature']['value']:.6f}"]
    writer.writerow(["in_distribution"] + [x for k, _ in COLUMNS
                                           for x in (f"{results['in_distribution'][k]:.6f}", "")]
                    + tail)
    for name, r in results["ood"].items():
        writer.writerow([name] + [f"{r[x]:.6f}" for k, _ in COLUMNS for x in (k, f"{k}_std")]
                        + tail)
    writer.writerow(["mean"] + [x for k, _ in COLUMNS for x in (f"{results['mean'][k]:.6f}", "")]
                    + tail)
    return buffer.getvalue()


def comparison_text(named: dict[str, dict], markdown: bool = False) -> str:
    """Runs side by side (e.g. baseline vs OE): each metric of each run, per set and the mean."""
    labels = list(named)
    first = named[labels[0]]
    header = ["Test set"] + [f"{label} {name}" for _, label in COLUMNS for name in labels]
    rows = [["In-distribution (test)"] + [pct(named[n]["in_distribution"][k])
                                          for k, _ in COLUMNS for n in labels]]
    for set_name in first["ood"]:
        rows.append([f"+ {set_name}"] + [
            pct(named[n]["ood"][set_name][k]) if set_name in named[n]["ood"] else "-"
            for k, _ in COLUMNS for n in labels])
    rows.append(["Mean over OOD sets"] + [pct(named[n]["mean"][k])
                                          for k, _ in COLUMNS for n in labels])
    return (markdown_table if markdown else text_table)(header, rows)


def reliability_diagram(path: Path, panels: list[tuple[str, np.ndarray, np.ndarray]],
                        n_bins: int = ECE_BINS) -> None:
    """Accuracy against confidence in `n_bins` equal-width bins, one panel per (title, c, y)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.2), squeeze=False)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    centres = (edges[:-1] + edges[1:]) / 2
    for ax, (title, conf, correct) in zip(axes[0], panels):
        index = np.clip(np.ceil(conf * n_bins).astype(int) - 1, 0, n_bins - 1)
        count = np.bincount(index, minlength=n_bins)
        acc = np.bincount(index, weights=correct, minlength=n_bins) / np.maximum(count, 1)
        mean_conf = np.bincount(index, weights=conf, minlength=n_bins) / np.maximum(count, 1)
        filled = count > 0
        ax.bar(centres[filled], acc[filled], width=1 / n_bins, edgecolor="black",
               color="tab:blue", label="accuracy")
        # The gap spans accuracy..mean confidence, above the bar (over-confident) or inside it.
        ax.bar(centres[filled], np.abs(mean_conf - acc)[filled],
               bottom=np.minimum(mean_conf, acc)[filled], width=1 / n_bins, color="none",
               edgecolor="tab:red", hatch="//", label="gap to mean confidence")
        ax.plot([0, 1], [0, 1], "k--", linewidth=1)
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence", ylabel="accuracy",
               title=f"{title}\n(n = {len(conf)})")
        ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    try:
        runs.save_figure(fig, Path(path), dpi=100, format="png")  # atomic, like every run file
    finally:
        plt.close(fig)


def write_calibration(run_dir: Path, results: dict, in_dist: tuple[np.ndarray, np.ndarray],
                      mixture: tuple[np.ndarray, np.ndarray]) -> None:
    """calibration.json/.csv/.md and reliability.png in the run folder.

    The diagram's right panel pools the test set with the first draw of every OOD set.
    """
    run_dir = Path(run_dir)
    results["reliability_diagram"] = RELIABILITY_PNG
    runs.write_json(run_dir / "calibration.json", results)
    runs.write_text(run_dir / "calibration.csv", calibration_csv(results))
    runs.write_text(run_dir / "calibration.md", calibration_text(results, markdown=True))
    t = results["temperature"]["value"]
    reliability_diagram(run_dir / RELIABILITY_PNG, [
        (f"in-distribution test, T = {t:.3f}", *in_dist),
        (f"test + first draw of {len(results['ood'])} OOD sets (as mistakes)", *mixture),
    ])
