"""`oe reproduce` for the text presets (classifier and language model) on a fabricated miniature
of the offline data layout, the early error for missing data, and `oe presets`."""

import json
import os

import numpy as np
import pytest

from outlier_exposure.cli import main
from outlier_exposure.experiments.text import TEXT_PRESETS
from outlier_exposure.text.config import TEXT_RECIPES

WORDS = ("good bad film movie plot actor great awful boring fun the a is was very not quite "
         "story scene music long short dark bright funny sad").split()


def _sentences(rng, n: int, low: int = 4, high: int = 12) -> list[str]:
    return [" ".join(rng.choice(WORDS, rng.integers(low, high))) for _ in range(n)]


def _write(path, lines) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """The offline layout (see shared/data/README.md): SST, WikiText-2 valid/test, SNLI,
    Multi30K, EWT; IMDB, WMT16 and Yelp absent (default OOD sets that are skipped)."""
    rng = np.random.default_rng(0)
    root = tmp_path_factory.mktemp("text_root")
    for split, n in (("train", 160), ("test", 60)):
        _write(root / "sst" / f"sst_binary_{split}.tsv",
               ["label\tsentence"] + [f"{rng.integers(2)}\t{s}" for s in _sentences(rng, n)])
    for split, n in (("valid", 150), ("test", 120)):
        # WikiText token files: a heading, blank lines, sentences ending in " ."
        _write(root / "wikitext2" / f"wikitext2_{split}.txt",
               [" = Heading = ", ""] + [f" {s} . {s} . " for s in _sentences(rng, n)])
    _write(root / "snli" / "snli_test.tsv",
           ["premise\thypothesis\tlabel"] + [f"x\t{s}\tneutral" for s in _sentences(rng, 40)])
    _write(root / "multi30k" / "multi30k_train.en.txt", _sentences(rng, 300, 6, 14))
    _write(root / "ewt" / "ewt_dev_sentences.txt", _sentences(rng, 60))
    return root


def _reproduce(preset, root, out, *extra) -> int:
    return main(["reproduce", preset, "--data-root", str(root), "--out", str(out),
                 "--epochs", "1", "--quiet", "--device", "cpu", *extra])


def test_every_text_recipe_is_a_reproduce_preset():
    assert set(TEXT_PRESETS) == set(TEXT_RECIPES)
    assert {"sst", "trec", "20ng", "offline-sst", "lm", "offline-lm"} <= set(TEXT_PRESETS)


def test_offline_sst_runs_both_stages_then_reuses_them(root, tmp_path, capsys):
    out = tmp_path / "sst"
    assert _reproduce("offline-sst", root, out) == 0
    printed = capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    assert set(results) == {"baseline", "oe"}
    for key in ("baseline", "oe"):
        assert results[key]["recall_level"] == 0.90 and results[key]["score"] == "msp"
        assert set(results[key]["ood"]) == {"snli", "multi30k", "ewt"}
        assert set(results[key]["skipped"]) == {"imdb", "wmt16", "yelp"}
        assert results[key]["n_test"] == 60
    oe_cfg = json.loads((out / "oe" / "config.json").read_text())
    assert oe_cfg["mode"] == "oe-tune" and oe_cfg["outliers"] == "wikitext2:valid"
    assert oe_cfg["init_from"] == str(out / "baseline") and oe_cfg["epochs"] == 1
    assert "FPR90" in printed and "no reference numbers" in printed
    assert "skipped wmt16" in printed
    assert "FPR90 baseline | FPR90 OE" in (out / "results.md").read_text()

    stamps = {p: os.stat(out / p / "model.pt").st_mtime_ns for p in ("baseline", "oe")}
    results_stamp = os.stat(out / "oe" / "results.json").st_mtime_ns
    assert _reproduce("offline-sst", root, out) == 0
    printed = capsys.readouterr().out
    assert printed.count("already trained; reusing") == 2
    assert printed.count("already evaluated; reusing") == 2
    assert {p: os.stat(out / p / "model.pt").st_mtime_ns for p in stamps} == stamps
    assert os.stat(out / "oe" / "results.json").st_mtime_ns == results_stamp
    assert json.loads((out / "results.json").read_text()) == results

    # Other OOD sets: the stages are reused, the evaluation is not.
    assert _reproduce("offline-sst", root, out, "--ood", "snli") == 0
    printed = capsys.readouterr().out
    assert "already evaluated" not in printed
    assert set(json.loads((out / "results.json").read_text())["oe"]["ood"]) == {"snli"}


def test_paper_preset_with_another_oe_set_and_oe_from_scratch(root, tmp_path):
    out = tmp_path / "sst"
    assert _reproduce("sst", root, out, "--outliers", "wikitext2:valid", "--ood", "snli",
                      "--scratch") == 0
    results = json.loads((out / "results.json").read_text())
    assert set(results) == {"baseline", "oe", "oe-scratch"}
    for stage, mode in (("oe", "oe-tune"), ("oe-scratch", "oe-scratch")):
        cfg = json.loads((out / stage / "config.json").read_text())
        assert (cfg["preset"], cfg["mode"], cfg["outliers"]) == ("sst", mode, "wikitext2:valid")
    assert json.loads((out / "baseline" / "config.json").read_text())["outliers"] is None


def test_lm_preset_trains_the_language_model_with_oe(root, tmp_path, capsys):
    out = tmp_path / "lm"
    assert _reproduce("offline-lm", root, out) == 0
    printed = capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    assert set(results) == {"baseline", "oe"}
    for key in ("baseline", "oe"):
        assert results[key]["task"] == "lm" and results[key]["score"] == "xent"
        assert set(results[key]["ood"]) == {"ewt"}
        assert results[key]["test_perplexity"] > 1
    oe_cfg = json.loads((out / "oe" / "config.json").read_text())
    assert (oe_cfg["model"], oe_cfg["lam"], oe_cfg["outliers"]) == ("lm-lstm", 0.5, "multi30k:train")
    assert "test perplexity" in printed


def test_missing_data_fails_before_training_and_says_how_to_get_it(root, tmp_path, capsys):
    out = tmp_path / "trec"
    assert _reproduce("trec", tmp_path, out) == 2  # tmp_path holds no trec/
    err = capsys.readouterr().err
    assert "trec:train was not found" in err and "cogcomp" in err
    # sst is there, but the paper's OE set (WikiText-2 train) is not: refused before the baseline
    assert _reproduce("sst", root, out) == 2
    err = capsys.readouterr().err
    assert "wikitext2:train was not found" in err and "outlier_exposure.text.download" in err
    assert not out.exists()


def test_presets_lists_the_text_presets(capsys):
    assert main(["presets"]) == 0
    printed = capsys.readouterr().out
    head, sep, text_block = printed.partition("text presets")
    assert sep
    for name in TEXT_RECIPES:
        assert f"\n{name} " in text_block
    assert "offline-sst" not in head
