"""Progress bars that tell the truth (training/progress.py): every bar is drawn at its end with
n == total and 100%, read back from the captured stderr, for a training epoch whose step count
(11) is not a multiple of the every-tenth-step refresh of its loss figures, a language model
whose last segment is short, the evaluation's OOD sets and the report's figures."""

import math
import re

import pytest

from outlier_exposure.evaluation.evaluate import evaluate
from outlier_exposure.reporting.report import write_report
from outlier_exposure.text.config import text_config_from_preset
from outlier_exposure.text.lm import train_lm_run
from outlier_exposure.training.config import config_from_preset
from outlier_exposure.training.loop import train_run
from outlier_exposure.training.progress import each

N_TRAIN, BATCH = 400, 37  # digits_npz holds 400 training digits: ceil(400 / 37) = 11 steps


def drawings(stderr: str, desc: str) -> list[str]:
    """Every state the bar `desc` was drawn in, in order (tqdm redraws a line after '\\r')."""
    return [part.strip() for part in re.split(r"[\r\n]", stderr) if part.strip().startswith(desc)]


def counts(drawing: str) -> tuple[int, int]:
    n, total = re.search(r"\| *(\d+)/(\d+) ", drawing).groups()
    return int(n), int(total)


@pytest.fixture(scope="module")
def cfg(digits_npz, one_thread):
    """One epoch of the quickstart recipe in 11 steps, three noise sets to evaluate on."""
    steps = math.ceil(N_TRAIN / BATCH)
    assert steps == 11 and steps % 10 != 0
    return config_from_preset("quickstart", "baseline", train=f"npz:{digits_npz}:x_train,y_train",
                              test=f"npz:{digits_npz}:x_test,y_test", epochs=1, batch_size=BATCH,
                              model_kwargs={"width": 8}, ood=["noise:gaussian", "noise:blobs",
                                                              "noise:rademacher"])


def test_an_epoch_bar_ends_at_its_total(cfg, tmp_path, capsys):
    train_run(cfg, tmp_path / "run", device="cpu", progress=True)
    drawn = drawings(capsys.readouterr().err, "baseline 1/1")
    assert counts(drawn[0]) == (0, N_TRAIN)
    assert counts(drawn[-1]) == (N_TRAIN, N_TRAIN) and "100%" in drawn[-1]
    # the loss figures of the last step are on the final drawing
    assert "loss=" in drawn[-1] and "acc=" in drawn[-1]


def test_evaluation_and_report_bars_end_at_their_totals(cfg, tmp_path, capsys):
    run = train_run(cfg, tmp_path / "run", device="cpu", progress=False)
    evaluate(run, device="cpu", draws=2, progress=True)
    drawn = drawings(capsys.readouterr().err, "OOD sets")
    assert counts(drawn[0]) == (0, 3) and counts(drawn[-1]) == (3, 3) and "100%" in drawn[-1]

    write_report([run], tmp_path / "report", progress=True)
    drawn = drawings(capsys.readouterr().err, "figures")
    # the curves, the run's score histogram and the training curves: three figure jobs
    assert counts(drawn[-1]) == (3, 3) and "100%" in drawn[-1]

    evaluate(run, device="cpu", protocol="openood", near=["noise:gaussian"],
             far=["noise:blobs"], progress=True)
    drawn = drawings(capsys.readouterr().err, "OOD sets")
    assert counts(drawn[-1]) == (2, 2) and "far: noise:blobs, 200 images" in drawn[-1]

    evaluate(run, device="cpu", draws=2)  # the library is quiet unless asked
    assert "OOD sets" not in capsys.readouterr().err


def test_a_language_model_bar_counts_the_short_last_segment(tmp_path, capsys):
    words = "the cat sat on a mat and ran off".split()
    lines = [" ".join(words[i % 9:] + words[:i % 9]) for i in range(40)]  # 9 words + <eos> each
    (tmp_path / "train.txt").write_text("\n".join(lines) + "\n")
    rows, bptt = 4, 7
    cfg = text_config_from_preset("offline-lm", "baseline", train=f"lines:{tmp_path}/train.txt",
                                  test=f"lines:{tmp_path}/train.txt", batch_size=rows, bptt=bptt,
                                  epochs=1, model_kwargs=dict(embed_dim=4, hidden=4, layers=1))
    train_lm_run(cfg, tmp_path / "lm", device="cpu", progress=True)
    per_row = 40 * 10 // rows  # 100 ids a row, each but the last predicted once
    assert (per_row - 1) % bptt != 0  # so the last segment is short
    drawn = drawings(capsys.readouterr().err, "lm baseline 1/1")
    assert counts(drawn[-1]) == (rows * (per_row - 1),) * 2 and "100%" in drawn[-1]


def test_each_counts_an_item_once_its_work_is_done(capsys):
    seen = []
    for item in each(["a", "b", "c"], 3, "items", name=str):
        seen.append(item)
        # while "b" is worked on, only "a" counts as done
        if item == "b":
            assert counts(drawings(capsys.readouterr().err, "items")[-1])[0] <= 1
    assert seen == ["a", "b", "c"]
    assert counts(drawings(capsys.readouterr().err, "items")[-1]) == (3, 3)

    gen = each(iter(range(5)), 5, "stopped")
    next(gen), next(gen)
    gen.close()  # a loop left early: the bar is closed where it stopped, not at 100%
    assert counts(drawings(capsys.readouterr().err, "stopped")[-1]) == (1, 5)

    assert list(each(range(2), 2, "off", enabled=False)) == [0, 1]
    assert capsys.readouterr().err == ""
