"""Tables of OpenOOD-protocol results (`openood.py`): per set, per group, ID accuracy.

OpenOOD reports AUROC first, then FPR@95, AUPR-In and AUPR-Out, per set, with each group's mean
after its sets; so do these tables. No ± here: the protocol has no draws (the std over training
seeds is reporting/seeds.py's).
"""

from __future__ import annotations

import csv
import io

from .formatting import markdown_table, pct, text_table

GROUP_LABELS = {"near": "Near-OOD", "far": "Far-OOD"}
COLUMNS = ("auroc", "fpr", "aupr_in", "aupr_out")


def is_openood(results: dict) -> bool:
    return results.get("protocol") == "openood"


def _fpr_label(results: dict) -> str:
    return f"FPR@{round(100 * results.get('recall_level', 0.95))}"


def header(results: dict) -> list[str]:
    return ["OOD set", "group", "AUROC", _fpr_label(results), "AUPR-In", "AUPR-Out"]


def rows(results: dict) -> list[list[str]]:
    """Each group's sets, then the group's mean; the mean over every set last."""
    found = []
    for group, label in GROUP_LABELS.items():
        sets = [(name, r) for name, r in results["ood"].items() if r.get("group") == group]
        found += [[name, group] + [pct(r[k]) for k in COLUMNS] for name, r in sets]
        mean = (results.get("groups") or {}).get(group)
        if mean:
            found.append([f"{label} (mean)", group] + [pct(mean[k]) for k in COLUMNS])
    if results.get("mean"):
        found.append(["All sets (mean)", ""] + [pct(results["mean"][k]) for k in COLUMNS])
    return found


def headline(results: dict) -> str:
    return (f"{results['in_dist']} | model {results['model']} ({results.get('mode', '?')}) | "
            f"score {results['score']} | OpenOOD v1.5 protocol (full sets, no draws) | "
            f"positive class: {results['positive']} | FPR rule: {results['rule']}")


def openood_text(results: dict, markdown: bool = False) -> str:
    table = (markdown_table if markdown else text_table)(header(results), rows(results))
    lines = [headline(results), f"ID accuracy: {pct(1.0 - results['test_error'])}%"]
    source = results.get("groups_source")
    if source:
        lines.append(f"Groups: {source}")
    sep = "\n\n" if markdown else "\n"
    return sep.join(lines) + "\n\n" + table


def openood_csv(results: dict) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["ood_set", "group", "auroc", "fpr", "aupr_in", "aupr_out"])
    for name, r in results["ood"].items():
        writer.writerow([name, r.get("group", "")] + [f"{r[k]:.6f}" for k in COLUMNS])
    for group, mean in (results.get("groups") or {}).items():
        writer.writerow([f"{group}_mean", group] + [f"{mean[k]:.6f}" for k in COLUMNS])
    if results.get("mean"):
        writer.writerow(["mean", ""] + [f"{results['mean'][k]:.6f}" for k in COLUMNS])
    writer.writerow(["id_accuracy", "", f"{1.0 - results['test_error']:.6f}", "", "", ""])
    return buffer.getvalue()


def group_value(results: dict, group: str, metric: str):
    """A group's mean metric, or None when the run has no such group."""
    return ((results.get("groups") or {}).get(group) or {}).get(metric)


def openood_comparison(named: dict[str, dict], markdown: bool = False) -> str:
    """Runs side by side under OpenOOD's headline: near/far AUROC and FPR, ID accuracy."""
    head = ["run", "near AUROC", "far AUROC", "near FPR@95", "far FPR@95", "ID acc"]
    body = [[label, pct(group_value(r, "near", "auroc")), pct(group_value(r, "far", "auroc")),
             pct(group_value(r, "near", "fpr")), pct(group_value(r, "far", "fpr")),
             pct(1.0 - r["test_error"])] for label, r in named.items()]
    return (markdown_table if markdown else text_table)(head, body)
