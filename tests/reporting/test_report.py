"""`oe report`: tables equal results.json, every section present, valid figures, notes on
settings that make runs incomparable, the paper's numbers beside ours, TensorBoard logging.

The run folders are fabricated (results.json from the package's own protocol over random
scores, the cached scores, config, environment and a log), so no model runs here except in
the one TensorBoard test.
"""

import csv
import json
import re
import sys
import types

import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import average_precision_score

from outlier_exposure.cli import main
from outlier_exposure.errors import UserInputError
from outlier_exposure.evaluation.draws import plan_draws, protocol_metrics
from outlier_exposure.reporting.report import write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
N_IN = 200


def make_run(folder, *, mode="baseline", preset="quickstart", shift=1.0, score="msp",
             positive="ood", rule="closest", sets=("noise:gaussian", "lfw-faces"), seed=0,
             epochs=3, validation=(), calibration=False):
    """A run folder as `oe train` + `oe eval` leave it, with scores drawn at random."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    in_scores = rng.normal(0.0, 1.0, N_IN)
    cached = {"in": in_scores.astype(np.float32)}
    groups = {"ood": {}, "validation": {}}
    draw_rng = np.random.default_rng(1)
    for group, specs in (("ood", sets), ("validation", validation)):
        for k, spec in enumerate(specs):
            name = spec.split(":")[-1]
            out = rng.normal(shift * (k + 1), 1.0, 150)
            plan = plan_draws(len(out), N_IN // 5, 3, draw_rng)
            needed = np.unique(np.concatenate(plan))
            entry = protocol_metrics(in_scores, out, plan, recall=0.95, positive=positive,
                                     rule=rule)
            groups[group][name] = {**entry, "spec": spec, "n_scored": int(len(needed))}
            cached[f"ood:{name}"] = out[needed].astype(np.float32)
            cached[f"ood_index:{name}"] = needed
    mean = lambda sets_: {m: float(np.mean([r[m] for r in sets_.values()]))  # noqa: E731
                          for m in ("fpr", "auroc", "aupr")} if sets_ else None
    results = {
        "run": str(folder), "in_dist": "digits:test", "model": "small-cnn", "mode": mode,
        "score": score, "positive": positive, "rule": rule, "recall_level": 0.95, "draws": 3,
        "ratio": 5, "seed": 1, "n_test": N_IN, "test_error": 0.0125 + 0.001 * seed,
        "error_detection": {"fpr": 0.25, "auroc": 0.9, "aupr": 0.4},
        "ood": groups["ood"], "mean": mean(groups["ood"]),
    }
    if validation:
        results["validation"] = groups["validation"]
        results["validation_mean"] = mean(groups["validation"])
    (folder / "results.json").write_text(json.dumps(results))
    np.savez_compressed(folder / f"scores_{score}.npz", **cached)
    config = {"mode": mode, "preset": preset, "train": "digits:train", "test": "digits:test",
              "outliers": None if mode == "baseline" else "skimage-photos",
              "model": "small-cnn", "model_kwargs": {"width": 32}, "epochs": epochs,
              "lr": 0.05, "batch_size": 50, "oe_batch_size": 100, "lam": 0.5, "seed": 1}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "environment.json").write_text(json.dumps(
        {"outlier_exposure": "0.1.0", "git_commit": "abc1234", "torch": "2.x", "device": "cpu"}))
    (folder / "log.jsonl").write_text("".join(json.dumps(
        {"epoch": e, "step": 10 * e, "lr": 0.05 / e, "loss": 1.0 / e, "loss_in": 0.8 / e,
         "loss_oe": 0.0 if mode == "baseline" else 2.4, "train_acc": 1 - 0.3 / e,
         "seconds": 1.0, "images_per_s": 400.0}) + "\n" for e in range(1, epochs + 1)))
    if calibration:
        metrics = {"rms": 0.11, "mad": 0.07, "soft_f1": 0.5, "ece": 0.05}
        (folder / "calibration.json").write_text(json.dumps({
            "mode": "corrected", "bin_size": 100, "rescale": False,
            "temperature": {"value": 1.5, "note": "tuned"}, "test_error": 0.01,
            "in_distribution": metrics,
            "ood": {"gaussian": {**{k: v + 0.1 for k, v in metrics.items()},
                                 **{f"{k}_std": 0.01 for k in metrics}}},
            "mean": {k: v + 0.1 for k, v in metrics.items()},
            "reliability_diagram": "reliability.png"}))
        Image.new("RGB", (40, 30), "white").save(folder / "reliability.png")
    return folder


def _table(markdown: str, heading: str) -> list[list[str]]:
    """The rows (cells) of the first Markdown table after `heading`, header included."""
    lines = markdown.split(f"\n{heading}\n", 1)[1].splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("|"))
    table = []
    for ln in lines[start:]:
        if not ln.startswith("|"):
            break
        if "---|" not in ln:
            table.append([c.strip() for c in ln.strip("|").split("|")])
    return table


def _pct(x):
    return f"{100 * x:.2f}"


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    base = make_run(root / "base", shift=0.5, seed=0)
    oe = make_run(root / "oe", mode="oe-tune", shift=2.0, seed=1, epochs=2)
    report = write_report([base, oe], root / "report", latex=True)
    return base, oe, report


def test_report_has_every_section(two_runs):
    base, oe, report = two_runs
    md = report.markdown.read_text()
    for heading in ("# Outlier Exposure report", "## Summary", "## Per OOD set", "### FPR95",
                    "### AUROC", "### AUPR", "## Change against base", "## Error detection",
                    "## Settings", "## Figures", "### ROC curves", "### Precision-recall curves",
                    "### Anomaly scores: base", "### Anomaly scores: oe", "### Training curves",
                    "## Notes"):
        assert f"\n{heading}\n" in f"\n{md}", heading
    settings = {row[0]: row[1:] for row in _table(md, "## Settings")}
    for key in ("model", "training data", "epochs", "score", "positive class", "FPR rule",
                "precision", "training seed", "evaluation seed", "code version", "git commit"):
        assert key in settings, key
    assert settings["precision"] == ["fp32", "fp32"]  # no precision in config.json: fp32
    assert settings["epochs"] == ["3", "2"] and settings["git commit"] == ["abc1234"] * 2
    assert "All runs share the evaluation settings" in md and "Warning" not in md
    # Every linked file exists, relative to the report.
    links = re.findall(r"\]\(([^)]+)\)", md)
    assert len(links) == 2 * 5  # 5 figures, PNG + PDF each
    for link in links:
        assert not link.startswith("/") and (report.folder / link).is_file(), link
    tex = report.latex.read_text()
    # summary, FPR95, AUROC, AUPR, change, error detection (settings stay in the Markdown)
    assert tex.count(r"\begin{tabular}") == 6 and r"$\pm$" in tex and "FPR95" in tex


def test_figures_are_valid_png_and_pdf_of_the_expected_size(two_runs):
    _, _, report = two_runs
    # Each panel is 320 x 280 px (3.2 x 2.8 in at 100 dpi); at most 3 panels a row.
    expected = {"roc": (640, 280), "pr": (640, 280), "scores_0_base": (640, 280),
                "scores_1_oe": (640, 280), "training": (960, 280)}
    folder = report.folder / "figures"
    assert {p.stem for p in folder.glob("*.png")} == set(expected)
    for stem, size in expected.items():
        png, pdf = folder / f"{stem}.png", folder / f"{stem}.pdf"
        assert png.read_bytes()[:8] == PNG_MAGIC
        with Image.open(png) as image:
            assert image.format == "PNG" and image.size == size, stem
            image.verify()
        data = pdf.read_bytes()
        assert data[:5] == b"%PDF-" and data.rstrip().endswith(b"%%EOF") and len(data) > 1000


def test_report_values_equal_results_json(two_runs):
    base, oe, report = two_runs
    md = report.markdown.read_text()
    results = {"base": json.loads((base / "results.json").read_text()),
               "oe": json.loads((oe / "results.json").read_text())}
    for metric, heading in (("fpr", "### FPR95"), ("auroc", "### AUROC"), ("aupr", "### AUPR")):
        rows = _table(md, heading)
        assert rows[0] == ["OOD set", "base", "oe"]
        for row in rows[1:]:
            for label, cell in zip(("base", "oe"), row[1:]):
                r = results[label]
                if row[0] == "Mean":
                    assert cell == _pct(r["mean"][metric])
                else:
                    e = r["ood"][row[0]]
                    assert cell == f"{_pct(e[metric])} ± {_pct(e[metric + '_std'])}"
        assert [row[0] for row in rows[1:]] == ["gaussian", "lfw-faces", "Mean"]
    summary = _table(md, "## Summary")
    assert summary[1][:3] == ["base", "quickstart / baseline", _pct(results["base"]["test_error"])]
    change = {row[0]: row[1:] for row in _table(md, "## Change against base")}
    d = 100 * (results["oe"]["mean"]["auroc"] - results["base"]["mean"]["auroc"])
    assert change["Mean"][1] == f"{d:+.2f}"

    # CSV: fractions exactly as in results.json.
    with open(report.csv) as handle:
        rows = list(csv.DictReader(handle))
    got = {(r["run"], r["section"], r["set"], r["metric"]): r for r in rows}
    for label, r in results.items():
        assert float(got[(label, "test", "", "test_error")]["value"]) == r["test_error"]
        for name, entry in r["ood"].items():
            for m in ("fpr", "auroc", "aupr"):
                row = got[(label, "ood", name, m)]
                assert float(row["value"]) == entry[m]
                assert float(row["std"]) == entry[f"{m}_std"]
        for m in ("fpr", "auroc", "aupr"):
            assert float(got[(label, "mean", "", m)]["value"]) == r["mean"][m]
            assert float(got[(label, "error_detection", "", m)]["value"]) == \
                r["error_detection"][m]
    saved = json.loads(report.json.read_text())
    assert [run["results"] for run in saved["runs"]] == [results["base"], results["oe"]]


def test_runs_with_different_settings_say_so(tmp_path):
    a = make_run(tmp_path / "a")
    b = make_run(tmp_path / "b", score="energy", rule="first", sets=("noise:gaussian",))
    report = write_report([a, b], tmp_path / "r", with_figures=False)
    md = report.markdown.read_text()
    assert "differ in settings that change the numbers" in md
    warning = md.split("**Warning", 1)[1].split("\n\n", 1)[0]
    assert "score: msp (a), energy (b)" in warning
    assert "FPR rule: closest (a), first (b)" in warning
    assert "OOD sets: a also has lfw-faces" in warning and "positive class" not in warning
    # The table shows a set missing from one run as "-".
    fpr = {row[0]: row[1:] for row in _table(md, "### FPR95")}
    assert fpr["lfw-faces"][1] == "-"


def test_paper_numbers_and_deltas_beside_ours(tmp_path):
    run = make_run(tmp_path / "c10", preset="cifar10-wrn", shift=1.5,
                   sets=("noise:gaussian", "noise:rademacher"))
    report = write_report([run], tmp_path / "r", with_figures=False)
    md = report.markdown.read_text()
    r = json.loads((run / "results.json").read_text())
    fpr = _table(md, "### FPR95")
    assert fpr[0] == ["OOD set", "c10", "c10 paper", "Δ"]
    rows = {row[0]: row for row in fpr[1:]}
    # docs/protocol.md section 7: CIFAR-10 baseline FPR95 Gaussian 14.39, Rademacher 47.55, mean 34.94.
    for name, paper in (("gaussian", 14.39), ("rademacher", 47.55)):
        assert rows[name][2] == f"{paper:.2f}"
        assert rows[name][3] == f"{100 * r['ood'][name]['fpr'] - paper:+.2f}"
    assert rows["Mean"][2:] == ["34.94", f"{100 * r['mean']['fpr'] - 34.94:+.2f}"]
    auroc = {row[0]: row for row in _table(md, "### AUROC")[1:]}
    assert auroc["gaussian"][2] == "-" and auroc["Mean"][2] == "89.27"
    summary = _table(md, "## Summary")
    assert summary[1][2:5] == [_pct(r["test_error"]), "5.16",
                               f"{100 * r['test_error'] - 5.16:+.2f}"]
    # The paper's mean covers sets this run lacks, and it used 10 draws (this run 3).
    assert "textures" in md and "draws 3 (paper 10)" in md
    with open(report.csv) as handle:
        row = next(r_ for r_ in csv.DictReader(handle)
                   if r_["set"] == "gaussian" and r_["metric"] == "fpr")
    assert float(row["paper"]) == pytest.approx(0.1439)
    assert float(row["delta"]) == pytest.approx(r["ood"]["gaussian"]["fpr"] - 0.1439)


def test_quickstart_folder_labels_and_default_location(tmp_path, capsys):
    qs = tmp_path / "qs"
    base = make_run(qs / "baseline")
    oe = make_run(qs / "oe", mode="oe-tune", shift=2.0, seed=1)
    (qs / "results.json").write_text(json.dumps({
        "baseline": json.loads((base / "results.json").read_text()),
        "oe": json.loads((oe / "results.json").read_text())}))
    report = write_report([qs], with_figures=False)
    assert report.folder == qs.resolve() / "report"
    assert [run.label for run in report.runs] == ["baseline", "oe"]
    assert main(["report", str(qs), "--labels", "Base", "OE", "--no-figures"]) == 0
    assert "| OOD set | Base | OE |" in (qs / "report" / "report.md").read_text()
    # A single run's report goes beside it.
    assert write_report([base], with_figures=False).folder == qs.resolve() / "report"
    capsys.readouterr()
    assert main(["report", str(qs), "--labels", "only-one"]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "1 labels for 2 runs" in err


def test_bad_input(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty")]) == 2
    assert "no results.json" in capsys.readouterr().err
    (tmp_path / "trained").mkdir()
    (tmp_path / "trained" / "config.json").write_text("{}")
    assert main(["report", str(tmp_path / "trained")]) == 2
    assert "oe eval" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "nowhere")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "results.json").write_text('{"ood": {}}')
    with pytest.raises(UserInputError, match="lacks mean, score, test_error"):
        write_report([tmp_path / "bad"])


def test_validation_sets_and_calibration(tmp_path):
    run = make_run(tmp_path / "v", validation=("val:jigsaw",), calibration=True)
    report = write_report([run], tmp_path / "r")
    md = report.markdown.read_text()
    r = json.loads((run / "results.json").read_text())
    val = {row[0]: row[1:] for row in _table(md, "## Validation sets (not in the mean)")}
    e = r["validation"]["jigsaw"]
    assert val["jigsaw"] == [f"{_pct(e['fpr'])} ± {_pct(e['fpr_std'])}"]
    assert val["Mean"] == [_pct(r["validation_mean"]["fpr"])]
    assert "jigsaw" not in _table(md, "### FPR95")[-1]  # not in the headline mean
    cal = {row[1]: row[2:] for row in _table(md, "## Calibration")}
    assert cal["test set alone"] == ["11.00", "7.00", "50.00", "5.00"]
    assert cal["test + gaussian"][0] == "21.00 ± 1.00"
    assert "T = 1.5, corrected binning" in md
    assert (report.folder / "figures" / "reliability_0_v.png").is_file()
    with Image.open(report.folder / "figures" / "roc.png") as image:
        assert image.size == (960, 280)  # gaussian, lfw-faces and the validation set


def test_precision_recall_curve_counts_ood_as_one_draw():
    from outlier_exposure.reporting.figures import curves

    rng = np.random.default_rng(3)
    ins, outs = rng.normal(0, 1, 300), rng.normal(1, 1, 20)
    c = curves(ins, outs, "ood", n_per_draw=60)
    # Everything flagged (recall 1): precision = 60 / (60 + 300) at the protocol's balance.
    assert c["precision"][0] == pytest.approx(60 / 360) and c["recall"][0] == 1.0
    assert c["chance"] == pytest.approx(60 / 360)
    # Weight 3 per OOD example is the same as each OOD example counted three times.
    ap = -np.sum(np.diff(c["recall"]) * c["precision"][:-1])
    labels = np.r_[np.zeros(300), np.ones(60)]
    assert ap == pytest.approx(average_precision_score(labels, np.r_[ins, np.repeat(outs, 3)]))
    # In-distribution positive: the negated score, precision of chance 300 / 360.
    assert curves(ins, outs, "in", n_per_draw=60)["chance"] == pytest.approx(300 / 360)


# ---- TensorBoard -------------------------------------------------------------------------------

class _FakeWriter:
    made = []

    def __init__(self, log_dir):
        self.log_dir, self.scalars, self.closed = log_dir, [], False
        _FakeWriter.made.append(self)

    def add_scalar(self, tag, value, global_step):
        self.scalars.append((tag, value, global_step))

    def flush(self):
        pass

    def close(self):
        self.closed = True


def test_tensorboard_logs_every_epoch_record(tmp_path, digits_npz, monkeypatch):
    fake = types.ModuleType("torch.utils.tensorboard")
    fake.SummaryWriter = _FakeWriter
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", fake)
    _FakeWriter.made.clear()
    data = np.load(digits_npz)
    tiny = tmp_path / "tiny.npz"  # 60 images: two epochs of two steps
    np.savez(tiny, x=data["x_train"][:60], y=data["y_train"][:60])
    run = tmp_path / "run"
    assert main(["train", "--preset", "quickstart", "--train", f"npz:{tiny}:x,y", "--test",
                 f"npz:{tiny}:x,y", "--out", str(run), "--epochs", "2", "--batch-size", "30",
                 "--model", "small-cnn", "--model-arg", "width=4", "--quiet",
                 "--tensorboard"]) == 0
    (writer,) = _FakeWriter.made
    assert writer.log_dir == str(run / "tensorboard") and writer.closed
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    expected = [(f"train/{k}", v, rec["step"]) for rec in log for k, v in rec.items()
                if k not in ("epoch", "step")]
    assert writer.scalars == expected and len(log) == 2


def test_tensorboard_missing_fails_before_anything_is_written(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails
    run = tmp_path / "run"
    assert main(["train", "--out", str(run), "--quiet", "--tensorboard"]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "pip install tensorboard" in err
    assert not run.exists()
