"""GuessResidual: the residual prediction plus p·guess is the full prediction, exactly."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from polydiff import parameterization, schedules
from polydiff.nn import GuessResidual

LINEAR = [n for n in parameterization.names() if n != "edm"]


@settings(max_examples=25, deadline=None)
@given(name=st.sampled_from(LINEAR), t=st.floats(0.02, 0.98), seed=st.integers(0, 99))
def test_ideal_residual_network_gives_the_full_prediction(name, t, seed):
    g = torch.Generator().manual_seed(seed)
    x0, eps, guess = (torch.randn(2, 3, 5, generator=g, dtype=torch.float64) for _ in range(3))
    sched, pred = schedules.get("vp_cosine"), parameterization.get(name)
    tt = torch.full((2,), t, dtype=torch.float64)
    alpha, sigma = sched.alpha_sigma(tt)
    a, s = alpha.view(-1, 1, 1), sigma.view(-1, 1, 1)
    x_t = a * x0 + s * eps
    p, q = (c.view(-1, 1, 1) for c in pred.coefficients(alpha, sigma))
    seen = []

    def ideal(r_t):  # knows x0 and eps: the exact residual target p (x0 - g) + q eps
        seen.append(r_t)
        return p * (x0 - guess) + q * eps

    out = GuessResidual(name, "vp_cosine")(ideal, x_t, 1000 * tt, guess)
    torch.testing.assert_close(seen[0], a * (x0 - guess) + s * eps)
    torch.testing.assert_close(out, p * x0 + q * eps)


def test_zero_network_with_x0_prediction_returns_the_guess():
    guess = torch.randn(2, 1, 4, 4)
    out = GuessResidual("x0")(torch.zeros_like, torch.randn(2, 1, 4, 4),
                              torch.tensor([100.0, 900.0]), guess)
    torch.testing.assert_close(out, guess)


def test_guess_of_another_shape_is_named():
    with pytest.raises(ValueError, match=r"guess must have the sample's shape \(1, 1, 4\)"):
        GuessResidual()(torch.zeros_like, torch.zeros(1, 1, 4), torch.ones(1), torch.zeros(1, 4))
