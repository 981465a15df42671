"""Softmax temperature scaling, tuned by bisection as in the reference (`tune_temp`).

The negative log-likelihood of labels y under softmax(z / T) is

    NLL(T) = mean_i [ logsumexp(z_i / T) - z_{i, y_i} / T ]

and its derivative is

    dNLL/dT = mean_i [ z_{i, y_i} - sum_k p_ik z_ik ] / T^2,    p_i = softmax(z_i / T).

As a function of beta = 1/T the NLL is convex, so dNLL/dT changes sign at most once on
(0, inf): bisection on its sign finds the minimiser. The reference bisects on
[lower, upper] = [0.2, 5] until `upper - lower <= 1e-4` (at the midpoint: derivative > 0
means the minimum lies below, so `upper = mid`, else `lower = mid`), then returns whichever of
lower, midpoint and upper has the smallest NLL. A minimiser outside [0.2, 5] gives the nearer
end. The derivative here is the closed form above in float64 (the reference asks autograd for
it in float32); the iterations are the same.
"""

from __future__ import annotations

import numpy as np

from ..errors import UserInputError


def _log_softmax(z: np.ndarray) -> np.ndarray:
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    """Mean negative log-likelihood of `labels` under softmax(logits / temperature)."""
    logp = _log_softmax(np.asarray(logits, dtype=np.float64) / temperature)
    return float(-logp[np.arange(len(labels)), labels].mean())


def nll_slope(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    """dNLL/dT at `temperature` (closed form, see the module docstring)."""
    z = np.asarray(logits, dtype=np.float64)
    p = np.exp(_log_softmax(z / temperature))
    expected = (p * z).sum(axis=1)
    return float((z[np.arange(len(labels)), labels] - expected).mean() / temperature ** 2)


def tune_temperature(logits, labels, *, lower: float = 0.2, upper: float = 5.0,
                     eps: float = 1e-4) -> float:
    """The temperature in [lower, upper] minimising the NLL, by bisection to `eps`."""
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64).ravel()
    if z.ndim != 2 or len(z) != len(y) or len(y) == 0:
        raise UserInputError(
            f"temperature tuning needs (N, K) logits and N labels, got {z.shape} and {y.shape}"
        )
    if y.min() < 0 or y.max() >= z.shape[1]:
        raise UserInputError(f"labels must lie in 0..{z.shape[1] - 1} for {z.shape[1]} logits")
    if not 0 < lower < upper:
        raise UserInputError(f"temperature bounds must satisfy 0 < lower < upper, got {lower}, {upper}")
    while upper - lower > eps:
        mid = 0.5 * (lower + upper)
        if nll_slope(z, y, mid) > 0:
            upper = mid
        else:
            lower = mid
    return min((lower, 0.5 * (lower + upper), upper), key=lambda t: nll(z, y, t))
