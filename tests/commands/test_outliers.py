"""`oe outliers check` end to end on npz specs and an 80M-format file, and training without the
indices it writes (`--outliers SPEC@exclude:FILE`)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from outlier_exposure.cli import main
from outlier_exposure.data.formats import lazy
from outlier_exposure.data.hygiene.exclusion import read_exclusion
from outlier_exposure.data.resize import luma, resize_images
from outlier_exposure.training.config import load_config
from outlier_exposure.training.setup import load_data
from tests.helpers.hygiene_data import distinct_images, planted_set


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    """A reference npz (x_train, x_test) and outliers with 5 planted copies of each kind."""
    folder = tmp_path_factory.mktemp("hygiene")
    references = distinct_images(60, seed=11)
    outliers, where = planted_set(references, n_distinct=40, per_kind=5, seed=4)
    np.savez(folder / "refs.npz", x_train=references[:30], x_test=references[30:])
    np.savez(folder / "outliers.npz", x=outliers)
    planted = np.sort(np.concatenate([positions for positions, _ in where.values()]))
    return folder, outliers, where, planted


def test_check_prints_counts_per_set_and_writes_the_exclusion_list(sets, capsys):
    folder, outliers, where, planted = sets
    out = folder / "flagged.txt"
    args = ["outliers", "check", f"npz:{folder / 'outliers.npz'}", "--against",
            f"npz:{folder / 'refs.npz'}:x_train", f"npz:{folder / 'refs.npz'}:x_test",
            "--write", str(out), "--quiet"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    rows = {line.split()[0]: line.split()[1:] for line in printed.splitlines()
            if line.startswith("npz:")}
    train, test = f"npz:{folder / 'refs.npz'}:x_train", f"npz:{folder / 'refs.npz'}:x_test"
    sources = {kind: src for kind, (_, src) in where.items()}
    near = np.concatenate([src for kind, src in sources.items() if kind != "exact"])
    assert rows[train] == ["30", str(sum(sources["exact"] < 30)), str(sum(near < 30))], printed
    assert rows[test] == ["30", str(sum(sources["exact"] >= 30)), str(sum(near >= 30))], printed
    assert f"  {train}: " in printed  # its examples
    assert f"20 of {len(outliers)} outliers" in printed and f"written: {out} (20 indices)" in printed
    lines = out.read_text().splitlines()
    assert lines[0].startswith("# oe outliers check npz:") and lines[1].startswith("# 20 of")
    assert [int(v) for v in lines[2:]] == planted.tolist()


def test_training_without_the_flagged_outliers(sets, digits_npz, tmp_path, monkeypatch):
    folder, outliers, _, planted = sets
    flagged = tmp_path / "flagged.txt"
    flagged.write_text("# by hand\n" + "\n".join(str(i) for i in planted) + "\n")
    # the same outliers at the quickstart model's 16x16 grey, in the same order
    np.savez(tmp_path / "small.npz", x=luma(resize_images(outliers, 16)))
    monkeypatch.chdir(tmp_path)
    spec = "npz:small.npz@exclude:flagged.txt"
    run = tmp_path / "run"
    assert main(["train", "--preset", "quickstart", "--train", f"npz:{digits_npz}:x_train,y_train",
                 "--test", f"npz:{digits_npz}:x_test,y_test", "--out", str(run), "--epochs", "1",
                 "--batch-size", "50", "--outliers", spec, "--quiet"]) == 0
    recorded = json.loads((run / "config.json").read_text())["outliers"]
    assert recorded == f"npz:{tmp_path / 'small.npz'}@exclude:{flagged}"
    data = json.loads((run / "environment.json").read_text())["data"]["outliers"]
    assert str(flagged) in data  # a changed list would stop --resume
    loaded = load_data(load_config(run)).outliers
    assert len(loaded) == len(outliers) - len(planted)


def test_an_80m_format_file_is_checked_in_chunks_never_whole(sets, tmp_path, monkeypatch, capsys):
    folder, outliers, _, planted = sets
    (tmp_path / "tinyimages-80m").mkdir()
    (tmp_path / "tinyimages-80m" / "tiny_images.bin").write_bytes(
        b"".join(image.tobytes(order="F") for image in outliers))
    monkeypatch.setattr(lazy, "MATERIALISE_LIMIT_BYTES", 0)
    out = tmp_path / "flagged.txt"
    assert main(["outliers", "check", "tinyimages-80m", "--against",
                 f"npz:{folder / 'refs.npz'}:x_train", f"npz:{folder / 'refs.npz'}:x_test",
                 "--data-root", str(tmp_path), "--chunk", "16", "--write", str(out)]) == 0
    captured = capsys.readouterr()
    assert f"checked {len(outliers)} of {len(outliers)} outliers" in captured.err
    assert read_exclusion(out, len(outliers)).tolist() == planted.tolist()


@pytest.mark.parametrize("extra, message", [
    (["--max-distance", "9"], "--max-distance 9: give 0..8 bits"),
    (["--min-similarity", "0"], "--min-similarity 0.0: give a value in"),
    (["--chunk", "0"], "--chunk 0"),
])
def test_bad_arguments_are_one_message(sets, capsys, extra, message):
    folder = sets[0]
    assert main(["outliers", "check", f"npz:{folder / 'outliers.npz'}", "--against",
                 f"npz:{folder / 'refs.npz'}:x_train", *extra]) == 2
    assert message in capsys.readouterr().err


def test_noise_is_refused(sets, capsys):
    folder = sets[0]
    assert main(["outliers", "check", "noise:gaussian:10", "--against",
                 f"npz:{folder / 'refs.npz'}:x_train"]) == 2
    assert "synthetic data made in normalised space" in capsys.readouterr().err


def test_a_write_path_that_cannot_take_the_file_is_refused_before_the_check(sets, capsys):
    folder = sets[0]
    argv = ["outliers", "check", f"npz:{folder / 'outliers.npz'}", "--against",
            f"npz:{folder / 'refs.npz'}:x_train"]
    assert main([*argv, "--write", str(folder / "missing" / "x.txt")]) == 2
    captured = capsys.readouterr()
    assert "folder" in captured.err and "does not exist; create it first" in captured.err
    assert "checked" not in captured.err and captured.out == ""  # the check never ran
    assert main([*argv, "--write", str(folder)]) == 2
    assert "is a folder; give a file name" in capsys.readouterr().err
