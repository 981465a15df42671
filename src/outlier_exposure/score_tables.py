"""The summary of one run evaluated with several scores (`oe eval --score A B ...`).

Two tables: the means over the OOD sets per score (with the score's fitted settings), and the
FPR of every OOD set per score. Percentages, as every table of the package.
"""

from __future__ import annotations

from .tables import _fpr_label, _pct, markdown_table, text_table


def _settings(results: dict) -> str:
    params = results.get("score_params") or {}
    shown = {k: v for k, v in params.items() if k in ("temperature", "epsilon", "k", "tuned_on")}
    return ", ".join(f"{k}={v}" for k, v in shown.items()) or "-"


def scores_summary(found: dict[str, dict], markdown: bool = False) -> str:
    """`found` = {score: results} of one run (same sets, same draws)."""
    table = markdown_table if markdown else text_table
    first = next(iter(found.values()))
    fpr = _fpr_label(first)
    rows = [[name, _settings(r), _pct(r["mean"]["fpr"]), _pct(r["mean"]["auroc"]),
             _pct(r["mean"]["aupr"])] for name, r in found.items() if r["mean"]]
    means = table(["Score", "settings", f"Mean {fpr}", "Mean AUROC", "Mean AUPR"], rows)
    per_set = table(["OOD set"] + [f"{fpr} {name}" for name in found],
                    [[s] + [_pct(r["ood"][s]["fpr"]) for r in found.values()]
                     for s in first["ood"]])
    head = (f"{first['run']}: {first['in_dist']} | model {first['model']} ({first.get('mode')}) | "
            f"positive class: {first['positive']} | FPR rule: {first['rule']} | "
            f"{first['draws']} draws at OOD:ID = 1:{first['ratio']} | test error "
            f"{_pct(first['test_error'])}%")
    sep = "\n\n" if markdown else "\n"
    return head + sep + means + sep + per_set
