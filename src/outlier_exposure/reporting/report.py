"""`oe report`: evaluated runs side by side, with the paper's numbers, settings and figures.

Writes into one folder:

    report.md    the report: summary, per-OOD-set tables (with the paper's numbers and the
                 deltas ours - paper where the run's preset and mode have them), the change
                 against the first run, error detection, validation sets, calibration, the
                 settings of every run, notes on settings that make numbers incomparable, and
                 the figures (relative links); when runs are seeds of one experiment, a section
                 "Over training seeds" (reporting/seeds.py: mean ± std over the seeds)
    report.csv   one row per number, as fractions: run, section, set, metric, value, std,
                 paper, delta (ours - paper)
    report.json  the same rows, every run's settings and full results, the notes, the figures
                 and, when runs are seeds of one experiment, "seeds": their aggregates
    report.tex   (with latex=True) the tables as LaTeX tabulars (booktabs)
    figures/     ROC, precision-recall, score histograms, training curves, reliability (PNG+PDF)

Tables show percent with two decimals; CSV and JSON keep the fractions of `results.json`.
Nothing is recomputed from a model: the tables come from `results.json`, the curves from the
cached `scores_<score>.npz`, the training curves from `log.jsonl`.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .._version import __version__
from ..errors import UserInputError
from ..evaluation.formatting import pct
from ..evaluation.results import fpr_label
from ..training import runs
from ..training.lock import run_lock
from ..training.progress import each
from . import figures
from .reference import (
    calibration_reference_for,
    match_set,
    preset_reference,
    protocol_differences,
    reference_for,
    set_coverage,
)
from .report_runs import ReportRun, load_runs
from .seeds import experiment_aggregates, seeds_csv_rows, seeds_markdown

METRICS = ("fpr", "auroc", "aupr")
CALIBRATION_METRICS = ("rms", "mad", "soft_f1", "ece")
# Evaluation settings that change the numbers: runs differing in one are not comparable.
NUMBER_SETTINGS = {"protocol": "protocol", "score": "score", "positive": "positive class",
                   "rule": "FPR rule",
                   "recall_level": "recall level", "draws": "draws", "ratio": "ID:OOD ratio",
                   "in_dist": "test set", "n_test": "test images"}


@dataclass
class Table:
    title: str
    header: list[str]
    rows: list[list[str]]
    note: str = ""


@dataclass
class Report:
    """What `write_report` wrote, and the pieces it was made of."""

    folder: Path
    markdown: Path
    csv: Path
    json: Path
    latex: Path | None
    runs: list[ReportRun]
    tables: list[Table] = field(default_factory=list)
    differences: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    figures: list[figures.FigureFile] = field(default_factory=list)
    seeds: list[dict] = field(default_factory=list)  # seeds.aggregate_seeds of each experiment


# ---- formatting --------------------------------------------------------------------------------

def delta(ours, paper) -> str:
    """ours - paper in percentage points, signed."""
    return "-" if ours is None or paper is None else f"{100 * (ours - paper):+.2f}"


def _with_std(entry: dict, metric: str) -> str:
    if entry is None or metric not in entry:
        return "-"
    std = entry.get(f"{metric}_std")
    return pct(entry[metric]) if std is None else f"{pct(entry[metric])} ± {pct(std)}"


METRIC_NAMES = {"auroc": "AUROC", "aupr": "AUPR", "rms": "RMS", "mad": "MAD",
                "soft_f1": "soft F1", "ece": "ECE"}


def metric_name(metric: str, results: dict) -> str:
    return fpr_label(results) if metric == "fpr" else METRIC_NAMES[metric]


# ---- settings ----------------------------------------------------------------------------------

def _model_text(config: dict, results: dict) -> str:
    model = config.get("model") or results.get("model", "?")
    kwargs = config.get("model_kwargs") or {}
    return model + (f" ({', '.join(f'{k}={v}' for k, v in kwargs.items())})" if kwargs else "")


def settings(run: ReportRun) -> dict[str, str]:
    """The settings of one run, as text, in the order the report shows them."""
    c, r, e = run.config, run.results, run.environment

    def get(d: dict, k: str) -> str:
        return "-" if d.get(k) is None else str(d.get(k))

    batch = "-" if "batch_size" not in c else (
        f"{c['batch_size']}" + (f" + {c['oe_batch_size']} outliers" if c.get("outliers") else ""))
    return {
        "folder": str(run.folder),
        "preset": get(c, "preset"),
        "mode": str(run.mode or "-"),
        "model": _model_text(c, r),
        "training data": get(c, "train"),
        "outliers": get(c, "outliers"),
        "epochs": get(c, "epochs"),
        "learning rate": get(c, "lr"),
        "batch": batch,
        "lambda": get(c, "lam") if c.get("outliers") else "-",
        "precision": str(c.get("precision") or "fp32"),
        "training seed": get(c, "seed"),
        "test set": get(r, "in_dist"),
        "test images": get(r, "n_test"),
        "OOD sets": ", ".join(r["ood"]) or "-",
        "validation sets": ", ".join(r.get("validation") or {}) or "-",
        "score": get(r, "score"),
        "positive class": get(r, "positive"),
        "FPR rule": get(r, "rule"),
        "recall level": get(r, "recall_level"),
        "draws": get(r, "draws"),
        "ID:OOD ratio": "-" if r.get("ratio") is None else f"{r['ratio']}:1",
        "evaluation seed": get(r, "seed"),
        "calibration": _calibration_setting(run.calibration),
        "code version": get(e, "outlier_exposure"),
        "git commit": get(e, "git_commit"),
        "torch": get(e, "torch"),
        "device": str(e.get("cuda") or e.get("device") or "-"),
    }


def setting_differences(found: list[ReportRun]) -> list[str]:
    """One line per evaluation setting that differs between the runs (they change the numbers)."""
    lines = []
    for key, name in NUMBER_SETTINGS.items():
        values = [run.results.get(key) for run in found]
        if len(set(map(str, values))) > 1:
            lines.append(f"{name}: " + ", ".join(f"{v} ({run.label})"
                                                 for v, run in zip(values, found)))
    sets = [set(run.results["ood"]) for run in found]
    if len({frozenset(s) for s in sets}) > 1:
        common = set.intersection(*sets)
        lines.append("OOD sets: " + "; ".join(
            f"{run.label} also has {', '.join(sorted(s - common))}" for run, s in zip(found, sets)
            if s - common) + " (the means cover different sets)")
    return lines


# ---- tables ------------------------------------------------------------------------------------

def _set_names(found: list[ReportRun], section: str) -> list[str]:
    names: list[str] = []
    for run in found:
        names += [n for n in (run.results.get(section) or {}) if n not in names]
    return names


def _reference(run: ReportRun) -> dict | None:
    return reference_for(run.preset, run.mode)


def _paper_value(ref: dict, metric: str, name: str | None, entry: dict | None):
    """The paper's value of `metric` for OOD set `name` (None: the mean), if it has one."""
    if name is None:
        return ref.get(metric)
    match = match_set(ref.get("ood", {}), name, (entry or {}).get("spec"))
    return None if match is None else match.get(metric)


def _mean(run: ReportRun, section: str = "ood") -> dict:
    """The mean over the sets of `section` ({} when the run has none, e.g. only validation sets)."""
    return run.results.get("mean" if section == "ood" else f"{section}_mean") or {}


def set_table(found: list[ReportRun], metric: str, section: str = "ood") -> Table:
    """One metric per OOD set (rows) and run (columns), the paper's value and delta beside it."""
    first = found[0].results
    with_paper = section == "ood" and any(_reference(run) for run in found)
    header = ["OOD set"]
    for run in found:
        header.append(run.label)
        if with_paper and _reference(run):
            header += [f"{run.label} paper", "Δ"]
    rows = []
    names = _set_names(found, section)
    for name in names + (["Mean"] if any(_mean(run, section) for run in found) else []):
        row = [name]
        for run in found:
            sets = run.results.get(section) or {}
            if name == "Mean":
                ours = _mean(run, section).get(metric)
                cell = pct(ours)
            else:
                entry = sets.get(name)
                ours, cell = (entry or {}).get(metric), _with_std(entry, metric)
            row.append(cell)
            ref = _reference(run) if with_paper else None
            if ref:
                paper = _paper_value(ref, metric, None if name == "Mean" else name,
                                     sets.get(name))
                row += [pct(paper), delta(ours, paper)]
        rows.append(row)
    what = "validation set" if section == "validation" else "OOD set"
    # ± only where results.json has a std over draws (an OpenOOD-protocol run has no draws).
    if any(f"{metric}_std" in (entry or {}) for run in found
           for entry in (run.results.get(section) or {}).values()):
        note = (f"Percent, mean ± std over the OOD draws per {what} (± = std over the random "
                "OOD draws of one trained model, not over training seeds).")
    else:
        note = f"Percent, per {what}."
    if with_paper:
        note += (" paper: the paper's number for the run's preset and mode; Δ = ours − paper "
                 "(percentage points).")
    return Table(f"{metric_name(metric, first)}", header, rows, note)


def summary_table(found: list[ReportRun]) -> Table:
    any_ref = any(_reference(run) for run in found)
    first = found[0].results
    keys = ("test_error",) + METRICS
    header = ["run", "preset / mode"]
    for key in keys:
        name = "test error" if key == "test_error" else f"mean {metric_name(key, first)}"
        header += [name] + (["paper", "Δ"] if any_ref else [])
    rows = []
    for run in found:
        ref = _reference(run) or {}
        row = [run.label, f"{run.preset or '-'} / {run.mode or '-'}"]
        for key in keys:
            ours = run.results["test_error"] if key == "test_error" else _mean(run).get(key)
            row.append(pct(ours))
            if any_ref:
                row += [pct(ref.get(key)), delta(ours, ref.get(key))]
        rows.append(row)
    return Table("Summary", header, rows,
                 "Percent; the mean is the unweighted mean over each run's OOD sets.")


def groups_table(found: list[ReportRun]) -> Table | None:
    """OpenOOD's headline per run: near-OOD and far-OOD means and ID accuracy, with the
    leaderboard's numbers beside the runs of a preset that has them (None: no run has groups)."""
    with_groups = [run for run in found if run.results.get("groups")]
    if not with_groups:
        return None
    refs = {run.label: preset_reference(run.preset).get(run.mode or "", {})
            for run in with_groups}
    any_ref = any(isinstance(r, dict) and "near_auroc" in r for r in refs.values())
    header = ["run", "ID acc", "near AUROC", "far AUROC", "near FPR95", "far FPR95"]
    header += ["leaderboard near AUROC", "leaderboard far AUROC"] if any_ref else []
    rows = []
    for run in with_groups:
        g = run.results["groups"]
        row = [run.label, pct(1.0 - run.results["test_error"])]
        row += [pct((g.get(group) or {}).get(m)) for m, group in
                (("auroc", "near"), ("auroc", "far"), ("fpr", "near"), ("fpr", "far"))]
        ref = refs[run.label] if isinstance(refs[run.label], dict) else {}
        row += [pct(ref.get("near_auroc")), pct(ref.get("far_auroc"))] if any_ref else []
        rows.append(row)
    return Table("Near-OOD and far-OOD (OpenOOD v1.5 protocol)", header, rows,
                 "Percent; each group's unweighted mean over its sets, full sets, no draws "
                 "(docs/protocol.md section 9).")


def change_table(found: list[ReportRun]) -> Table | None:
    """Each later run minus the first, per OOD set and on the mean (percentage points)."""
    if len(found) < 2:
        return None
    base = found[0]
    first = base.results
    header = ["OOD set"] + [f"Δ {metric_name(m, first)} {run.label}"
                            for run in found[1:] for m in METRICS]
    rows = []
    for name in _set_names(found, "ood") + ["Mean", "Test error"]:
        row = [name]
        for run in found[1:]:
            for m in METRICS:
                if name == "Mean":
                    a, b = _mean(run).get(m), _mean(base).get(m)
                elif name == "Test error":
                    a, b = (run.results["test_error"], base.results["test_error"]) \
                        if m == "fpr" else (None, None)
                else:
                    a = (run.results["ood"].get(name) or {}).get(m)
                    b = (base.results["ood"].get(name) or {}).get(m)
                row.append(delta(a, b) if a is not None and b is not None else "")
        rows.append(row)
    return Table(f"Change against {base.label}", header, rows,
                 f"Percentage points, run − {base.label}; the test error change sits in the "
                 "first column of each run.")


def error_detection_table(found: list[ReportRun]) -> Table | None:
    if not any(run.results.get("error_detection") for run in found):
        return None
    first = found[0].results
    rows = [[run.label] + [pct((run.results.get("error_detection") or {}).get(m))
                           for m in METRICS] for run in found]
    return Table("Error detection", ["run"] + [metric_name(m, first) for m in METRICS], rows,
                 "Misclassified test images as the positives, scored by MSP (percent).")


_CALIBRATION_NAMES = {"in_distribution": "test set alone", "mean": "mean over OOD sets"}


def calibration_entries(calibration, path: str = "", depth: int = 0) -> list[tuple[str, dict]]:
    """(name, metrics) of every dict in calibration.json (`oe calibrate`) holding metrics:
    "in_distribution" (the test set alone), "ood" {set: test set + that set}, "mean"."""
    if not isinstance(calibration, dict) or depth > 3:
        return []
    if any(k in calibration and not isinstance(calibration[k], dict)
           for k in CALIBRATION_METRICS):
        return [(_CALIBRATION_NAMES.get(path, path or "test"), calibration)]
    found = []
    for key, value in calibration.items():
        if key in ("reliability", "bins", "temperature"):
            continue
        child = f"test + {key}" if path == "ood" else (f"{path}/{key}" if path else key)
        found += calibration_entries(value, child, depth + 1)
    return found


def _calibration_setting(calibration: dict | None) -> str:
    if not calibration:
        return "-"
    t = calibration.get("temperature")
    t = t.get("value") if isinstance(t, dict) else t
    parts = [f"T = {t:.4g}" if isinstance(t, (int, float)) else None,
             f"{calibration['mode']} binning" if calibration.get("mode") else None,
             f"{calibration['bin_size']} per bin" if calibration.get("bin_size") else None,
             "0-1 rescaled" if calibration.get("rescale") else None]
    return ", ".join(p for p in parts if p) or "yes"


def calibration_table(found: list[ReportRun]) -> Table | None:
    rows = []
    for run in found:
        for name, entry in calibration_entries(run.calibration or {}):
            rows.append([run.label, name] + [_with_std(entry, m) for m in CALIBRATION_METRICS])
        ref = calibration_reference_for(run.preset, run.mode) if run.calibration else None
        if ref:
            rows.append([f"{run.label} (paper)", "mean over OOD sets"] + [pct(ref.get(m))
                                                            for m in CALIBRATION_METRICS])
    if not rows:
        return None
    return Table("Calibration", ["run", "test set"] + [METRIC_NAMES[m] for m in
                                                       CALIBRATION_METRICS], rows,
                 "From each run's calibration.json (`oe calibrate`), percent, mean ± std over the "
                 "OOD draws; 'test + SET' mixes the OOD set into the test set as mistakes (1:5). The "
                 "paper's row is temperature-tuned with the reference binning (docs/protocol.md "
                 "section 5); the temperature and binning of ours are in Settings.")


def settings_table(found: list[ReportRun]) -> Table:
    all_settings = [settings(run) for run in found]
    rows = [[key] + [s[key] for s in all_settings] for key in all_settings[0]]
    return Table("Settings", ["setting"] + [run.label for run in found], rows)


# ---- notes -------------------------------------------------------------------------------------

def reference_notes(found: list[ReportRun]) -> list[str]:
    notes = []
    for run in found:
        ref = _reference(run)
        if not ref:
            continue
        diffs = protocol_differences(run.results)
        if diffs:
            notes.append(f"{run.label}: evaluated unlike the paper: {'; '.join(diffs)}. Its "
                         "paper columns are not a like-for-like comparison.")
        coverage = set_coverage(ref, run.results)
        if coverage:
            notes.append(f"{run.label}: {coverage}.")
    return notes


def missing_notes(found: list[ReportRun]) -> list[str]:
    return [f"{run.label}: no cached scores ({run.scores_path.name}) in {run.folder}, so no "
            f"curves or histograms; run `oe eval {run.folder}` again to make them."
            for run in found if not run.scores_path.exists()]


# ---- rendering ---------------------------------------------------------------------------------

def _md_row(cells: list[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"  # "|" would split a cell


def markdown_table(table: Table) -> str:
    lines = [_md_row(table.header), "|" + "---|" * len(table.header)]
    return "\n".join(lines + [_md_row(row) for row in table.rows]) + "\n"


_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
        "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
        "±": r"$\pm$", "Δ": r"$\Delta$", "−": "-"}


def tex_escape(text: str) -> str:
    return "".join(_TEX.get(ch, ch) for ch in text)


def latex_table(table: Table) -> str:
    cols = "l" + "r" * (len(table.header) - 1)
    lines = [r"\begin{table}[t]", r"\centering", r"\small", rf"\begin{{tabular}}{{{cols}}}",
             r"\toprule", " & ".join(tex_escape(h) for h in table.header) + r" \\", r"\midrule"]
    for row in table.rows:
        if row[0] == "Mean":
            lines.append(r"\midrule")
        lines.append(" & ".join(tex_escape(c) for c in row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", (rf"\caption{{{tex_escape(table.title)}. "
              rf"{tex_escape(table.note)}}}"), r"\end{table}", ""]
    return "\n".join(lines)


def csv_rows(found: list[ReportRun]) -> list[dict]:
    """Every number of the report as fractions, exactly as in results.json."""
    out = []

    def add(run, section, name, metric, value, std=None, paper=None):
        out.append({"run": run.label, "section": section, "set": name, "metric": metric,
                    "value": value, "std": std, "paper": paper,
                    "delta": None if paper is None or value is None else value - paper})

    for run in found:
        r, ref = run.results, _reference(run) or {}
        add(run, "test", "", "test_error", r["test_error"], paper=ref.get("test_error"))
        for name, entry in r["ood"].items():
            for m in METRICS:
                add(run, "ood", name, m, entry.get(m), entry.get(f"{m}_std"),
                    _paper_value(ref, m, name, entry) if ref else None)
        for m in METRICS:
            add(run, "mean", "", m, _mean(run).get(m), paper=ref.get(m))
        for m in METRICS:
            if r.get("error_detection"):
                add(run, "error_detection", "", m, r["error_detection"].get(m))
        for name, entry in (r.get("validation") or {}).items():
            for m in METRICS:
                if m in entry:
                    add(run, "validation", name, m, entry[m], entry.get(f"{m}_std"))
        for m in METRICS:
            if _mean(run, "validation").get(m) is not None:
                add(run, "validation_mean", "", m, _mean(run, "validation")[m])
        for name, entry in calibration_entries(run.calibration or {}):
            for m in CALIBRATION_METRICS:
                if m in entry:
                    add(run, "calibration", name, m, entry[m], entry.get(f"{m}_std"))
    return out


def _csv_text(rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["run", "section", "set", "metric", "value", "std",
                                                "paper", "delta"])
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else (repr(v) if isinstance(v, float) else v)
                         for k, v in row.items()})
    return buffer.getvalue()


# ---- the report --------------------------------------------------------------------------------

def default_folder(first_arg: str | Path, found: list[ReportRun]) -> Path:
    """RUN/report for an `oe quickstart` folder, else report/ beside the first run folder."""
    first = Path(first_arg).resolve()
    holds_several = any(run.folder.resolve() != first for run in found
                        if run.folder.resolve().parent == first)
    return first / "report" if holds_several else first.parent / "report"


def _make_figures(found: list[ReportRun], folder: Path,
                  progress: bool = False) -> list[figures.FigureFile]:
    """Every figure of the report; `progress`: a bar counting the figure jobs done (a job is
    one figure, or all the curves at once)."""
    fig_dir = folder / "figures"
    scores = [run.scores() for run in found]

    def curves():
        return figures.curve_figures(
            [(run.label, run.results, s) for run, s in zip(found, scores)], fig_dir, folder)

    def histogram(k: int):
        return [figures.histogram_figure(found[k].label, found[k].results, scores[k], fig_dir,
                                         folder, k)]

    def training():
        return [figures.training_figure([(run.label, run.log) for run in found], fig_dir,
                                        folder)]

    def reliability(k: int):
        run = found[k]
        fig = figures.reliability_figure(run.label, run.calibration, fig_dir, folder, k)
        drawn = run.folder / str(run.calibration.get("reliability_diagram", "reliability.png"))
        if fig is None and drawn.is_file():
            # `oe calibrate` keeps no binned data, only its own diagram: copy it in.
            fig = figures.copied_figure(drawn, fig_dir, f"reliability_{k}", run.label, folder)
        return [fig]

    jobs = ([("ROC/PR curves", curves)]
            + [(f"histogram {run.label}", lambda k=k: histogram(k))
               for k, run in enumerate(found) if scores[k] is not None]
            + [("training curves", training)]
            + [(f"reliability {run.label}", lambda k=k: reliability(k))
               for k, run in enumerate(found) if run.calibration is not None])
    made = []
    for _, job in each(jobs, len(jobs), "figures", progress, unit="job", name=lambda j: j[0]):
        made += job()
    return [f for f in made if f is not None]


def _markdown(rep: Report, tables: dict) -> str:
    found = rep.runs
    md = ["# Outlier Exposure report", "",
          (f"Made by `oe report` (outlier_exposure {__version__}) on "
          f"{_dt.datetime.now().strftime('%Y-%m-%d %H:%M')} from:"), ""]
    md += [f"- **{run.label}**: `{run.folder}` ({run.preset or '?'}, {run.mode or '?'})"
           for run in found]
    md.append("")
    if rep.differences:
        md += [("> **Warning: these runs differ in settings that change the numbers**; compare "
               "them with care:"), ">"]
        md += [f"> - {line}" for line in rep.differences]
    else:
        r = found[0].results
        draws = (f"{r.get('draws')} draws at OOD:ID = 1:{r.get('ratio')}" if r.get("draws")
                 is not None else f"protocol {r.get('protocol') or 'paper'}, no OOD draws")
        md.append(f"All runs share the evaluation settings that change the numbers: score "
                  f"{r.get('score')}, positive class {r.get('positive')}, FPR rule "
                  f"{r.get('rule')}, recall level {r.get('recall_level')}, {draws}, test set "
                  f"{r.get('in_dist')} ({r.get('n_test')} images).")
    md.append("")

    def section(title: str, items, level: str = "##"):
        items = [t for t in items if t is not None]
        if not items:
            return
        md.extend([f"{level} {title}", ""])
        for table in items:
            if len(items) > 1:
                md.extend([f"{level}# {table.title}", ""])
            md.append(markdown_table(table))
            if table.note:
                md.extend([table.note, ""])

    section("Summary", [tables["summary"]])
    section(tables["groups"].title if tables["groups"] else "", [tables["groups"]])
    if rep.notes:
        md += [f"- {note}" for note in rep.notes] + [""]
    section("Per OOD set", tables["ood"])
    if tables["change"] is not None:
        section(tables["change"].title, [tables["change"]])
    if rep.seeds:
        md.append(seeds_markdown(rep.seeds))
    section("Error detection", [tables["error_detection"]])
    section("Validation sets (not in the mean)", tables["validation"])
    section("Calibration", [tables["calibration"]])
    section("Settings", [tables["settings"]])
    md += ["## Figures", ""]
    if not rep.figures:
        md += ["No figures (made without figures, or the runs have no cached scores or logs).",
               ""]
    for fig in rep.figures:
        pdf = f" ([PDF]({fig.pdf}))" if fig.pdf else ""
        md += [f"### {fig.title}", "", f"![{fig.title}]({fig.png})", "", f"{fig.caption}{pdf}",
               ""]
    md += ["## Notes", "",
           "- Numbers are percentages in the tables, fractions in report.csv and report.json.",
           "- Δ columns: ours − paper (or − the first run), in percentage points.",
           ("- The paper's numbers (docs/protocol.md section 7) were measured with score MSP, "
           "anomalies positive, FPR rule 'closest', 10 draws at OOD:ID = 1:5, averaged over the "
           "paper's OOD sets."),
           ("- Curves and histograms come from the cached scores of each run's evaluation; the "
           "tables from its results.json."), ""]
    return "\n".join(md)


def write_report(paths: list[str | Path], out: str | Path | None = None, *,
                 labels: list[str] | None = None, latex: bool = False,
                 with_figures: bool = True, progress: bool = False) -> Report:
    """Compare the evaluated runs in `paths` (run or `oe quickstart` folders) in one report.

    `labels` name the runs (default: their folders); `latex` adds report.tex;
    `with_figures=False` writes the tables only (a few seconds faster per figure);
    `progress=True` shows a bar over the figures on stderr.
    """
    found = load_runs(paths, labels)
    folder = Path(out) if out is not None else default_folder(paths[0], found)
    if folder.exists() and not folder.is_dir():
        raise UserInputError(f"--out {folder} is a file; name a folder for the report")
    tables = {
        "summary": summary_table(found),
        "groups": groups_table(found),
        "ood": [set_table(found, m) for m in METRICS],
        "change": change_table(found),
        "error_detection": error_detection_table(found),
        "validation": ([set_table(found, m, "validation") for m in METRICS]
                       if _set_names(found, "validation") else []),
        "calibration": calibration_table(found),
        "settings": settings_table(found),
    }
    rep = Report(folder=folder, markdown=folder / "report.md", csv=folder / "report.csv",
                 json=folder / "report.json", latex=folder / "report.tex" if latex else None,
                 runs=found, differences=setting_differences(found),
                 notes=reference_notes(found) + missing_notes(found))
    rep.tables = [t for key in ("summary", "groups", "ood", "change", "error_detection", "validation",
                                "calibration", "settings")
                  for t in (tables[key] if isinstance(tables[key], list) else [tables[key]])
                  if t is not None]
    rep.seeds = experiment_aggregates([(run.label, run.results, run.config) for run in found])
    # One writer per report folder (training/lock.py), from the first file to the last.
    with run_lock(folder, "report"):
        rep.figures = _make_figures(found, folder, progress) if with_figures else []
        rows = csv_rows(found) + [row for agg in rep.seeds for row in seeds_csv_rows(agg)]
        runs.write_text(rep.markdown, _markdown(rep, tables))
        runs.write_text(rep.csv, _csv_text(rows))
        runs.write_json(rep.json, {
            "made_by": f"oe report (outlier_exposure {__version__})",
            "runs": [{"label": run.label, "folder": str(run.folder), "preset": run.preset,
                      "mode": run.mode, "settings": settings(run), "results": run.results,
                      "paper": _reference(run), "calibration": run.calibration} for run in found],
            "differences": rep.differences,
            "notes": rep.notes,
            "rows": rows,
            "figures": [asdict(f) for f in rep.figures],
            **({"seeds": rep.seeds} if rep.seeds else {}),
        })
        if latex:
            runs.write_text(rep.latex, "% needs \\usepackage{booktabs}\n" + "\n".join(
                latex_table(t) for t in rep.tables if t.title != "Settings"))
        return rep
