"""Mean ± std over training seeds (reporting/seeds.py) and its section in `oe report`.

Every expected mean and std is worked out by hand in the comments (population std, ddof=0, as
OpenOOD v1.5's np.std) and checked against numpy as well. The run folders of the report tests
hold hand-written results.json and config.json files only: nothing is trained or scored.
"""

import csv
import json
import math

import numpy as np
import pytest

from outlier_exposure.cli import main
from outlier_exposure.errors import UserInputError
from outlier_exposure.reporting.report import write_report
from outlier_exposure.reporting.seeds import (
    STD_OVER,
    aggregate_seeds,
    group_by_experiment,
    seeds_text,
)

METRICS = ("fpr", "auroc", "aupr")
OPENOOD_METRICS = ("fpr", "auroc", "aupr", "aupr_in", "aupr_out")


def _mean(entries, metrics):
    return {m: sum(e[m] for e in entries) / len(entries) for m in metrics}


# ---- the 2019 paper's protocol: 10 OOD draws, each set with its std over the draws ------------

# seed -> set -> (fpr, auroc, aupr, fpr_std, auroc_std, aupr_std)
PAPER = {
    1: {"gaussian": (0.10, 0.90, 0.50, 0.01, 0.005, 0.1), "lfw-faces": (0.40, 0.80, 0.2, 0, 0, 0)},
    2: {"gaussian": (0.20, 0.92, 0.50, 0.02, 0.005, 0.2), "lfw-faces": (0.40, 0.85, 0.3, 0, 0, 0)},
    3: {"gaussian": (0.30, 0.97, 0.50, 0.03, 0.008, 0.6), "lfw-faces": (0.10, 0.90, 0.7, 0, 0, 0)},
}
PAPER_TEST_ERROR = {1: 0.05, 2: 0.06, 3: 0.07}


def paper_record(seed, run=None, **changes):
    ood = {name: dict(zip(("fpr", "auroc", "aupr", "fpr_std", "auroc_std", "aupr_std"), v),
                      spec=f"noise:{name}" if name == "gaussian" else name)
           for name, v in PAPER[seed].items()}
    record = {"run": run or f"runs/s{seed}", "in_dist": "cifar10:test", "model": "wrn",
              "mode": "baseline", "score": "msp", "positive": "ood", "rule": "closest",
              "recall_level": 0.95, "draws": 10, "ratio": 5, "seed": 1, "n_test": 10000,
              "test_error": PAPER_TEST_ERROR[seed], "ood": ood,
              "mean": _mean(list(ood.values()), METRICS)}
    record.update(changes)
    return record


# Hand computation (population std: sqrt(sum of squared deviations / 3)):
PAPER_EXPECTED = {
    ("ood", "gaussian", "fpr"): (0.20, math.sqrt(2 / 300)),          # .1 .2 .3: devs .1 0 .1
    ("ood", "gaussian", "auroc"): (0.93, math.sqrt(0.0026 / 3)),     # .90 .92 .97: -.03 -.01 .04
    ("ood", "gaussian", "aupr"): (0.50, 0.0),                        # .5 .5 .5
    ("ood", "lfw-faces", "fpr"): (0.30, math.sqrt(0.06 / 3)),        # .4 .4 .1: .1 .1 -.2
    ("ood", "lfw-faces", "auroc"): (0.85, math.sqrt(0.005 / 3)),     # .80 .85 .90
    ("ood", "lfw-faces", "aupr"): (0.40, math.sqrt(0.14 / 3)),       # .2 .3 .7: -.2 -.1 .3
    # the mean over the two sets per seed, then over seeds
    ("mean", None, "fpr"): (0.25, math.sqrt(0.005 / 3)),             # .25 .30 .20
    ("mean", None, "auroc"): (0.89, math.sqrt(0.00365 / 3)),         # .85 .885 .935
    ("mean", None, "aupr"): (0.45, math.sqrt(0.035 / 3)),            # .35 .40 .60
}


def test_paper_protocol_mean_and_population_std_over_seeds():
    records = [paper_record(s) for s in (1, 2, 3)]
    agg = aggregate_seeds(records)
    assert agg["seeds"] == 3 and agg["runs"] == ["runs/s1", "runs/s2", "runs/s3"]
    assert agg["std_over"] == STD_OVER and "ddof=0" in agg["std_over"]
    assert agg["protocol"] == "paper" and "note" not in agg and "groups" not in agg
    assert math.sqrt(2 / 300) == pytest.approx(0.0816496580927726)
    for (where, name, m), (mean, std) in PAPER_EXPECTED.items():
        got = agg["ood"][name][m] if where == "ood" else agg["mean"][m]
        assert got["mean"] == pytest.approx(mean, abs=1e-12), (name, m)
        assert got["std"] == pytest.approx(std, abs=1e-12), (name, m)
        values = [(r["ood"][name] if where == "ood" else r["mean"])[m] for r in records]
        assert got["std"] == pytest.approx(float(np.std(values, ddof=0)), abs=1e-15)
        assert got["std"] != pytest.approx(float(np.std(values, ddof=1))) or std == 0
    # test error .05 .06 .07: mean .06, std sqrt(.0002 / 3)
    assert agg["test_error"]["mean"] == pytest.approx(0.06)
    assert agg["test_error"]["std"] == pytest.approx(math.sqrt(0.0002 / 3))
    assert set(agg["ood"]["gaussian"]) == {"fpr", "auroc", "aupr", "spec"}  # no *_std inside
    # The std over draws kept apart: per set, the mean over seeds of each run's draw std.
    assert agg["draw_std"]["gaussian"] == pytest.approx({"fpr": 0.02, "auroc": 0.006,
                                                         "aupr": 0.3})
    assert agg["draw_std"]["lfw-faces"] == {"fpr": 0.0, "auroc": 0.0, "aupr": 0.0}
    assert "OOD draws" in agg["draw_std_over"] and "not the std over training seeds" in \
        agg["draw_std_over"]
    assert set(agg) == {"seeds", "runs", "std_over", "protocol", "in_dist", "model", "mode",
                        "score", "positive", "rule", "recall_level", "draws", "ratio", "n_test",
                        "test_error", "ood", "mean", "draw_std", "draw_std_over"}


def test_paper_protocol_table():
    agg = aggregate_seeds([paper_record(s) for s in (1, 2, 3)])
    text = seeds_text(agg)
    assert "± = std over 3 training seeds (population std, ddof=0" in text
    assert "std over OOD draws (10 draws at OOD:ID = 1:5) of each run, mean over seeds" in text
    assert "Test error 6.00 ± 0.82% | ID accuracy 94.00 ± 0.82%" in text
    md = seeds_text(agg, markdown=True)
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.strip("|").split("|")[1:]]
            for line in md.splitlines() if line.startswith("| ")}
    assert rows["OOD set"] == ["FPR95", "AUROC", "AUPR", "draw std FPR95", "draw std AUROC",
                               "draw std AUPR"]
    assert rows["gaussian"] == ["20.00 ± 8.16", "93.00 ± 2.94", "50.00 ± 0.00", "2.00", "0.60",
                                "30.00"]
    assert rows["lfw-faces"][:3] == ["30.00 ± 14.14", "85.00 ± 4.08", "40.00 ± 21.60"]
    assert rows["Mean"] == ["25.00 ± 4.08", "89.00 ± 3.49", "45.00 ± 10.80", "", "", ""]


# ---- OpenOOD v1.5: whole OOD sets (no draws), near / far groups -------------------------------

GROUP = {"cifar100": "near", "tin": "near", "mnist": "far"}
# seed -> set -> fpr; auroc = 1 - fpr / 2, aupr_in = auroc - .01, aupr_out = aupr = auroc - .02
OPENOOD_FPR = {1: {"cifar100": 0.40, "tin": 0.30, "mnist": 0.20},
               2: {"cifar100": 0.44, "tin": 0.32, "mnist": 0.14},
               3: {"cifar100": 0.42, "tin": 0.28, "mnist": 0.26}}
OPENOOD_TEST_ERROR = {1: 0.050, 2: 0.048, 3: 0.046}


def openood_record(seed, **changes):
    ood = {}
    for name, fpr in OPENOOD_FPR[seed].items():
        auroc = 1 - fpr / 2
        ood[name] = {"fpr": fpr, "auroc": auroc, "aupr": auroc - 0.02, "aupr_in": auroc - 0.01,
                     "aupr_out": auroc - 0.02, "group": GROUP[name],
                     "spec": f"openood-cifar10:{name}", "n_ood": 10000}
    record = {"run": f"runs/oo{seed}", "in_dist": "cifar10:test", "model": "resnet18",
              "mode": "baseline", "score": "msp", "protocol": "openood", "positive": "ood",
              "rule": "roc", "recall_level": 0.95, "draws": None, "ratio": None, "n_test": 10000,
              "test_error": OPENOOD_TEST_ERROR[seed], "ood": ood,
              "mean": _mean(list(ood.values()), OPENOOD_METRICS),
              "groups": {g: _mean([e for e in ood.values() if e["group"] == g], OPENOOD_METRICS)
                         for g in ("near", "far")}}
    record.update(changes)
    return record


def test_openood_protocol_sets_groups_and_mean():
    records = [openood_record(s) for s in (1, 2, 3)]
    agg = aggregate_seeds(records)
    assert agg["protocol"] == "openood" and "draw_std" not in agg and "draw_std_over" not in agg
    # By hand: near FPR per seed (.40+.30)/2 = .35, (.44+.32)/2 = .38, .35 -> mean .36,
    # deviations -.01 .02 -.01 -> std sqrt(.0006 / 3).
    assert agg["groups"]["near"]["fpr"]["mean"] == pytest.approx(0.36)
    assert agg["groups"]["near"]["fpr"]["std"] == pytest.approx(math.sqrt(0.0006 / 3))
    # Far = mnist alone: .20 .14 .26 -> mean .20, std sqrt(.0072 / 3); AUROC = 1 - FPR / 2.
    assert agg["groups"]["far"]["fpr"]["std"] == pytest.approx(math.sqrt(0.0072 / 3))
    assert agg["groups"]["far"]["auroc"]["mean"] == pytest.approx(0.90)
    assert agg["groups"]["far"]["auroc"]["std"] == pytest.approx(math.sqrt(0.0072 / 3) / 2)
    # Mean over the three sets per seed: .30 .30 .32 -> mean .92 / 3; deviations -.02/3,
    # -.02/3, .04/3 -> squares sum to .0024 / 9 -> std sqrt(.0024 / 9 / 3) = .0094281.
    assert agg["mean"]["fpr"]["mean"] == pytest.approx(0.92 / 3)
    assert agg["mean"]["fpr"]["std"] == pytest.approx(math.sqrt(0.0024 / 27))
    assert math.sqrt(0.0024 / 27) == pytest.approx(0.0094281, abs=1e-7)
    # cifar100 AUPR-In: .79 .77 .78 -> mean .78, std sqrt(.0002 / 3)
    assert agg["ood"]["cifar100"]["aupr_in"]["mean"] == pytest.approx(0.78)
    assert agg["ood"]["cifar100"]["aupr_in"]["std"] == pytest.approx(math.sqrt(0.0002 / 3))
    # test error .050 .048 .046 -> mean .048, std sqrt(.000008 / 3)
    assert agg["test_error"]["mean"] == pytest.approx(0.048)
    assert agg["test_error"]["std"] == pytest.approx(math.sqrt(0.000008 / 3))
    # Every number against numpy's population std.
    for name, group in GROUP.items():
        assert agg["ood"][name]["group"] == group
        for m in OPENOOD_METRICS:
            values = [r["ood"][name][m] for r in records]
            assert agg["ood"][name][m] == pytest.approx(
                {"mean": np.mean(values), "std": np.std(values, ddof=0)}, abs=1e-15)
    for m in OPENOOD_METRICS:
        for where in ("near", "far"):
            values = [r["groups"][where][m] for r in records]
            assert agg["groups"][where][m] == pytest.approx(
                {"mean": np.mean(values), "std": np.std(values, ddof=0)}, abs=1e-15)
        values = [r["mean"][m] for r in records]
        assert agg["mean"][m] == pytest.approx(
            {"mean": np.mean(values), "std": np.std(values, ddof=0)}, abs=1e-15)
    assert set(agg["ood"]["tin"]) == set(OPENOOD_METRICS) | {"group", "spec"}


def test_openood_table_orders_sets_by_group():
    text = seeds_text(aggregate_seeds([openood_record(s) for s in (1, 2, 3)]))
    labels = [line.split()[0] for line in text.split("\n\n", 1)[1].splitlines()[2:]]
    assert labels == ["cifar100", "tin", "Near-OOD", "mnist", "Far-OOD", "Mean"]
    header = text.split("\n\n", 1)[1].splitlines()[0].split()
    assert header == ["OOD", "set", "FPR95", "AUROC", "AUPR", "AUPR-In", "AUPR-Out"]
    assert "draw std" not in text and "protocol openood" in text
    near = next(line for line in text.splitlines() if line.startswith("Near-OOD (mean)"))
    assert "36.00 ± 1.41" in near   # sqrt(.0006 / 3) = .01414


def test_one_record_is_allowed_and_says_so():
    agg = aggregate_seeds([paper_record(2)])
    assert agg["seeds"] == 1 and agg["ood"]["gaussian"]["fpr"] == {"mean": 0.2, "std": 0.0}
    assert "one run only" in agg["note"]
    text = seeds_text(agg)
    assert "± = std over 1 training seed " in text and "one run only" in text


@pytest.mark.parametrize("change, expected", [
    ({"score": "energy"}, "score: msp (runs/s1), energy (runs/s2), msp (runs/s3)"),
    ({"protocol": "openood"}, "protocol: paper (runs/s1), openood (runs/s2)"),
    ({"rule": "first"}, "FPR rule: closest (runs/s1), first (runs/s2)"),
    ({"positive": "in"}, "positive class: ood (runs/s1), in (runs/s2)"),
    ({"recall_level": 0.9}, "recall level: 0.95 (runs/s1), 0.9 (runs/s2)"),
    ({"in_dist": "cifar100:test"}, "in-distribution set: cifar10:test (runs/s1), cifar100:test"),
])
def test_mismatched_records_are_refused(change, expected):
    with pytest.raises(UserInputError) as info:
        aggregate_seeds([paper_record(1), paper_record(2, **change), paper_record(3)])
    message = str(info.value)
    assert "runs/s1, runs/s2, runs/s3" in message and expected in message
    assert "differ in --seed alone" in message


def test_other_ood_sets_are_refused_and_paper_equals_no_protocol():
    two = paper_record(2)
    del two["ood"]["lfw-faces"]
    with pytest.raises(UserInputError, match="OOD sets: runs/s1 also has lfw-faces"):
        aggregate_seeds([paper_record(1), two])
    # "paper" and a record without `protocol` are the same protocol.
    assert aggregate_seeds([paper_record(1), paper_record(2, protocol="paper")])["seeds"] == 2
    with pytest.raises(UserInputError, match="no results"):
        aggregate_seeds([])


# ---- grouping the runs of a report -------------------------------------------------------------

def config(seed, **changes):
    return {"mode": "baseline", "preset": "cifar10-wrn", "train": "cifar10:train",
            "test": "cifar10:test", "model": "wrn", "epochs": 100, "lr": 0.1, "seed": seed,
            "init_from": None, **changes}


def test_group_by_experiment_groups_seeds_only():
    records = [
        ("a1", paper_record(1), config(1)),
        ("lr", paper_record(1), config(2, lr=0.05)),          # another learning rate
        ("a2", paper_record(2), config(2)),
        ("preset", paper_record(3), config(3, preset="cifar10-wrn-other")),
        ("nocfg", paper_record(3), {}),                         # no config.json: alone
        ("a3", paper_record(3), config(3)),
        ("a1-again", paper_record(1), config(1)),               # seed 1 again: another group
        ("energy", paper_record(2, score="energy"), config(2)),  # another score
        ("oo1", openood_record(1), config(1)),                  # another protocol
        ("t1", paper_record(1, mode="oe-tune"), config(1, mode="oe-tune", init_from="b/s1")),
        ("t2", paper_record(2, mode="oe-tune"), config(2, mode="oe-tune", init_from="b/s2")),
    ]
    groups = [[label for label, _, _ in g] for g in group_by_experiment(records)]
    assert groups == [["a1", "a2", "a3"], ["lr"], ["preset"], ["nocfg"], ["a1-again"],
                      ["energy"], ["oo1"], ["t1", "t2"]]


# ---- `oe report` -------------------------------------------------------------------------------

def write_run(folder, results, cfg):
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps(results))
    (folder / "config.json").write_text(json.dumps(cfg))
    return folder


def _md_table(markdown, heading):
    lines = markdown.split(f"\n{heading}\n", 1)[1].splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("|"))
    rows = []
    for ln in lines[start:]:
        if not ln.startswith("|"):
            break
        if "---|" not in ln:
            rows.append([c.strip() for c in ln.strip("|").split("|")])
    return {row[0]: row[1:] for row in rows}


def test_report_paper_protocol_seeds_section(tmp_path, capsys):
    folders = [write_run(tmp_path / f"s{s}", paper_record(s, run=str(tmp_path / f"s{s}")),
                         config(s)) for s in (1, 2, 3)]
    other = write_run(tmp_path / "lr", paper_record(1, run=str(tmp_path / "lr")),
                      config(4, lr=0.05))
    out = tmp_path / "report"
    assert main(["report", *map(str, folders), str(other), "--out", str(out),
                 "--no-figures"]) == 0
    capsys.readouterr()
    md = (out / "report.md").read_text()
    assert "\n## Over training seeds\n" in md and "\n### s1, s2, s3\n" in md
    seeds_part = md.split("\n## Over training seeds\n", 1)[1].split("\n## ", 1)[0]
    assert seeds_part.count("\n### ") == 1  # run lr (another learning rate) is not a seed
    section = md.split("\n### s1, s2, s3\n", 1)[1]
    assert "± = std over 3 training seeds (population std, ddof=0, as OpenOOD v1.5)" in section
    assert "Training seeds: 1, 2, 3." in section
    rows = _md_table(md, "### s1, s2, s3")
    assert rows["gaussian"] == ["20.00 ± 8.16", "93.00 ± 2.94", "50.00 ± 0.00", "2.00", "0.60",
                                "30.00"]
    assert rows["Mean"][:3] == ["25.00 ± 4.08", "89.00 ± 3.49", "45.00 ± 10.80"]
    # The per-run tables: ± = std over the OOD draws, said so.
    per_run = md.split("\n### FPR95\n", 1)[1]
    assert "± std over the OOD draws" in per_run.split("\n### AUROC\n")[0]
    assert "not over training seeds" in per_run.split("\n### AUROC\n")[0]

    data = json.loads((out / "report.json").read_text())
    (agg,) = data["seeds"]
    assert agg["labels"] == ["s1", "s2", "s3"] and agg["training_seeds"] == [1, 2, 3]
    assert agg["preset"] == "cifar10-wrn" and agg["seeds"] == 3
    assert agg["runs"] == [str(f) for f in folders]
    for (where, name, m), (mean, std) in PAPER_EXPECTED.items():
        got = agg["ood"][name][m] if where == "ood" else agg["mean"][m]
        assert got == pytest.approx({"mean": mean, "std": std}, abs=1e-12)
    assert agg["draw_std"]["gaussian"] == pytest.approx({"fpr": 0.02, "auroc": 0.006,
                                                         "aupr": 0.3})
    with open(out / "report.csv") as handle:
        csv_rows = [r for r in csv.DictReader(handle) if r["run"] == "s1+s2+s3"]
    got = {(r["section"], r["set"], r["metric"]): r for r in csv_rows}
    row = got[("seeds_ood", "gaussian", "fpr")]
    assert float(row["value"]) == pytest.approx(0.2)
    assert float(row["std"]) == pytest.approx(math.sqrt(2 / 300))
    assert float(got[("seeds_test", "", "test_error")]["value"]) == pytest.approx(0.06)
    assert float(got[("seeds_draw_std", "gaussian", "aupr")]["value"]) == pytest.approx(0.3)
    assert got[("seeds_draw_std", "gaussian", "aupr")]["std"] == ""
    assert float(got[("seeds_mean", "", "auroc")]["std"]) == pytest.approx(
        math.sqrt(0.00365 / 3))


def test_report_openood_protocol_seeds(tmp_path):
    folders = [write_run(tmp_path / f"oo{s}", openood_record(s), config(s, model="resnet18",
                                                                      preset="openood-c10"))
               for s in (1, 2, 3)]
    report = write_report(folders, tmp_path / "report")  # with figures: no scores, no crash
    md = report.markdown.read_text()
    # Per-run tables: no draws, so no ±.
    fpr = _md_table(md, "### FPR95")
    assert fpr["cifar100"] == ["40.00", "44.00", "42.00"]
    assert "no OOD draws" in md and "std over the OOD draws" not in md.split("## Over")[0]
    rows = _md_table(md, "### oo1, oo2, oo3")
    assert list(rows) == ["OOD set", "cifar100", "tin", "Near-OOD (mean)", "mnist",
                          "Far-OOD (mean)", "Mean"]
    assert rows["OOD set"] == ["FPR95", "AUROC", "AUPR", "AUPR-In", "AUPR-Out"]
    assert rows["Near-OOD (mean)"][0] == "36.00 ± 1.41"
    assert "Test error 4.80 ± 0.16% | ID accuracy 95.20 ± 0.16%" in md
    data = json.loads(report.json.read_text())
    (agg,) = data["seeds"]
    assert agg["protocol"] == "openood" and set(agg["groups"]) == {"near", "far"}
    assert agg["groups"]["near"]["fpr"] == pytest.approx(
        {"mean": 0.36, "std": math.sqrt(0.0006 / 3)})


def test_report_without_seeds_has_no_seeds_output(tmp_path):
    a = write_run(tmp_path / "a", paper_record(1), config(1))
    b = write_run(tmp_path / "b", paper_record(2), config(2, lr=0.01))
    report = write_report([a, b], tmp_path / "r", with_figures=False)
    assert "Over training seeds" not in report.markdown.read_text()
    assert "seeds" not in json.loads(report.json.read_text()) and report.seeds == []


def test_seed_means_is_a_record_of_the_means():
    from outlier_exposure.reporting.seeds import seed_means

    records = [{"score": "msp", "protocol": "openood", "test_error": e, "ood": {
        "tin": {"fpr": f, "auroc": a, "group": "near"}}, "mean": {"fpr": f, "auroc": a},
        "groups": {"near": {"fpr": f, "auroc": a}}}
        for e, f, a in ((0.05, 0.2, 0.9), (0.07, 0.4, 0.8))]
    means = seed_means(aggregate_seeds(records))
    assert means["test_error"] == pytest.approx(0.06)
    assert means["groups"]["near"]["auroc"] == pytest.approx(0.85)
    assert means["ood"]["tin"] == {"fpr": pytest.approx(0.3), "auroc": pytest.approx(0.85),
                                   "group": "near"}
