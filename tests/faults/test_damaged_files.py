"""Damaged run-folder files (issue 17, item 4): every kind of file a command reads, damaged in
every way found by fault injection (bytes that are not UTF-8, a truncated file, valid JSON of
the wrong type or with fields of the wrong type, a torch file holding the wrong thing, a score
cache that is not an archive or holds NaN), for each command that reads it.

Each case asserts what a user gets: exit status 2 and one `oe CMD: error:` line naming the
damaged file, no traceback, and no change to the run folder (its files hash the same before
and after) nor anything new where the command would have written.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from outlier_exposure.training import runs
from tests.faults.helpers import assert_refused, cli, folder_digest

pytestmark = pytest.mark.usefixtures("one_thread")


# ---- damages: each takes the file's path and damages it in place --------------------------

def not_utf8(path):
    path.write_bytes(b"\xff\xfe\x00{\x80 garbage")


def truncated(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def empty(path):
    path.write_bytes(b"")


def json_list(path):
    path.write_text("[1, 2]")


def json_edit(**changes):
    """Valid JSON with some fields replaced (`None` as a value deletes the field)."""
    def damage(path):
        data = json.loads(path.read_text())
        for key, value in changes.items():
            if value is None:
                data.pop(key, None)
            else:
                data[key] = value
        path.write_text(json.dumps(data))
    damage.__name__ = "_".join(changes)
    return damage


def torch_edit(edit):
    """A torch file whose loaded object `edit` changes (returns what to save)."""
    def damage(path):
        torch.save(edit(torch.load(path, weights_only=True)), path)
    return damage


def a_list(path):
    torch.save([1, 2, 3], path)


def first_result_fpr_text(path):
    data = json.loads(path.read_text())
    next(iter(data["ood"].values()))["fpr"] = "low"
    path.write_text(json.dumps(data))


def bad_middle_log_line(path):
    """A damaged line before a good one (a torn LAST line is tolerated: test_torn_log.py)."""
    path.write_bytes(b"\xff\xfe not json\n" + path.read_bytes())


def log_record(**fields):
    def damage(path):
        record = {**json.loads(path.read_text().splitlines()[0]), **fields}
        path.write_text(json.dumps(record) + "\n")
    damage.__name__ = "log_" + "_".join(fields)
    return damage


def npz_edit(edit):
    def damage(path):
        with np.load(path) as data:
            arrays = edit(dict(data))
        np.savez_compressed(path, **arrays)
    return damage


def other_stats(path):
    """Statistics of another fit: the file detector.json recorded the sha256 of is gone."""
    state = torch.load(path, weights_only=True)
    torch.save({k: v + 1 for k, v in state.items()}, path)


def legacy_stats_of_other_kind(path):
    """A detector.json of before the stats digest, beside a stats file of the wrong kind."""
    detector = path.with_name("detector.json")
    info = json.loads(detector.read_text())
    info.pop("stats_sha256")
    detector.write_text(json.dumps(info))
    torch.save({"other": torch.zeros(3)}, path)


# ---- commands: argv for the run folder and a scratch folder --------------------------------

COMMANDS = {
    "eval": lambda run, tmp: ["eval", run, "--ood", "noise:gaussian", "--draws", "2"],
    "detector": lambda run, tmp: ["detector", run],
    "score": lambda run, tmp: ["score", run, tmp / "images.npz", "--out", tmp / "out" / "s.csv"],
    "export": lambda run, tmp: ["export", run, "--out", tmp / "out" / "detector.pt"],
    "report": lambda run, tmp: ["report", run, "--out", tmp / "out" / "report", "--no-figures"],
    # the figures read the score caches (slower: matplotlib)
    "report-figures": lambda run, tmp: ["report", run, "--out", tmp / "out" / "report"],
    "tune": lambda run, tmp: ["tune", run, "--out", tmp / "out" / "tuned", "--outliers",
                              "noise:gaussian", "--epochs", "1", "--quiet"],
    "resume": lambda run, tmp: ["train", "--resume", "--out", run, "--quiet"],
}

# (file, damage, commands that read the file)
CASES = [
    *[("config.json", damage, ("eval", "detector", "score", "report", "tune", "resume"))
      for damage in (not_utf8, truncated, json_list, json_edit(lr="fast"),
                     json_edit(model_kwargs=[1]), json_edit(lr=math.nan), json_edit(lrr=1.0),
                     json_edit(train=None))],
    *[("environment.json", damage, ("score", "export", "report", "resume"))
      for damage in (not_utf8, truncated, json_list)],
    *[("log.jsonl", damage, ("report", "resume"))
      for damage in (bad_middle_log_line, log_record(epoch="one"), log_record(loss={"a": 1}),
                     log_record(epoch=True))],
    *[("results.json", damage, ("report",))
      for damage in (not_utf8, truncated, json_list, json_edit(ood=None),
                     json_edit(ood=[1, 2]), json_edit(mean="high"), json_edit(test_error="x"),
                     json_edit(score=3), json_edit(draws=2.5), first_result_fpr_text)],
    *[("scores_msp.npz", damage, ("report-figures",))
      for damage in (not_utf8, truncated, empty,
                     npz_edit(lambda a: {**a, "in": a["in"] * np.nan}),
                     npz_edit(lambda a: {k: v for k, v in a.items() if k != "in"}),
                     npz_edit(lambda a: {**a, "in": np.zeros((3, 3))}),
                     npz_edit(lambda a: {**a, "in": np.array(["a", "b"])}))],
    *[("checkpoint.pt", damage, ("resume",))
      for damage in (not_utf8, truncated, a_list,
                     torch_edit(lambda c: {k: v for k, v in c.items() if k != "model"}),
                     torch_edit(lambda c: {**c, "model": {k: torch.zeros(3) for k in c["model"]}}),
                     torch_edit(lambda c: {**c, "model": {"other": torch.zeros(3)}}),
                     torch_edit(lambda c: {**c, "epoch": "one"}),
                     torch_edit(lambda c: {**c, "optimiser": {"state": 1}}),
                     torch_edit(lambda c: {**c, "rng": {"order": torch.zeros(2)}}))],
    *[("model.pt", damage, ("eval", "detector", "score", "export", "tune"))
      for damage in (not_utf8, truncated, a_list,
                     torch_edit(lambda m: {"other": torch.zeros(3)}),
                     torch_edit(lambda m: {k: torch.zeros(3) for k in m}),
                     torch_edit(lambda m: {k: "text" for k in m}))],
    *[("detector.json", damage, ("score", "export"))
      for damage in (not_utf8, truncated, json_list, json_edit(score="nosuch"),
                     json_edit(score="odin"), json_edit(image_shape=[0, "a"]),
                     json_edit(image_shape=16), json_edit(threshold=math.nan),
                     json_edit(threshold=math.inf), json_edit(threshold="high"),
                     json_edit(threshold=None), json_edit(tpr=7),
                     json_edit(score_settings={"k": 0}), json_edit(score_settings={"zz": 1}),
                     json_edit(classes=[1, 2]), json_edit(format=99))],
    *[("detector_stats.pt", damage, ("score", "export"))
      for damage in (not_utf8, other_stats, legacy_stats_of_other_kind)],
]
PARAMS = [pytest.param(file, damage, command, id=f"{file}-{number}-{damage.__name__}-{command}")
          for number, (file, damage, commands) in enumerate(CASES) for command in commands]


@pytest.mark.parametrize("file, damage, command", PARAMS)
def test_a_damaged_file_is_one_message_naming_it(evaluated_run, tmp_path, capsys, digits_npz,
                                                 file, damage, command):
    np.savez(tmp_path / "images.npz", x=np.load(digits_npz)["x_test"][:5])  # for `oe score`
    (tmp_path / "out").mkdir()  # where the command would write: must stay empty
    damage(evaluated_run / file)
    before = folder_digest(evaluated_run)

    outcome = cli(COMMANDS[command](evaluated_run, tmp_path), capsys)

    assert_refused(outcome, file)
    assert folder_digest(evaluated_run) == before, "the run folder changed"
    assert not any((tmp_path / "out").iterdir()), "the refused command wrote its output"


def test_the_undamaged_run_passes_every_command(evaluated_run, tmp_path, capsys, digits_npz):
    """The cases above fail because of the damage: the same commands on the intact copy work."""
    info = json.loads((evaluated_run / "detector.json").read_text())
    assert len(info["stats_sha256"]) == 64  # detector.json vouches for detector_stats.pt
    np.savez(tmp_path / "images.npz", x=np.load(digits_npz)["x_test"][:5])
    (tmp_path / "out").mkdir()
    for command in ("score", "export", "report-figures", "resume", "eval", "detector", "tune"):
        outcome = cli(COMMANDS[command](evaluated_run, tmp_path), capsys)
        assert outcome.rc == 0, f"{command}: {outcome.stderr}"


def test_the_model_file_names_what_to_do(evaluated_run, capsys):
    torch.save({"other": torch.zeros(3)}, evaluated_run / runs.MODEL)
    message = assert_refused(cli(["eval", evaluated_run, "--ood", "noise:gaussian"], capsys),
                             "model.pt")
    assert "--resume" in message and "restore" in message
