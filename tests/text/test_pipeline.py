"""Text runs end to end through the command line (train -> tune -> eval), resume, the LM's OE
loss against its closed form, and the batching / scoring helpers."""

import json
import math

import numpy as np
import pytest
import torch

from outlier_exposure.training import runs
from outlier_exposure.cli import main
from outlier_exposure.text import fit as fit_module
from outlier_exposure.text.batches import bucket_batches, predict_logits, sorted_batches
from outlier_exposure.text.config import text_config_from_preset
from outlier_exposure.text.lm import batchify, lm_loss, score_sequences, sequences
from outlier_exposure.text.models import GRUClassifier, create_text_model
from outlier_exposure.text.train import train_text_run
from outlier_exposure.errors import UserInputError
from tests.helpers import CHECKOUT_SHARED_DATA

SHARED = CHECKOUT_SHARED_DATA



@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # Tiny recurrent nets gain nothing from a second thread and lose much on a busy machine.
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


POS, NEG, ODD = ("good great fine nice", "bad awful poor sad", "zebra quantum lava orbit")


def _sentences(words: str, n: int, rng) -> list[str]:
    vocab = words.split()
    return [" ".join(rng.choice(vocab, size=rng.integers(2, 6))) for _ in range(n)]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Two separable classes, outliers and OOD texts from words the classes never use."""
    rng = np.random.default_rng(0)
    root = tmp_path_factory.mktemp("text")
    for split, n in (("train", 96), ("test", 40)):
        rows = [f"{label}\t{s}" for label, words in (("pos", POS), ("neg", NEG))
                for s in _sentences(words, n // 2, rng)]
        (root / f"{split}.tsv").write_text("label\ttext\n" + "\n".join(rows) + "\n")
    (root / "outliers.txt").write_text("\n".join(_sentences(ODD + " the a", 64, rng)) + "\n")
    (root / "ood.txt").write_text("\n".join(_sentences(ODD, 30, rng)) + "\n")
    return root


def _train_args(tiny, out, *extra):
    return ["train", "--train", f"tsv:{tiny}/train.tsv:text,label", "--test",
            f"tsv:{tiny}/test.tsv:text,label", "--out", str(out), "--epochs", "2",
            "--batch-size", "16", "--quiet", *extra]


def test_text_train_tune_eval_through_the_cli(tmp_path, tiny, capsys):
    base, oe = tmp_path / "base", tmp_path / "oe"
    assert main(_train_args(tiny, base)) == 0  # a tsv: spec implies --task text
    assert main(["tune", str(base), "--outliers", f"lines:{tiny}/outliers.txt", "--out", str(oe),
                 "--epochs", "1", "--oe-batch-size", "16", "--quiet"]) == 0
    assert main(["eval", str(oe), "--ood", f"lines:{tiny}/ood.txt", "--draws", "3"]) == 0
    out = capsys.readouterr().out
    assert "FPR90" in out and "Mean" in out  # FPR90 is the text default

    cfg = json.loads((base / "config.json").read_text())
    assert (cfg["task"], cfg["mode"], cfg["model"]) == ("text", "baseline", "gru")
    assert cfg["labels"] == ["neg", "pos"] and cfg["num_classes"] == 2
    assert (cfg["lower"], cfg["fix_length"], cfg["lr"], cfg["lam"]) == (True, 0, 0.01, 1.0)
    tuned = json.loads((oe / "config.json").read_text())
    assert tuned["mode"] == "oe-tune" and tuned["init_from"] == str(base)
    # the fine-tune uses the baseline's vocabulary
    assert (oe / "vocab.json").read_text() == (base / "vocab.json").read_text()
    assert len(json.loads((base / "vocab.json").read_text())["itos"]) == 2 + 8

    results = json.loads((oe / "results.json").read_text())
    assert results["recall_level"] == 0.9 and results["score"] == "msp"
    # the sst preset draws as the reference: batches of 64 through 40 // 5 = 8, so all 30 texts
    assert list(results["ood"]) == ["ood"] and results["ood"]["ood"]["n_per_draw"] == 30
    assert results["draw_size"] == "reference-text"
    assert results["test_error"] < 0.5  # it learned something (chance is 0.5)
    log = runs.read_log(oe)
    assert [r["epoch"] for r in log] == [1] and log[0]["loss_oe"] > 0
    assert (oe / "results.csv").exists() and (oe / "results.md").exists()
    assert (oe / "scores_msp.npz").exists()


def test_text_bad_input_is_one_clear_message(tmp_path, tiny, capsys):
    assert main(_train_args(tiny, tmp_path / "r", "--preset", "cifar10-wrn", "--task", "text")) == 2
    assert "image preset" in capsys.readouterr().err
    assert main(["train", "--task", "text", "--train", "nosuchset:train", "--out",
                 str(tmp_path / "x"), "--quiet"]) == 2
    assert "unknown text set" in capsys.readouterr().err


def test_text_resume_keeps_its_settings_and_has_no_data_check(tmp_path, tiny, capsys):
    out = tmp_path / "run"
    assert main(_train_args(tiny, out, "--allow-changed-data")) == 2
    assert "applies to --resume only" in capsys.readouterr().err and not out.exists()
    assert main(_train_args(tiny, out)) == 0
    for flag, message in ((["--allow-changed-data"], "record no fingerprint"),
                          (["--lr", "0.5"], "--lr: --resume continues the run"),
                          (["--epochs", "5"], "resumes with its recorded 2 epochs")):
        before = (out / "config.json").read_bytes()
        assert main(["train", "--resume", "--out", str(out), "--quiet", *flag]) == 2
        assert message in capsys.readouterr().err
        assert (out / "config.json").read_bytes() == before
    assert main(["train", "--resume", "--out", str(out), "--quiet", "--epochs", "2"]) == 0


def test_interrupted_text_run_resumes_to_the_same_weights(tmp_path, tiny, monkeypatch):
    def cfg():
        return text_config_from_preset(
            "sst", "baseline", train=f"tsv:{tiny}/train.tsv:text,label",
            test=f"tsv:{tiny}/test.tsv:text,label", epochs=3, batch_size=16)

    train_text_run(cfg(), tmp_path / "full", progress=False)
    real = fit_module.cosine_epoch_lr

    def interrupt_at_second_epoch(epoch, epochs, lr):
        if epoch == 1:
            raise KeyboardInterrupt
        return real(epoch, epochs, lr)

    monkeypatch.setattr(fit_module, "cosine_epoch_lr", interrupt_at_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        train_text_run(cfg(), tmp_path / "cut", progress=False)
    monkeypatch.setattr(fit_module, "cosine_epoch_lr", real)
    assert not (tmp_path / "cut" / "model.pt").exists()
    assert main(["train", "--resume", "--out", str(tmp_path / "cut"), "--quiet"]) == 0
    full = runs.load_final_weights(tmp_path / "full")
    cut = runs.load_final_weights(tmp_path / "cut")
    assert all(torch.equal(full[k], cut[k]) for k in full)
    assert [r["epoch"] for r in runs.read_log(tmp_path / "cut")] == [1, 2, 3]
    # the learning rate of epoch e is CosineAnnealingLR's: 0.01 (1 + cos(pi e / 3)) / 2
    assert [r["lr"] for r in runs.read_log(tmp_path / "full")] == pytest.approx(
        [0.01 * (1 + math.cos(math.pi * e / 3)) / 2 for e in range(3)])


def test_lm_oe_loss_equals_its_closed_form():
    torch.manual_seed(0)
    b_in, b_out, t, v = 3, 2, 4, 7
    logits = torch.randn(b_in + b_out, t, v, dtype=torch.float64)
    targets = torch.randint(0, v, (b_in, t))
    z = logits.numpy()
    log_p = z - np.log(np.exp(z).sum(-1, keepdims=True))
    ce = -np.mean([log_p[b, i, targets[b, i]] for b in range(b_in) for i in range(t)])
    h_uniform = -log_p[b_in:].mean(-1).mean()  # -(1/V) sum_v log p_v, averaged over positions
    loss = lm_loss(logits, targets, lam=0.5)
    assert loss.in_dist.item() == pytest.approx(ce, rel=1e-12)
    assert loss.outlier.item() == pytest.approx(h_uniform, rel=1e-12)
    assert loss.total.item() == pytest.approx(ce + 0.5 * h_uniform, rel=1e-12)
    # uniform outlier predictions reach the minimum, log V
    flat = torch.cat([logits[:b_in], torch.zeros(b_out, t, v, dtype=torch.float64)])
    assert lm_loss(flat, targets, 0.5).outlier.item() == pytest.approx(math.log(v))


def test_lm_train_tune_eval_through_the_cli(tmp_path):
    rng = np.random.default_rng(1)
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(" ".join(rng.choice(["the", "cat", "sat", "on", "mat"], 6))
                                for _ in range(80)) + "\n")
    odd = tmp_path / "odd.txt"
    odd.write_text("\n".join(" ".join(rng.choice(["lava", "orbit", "zebra"], 6))
                             for _ in range(60)) + "\n")
    base, oe = tmp_path / "lm", tmp_path / "lm-oe"
    common = ["--epochs", "1", "--batch-size", "4", "--quiet"]
    # offline-lm: the CPU substitute (Adam, no validation split); `lm` is the reference's recipe
    assert main(["train", "--task", "lm", "--preset", "offline-lm", "--train", f"lines:{corpus}",
                 "--test",
                 f"lines:{corpus}@first40", "--model-arg", "embed_dim=16", "--model-arg",
                 "hidden=16", "--out", str(base), *common]) == 0
    assert main(["tune", str(base), "--outliers", f"lines:{odd}", "--out", str(oe),
                 "--oe-batch-size", "4", *common]) == 0
    assert main(["eval", str(oe), "--ood", f"lines:{odd}", "--draws", "2", "--ratio", "2"]) == 0
    cfg = json.loads((oe / "config.json").read_text())
    assert (cfg["task"], cfg["model"], cfg["lam"]) == ("lm", "lm-lstm", 0.5)
    results = json.loads((oe / "results.json").read_text())
    assert results["score"] == "xent" and results["recall_level"] == 0.9
    # 40 lines of 6 words + <eos> = 280 tokens -> ceil(279 / 70) = 4 sequences
    assert results["n_test"] == 4 and results["test_perplexity"] > 1
    assert runs.read_log(oe)[0]["loss_oe"] > 0


def test_sequences_and_batched_scoring_match_one_by_one():
    ids = np.arange(10)
    assert [s.tolist() for s in sequences(ids, 4)] == [[0, 1, 2, 3, 4], [4, 5, 6, 7, 8], [8, 9]]
    assert batchify(np.arange(9), 2).tolist() == [[0, 1, 2, 3], [4, 5, 6, 7]]
    torch.manual_seed(0)
    model = create_text_model("lm-gru", 12, embed_dim=8, hidden=8)
    seqs = sequences(np.random.default_rng(0).integers(0, 12, 23), 5)
    batched = score_sequences(model, seqs, "xent", batch_size=3, device="cpu")
    for i, s in enumerate(seqs):
        one = score_sequences(model, [s], "xent", batch_size=1, device="cpu")
        for got, want in zip(batched, one):
            assert got[i] == pytest.approx(want[0], rel=1e-5, abs=1e-6)


def test_bucket_batches_cover_each_example_once_in_length_sorted_pools():
    lengths = np.random.default_rng(0).integers(1, 50, 700)
    batches = bucket_batches(lengths, 8, torch.Generator().manual_seed(3), pool_batches=10)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(700))
    assert all(np.all(np.diff(lengths[b]) >= 0) for b in batches)  # sorted within a batch
    again = bucket_batches(lengths, 8, torch.Generator().manual_seed(3), pool_batches=10)
    assert all(np.array_equal(a, b) for a, b in zip(batches, again))


def test_scoring_batches_are_length_sorted_and_token_bounded():
    lengths = [5, 100, 3, 40000, 7, 100, 2]
    batches = sorted_batches(lengths, 3, max_tokens=200)
    assert [b.tolist() for b in batches] == [[6, 2, 0], [4, 1], [5], [3]]  # 40000 alone


def test_classifier_reads_the_last_layers_final_state_and_scores_in_order():
    torch.manual_seed(0)
    model = GRUClassifier(20, 3)
    x = torch.randint(2, 20, (5, 6))
    _, h_n = model.gru(model.embedding(x))
    assert torch.allclose(model(x), model.linear(h_n[1]))
    encoded = [row.numpy() for row in x]  # equal lengths: no padding, any batching
    got = predict_logits(model, encoded, pad_id=1, fix_length=None, batch_size=2, device="cpu")
    assert torch.allclose(got, model(x), atol=1e-6)
    with pytest.raises(UserInputError, match="takes no argument"):
        create_text_model("gru", 10, 2, bogus=1)


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"offline data not found at {SHARED}")
def test_offline_text_sets_read_with_their_reference_sizes():
    from outlier_exposure.text.sets import load_text

    sizes = {("sst:train", "train"): 6920, ("sst:test", "test"): 1821,
             ("trec:train", "train"): 5452, ("snli", "ood"): 9824, ("multi30k", "ood"): 29000,
             ("ewt", "ood"): 2001}
    for (spec, role), n in sizes.items():
        assert len(load_text(spec, role=role, data_root=SHARED)) == n, spec
    oe = load_text("wikitext2:valid", role="outliers", data_root=SHARED)
    assert 5000 < len(oe) < 10000  # sentences of 3-60 tokens from 3760 lines
    assert all(3 <= len(oe.tokens(i)) <= 60 for i in range(0, len(oe), 97))
