"""The OE loss and the anomaly scores against their closed forms, computed independently."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from outlier_exposure.errors import UserInputError
from outlier_exposure.losses import oe_loss, uniform_cross_entropy
from outlier_exposure.scores import compute_score, score_names


def _ce_to_uniform_numpy(z: np.ndarray) -> np.ndarray:
    # H(U; p) = -(1/K) sum_k log p_k with p = softmax(z), computed from probabilities.
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    return -np.log(p).mean(1)


def test_uniform_cross_entropy_is_minus_mean_log_softmax():
    z = torch.randn(7, 10, dtype=torch.float64) * 3
    np.testing.assert_allclose(uniform_cross_entropy(z).numpy(), _ce_to_uniform_numpy(z.numpy()),
                               rtol=1e-10)


def test_uniform_cross_entropy_of_uniform_logits_is_log_k():
    z = torch.full((3, 10), 2.5, dtype=torch.float64)
    np.testing.assert_allclose(uniform_cross_entropy(z).numpy(), math.log(10), rtol=1e-12)


def test_oe_loss_closed_form():
    torch.manual_seed(0)
    z = torch.randn(5 + 9, 4, dtype=torch.float64)
    y = torch.tensor([0, 3, 1, 2, 2])
    parts = oe_loss(z, y, lam=0.5)
    zin, zout = z[:5].numpy(), z[5:].numpy()
    # cross-entropy by hand: -log softmax at the label, averaged over the 5 in-dist rows
    logp = zin - zin.max(1, keepdims=True)
    logp = logp - np.log(np.exp(logp).sum(1, keepdims=True))
    ce = -logp[np.arange(5), y.numpy()].mean()
    oe = _ce_to_uniform_numpy(zout).mean()
    assert parts.in_dist.item() == pytest.approx(ce, rel=1e-12)
    assert parts.outlier.item() == pytest.approx(oe, rel=1e-12)
    assert parts.total.item() == pytest.approx(ce + 0.5 * oe, rel=1e-12)
    assert oe_loss(z, y, lam=1.0).total.item() == pytest.approx(ce + oe, rel=1e-12)


def test_oe_loss_without_outliers_is_cross_entropy():
    z = torch.randn(6, 3)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    parts = oe_loss(z, y)
    assert parts.total.item() == pytest.approx(F.cross_entropy(z, y).item())
    assert parts.outlier.item() == 0.0


def test_oe_term_gradient_pushes_outliers_towards_uniform():
    z = torch.tensor([[4.0, 0.0, 0.0]], requires_grad=True)
    y = torch.zeros(0, dtype=torch.long)
    loss = uniform_cross_entropy(z).mean()
    loss.backward()
    # d/dz (logsumexp(z) - mean z) = softmax(z) - 1/K: positive on the dominant logit
    expected = torch.softmax(z.detach(), 1) - 1 / 3
    torch.testing.assert_close(z.grad, expected)
    assert y.numel() == 0


Z = np.array([[2.0, 1.0, -1.0], [0.0, 0.0, 0.0], [-3.0, 5.0, 1.0]])


def _softmax(z):
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


@pytest.mark.parametrize("name,expected", [
    ("msp", -_softmax(Z).max(1)),
    ("xent", Z.mean(1) - np.log(np.exp(Z).sum(1))),
    ("energy", -np.log(np.exp(Z).sum(1))),
    ("maxlogit", -Z.max(1)),
])
def test_scores_match_formulas(name, expected):
    got = compute_score(name, torch.tensor(Z, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_energy_temperature():
    t = 2.0
    got = compute_score("energy", torch.tensor(Z), temperature=t).numpy()
    np.testing.assert_allclose(got, -t * np.log(np.exp(Z / t).sum(1)), rtol=1e-6)


def test_scores_rank_confident_rows_as_less_anomalous():
    # Row 1 (uniform logits) is the most anomalous under every score.
    for name in score_names():
        s = compute_score(name, torch.tensor(Z, dtype=torch.float64)).numpy()
        if name in ("msp", "xent"):
            assert s.argmax() == 1, name


def test_unknown_score_is_a_clear_error():
    with pytest.raises(UserInputError, match="unknown score 'odin'.*msp"):
        compute_score("odin", torch.zeros(1, 2))
