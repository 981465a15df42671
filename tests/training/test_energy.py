"""Energy fine-tuning (Liu et al. 2020): the margin loss against its closed form, its sign
conventions, the loss switch in configurations and presets, and `oe tune --loss energy`."""

import json

import numpy as np
import pytest
import torch
from scipy.special import logsumexp

from outlier_exposure.cli import main
from outlier_exposure.training.config import RunConfig, config_from_preset
from outlier_exposure.errors import UserInputError
from outlier_exposure.losses import energy_margin_loss, free_energy, oe_loss, training_loss
from outlier_exposure.scores import compute_score
from tests.helpers.tiny_runs import train_tiny

pytestmark = pytest.mark.usefixtures("one_thread")


def _closed_form(z, y, n_in, m_in, m_out, w):
    """CE + w (mean relu(E_in - m_in)^2 + mean relu(m_out - E_out)^2), E = -logsumexp, numpy."""
    z = np.asarray(z, dtype=np.float64)
    lse = logsumexp(z, axis=1)
    ce = np.mean(lse[:n_in] - z[np.arange(n_in), y])
    e = -lse
    hinge_in = np.maximum(e[:n_in] - m_in, 0) ** 2
    hinge_out = np.maximum(m_out - e[n_in:], 0) ** 2
    return ce + w * (hinge_in.mean() + hinge_out.mean()), ce, hinge_in.mean() + hinge_out.mean()


def test_energy_loss_matches_its_closed_form():
    rng = np.random.default_rng(0)
    # Logit scales chosen so that some hinges are active and some are not on both sides.
    z = np.concatenate([rng.normal(0, 8, (6, 4)) + np.array([[20, 0, 0, 0]]) * rng.integers(0, 2, (6, 1)),
                        rng.normal(0, 3, (5, 4)) + 3 * rng.integers(0, 3, (5, 1))])
    y = rng.integers(0, 4, 6)
    m_in, m_out, w = -8.0, -4.0, 0.1
    e = -logsumexp(z, axis=1)
    assert (e[:6] > m_in).any() and (e[:6] < m_in).any()   # both in-distribution cases occur
    assert (e[6:] < m_out).any() and (e[6:] > m_out).any()  # both outlier cases occur
    parts = energy_margin_loss(torch.tensor(z, dtype=torch.float64), torch.tensor(y), m_in, m_out, w)
    total, ce, margin = _closed_form(z, y, 6, m_in, m_out, w)
    assert parts.total.item() == pytest.approx(total, rel=1e-12)
    assert parts.in_dist.item() == pytest.approx(ce, rel=1e-12)
    assert parts.outlier.item() == pytest.approx(margin, rel=1e-12)


def test_energy_loss_without_outliers_keeps_the_in_distribution_hinge():
    z = torch.tensor([[1.0, 2.0, 0.5], [0.0, 0.0, 0.0]], dtype=torch.float64)
    y = torch.tensor([1, 0])
    # closed form with no outlier rows: CE + 0.1 * the in-distribution hinge alone
    lse = logsumexp(z.numpy(), axis=1)
    ce = np.mean(lse - z.numpy()[[0, 1], [1, 0]])
    expected = ce + 0.1 * np.mean(np.maximum(-lse + 23.0, 0) ** 2)
    assert energy_margin_loss(z, y).total.item() == pytest.approx(expected, rel=1e-12)


def test_a_gradient_step_lowers_in_distribution_energy_and_raises_outlier_energy():
    z = torch.tensor([[1.0, 0.0, 0.0], [0.5, 0.2, 0.0], [3.0, 2.0, 1.0], [2.0, 2.5, 1.0]],
                     requires_grad=True)
    y = torch.tensor([0, 0])
    before = free_energy(z.detach())
    # Only the margin term (no CE), so the direction is the energy term's alone.
    loss = energy_margin_loss(z, y, m_in=-10.0, m_out=5.0, weight=1.0)
    (loss.total - loss.in_dist).backward()
    after = free_energy(z.detach() - 0.01 * z.grad)
    assert (after[:2] < before[:2]).all()   # in-distribution: energy pushed down, below m_in
    assert (after[2:] > before[2:]).all()   # outliers: energy pushed up, above m_out


def test_energy_score_sign_convention():
    confident = torch.tensor([[12.0, 0.0, 0.0]])
    flat = torch.tensor([[0.1, 0.0, 0.05]])
    # higher = more anomalous: a flat, small-logit input scores higher than a confident one
    assert compute_score("energy", flat) > compute_score("energy", confident)
    assert compute_score("energy", confident).item() == pytest.approx(
        -logsumexp([12.0, 0.0, 0.0]), rel=1e-6)
    assert torch.equal(compute_score("energy", confident), free_energy(confident))


def test_training_loss_dispatches_on_the_configured_loss(digits_npz):
    npz = f"npz:{digits_npz}:x_train,y_train"
    z, y = torch.randn(7, 10, generator=torch.Generator().manual_seed(1)), torch.arange(4)
    cfg = config_from_preset("quickstart", "oe-tune", train=npz, test=npz, outliers="noise:gaussian",
                             init_from="x", lam=0.3)
    assert training_loss(cfg, z, y).total.item() == pytest.approx(oe_loss(z, y, 0.3).total.item())
    cfg = config_from_preset("quickstart", "oe-tune", train=npz, test=npz, outliers="noise:gaussian",
                             init_from="x", loss="energy", m_in=-7.0, m_out=-2.0, energy_weight=0.5)
    assert training_loss(cfg, z, y).total.item() == pytest.approx(
        energy_margin_loss(z, y, -7.0, -2.0, 0.5).total.item())


def test_presets_carry_the_authors_margins():
    common = dict(train="npz:a.npz", test="npz:a.npz", init_from="x")
    c10 = config_from_preset("cifar10-wrn", "oe-tune", **common, loss="energy")
    c100 = config_from_preset("cifar100-wrn", "oe-tune", **common, loss="energy")
    assert (c10.m_in, c10.m_out, c10.energy_weight) == (-23.0, -5.0, 0.1)
    assert (c100.m_in, c100.m_out) == (-27.0, -5.0)
    assert config_from_preset("cifar100-allconv", "oe-tune", **common).m_in == -27.0
    # an old config.json without the new fields still loads, as an OE run
    old = {k: v for k, v in c10.to_dict().items() if k not in ("loss", "m_in", "m_out", "energy_weight")}
    assert RunConfig.from_dict(old).loss == "oe"


@pytest.mark.parametrize("overrides, message", [
    (dict(loss="hinge"), "--loss 'hinge'"),
    (dict(loss="energy", m_in=-5.0, m_out=-23.0), "must be below --m-out"),
    (dict(loss="energy", energy_weight=-1.0), "--energy-weight"),
])
def test_bad_energy_settings_are_refused(overrides, message):
    with pytest.raises(UserInputError, match=message):
        config_from_preset("cifar10-wrn", "oe-tune", train="npz:a.npz", test="npz:a.npz",
                           init_from="x", **overrides)


def test_energy_loss_is_a_fine_tune_only():
    with pytest.raises(UserInputError, match="fine-tune"):
        config_from_preset("cifar10-wrn", "baseline", train="npz:a.npz", test="npz:a.npz",
                           loss="energy")


def test_oe_tune_loss_energy_end_to_end(tmp_path, digits_npz, capsys):
    base, energy = tmp_path / "base", tmp_path / "energy"
    train_tiny(base, digits_npz)
    assert main(["tune", str(base), "--loss", "energy", "--m-in", "-9", "--outliers",
                 "noise:rademacher:300", "--epochs", "1", "--out", str(energy), "--quiet"]) == 0
    cfg = json.loads((energy / "config.json").read_text())
    assert (cfg["loss"], cfg["m_in"], cfg["m_out"], cfg["energy_weight"]) == ("energy", -9.0, -5.0, 0.1)
    assert cfg["mode"] == "oe-tune"
    log = [json.loads(line) for line in (energy / "log.jsonl").read_text().splitlines()]
    assert log[0]["loss"] == pytest.approx(log[0]["loss_in"] + 0.1 * log[0]["loss_oe"], rel=1e-5)

    assert main(["eval", str(energy), "--ood", "noise:gaussian", "--draws", "2"]) == 0
    results = json.loads((energy / "results.json").read_text())
    # evaluated with the energy score by default, and named apart from OE fine-tunes
    assert (results["score"], results["mode"], results["loss"]) == ("energy", "energy-tune", "energy")
    assert (energy / "scores_energy.npz").exists()
    capsys.readouterr()
    # the margins are flags of the energy loss only
    assert main(["tune", str(base), "--m-in", "-9", "--out", str(tmp_path / "x"), "--quiet"]) == 2
    assert "--loss energy" in capsys.readouterr().err
