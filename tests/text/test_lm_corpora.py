"""The language-model corpora (fabricated files in their exact on-disk formats), the
character-level spelling of outlier/OOD text, and the reference's first-segments OOD rule."""

import json

import numpy as np
import pytest

from outlier_exposure.cli import main
from outlier_exposure.errors import UserInputError
from outlier_exposure.text.config import text_config_from_preset
from outlier_exposure.text.lm import (char_tokens, first_segments, sequences, stream_ids,
                                      train_lm_run)
from outlier_exposure.text.registry import named_set
from outlier_exposure.text.sets import load_text
from outlier_exposure.text.vocab import LM_SPECIALS, Vocab
from outlier_exposure.training import runs


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _tokens(data):
    return [data.tokens(i) for i in range(len(data))]


# Mikolov's ptb.char.*: a leading space, characters separated by spaces, '_' between words
PTB_CHAR = " a e r _ b a n k n o t e _ N _ < u n k >\n t h e _ c a t\n"


def test_ptb_characters_in_every_layout_keep_their_case(tmp_path):
    for path in ("ptb-char/ptb.char.valid.txt", "ptb-char/pennchar/valid.txt",
                 "ptb-char/simple-examples/data/ptb.char.valid.txt"):
        root = tmp_path / path.replace("/", "_")
        _write(root / path, PTB_CHAR)
        data = load_text("ptb-char:valid", role="train", purpose="lm", data_root=root)
        assert _tokens(data) == [list("aer") + ["_"] + list("banknote") + ["_", "N", "_"]
                                 + list("<unk>"), list("the") + ["_"] + list("cat")]
    assert "simple-examples.tgz" in named_set("ptb-char").manual


def test_wikitext103_lines_for_an_lm_and_its_published_download(tmp_path):
    _write(tmp_path / "wikitext103/wikitext-103/wiki.valid.tokens",
           " \n = Robert Boulter = \n \n Robert Boulter is an English film , television and "
           "theatre actor . \n")
    data = load_text("wikitext103:valid", role="outliers", purpose="lm", data_root=tmp_path)
    assert _tokens(data) == [["=", "robert", "boulter", "="],
                             "robert boulter is an english film , television and theatre "
                             "actor .".split()]
    (download,) = named_set("wikitext103").downloads
    assert download.url.endswith("/wikitext/wikitext-103-v1.zip")
    assert download.checksum == "md5:9ddaacaf6af0710eda8c456decff7832"  # torchtext's WikiText103


def test_gutenberg_sentences_csv(tmp_path):
    _write(tmp_path / "gutenberg/gutenberg_sentences",
           '"It was the best of times, it was the worst of times."\n"Call me Ishmael."\n')
    data = load_text("gutenberg", role="outliers", data_root=tmp_path)
    assert _tokens(data) == ["it was the best of times, it was the worst of times.".split(),
                             ["call", "me", "ishmael."]]
    assert not named_set("gutenberg").downloads  # no published file: put there by hand
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserInputError, match="gutenberg_sentences"):
        load_text("gutenberg", role="outliers", data_root=empty)


def test_words_are_spelt_as_the_reference_spells_wikitext_for_a_character_model():
    vocab = Vocab(itos=LM_SPECIALS + ("a", "b", "c", "_", "N"), specials=LM_SPECIALS)
    # lower-cased, characters outside the vocabulary dropped ("9", "!"), '_' between words
    assert char_tokens(["Ab", "c9!", "BA"], set(vocab.itos)) == ["a", "b", "_", "c", "_", "b", "a"]

    class Two:  # a two-line set
        def __len__(self):
            return 2

        def tokens(self, i):
            return [["ab", "c"], ["ba"]][i]

    ids = stream_ids(Two(), vocab, spell=True)
    assert [vocab.itos[i] for i in ids] == ["a", "b", "_", "c", "<eos>", "b", "a", "<eos>"]


def test_first_segments_is_the_reference_break_rule():
    # PTB test: 82430 tokens -> segments starting before 16486 -> ceil(16486 / 70) = 236
    assert first_segments(82430, 70, 10_000) == 236
    for n_test, bptt, n_ood_tokens in ((1000, 70, 5000), (1000, 7, 100), (350, 70, 9000)):
        ood = np.arange(n_ood_tokens)
        # the reference: for i in range(0, len - 1, bptt): break once i >= n_test // 5
        want = sum(1 for _ in (i for i in range(0, n_ood_tokens - 1, bptt) if i < n_test // 5))
        assert first_segments(n_test, bptt, len(sequences(ood, bptt))) == want


def test_lm_preset_trains_with_sgd_and_scores_the_first_ood_segments(tmp_path):
    rng = np.random.default_rng(0)
    words = ["the", "cat", "sat", "on", "mat", "a", "dog"]
    lines = lambda n: "".join(" " + " ".join(rng.choice(words, 9)) + " \n" for _ in range(n))  # noqa: E731
    for split, n in (("train", 120), ("valid", 80), ("test", 60)):
        _write(tmp_path / f"ptb/ptb.{split}.txt", lines(n))
    _write(tmp_path / "odd.txt", "".join(" ".join(rng.choice(["lava", "orbit", "zebra"], 9))
                                         + "\n" for _ in range(200)))
    run = tmp_path / "run"
    assert main(["train", "--task", "lm", "--preset", "lm", "--data-root", str(tmp_path),
                 "--epochs", "2", "--batch-size", "4", "--model-arg", "embed_dim=8",
                 "--model-arg", "hidden=8", "--model-arg", "layers=2", "--out", str(run),
                 "--quiet"]) == 0
    log = runs.read_log(run)
    assert [r["optimizer"] for r in log] == ["sgd", "sgd"] and all("val_loss" in r for r in log)
    cfg = json.loads((run / "config.json").read_text())
    assert (cfg["model"], cfg["optimizer"], cfg["alpha"], cfg["beta"]) == ("awd-lstm", "sgd", 2, 1)
    assert main(["eval", str(run), "--ood", f"lines:{tmp_path}/odd.txt"]) == 0
    results = json.loads((run / "results.json").read_text())
    n_test = 60 * 10  # 60 lines of 9 words + <eos>
    n_odd = 200 * 10
    want = first_segments(n_test, 70, len(sequences(np.arange(n_odd), 70)))
    assert want == 2 and results["draws"] == 1
    assert results["ood"]["odd"]["n_per_draw"] == want and results["ood"]["odd"]["n_scored"] == want


def test_the_reference_recipe_refuses_a_corpus_without_a_full_segment(tmp_path):
    for split in ("train", "valid", "test"):
        _write(tmp_path / f"ptb/ptb.{split}.txt", " a b c \n" * (300 if split == "valid" else 20))
    cfg = text_config_from_preset("lm", "baseline", data_root=str(tmp_path), batch_size=4,
                                  model_kwargs=dict(embed_dim=4, hidden=4, layers=1))
    with pytest.raises(UserInputError, match="no full 70-token segment"):
        train_lm_run(cfg, tmp_path / "run", progress=False, device="cpu")
