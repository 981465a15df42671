"""The reference's AWD-LSTM and its training recipe, each piece against a hand computation."""

import math

import numpy as np
import pytest
import torch

from outlier_exposure.text.awd_lstm import AWDLSTM, embedding_dropout, locked_dropout
from outlier_exposure.text.config import text_config_from_preset
from outlier_exposure.text.lm import activation_regularisation
from outlier_exposure.text.lm_fit import averaged_state, fit_lm, switch_to_asgd
from outlier_exposure.text.models import create_text_model
from outlier_exposure.training import runs


def _lstm_by_hand(x, w_ih, w_hh, b_ih, b_hh):
    """One LSTM layer over x (B, T, I) from a zero state, gates in PyTorch's order i, f, g, o."""
    b, t, _ = x.shape
    h = torch.zeros(b, w_hh.shape[1], dtype=x.dtype)
    c = torch.zeros_like(h)
    out = []
    for step in range(t):
        gates = x[:, step] @ w_ih.T + b_ih + h @ w_hh.T + b_hh
        i, f, g, o = gates.chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        out.append(h)
    return torch.stack(out, 1)


def _tiny(**kw):
    torch.manual_seed(0)
    args = dict(embed_dim=6, hidden=5, layers=3, dropout=0.0, dropouth=0.0, dropouti=0.0,
                dropoute=0.0, wdrop=0.0)
    return AWDLSTM(11, **{**args, **kw}).double()


def test_eval_forward_is_the_stacked_lstms_and_the_tied_decoder():
    model = _tiny(dropout=0.4, dropouth=0.3, dropouti=0.65, dropoute=0.1, wdrop=0.5).eval()
    ids = torch.randint(0, 11, (2, 7))
    x = model.encoder.weight[ids]
    for rnn in model.rnns:
        x = _lstm_by_hand(x, rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0, rnn.bias_hh_l0)
    want = x @ model.encoder.weight.T + model.decoder.bias
    assert torch.allclose(model(ids), want, atol=1e-10)
    # sizes: 6 -> 5 -> 5 -> 6 so that the decoder shares the embedding matrix
    assert [r.hidden_size for r in model.rnns] == [5, 5, 6]
    assert model.decoder.weight is model.encoder.weight


def test_weight_drop_drops_only_the_hidden_to_hidden_matrix():
    model = _tiny(layers=1, embed_dim=4, wdrop=1.0).train()  # p = 1: W_hh entirely dropped
    ids = torch.randint(0, 11, (3, 5))
    rnn = model.rnns[0]
    x = model.encoder.weight[ids]
    no_hh = _lstm_by_hand(x, rnn.weight_ih_l0, torch.zeros_like(rnn.weight_hh_l0),
                          rnn.bias_ih_l0, rnn.bias_hh_l0)
    assert torch.allclose(model(ids), no_hh @ model.encoder.weight.T + model.decoder.bias,
                          atol=1e-10)
    # the parameter itself is untouched (no deleted / renamed parameters)
    assert rnn.weight_hh_l0.abs().sum() > 0
    assert "rnns.0.weight_hh_l0" in model.state_dict()


def test_weight_drop_is_a_fresh_elementwise_mask_each_forward():
    model = _tiny(layers=1, embed_dim=4, wdrop=0.5).train()
    ids = torch.randint(0, 11, (3, 6))
    a, b = model(ids), model(ids)
    # the first step does not see W_hh (zero state), later steps do, with different masks
    assert torch.allclose(a[:, 0], b[:, 0]) and not torch.allclose(a[:, 1:], b[:, 1:])
    model.zero_grad()
    model(ids).sum().backward()
    rnn = model.rnns[0]
    zero_hh = (rnn.weight_hh_l0.grad == 0).double().mean().item()
    assert 0.3 < zero_hh < 0.7  # dropped entries get no gradient
    assert (rnn.weight_ih_l0.grad == 0).double().mean().item() < 0.05


def test_locked_dropout_shares_one_mask_over_time():
    torch.manual_seed(1)
    x = torch.ones(4, 9, 50, dtype=torch.float64)
    y = locked_dropout(x, 0.4, training=True)
    assert torch.equal(y, y[:, :1].expand_as(y))  # the same mask at every step
    assert set(torch.unique(y).tolist()) == {0.0, 1 / 0.6}
    assert not torch.equal(y[0], y[1])  # one mask per sequence
    assert torch.equal(locked_dropout(x, 0.4, training=False), x)


def test_embedding_dropout_drops_whole_words():
    torch.manual_seed(2)
    w = torch.randn(40, 7, dtype=torch.float64)
    d = embedding_dropout(w, 0.25, training=True)
    kept = d.abs().sum(1) > 0
    assert torch.allclose(d[kept], w[kept] / 0.75) and torch.equal(d[~kept], torch.zeros_like(d[~kept]))
    assert 0 < (~kept).sum() < 40


def test_ar_and_tar_equal_their_hand_computation():
    rng = np.random.default_rng(0)
    raw, dropped = rng.normal(size=(3, 5, 4)), rng.normal(size=(3, 5, 4))
    ar = 2 * np.mean(dropped ** 2)
    tar = 1 * np.mean([(raw[b, t + 1, h] - raw[b, t, h]) ** 2
                       for b in range(3) for t in range(4) for h in range(4)])
    got = activation_regularisation(torch.from_numpy(raw), torch.from_numpy(dropped), 2.0, 1.0)
    assert got.item() == pytest.approx(ar + tar, rel=1e-12)


def test_asgd_switch_follows_the_reference_non_monotone_rule():
    # switch when more than `nonmono` earlier losses exist and this one exceeds the best of all
    # but the last `nonmono`
    assert not switch_to_asgd([5, 4, 3, 2, 1], 9, nonmono=5)  # only 5 earlier losses
    assert switch_to_asgd([5, 4, 3, 2, 1, 0.5], 5.1, nonmono=5)  # 5.1 > min([5])
    assert not switch_to_asgd([5, 4, 3, 2, 1, 0.5], 4.9, nonmono=5)
    assert switch_to_asgd([2, 1, 3], 2.5, nonmono=1)  # 2.5 > min([2, 1])


def test_fit_lm_switches_to_asgd_and_keeps_the_best_averaged_weights(tmp_path):
    cfg = text_config_from_preset("lm", "baseline", epochs=4, nonmono=1, lr=0.1)
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    x, y = torch.randn(8, 3), torch.randn(8, 2)
    after_asgd_steps = []

    def epoch_fn(epoch, optimiser):
        for _ in range(3):
            optimiser.zero_grad()
            ((model(x) - y) ** 2).mean().backward()
            optimiser.step()
            if isinstance(optimiser, torch.optim.ASGD):
                after_asgd_steps.append(model.weight.detach().clone())
        return {"loss": 1.0}

    losses = iter([2.0, 3.0, 4.0, 1.0])  # epoch 3: 4 > min([2]) -> ASGD; epoch 4 is the best
    fit_lm(tmp_path, cfg, model, generators={}, epoch_fn=epoch_fn, val_fn=lambda: next(losses),
           resume=False)
    log = runs.read_log(tmp_path)
    assert [r["optimizer"] for r in log] == ["sgd", "sgd", "sgd", "asgd"]
    assert log[2]["switched_to"] == "asgd" and [r["val_loss"] for r in log] == [2, 3, 4, 1]
    # ASGD(t0=0, lambd=0) averages the weights from its second step on (mu = 1 at steps 1 and 2)
    final = runs.load_final_weights(tmp_path)
    assert torch.allclose(final["weight"], torch.stack(after_asgd_steps[1:]).mean(0), atol=1e-6)
    assert not torch.allclose(final["weight"], model.weight.detach())


def test_averaged_state_fills_both_names_of_a_tied_matrix():
    model = _tiny().float()
    opt = torch.optim.ASGD(model.parameters(), lr=0.1, t0=0, lambd=0.0)
    model(torch.randint(0, 11, (2, 4))).sum().backward()
    opt.step()
    opt.step()
    state = averaged_state(model, opt)
    ax = opt.state[model.encoder.weight]["ax"]
    assert torch.equal(state["encoder.weight"], ax) and torch.equal(state["decoder.weight"], ax)


def test_lm_presets_carry_the_reference_hyper_parameters():
    lm = text_config_from_preset("lm", "baseline")
    assert (lm.model, lm.optimizer, lm.lr, lm.weight_decay, lm.clip) == ("awd-lstm", "sgd", 30.0,
                                                                         1.2e-6, 0.25)
    assert (lm.alpha, lm.beta, lm.nonmono, lm.bptt, lm.batch_size, lm.lam) == (2, 1, 5, 70, 80, 0.5)
    assert lm.model_kwargs == dict(embed_dim=400, hidden=1150, layers=3, dropout=0.4,
                                   dropouth=0.3, dropouti=0.65, dropoute=0.1, wdrop=0.5)
    assert (lm.ood_rule, lm.valid, lm.seed) == ("first", "ptb:valid", 9001)
    char = text_config_from_preset("lm-char", "oe-scratch")
    assert (char.train, char.char_level, char.bptt, char.batch_size, char.clip) == (
        "ptb-char:train", True, 150, 20, 0.2)
    assert char.model_kwargs["hidden"] == 1550 and char.model_kwargs["layers"] == 4
    assert char.model_kwargs["wdrop"] == 0.1 and char.model_kwargs["dropouti"] == 0.4
    offline = text_config_from_preset("offline-lm", "baseline")
    assert (offline.model, offline.optimizer, offline.ood_rule) == ("lm-lstm", "adam", "draws")
    assert "substitute" in __import__("outlier_exposure.text.config", fromlist=["x"]) \
        .TEXT_RECIPES["offline-lm"].description
    # the registry builds it with the preset's keywords (parameter count of the reference model:
    # 10000 x 400 tied embedding + 3 LSTMs 400->1150->1150->400 + the decoder bias)
    model = create_text_model("awd-lstm", 10000, **lm.model_kwargs)
    lstm = lambda i, h: 4 * h * (i + h) + 8 * h  # noqa: E731
    want = 10000 * 400 + lstm(400, 1150) + lstm(1150, 1150) + lstm(1150, 400) + 10000
    assert sum(p.numel() for p in model.parameters()) == want
    assert math.isclose(want / 1e6, 24.22, abs_tol=0.01)


def test_fit_lm_resumes_across_the_asgd_switch_to_the_same_weights(tmp_path):
    def run(out, epochs, resume=False, model=None):
        cfg = text_config_from_preset("lm", "baseline", epochs=epochs, nonmono=1, lr=0.1)
        if model is None:
            torch.manual_seed(0)
            model = torch.nn.Linear(3, 2)
        x, y = torch.ones(4, 3), torch.zeros(4, 2)
        out.mkdir(exist_ok=True)
        done = len(runs.read_log(out)) if resume else 0
        losses = iter([2.0, 3.0, 4.0, 1.0, 0.5][done:])

        def epoch_fn(epoch, optimiser):
            optimiser.zero_grad()
            ((model(x) - y) ** 2).mean().backward()
            optimiser.step()
            return {"loss": 1.0}

        fit_lm(out, cfg, model, generators={}, epoch_fn=epoch_fn, val_fn=lambda: next(losses),
               resume=resume)
        return runs.load_final_weights(out)

    full = run(tmp_path / "full", 5)
    run(tmp_path / "cut", 3)  # stops right after the switch to ASGD
    torch.manual_seed(0)
    cut = run(tmp_path / "cut", 5, resume=True, model=torch.nn.Linear(3, 2))
    assert all(torch.equal(full[k], cut[k]) for k in full)
    assert [r["optimizer"] for r in runs.read_log(tmp_path / "cut")] == ["sgd"] * 3 + ["asgd"] * 2
