"""Mean ± std over training seeds: several runs of one experiment that differ only in `--seed`.

Two different stds, never mixed:

- **over OOD draws** (the 2019 paper's protocol): each run's `fpr_std`, `auroc_std`, `aupr_std`
  in results.json, the spread over the random OOD draws of ONE trained model. Kept here apart,
  as `draw_std` (per set, the mean over the seeds of each run's draw std).
- **over training seeds** (OpenOOD v1.5): the spread of each number over models trained with
  different seeds, the population std (numpy's `np.std`, ddof=0) as OpenOOD's
  scripts/eval_ood.py prints it (`{:.2f} ± {:.2f}` of percentages). The `± ` of this module.

`aggregate_seeds` makes the record, `seeds_text` its table, `group_by_experiment` finds the runs
of a report that are seeds of one experiment. Pure functions on results/config dicts: no model.
"""

from __future__ import annotations

import json

import numpy as np

from ..errors import UserInputError
from ..evaluation.formatting import markdown_table, pct, text_table
from ..evaluation.results import fpr_label

STD_OVER = "training seeds (population std, ddof=0, as OpenOOD v1.5)"
DRAW_STD_OVER = ("OOD draws: each run's std over its random OOD draws, averaged over the seeds "
                 "(not the std over training seeds)")
# The metrics of one OOD set (and of a mean), in table order; aupr_in / aupr_out: OpenOOD.
SET_METRICS = ("fpr", "auroc", "aupr", "aupr_in", "aupr_out")
METRIC_NAMES = {"auroc": "AUROC", "aupr": "AUPR", "aupr_in": "AUPR-In", "aupr_out": "AUPR-Out"}
# Settings of results.json that change the numbers: the seeds of one experiment share them.
MATCHED = {"score": "score", "protocol": "protocol", "positive": "positive class",
           "rule": "FPR rule", "recall_level": "recall level", "in_dist": "in-distribution set",
           "n_test": "test images", "draws": "OOD draws", "ratio": "OOD:ID ratio",
           "model": "model", "mode": "mode"}
# Copied from the first record into the aggregate (they are equal in all).
SETTINGS = ("in_dist", "model", "mode", "score", "positive", "rule", "recall_level", "draws",
            "ratio", "n_test")
# config.json keys left out when comparing the runs' configurations: the training seed, and
# paths naming another run of the same seed (an OE fine-tune's baseline run).
NOT_COMPARED = ("seed", "init_from")


def protocol_of(results: dict) -> str:
    """"openood" or "paper" (a record without `protocol` is the 2019 paper's)."""
    return results.get("protocol") or "paper"


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _stat(values: list[float]) -> dict:
    """{"mean", "std"}: the std is the population std (ddof=0), as OpenOOD's np.std."""
    a = np.asarray(values, dtype=np.float64)
    return {"mean": float(a.mean()), "std": float(a.std(ddof=0))}


def _names(results: list[dict]) -> list[str]:
    return [str(r.get("run") or f"record {k + 1}") for k, r in enumerate(results)]


def _setting(results: dict, key: str):
    return protocol_of(results) if key == "protocol" else results.get(key)


def _groups_of_sets(results: dict) -> dict:
    return {name: entry.get("group") for name, entry in (results.get("ood") or {}).items()
            if isinstance(entry, dict) and entry.get("group") is not None}


def differences(results: list[dict], names: list[str] | None = None) -> list[str]:
    """One line per setting (or OOD set list) in which the records differ; [] when alike."""
    names = names or _names(results)
    lines = []
    for key, what in MATCHED.items():
        values = [_setting(r, key) for r in results]
        if len({json.dumps(v, default=str) for v in values}) > 1:
            lines.append(f"{what}: " + ", ".join(f"{v} ({n})" for v, n in zip(values, names)))
    sets = [list(r.get("ood") or {}) for r in results]
    common = set.intersection(*map(set, sets))
    if any(set(s) != common for s in sets):
        lines.append("OOD sets: " + "; ".join(
            f"{n} also has {', '.join(x for x in s if x not in common)}"
            for n, s in zip(names, sets) if set(s) != common))
    elif len({json.dumps(_groups_of_sets(r), sort_keys=True) for r in results}) > 1:
        lines.append("OOD set groups (near/far): " + "; ".join(
            f"{json.dumps(_groups_of_sets(r), sort_keys=True)} ({n})"
            for n, r in zip(names, results)))
    return lines


def _common_stats(entries: list[dict]) -> dict:
    """{metric: {"mean", "std"}} for each metric of SET_METRICS that every entry has."""
    return {m: _stat([e[m] for e in entries]) for m in SET_METRICS
            if all(_is_number(e.get(m)) for e in entries)}


def aggregate_seeds(results: list[dict]) -> dict:
    """Mean and population std (ddof=0) over the training seeds of several results records.

    `results`: the results.json records of ONE experiment trained with different seeds (same
    score, protocol, positive class, FPR rule, recall level, in-distribution set, OOD sets, ...).
    Each number all records have (per OOD set, the mean over the sets, each near/far group, the
    test error) becomes {"mean": m, "std": s}. The paper protocol's std over the OOD draws is
    kept apart in `draw_std`. UserInputError when the records are not alike.
    """
    results = [dict(r) for r in results]
    if not results:
        raise UserInputError("no results to aggregate over seeds: pass the results.json records "
                             "of runs trained with different --seed")
    names = _names(results)
    for name, r in zip(names, results):
        missing = [k for k in ("ood", "test_error") if k not in r]
        if missing:
            raise UserInputError(f"{name} lacks {', '.join(missing)}: it is not a results record "
                                 "of `oe eval`; evaluate the run with `oe eval RUN`")
    diffs = differences(results, names)
    if diffs:
        raise UserInputError(
            f"cannot aggregate {', '.join(names)} over training seeds: they differ in "
            + "; ".join(diffs) + ". Aggregate only runs of one experiment that differ in --seed "
            "alone, evaluated alike (same `oe eval` score, protocol and OOD sets); evaluate them "
            "again with the same settings, or leave the odd one out")
    first = results[0]
    protocol = protocol_of(first)
    out: dict = {"seeds": len(results), "runs": [r.get("run") for r in results],
                 "std_over": STD_OVER, "protocol": protocol}
    out.update({k: first.get(k) for k in SETTINGS})
    out["test_error"] = (_stat([r["test_error"] for r in results])
                         if all(_is_number(r.get("test_error")) for r in results) else None)
    ood = {}
    for name, entry in first["ood"].items():
        row = _common_stats([r["ood"][name] for r in results])
        for key in ("group", "spec"):
            if entry.get(key) is not None:
                row[key] = entry[key]
        ood[name] = row
    out["ood"] = ood
    means = [r.get("mean") for r in results]
    out["mean"] = _common_stats(means) if all(isinstance(m, dict) for m in means) else None
    group_names = [g for g in (first.get("groups") or {})
                   if all(isinstance((r.get("groups") or {}).get(g), dict) for r in results)]
    if group_names:
        out["groups"] = {g: _common_stats([r["groups"][g] for r in results])
                         for g in group_names}
    if protocol == "paper":
        draw_std = {}
        for name in first["ood"]:
            entries = [r["ood"][name] for r in results]
            stds = {m: float(np.mean([e[f"{m}_std"] for e in entries])) for m in SET_METRICS
                    if all(_is_number(e.get(f"{m}_std")) for e in entries)}
            if stds:
                draw_std[name] = stds
        if draw_std:
            out["draw_std"] = draw_std
            out["draw_std_over"] = DRAW_STD_OVER
    if len(results) == 1:
        out["note"] = ("one run only: the std over training seeds is 0 by construction (no "
                       "spread to measure); train the experiment again with other --seed values "
                       "and aggregate those runs")
    return out


def seed_means(aggregate: dict) -> dict:
    """The aggregate as a results record of its means (every {"mean", "std"} -> its mean), for
    the tables that set one record beside the paper's or the leaderboard's numbers."""
    def means(value):
        if isinstance(value, dict) and set(value) == {"mean", "std"}:
            return value["mean"]
        if isinstance(value, dict):
            return {k: means(v) for k, v in value.items()}
        return value

    return {k: means(v) for k, v in aggregate.items()
            if k not in ("draw_std", "draw_std_over", "runs")}


# ---- text --------------------------------------------------------------------------------------

def _cell(stat: dict | None) -> str:
    return "-" if not stat else f"{pct(stat['mean'])} ± {pct(stat['std'])}"


def _metrics(aggregate: dict) -> list[str]:
    """The metrics shown: those of SET_METRICS that any set or mean of the aggregate has."""
    rows = list(aggregate["ood"].values()) + [aggregate.get("mean") or {}]
    return [m for m in SET_METRICS if any(m in row for row in rows)]


def group_label(group: str) -> str:
    """'near' -> 'Near-OOD (mean)'."""
    return f"{group[:1].upper()}{group[1:]}-OOD (mean)"


def _row_order(aggregate: dict) -> list[tuple[str, dict]]:
    """(label, stats) rows as OpenOOD orders them: each group's sets then the group's mean,
    the sets in no group, then the mean over all sets."""
    ood, groups = aggregate["ood"], aggregate.get("groups") or {}
    rows, done = [], set()
    for group, stats in groups.items():
        for name, entry in ood.items():
            if entry.get("group") == group:
                rows.append((name, entry))
                done.add(name)
        rows.append((group_label(group), stats))
    rows += [(name, entry) for name, entry in ood.items() if name not in done]
    if aggregate.get("mean"):
        rows.append(("Mean", aggregate["mean"]))
    return rows


def title(aggregate: dict) -> str:
    """The runs an aggregate covers: the report's labels, else the runs' folders."""
    names = aggregate.get("labels") or [str(r) for r in aggregate.get("runs") or []]
    return ", ".join(names) or "runs"


def seeds_text(aggregate: dict, markdown: bool = False) -> str:
    """The aggregate as a table: each cell `mean ± std` in percent, the std over the training
    seeds; the paper protocol's std over OOD draws in columns of its own."""
    metrics = _metrics(aggregate)
    n = aggregate["seeds"]
    fpr = fpr_label(aggregate)
    names = [fpr if m == "fpr" else METRIC_NAMES[m] for m in metrics]
    draw_std = aggregate.get("draw_std") or {}
    draw_metrics = [m for m in metrics if any(m in d for d in draw_std.values())]
    header = ["OOD set"] + names + [f"draw std {fpr if m == 'fpr' else METRIC_NAMES[m]}"
                                    for m in draw_metrics]
    rows = []
    for label, stats in _row_order(aggregate):
        draws = draw_std.get(label, {}) if label in aggregate["ood"] else {}
        rows.append([label] + [_cell(stats.get(m)) for m in metrics]
                    + [pct(draws.get(m)) if draws else "" for m in draw_metrics])
    table = (markdown_table if markdown else text_table)(header, rows)
    headline = (f"{title(aggregate)}: {aggregate.get('in_dist')} | model "
                f"{aggregate.get('model')} ({aggregate.get('mode') or '?'}) | score "
                f"{aggregate.get('score')} | protocol {aggregate.get('protocol')} | positive "
                f"class: {aggregate.get('positive')} | FPR rule: {aggregate.get('rule')}")
    seeds = (f"Percent; ± = std over {n} training seed{'s' if n != 1 else ''} (population std, "
             "ddof=0, as OpenOOD v1.5).")
    if aggregate.get("training_seeds"):
        seeds += f" Training seeds: {', '.join(map(str, aggregate['training_seeds']))}."
    head = [headline, seeds]
    if draw_metrics:
        head.append(f"draw std columns: the std over OOD draws ({aggregate.get('draws')} draws "
                    f"at OOD:ID = 1:{aggregate.get('ratio')}) of each run, mean over seeds; it is "
                    "not part of the ± and not a std over training seeds.")
    test_error = aggregate.get("test_error")
    if test_error:
        accuracy = {"mean": 1 - test_error["mean"], "std": test_error["std"]}
        head.append(f"Test error {_cell(test_error)}% | ID accuracy {_cell(accuracy)}%")
    if aggregate.get("note"):
        head.append(f"Note: {aggregate['note']}.")
    sep = "\n\n" if markdown else "\n"
    return sep.join(head) + "\n\n" + table


def seeds_markdown(aggregates: list[dict]) -> str:
    """The report's section "Over training seeds": one table per experiment."""
    intro = ("Runs above that are seeds of one experiment (same preset, mode, score and "
             "protocol; configurations that differ only in the seed), as mean ± std over the "
             "training seeds (population std, ddof=0, as OpenOOD v1.5). The per-run tables' ± "
             "is the std over OOD draws instead.")
    md = ["## Over training seeds", "", intro, ""]
    for aggregate in aggregates:
        md += [f"### {title(aggregate)}", "", seeds_text(aggregate, markdown=True)]
    return "\n".join(md)


def seeds_csv_rows(aggregate: dict) -> list[dict]:
    """The report's CSV rows of one aggregate (fractions): value = mean over the seeds, std =
    std over the training seeds; section seeds_draw_std: value = the mean std over draws."""
    run = "+".join(aggregate.get("labels") or [str(r) for r in aggregate.get("runs") or []])
    out = []

    def add(section, name, metric, value, std=None):
        out.append({"run": run, "section": section, "set": name, "metric": metric,
                    "value": value, "std": std, "paper": None, "delta": None})

    if aggregate.get("test_error"):
        add("seeds_test", "", "test_error", aggregate["test_error"]["mean"],
            aggregate["test_error"]["std"])
    for name, entry in aggregate["ood"].items():
        for m in SET_METRICS:
            if m in entry:
                add("seeds_ood", name, m, entry[m]["mean"], entry[m]["std"])
    for group, stats in (aggregate.get("groups") or {}).items():
        for m in SET_METRICS:
            if m in stats:
                add("seeds_group", group, m, stats[m]["mean"], stats[m]["std"])
    for m in SET_METRICS:
        if m in (aggregate.get("mean") or {}):
            add("seeds_mean", "", m, aggregate["mean"][m]["mean"], aggregate["mean"][m]["std"])
    for name, stds in (aggregate.get("draw_std") or {}).items():
        for m, value in stds.items():
            add("seeds_draw_std", name, m, value)
    return out


# ---- which runs are seeds of one experiment ----------------------------------------------------

def experiment_key(results: dict, config: dict) -> str | None:
    """What the seeds of one experiment share, as text; None for a run without a config.json
    naming its preset and seed (nothing tells whose seed it is)."""
    if not isinstance(config, dict) or not config.get("preset") or "seed" not in config:
        return None
    return json.dumps({
        "preset": config.get("preset"),
        "mode": results.get("mode") or config.get("mode"),
        "config": {k: v for k, v in config.items() if k not in NOT_COMPARED},
        "evaluation": {key: _setting(results, key) for key in MATCHED},
        "ood": list(results.get("ood") or {}),
        "groups": _groups_of_sets(results),
    }, sort_keys=True, default=str)


def group_by_experiment(records: list[tuple[str, dict, dict]]) -> list[list[tuple[str, dict, dict]]]:
    """The (label, results, config) records grouped into experiments, in first-seen order.

    One group: the runs of the same preset, mode, score and protocol (and evaluation settings
    and OOD sets) whose config.json files differ only in `seed` (and `init_from`, the baseline
    run a fine-tune starts from). A run repeating a seed already in its group starts another
    group; a run without a config (or without preset and seed) is a group of its own.
    """
    groups: list[tuple[str | None, list]] = []
    for record in records:
        _, results, config = record
        key = experiment_key(results, config)
        seed = json.dumps(config.get("seed") if isinstance(config, dict) else None)
        target = next((members for k, members in groups if key is not None and k == key
                       and seed not in {json.dumps(m[2].get("seed")) for m in members}), None)
        if target is None:
            groups.append((key, [record]))
        else:
            target.append(record)
    return [members for _, members in groups]


def experiment_aggregates(records: list[tuple[str, dict, dict]]) -> list[dict]:
    """`aggregate_seeds` of every group of two or more seeds among `records`, with the labels,
    training seeds and preset of its runs."""
    out = []
    for members in group_by_experiment(records):
        if len(members) < 2:
            continue
        aggregate = aggregate_seeds([results for _, results, _ in members])
        aggregate["labels"] = [label for label, _, _ in members]
        aggregate["training_seeds"] = [config.get("seed") for _, _, config in members]
        aggregate["preset"] = members[0][2].get("preset")
        out.append(aggregate)
    return out
