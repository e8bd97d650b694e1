"""The grid first guesses (push-pull, relaxation, biharmonic, temporal): observed values
kept, smooth fields recovered, exact minima, periodic axes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from polydiff.interpolate import first_guess, linear_along, push_pull, relax

LAT = np.linspace(-60, 60, 13)
LON = np.arange(24) * 15.0


def _smooth(n_time: int = 6, seed: int = 0) -> np.ndarray:
    """A smooth field on the globe that moves in time: ``(T, 13, 24)``."""
    la, lo = np.deg2rad(LAT)[None, :, None], np.deg2rad(LON)[None, None, :]
    t = np.arange(n_time)[:, None, None]
    return 10 * np.cos(la) + 2 * np.sin(lo + 0.3 * t) * np.cos(2 * la) + 0.1 * seed



@settings(max_examples=10)
@given(seed=st.integers(0, 1000), frac=st.floats(0.0, 0.95), dims=st.integers(1, 3))
def test_first_guess_keeps_known_values_and_stays_within_their_range(seed, frac, dims):
    g = torch.Generator().manual_seed(seed)
    shape = (2, 2, *[5, 6, 7][:dims])
    x = torch.randn(shape, generator=g, dtype=torch.float64)
    mask = torch.rand(shape, generator=g) >= frac
    mask.view(4, -1)[:, 0] = True  # one known value per sample and channel
    out = first_guess(torch.where(mask, x, 0.0), mask, periodic=dims == 2)
    assert torch.equal(out[mask], x[mask])
    for b in range(2):
        for c in range(2):
            known = x[b, c][mask[b, c]]
            assert known.min() - 1e-9 <= out[b, c].min() and out[b, c].max() <= known.max() + 1e-9


def test_relaxation_is_exact_for_linear_ramps_and_wraps_periodic_axes():
    ramp = torch.linspace(0, 1, 9, dtype=torch.float64)[None, None, :, None].expand(1, 1, 9, 4)
    mask = torch.zeros_like(ramp, dtype=torch.bool)
    mask[:, :, [0, -1]] = True
    out = relax(push_pull(ramp * mask, mask), ramp, mask, iterations=400)
    torch.testing.assert_close(out, ramp, atol=1e-4, rtol=0)
    ring = torch.zeros(1, 1, 1, 8, dtype=torch.float64)
    ring[..., 0] = 1.0
    known = torch.zeros_like(ring, dtype=torch.bool)
    known[..., 0] = True
    known[..., 4] = True
    wrapped = relax(ring, ring, known, iterations=200, periodic=(False, True))
    torch.testing.assert_close(wrapped[..., 7], wrapped[..., 1])  # symmetric about column 0


def _bending_reference(x: np.ndarray, known: np.ndarray, wrap: tuple[bool, bool]) -> np.ndarray:
    """The exact minimum of sum (L u)^2 over the unknown entries of a 2-D ``x`` (dense least
    squares with L built explicitly as a matrix), for checking the conjugate gradients."""
    from scipy.linalg import lstsq

    h, w = x.shape
    n = h * w
    lap = np.zeros((n, n))
    for i in range(h):
        for j in range(w):
            k = i * w + j
            for (di, dj), wr in (((1, 0), wrap[0]), ((-1, 0), wrap[0]), ((0, 1), wrap[1]),
                                 ((0, -1), wrap[1])):
                a, b = i + di, j + dj
                if wr:
                    a, b = a % h, b % w
                else:
                    a, b = min(max(a, 0), h - 1), min(max(b, 0), w - 1)
                lap[k, a * w + b] += 0.25
            lap[k, k] -= 1.0
    free = ~known.ravel()
    base = np.where(known, x, 0.0).ravel()
    sol, *_ = lstsq(lap[:, free], -lap @ base)
    out = base.copy()
    out[free] = sol
    return out.reshape(h, w)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 1000), frac=st.floats(0.2, 0.7), periodic=st.booleans())
def test_biharmonic_reaches_the_exact_bending_minimum(seed, frac, periodic):
    from polydiff.interpolate import biharmonic

    g = np.random.default_rng(seed)
    x = g.standard_normal((2, 6, 8))
    known = g.random((2, 6, 8)) >= frac
    known[:, 0, 0] = known[:, -1, -1] = True
    t = torch.from_numpy(x)[None]
    m = torch.from_numpy(known)[None]
    start = first_guess(torch.where(m, t, 0.0), m, (False, periodic))
    out = biharmonic(start, t, m, iterations=200, periodic=(False, periodic))[0].numpy()
    for c in range(2):
        ref = _bending_reference(x[c], known[c], (False, periodic))
        np.testing.assert_allclose(out[c], ref, atol=1e-6)
    assert np.array_equal(out[known], x[known])


def test_biharmonic_is_closer_than_harmonic_for_a_smooth_field_and_commutes_with_rolls():
    """A smooth field with 60 % of its points hidden: the thin-plate guess is closer than
    Laplace's; on a periodic axis any roll commutes with it (each sample on its own)."""
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 16, dtype=torch.float64),
                            torch.arange(32, dtype=torch.float64) * (2 * np.pi / 32),
                            indexing="ij")
    field = (torch.sin(xx) * (1 + yy) + 0.5 * torch.cos(2 * xx + 3 * yy))[None, None]
    known = torch.rand(field.shape, generator=torch.Generator().manual_seed(0)) > 0.6
    values = torch.where(known, field, 0.0)
    err = {m: (first_guess(values, known, (False, True), method=m) - field)[~known].square()
           .mean().sqrt().item() for m in ("harmonic", "biharmonic")}
    assert err["biharmonic"] < 0.5 * err["harmonic"]
    batch = torch.cat([values, values.roll(5, -1)])
    mask = torch.cat([known, known.roll(5, -1)])
    out = first_guess(batch, mask, (False, True), levels=0, method="biharmonic")
    torch.testing.assert_close(out[1:], out[:1].roll(5, -1), atol=1e-6, rtol=0)


def test_temporal_guess_is_linear_in_time_and_harmonic_where_no_step_is_known():
    """A whole missing step between known ones: their distance-weighted blend; the last step
    missing: the one before held; a cell never known: the harmonic guess of its neighbours."""
    g = torch.Generator().manual_seed(3)
    x = torch.randn(1, 2, 5, 6, 8, generator=g, dtype=torch.float64)
    known = torch.ones_like(x, dtype=torch.bool)
    known[:, :, 1:3] = False  # steps 1 and 2 between steps 0 and 3
    known[:, :, 4] = False  # the last step
    known[:, :, :, 2, 3] = False  # one cell never known (land)
    out = first_guess(torch.where(known, x, 0.0), known, (False, False, True),
                      method="temporal")
    assert torch.equal(out[known], x[known])
    sea = torch.ones(6, 8, dtype=torch.bool)
    sea[2, 3] = False
    first, last = x[:, :, 0], x[:, :, 3]
    torch.testing.assert_close(out[:, :, 1][..., sea], ((2 * first + last) / 3)[..., sea])
    torch.testing.assert_close(out[:, :, 2][..., sea], ((first + 2 * last) / 3)[..., sea])
    torch.testing.assert_close(out[:, :, 4][..., sea], last[..., sea])
    harmonic = first_guess(torch.where(known, x, 0.0), known, (False, False, True))
    torch.testing.assert_close(out[..., 2, 3], harmonic[..., 2, 3])
    # no cell without a known step: linear in time everywhere
    known[:, :, 0, 2, 3] = True
    out = first_guess(torch.where(known, x, 0.0), known, (False, False, True),
                      method="temporal")
    torch.testing.assert_close(out, linear_along(torch.where(known, x, 0.0), known, dim=2))


def test_first_guess_bad_method_is_named():
    with pytest.raises(ValueError, match=r"method must be one of \['harmonic', 'biharmonic', "
                                         r"'temporal'\], got 'spline'"):
        first_guess(torch.zeros(1, 1, 4, 4), torch.ones(1, 1, 4, 4), method="spline")
    with pytest.raises(ValueError, match=r"'temporal' needs a time axis: values \(B, C, time, "
                                         r"lat, lon\), got shape \(1, 1, 4, 4\)"):
        first_guess(torch.zeros(1, 1, 4, 4), torch.ones(1, 1, 4, 4), method="temporal")
