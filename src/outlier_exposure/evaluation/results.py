"""The results record of the OOD protocol (`Results`, = `results.json`) and its tables: console
text, Markdown, CSV. Results hold fractions; tables show percent.

Every results.json, image, text classifier or language model, is written by `Results.to_dict`
and read by `Results.from_dict` / `Results.load`. The file keeps the keys, and the key order,
it has always had: the keys every record has, then the optional ones a record has only when
they apply (an image run's `loss` and `precision`, a text run's `task` and `skipped`, an LM's
`test_perplexity` and `unit`, post-hoc `score_params`, `validation` sets). Unknown keys are
kept, after the known ones, so a file from a newer version survives a read and a write.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field, fields
from pathlib import Path

from ..errors import UserInputError
from .formatting import markdown_table, pct, text_table
from .results_check import check_record
from .openood_tables import is_openood, openood_comparison, openood_csv, openood_text
from ..training import runs

# What a reader cannot do without (the tables, reports and figures index these).
REQUIRED = ("ood", "mean", "score", "test_error")
# Written even when None: a null here says something ("no mistakes to detect", "no OOD set").
NULLABLE = ("error_detection", "mean")


@dataclass(kw_only=True)
class Results:
    """One run evaluated with one score. Field order = key order in results.json."""

    run: str | None = None
    task: str | None = None               # text runs: "text" or "lm"
    in_dist: str | None = None
    model: str | None = None
    mode: str | None = None
    loss: str | None = None               # image runs
    score: str
    protocol: str | None = None           # "openood" (openood.py); None: the paper's protocol
    positive: str | None = None
    rule: str | None = None
    recall_level: float | None = None
    draws: int | None = None
    ratio: int | None = None
    seed: int | None = None
    draw_size: str | None = None          # the OOD draw-size rule (draws.DRAW_SIZE_RULES)
    precision: str | None = None          # image runs
    n_test: int | None = None
    test_error: float
    error_detection: dict | None = None
    ood: dict
    mean: dict | None
    groups: dict | None = None            # openood: {"near": means, "far": means}
    score_params: dict | None = None      # post-hoc scores' fitted settings
    validation: dict | None = None        # val: sets, never in the mean
    validation_mean: dict | None = None
    skipped: dict | None = None           # text runs: default OOD sets not found (spec -> why)
    test_perplexity: float | None = None  # language models
    unit: str | None = None               # language models: what a scored unit is
    extra: dict = field(default_factory=dict)  # keys this version does not know, kept as read

    def to_dict(self) -> dict:
        found = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name != "extra" and (value is not None or f.name in NULLABLE):
                found[f.name] = value
        return {**found, **self.extra}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data, source: str = "the results") -> "Results":
        """The record of a results.json's contents; UserInputError when it is not one."""
        missing = [k for k in REQUIRED if not isinstance(data, dict) or k not in data]
        if missing:
            raise UserInputError(
                f"{source} lacks {', '.join(missing)}: it is not a results file of `oe eval`; "
                "evaluate the run again with `oe eval RUN`"
            )
        check_record(data, source)  # the types the tables and reports index (results_check.py)
        known = {f.name for f in fields(cls)} - {"extra"}
        return cls(**{k: v for k, v in data.items() if k in known},
                   extra={k: v for k, v in data.items() if k not in known})

    @classmethod
    def load(cls, path: str | Path) -> "Results":
        return cls.from_dict(read_results_json(path), str(path))

    @classmethod
    def reusable(cls, path: str | Path) -> dict:
        """The contents of a run's results.json as `to_dict` writes them, or {} when the file is
        damaged or is not a record: then the run is simply evaluated again."""
        try:
            return cls.load(path).to_dict()
        except UserInputError:
            return {}

    def save(self, path: str | Path) -> None:
        runs.write_json(Path(path), self.to_dict())

    @property
    def specs(self) -> list:
        """The spec of each OOD test set, in order (None for a set recorded without one)."""
        return [r.get("spec") for r in self.ood.values()]


def read_results_json(path: str | Path):
    """The parsed contents of a results.json (any layout); UserInputError when not JSON."""
    return runs.read_json(path, "evaluate the run again with `oe eval RUN`")


def fpr_label(results: dict) -> str:
    """'FPR95' for results at 95% recall (the reference's default when the level is missing)."""
    return f"FPR{round(100 * results.get('recall_level', 0.95))}"


def _with_std(row: dict, key: str) -> str:
    return f"{pct(row[key])} ± {pct(row[key + '_std'])}"


def result_rows(results: dict, group: str = "ood") -> list[list[str]]:
    """Rows of one group of sets, "ood" (then "Mean") or "validation" (then "Mean (validation)")."""
    rows = [[name, _with_std(r, "fpr"), _with_std(r, "auroc"), _with_std(r, "aupr")]
            for name, r in results[group].items()]
    mean = results["mean"] if group == "ood" else results.get(f"{group}_mean")
    if mean:
        label = "Mean" if group == "ood" else f"Mean ({group})"
        rows.append([label, pct(mean["fpr"]), pct(mean["auroc"]), pct(mean["aupr"])])
    return rows


def _headline(results: dict) -> str:
    return (
        f"{results['in_dist']} | model {results['model']} ({results.get('mode', '?')}) | score "
        f"{results['score']} | positive class: {results['positive']} | FPR rule: "
        f"{results['rule']} | {results['draws']} draws at OOD:ID = 1:{results['ratio']}"
    )


def results_text(results: dict, markdown: bool = False) -> str:
    if is_openood(results):
        return openood_text(results, markdown)
    header = ["OOD set", fpr_label(results), "AUROC", "AUPR"]
    table = (markdown_table if markdown else text_table)(header, result_rows(results))
    lines = [_headline(results), f"Test error: {pct(results['test_error'])}%"]
    ed = results.get("error_detection")
    if ed:
        lines.append(
            f"Error detection (MSP, mistakes positive): {fpr_label(results)} {pct(ed['fpr'])}"
            f"  AUROC {pct(ed['auroc'])}  AUPR {pct(ed['aupr'])}"
        )
    if results.get("validation"):  # below the headline mean, never part of it
        table += ("\nValidation sets (not in the mean above):\n" + ("\n" if markdown else "")
                  + (markdown_table if markdown else text_table)(
                      ["Validation set"] + header[1:], result_rows(results, "validation")))
    sep = "\n\n" if markdown else "\n"
    return sep.join(lines) + "\n\n" + table


def results_csv(results: dict) -> str:
    if is_openood(results):
        return openood_csv(results)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["ood_set", "fpr", "fpr_std", "auroc", "auroc_std", "aupr", "aupr_std"])
    # The OOD sets and the headline mean, then the validation sets ("val:...") and their mean.
    for group, mean_label in (("ood", "mean"), ("validation", "validation_mean")):
        for name, r in results.get(group, {}).items():
            writer.writerow([name] + [f"{r[k]:.6f}" for k in
                                      ("fpr", "fpr_std", "auroc", "auroc_std", "aupr", "aupr_std")])
        m = results.get(mean_label)
        if m:
            writer.writerow([mean_label, f"{m['fpr']:.6f}", "", f"{m['auroc']:.6f}", "",
                             f"{m['aupr']:.6f}", ""])
    return buffer.getvalue()


def write_results(run_dir: Path, results: Results | dict) -> None:
    """results.json (the record), results.csv and results.md in `run_dir`."""
    run_dir = Path(run_dir)
    record = Results.from_dict(results) if isinstance(results, dict) else results
    record.save(run_dir / "results.json")
    results = record.to_dict()
    runs.write_text(run_dir / "results.csv", results_csv(results))
    runs.write_text(run_dir / "results.md", results_text(results, markdown=True))


def comparison_text(named: dict[str, dict], markdown: bool = False) -> str:
    """Runs side by side (e.g. baseline vs OE): FPR, AUROC, AUPR per OOD set and the mean."""
    labels = list(named)
    first = named[labels[0]]
    if all(is_openood(r) for r in named.values()):
        return openood_comparison(named, markdown)
    fpr = fpr_label(first)
    header = ["OOD set"] + [f"{metric} {label}" for metric in (fpr, "AUROC", "AUPR")
                            for label in labels]
    rows = []
    for name in first["ood"]:
        row = [name]
        for key in ("fpr", "auroc", "aupr"):
            row += [pct(named[label]["ood"][name][key]) if name in named[label]["ood"] else "-"
                    for label in labels]
        rows.append(row)
    rows.append(["Mean"] + [pct(named[label]["mean"][key]) if named[label]["mean"] else "-"
                            for key in ("fpr", "auroc", "aupr") for label in labels])
    rows.append(["Test error"] + [pct(named[label]["test_error"]) for label in labels]
                + [""] * (2 * len(labels)))
    return (markdown_table if markdown else text_table)(header, rows)


# The summary of one run evaluated with several scores (`oe eval --score A B ...`): the means
# over the OOD sets per score (with the score's fitted settings), and the FPR of every OOD set
# per score.
def _settings(results: dict) -> str:
    params = results.get("score_params") or {}
    shown = {k: v for k, v in params.items() if k in ("temperature", "epsilon", "k", "tuned_on")}
    return ", ".join(f"{k}={v}" for k, v in shown.items()) or "-"


def scores_summary(found: dict[str, dict], markdown: bool = False) -> str:
    """`found` = {score: results} of one run (same sets, same draws)."""
    table = markdown_table if markdown else text_table
    first = next(iter(found.values()))
    fpr = fpr_label(first)
    rows = [[name, _settings(r), pct(r["mean"]["fpr"]), pct(r["mean"]["auroc"]),
             pct(r["mean"]["aupr"])] for name, r in found.items() if r["mean"]]
    means = table(["Score", "settings", f"Mean {fpr}", "Mean AUROC", "Mean AUPR"], rows)
    per_set = table(["OOD set"] + [f"{fpr} {name}" for name in found],
                    [[s] + [pct(r["ood"][s]["fpr"]) for r in found.values()]
                     for s in first["ood"]])
    how = ("OpenOOD v1.5 protocol (full sets, no draws)" if is_openood(first) else
           f"{first['draws']} draws at OOD:ID = 1:{first['ratio']}")
    head = (f"{first['run']}: {first['in_dist']} | model {first['model']} ({first.get('mode')}) | "
            f"positive class: {first['positive']} | FPR rule: {first['rule']} | {how} | "
            f"test error {pct(first['test_error'])}%")
    sep = "\n\n" if markdown else "\n"
    return head + sep + means + sep + per_set
