"""Guidance wrappers: cfg (+ rescale, batching), inpaint (exact observed entries with every
method), dps (gradients through the denoiser), and how they compose."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from polydiff import analytic, guidance, samplers, schedules

SCHED = schedules.VPCosine()


def _gmm(shape=(2, 3), k=3, seed=0) -> analytic.GaussianMixture:
    g = torch.Generator().manual_seed(seed)
    return analytic.GaussianMixture(torch.randn((k, *shape), generator=g, dtype=torch.float64),
                                    0.2**2)


def _noise(shape, seed=1):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


class ClassDenoiser:
    """Exact denoiser of mixture component ``label`` (per sample), or of the whole mixture when
    ``label`` is missing/None/-1: a conditional model with its unconditional counterpart."""

    def __init__(self, gmm, sched):
        self.gmm, self.sched, self.calls, self.batches = gmm, sched, 0, []
        self.parts = [analytic.GaussianMixture(gmm.means[k:k + 1], gmm.variances[k:k + 1])
                      for k in range(gmm.num_components)]

    def __call__(self, x, t, label=None):
        self.calls += 1
        self.batches.append(x.shape[0])
        alpha, sigma = self.sched.alpha_sigma(t.double())
        full = self.gmm.denoise(x, alpha, sigma)
        if label is None:
            return full
        outs = [p.denoise(x, alpha, sigma) for p in self.parts]
        out = full.clone()
        for k, o in enumerate(outs):
            sel = label == k
            out[sel] = o[sel]
        return out


# -- cfg ------------------------------------------------------------------------------------
def test_cfg_is_the_guided_combination() -> None:
    gmm = _gmm()
    den = ClassDenoiser(gmm, SCHED)
    x, t = _noise((4, 2, 3)), torch.full((4,), 0.6)
    label = torch.tensor([0, 1, 2, 0])
    d_c, d_u = den(x, t, label=label), den(x, t)
    for scale in (0.0, 1.0, 3.0):
        out = guidance.cfg(den, scale)(x, t, label=label)
        torch.testing.assert_close(out, d_u + scale * (d_c - d_u))
    no_label = torch.full((4,), -1)
    out = guidance.cfg(den, 3.0, uncond={"label": no_label})(x, t, label=label)
    torch.testing.assert_close(out, d_u + 3.0 * (d_c - d_u))


def test_cfg_batches_both_passes_in_one_call() -> None:
    den = ClassDenoiser(_gmm(), SCHED)
    x, t = _noise((4, 2, 3)), torch.full((4,), 0.6)
    label = torch.tensor([0, 1, 2, 0])
    guidance.cfg(den, 2.0, uncond={"label": torch.tensor(-1)})(x, t, label=label)
    assert den.batches == [8]  # one call on a doubled batch
    den.batches.clear()
    guidance.cfg(den, 2.0)(x, t, label=label)  # default: drop the conditioning -> two calls
    assert den.batches == [4, 4]
    den.batches.clear()
    guidance.cfg(den, 2.0, uncond={"label": None})(x, t, label=label)  # None: not batchable
    assert den.batches == [4, 4]
    den.batches.clear()
    guidance.cfg(den, 1.0)(x, t, label=label)  # scale 1: conditional only
    assert den.batches == [4]


def test_cfg_rescale() -> None:
    den = ClassDenoiser(_gmm(), SCHED)
    x, t = _noise((4, 2, 3)), torch.full((4,), 0.5)
    label = torch.tensor([0, 1, 2, 0])
    d_c = den(x, t, label=label)
    plain = guidance.cfg(den, 5.0)(x, t, label=label)
    full = guidance.cfg(den, 5.0, rescale=1.0)(x, t, label=label)
    half = guidance.cfg(den, 5.0, rescale=0.5)(x, t, label=label)
    std = lambda v: v.flatten(1).std(1)  # noqa: E731
    torch.testing.assert_close(std(full), std(d_c))  # phi = 1: the conditional's std
    torch.testing.assert_close(half, 0.5 * full + 0.5 * plain)
    assert not torch.allclose(std(plain), std(d_c))
    with pytest.raises(ValueError, match="rescale"):
        guidance.cfg(den, 2.0, rescale=1.5)


def test_cfg_samples_move_toward_the_class() -> None:
    gmm = _gmm(k=3)
    den = ClassDenoiser(gmm, SCHED)
    label = torch.full((64,), 1)
    info: dict = {}
    x = samplers.sample(guidance.cfg(den, 3.0, uncond={"label": torch.tensor(-1)}),
                        _noise((64, 2, 3)), SCHED, 10, "dpmpp_2m", label=label, info=info)
    assert (gmm.component_of(x) == 1).float().mean() > 0.95
    assert info["nfe"] == 11 and den.batches == [128] * 11


# -- inpaint ---------------------------------------------------------------------------------
@settings(max_examples=30, deadline=None)
@given(method=st.sampled_from(samplers.methods()), grid=st.sampled_from(samplers.grids.names()),
       seed=st.integers(0, 10_000), mask_shape=st.sampled_from([(4, 2, 3), (1, 2, 3), (2, 3),
                                                                (3,), (4, 1, 1)]),
       steps=st.integers(1, 6))
def test_inpaint_keeps_observed_entries_exactly(method, grid, seed, mask_shape, steps) -> None:
    gmm = _gmm()
    g = torch.Generator().manual_seed(seed)
    known = gmm.sample(4, generator=g)
    observed = torch.rand(mask_shape, generator=g) < 0.5
    known = torch.where(observed, known, torch.nan)  # missing entries may be NaN
    den = guidance.inpaint(gmm.denoiser(SCHED), known, observed)
    out = samplers.sample(den, _noise((4, 2, 3), seed), SCHED, steps, method, grid,
                          generator=g)
    obs = observed.expand_as(out)
    assert torch.equal(out[obs], known.expand_as(out)[obs])
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("method", ["ddpm", "unipc", "dpmpp_3m"])
def test_inpaint_with_resampling_and_cfg(method) -> None:
    gmm = _gmm()
    known = gmm.sample(4, generator=torch.Generator().manual_seed(0))
    observed = torch.zeros(4, 2, 3, dtype=torch.bool)
    observed[:, 0] = True
    den = ClassDenoiser(gmm, SCHED)
    wrapped = guidance.inpaint(guidance.cfg(den, 2.0, uncond={"label": torch.tensor(-1)}),
                               known, observed)
    out = samplers.sample(wrapped, _noise((4, 2, 3)), SCHED, 6, method, resample=(2, 2),
                          label=torch.tensor([0, 1, 2, 0]),
                          generator=torch.Generator().manual_seed(0))
    assert torch.equal(out[observed], known[observed])


def test_inpaint_conditions_the_missing_entries() -> None:
    """Observing half of a sample from one mode pulls the other half to that mode."""
    gmm = _gmm((8,), k=2)
    known = gmm.means[[0, 1, 0, 1]] + 0.0
    observed = torch.zeros(4, 8, dtype=torch.bool)
    observed[:, :4] = True
    out = samplers.sample(guidance.inpaint(gmm.denoiser(SCHED), known, observed),
                          _noise((4, 8)), SCHED, 20, "unipc")
    assert torch.equal(gmm.component_of(out), torch.tensor([0, 1, 0, 1]))


def test_inpaint_bad_masks() -> None:
    den = _gmm().denoiser(SCHED)
    known = torch.zeros(4, 2, 3)
    with pytest.raises(ValueError, match=r"observed must be a bool tensor.*float32"):
        guidance.inpaint(den, known, torch.ones(4, 2, 3))
    with pytest.raises(ValueError, match=r"observed of shape \(4, 5, 3\) does not broadcast"):
        guidance.inpaint(den, known, torch.ones(4, 5, 3, dtype=torch.bool))
    bad = torch.full((4, 2, 3), float("nan"))
    with pytest.raises(ValueError, match="NaN/Inf at observed"):
        guidance.inpaint(den, bad, torch.ones(4, 2, 3, dtype=torch.bool))
    wrapped = guidance.inpaint(lambda x, t: 0.5 * x, torch.zeros(2, 3),
                               torch.ones(2, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="does not broadcast to the data shape"):
        samplers.sample(wrapped, _noise((4, 5, 3)), SCHED, 3)


# -- dps -------------------------------------------------------------------------------------
def test_dps_pulls_toward_the_measurement() -> None:
    gmm = _gmm((6,), k=3)
    truth = gmm.sample(32, generator=torch.Generator().manual_seed(0))
    proj = torch.randn(6, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)

    def operator(x):
        return x @ proj

    y = operator(truth)
    plain = samplers.sample(gmm.denoiser(SCHED), _noise((32, 6)), SCHED, 20, "ddpm",
                            generator=torch.Generator().manual_seed(2))
    guided = samplers.sample(guidance.dps(gmm.denoiser(SCHED), operator, y, 5.0, SCHED),
                             _noise((32, 6)), SCHED, 20, "ddpm",
                             generator=torch.Generator().manual_seed(2))
    res_plain = (operator(plain) - y).norm(dim=1).mean()
    res_guided = (operator(guided) - y).norm(dim=1).mean()
    assert res_guided < 0.3 * res_plain
    assert not guided.requires_grad


def test_dps_step_zero_is_the_denoiser_and_grad_flows_under_no_grad() -> None:
    gmm = _gmm()
    den = gmm.denoiser(SCHED)
    x, t = _noise((3, 2, 3)), torch.full((3,), 0.4)
    y = torch.zeros(3, 2, 3)
    with torch.no_grad():
        torch.testing.assert_close(guidance.dps(den, lambda v: v, y, 0.0, SCHED)(x, t), den(x, t))
        moved = guidance.dps(den, lambda v: v, y, 1.0, SCHED)(x, t)
    assert (moved.norm(dim=(1, 2)) < den(x, t).norm(dim=(1, 2))).all()  # toward y = 0
    with pytest.raises(ValueError, match="step"):
        guidance.dps(den, lambda v: v, y, -1.0, SCHED)
