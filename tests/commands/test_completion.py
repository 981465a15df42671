"""`oe completion bash|zsh`: the script knows every command, the presets and the datasets (read
from the generated text and, where bash is installed, by running its completion function),
leaves parsing alone, and names the extra when shtab is missing."""

import argparse
import re
import shutil
import subprocess
import sys

import pytest

from outlier_exposure.cli import build_parser, main
from outlier_exposure.data.catalog.registry import datasets
from outlier_exposure.text.config import TEXT_RECIPES
from outlier_exposure.training.presets import PRESETS

PRESET_NAMES = [*PRESETS, *TEXT_RECIPES]


def script(capsys, shell: str) -> str:
    pytest.importorskip("shtab")  # the optional extra (in `dev`)
    assert main(["completion", shell]) == 0
    return capsys.readouterr().out


def bash_array(text: str, name: str) -> list[str]:
    return re.search(rf"^{name}=\((.*)\)$", text, re.M).group(1).split()


def command_names() -> list[str]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return list(sub.choices)


def test_the_bash_script_offers_commands_presets_and_datasets(capsys):
    text = script(capsys, "bash")
    commands = command_names()
    assert {"runs", "completion", "import", "train", "reproduce"} <= set(commands)
    assert bash_array(text, "_shtab_oe_subparsers") == commands
    for array in ("_shtab_oe_reproduce_pos_0_choices", "_shtab_oe_train___preset_choices",
                  "_shtab_oe_tune___preset_choices", "_shtab_oe_presets_pos_0_choices"):
        assert bash_array(text, array) == PRESET_NAMES
    assert bash_array(text, "_shtab_oe_datasets___download_choices") == list(datasets())
    assert "cifar10-wrn" in PRESET_NAMES and "offline-sst" in PRESET_NAMES
    assert "_shtab_oe_runs_pos_0_COMPGEN=_shtab_compgen_dirs" in text


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_completes_a_preset_and_a_dataset(capsys, tmp_path):
    path = tmp_path / "oe.bash"
    path.write_text(script(capsys, "bash"))

    def complete(*words: str) -> list[str]:
        quoted = " ".join(f"'{w}'" for w in words)
        done = subprocess.run(
            ["bash", "-c", f"source {path}; COMP_WORDS=({quoted}); COMP_CWORD={len(words) - 1}; "
                           f"_shtab_oe oe '{words[-1]}' '{words[-2]}'; "
                           "printf '%s\\n' \"${COMPREPLY[@]}\""],
            capture_output=True, text=True, check=True)
        return done.stdout.split()

    assert complete("oe", "reproduce", "cifar1") == [p for p in PRESET_NAMES
                                                     if p.startswith("cifar1")]
    assert complete("oe", "datasets", "--download", "tiny") == [d for d in datasets()
                                                               if d.startswith("tiny")]
    assert complete("oe", "ru") == ["runs"]


def test_the_zsh_script_and_parsing_without_choices(capsys):
    text = script(capsys, "zsh")
    assert text.startswith("#compdef oe") and "offline-lm" in text and "ssb-hard" in text
    # the choices live in the script only: the command line still takes any name, and the
    # library says what is wrong with an unknown one
    assert build_parser().parse_args(["reproduce", "no-such-preset"]).preset == "no-such-preset"


def test_without_shtab_the_error_names_the_extra(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "shtab", None)  # import shtab -> ImportError
    assert main(["completion", "bash"]) == 2
    err = capsys.readouterr().err
    assert "pip install 'outlier-exposure[completion]'" in err and "Traceback" not in err


def test_writing_the_script_loads_no_torch():
    pytest.importorskip("shtab")
    code = ("import sys; from outlier_exposure.cli import main; main(['completion', 'bash']); "
            "assert 'torch' not in sys.modules, 'oe completion loads torch'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
