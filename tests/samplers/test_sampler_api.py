"""sample()/methods(): every method with every schedule and shape, NFE, endpoints, dtypes,
reproducibility, callbacks, threads, and the errors for bad input."""

from __future__ import annotations

import threading

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from polydiff import analytic, samplers, schedules

SCHEDULES = [schedules.VPLinear(), schedules.VPCosine(), schedules.VPDiscrete.scaled_linear(),
             schedules.VE(), schedules.EDM(), schedules.Flow()]
METHODS = samplers.methods()
STOCHASTIC = [m for m in METHODS if samplers.info(m).stochastic]
DETERMINISTIC = [m for m in METHODS if not samplers.info(m).stochastic]


def _gmm(shape=(2, 3)) -> analytic.GaussianMixture:
    g = torch.Generator().manual_seed(0)
    return analytic.GaussianMixture(torch.randn((3, *shape), generator=g, dtype=torch.float64),
                                    0.2**2)


def _noise(shape, seed=1, dtype=torch.float64):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def test_methods_listed() -> None:
    expected = {"ddpm", "ddim", "euler", "heun", "dpmpp_2m", "dpmpp_3m", "dpm_2m", "dpm_3m",
                "dpmpp_2m_sde", "unipc", "euler_maruyama", "edm", "adaptive"}
    assert set(METHODS) == expected
    for m in METHODS:
        assert callable(getattr(samplers, m))


def constant(point: torch.Tensor):
    """A perfect denoiser for data that is a point mass at ``point``."""
    def den(x, t):
        den.calls += 1
        return point.to(x.dtype).expand_as(x)
    den.calls = 0
    return den


@settings(max_examples=40, deadline=None)
@given(method=st.sampled_from(METHODS), sched=st.sampled_from(SCHEDULES),
       grid=st.sampled_from(samplers.grids.names()), steps=st.integers(1, 7),
       shape=st.lists(st.integers(1, 4), min_size=1, max_size=3))
def test_point_mass_returns_the_point(method, sched, grid, steps, shape) -> None:
    """Any method, schedule, grid and shape (1-3 axes): a point mass comes back exactly."""
    point = torch.linspace(-2, 2, int(torch.tensor(shape).prod())).reshape(shape).double()
    noise = _noise((2, *shape))
    out = samplers.sample(constant(point), noise, sched, steps, method, grid,
                          generator=torch.Generator().manual_seed(0))
    assert out.shape == noise.shape
    torch.testing.assert_close(out, point.expand_as(out), rtol=0, atol=1e-12)


@pytest.mark.parametrize("sched", SCHEDULES, ids=lambda s: s.name)
@pytest.mark.parametrize("method", METHODS)
def test_every_method_every_schedule_lands_on_the_data(method, sched) -> None:
    gmm = _gmm()
    out = samplers.sample(gmm.denoiser(sched), _noise((64, 2, 3)), sched, 25, method,
                          generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(out).all()
    # every sample ends close to one of the modes (component std 0.2 in 6 dims)
    dist = (out[:, None] - gmm.means[None]).flatten(2).norm(dim=2).min(1).values
    assert dist.median() < 1.0 and dist.max() < 3.0


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("final", ["denoise", "none"])
def test_nfe_is_counted_and_documented(method, final) -> None:
    sched, gmm = schedules.VPCosine(), _gmm()
    den, info = gmm.denoiser(sched), {}
    samplers.sample(den, _noise((3, 2, 3)), sched, 6, method, final=final, info=info,
                    generator=torch.Generator().manual_seed(0))
    assert den.calls == info["nfe"]
    expected = samplers.nfe(method, 6, final)
    if expected is not None:
        assert den.calls == expected
    else:
        assert den.calls >= 3  # adaptive: at least its stages


def test_final_none_leaves_noise_and_denoise_removes_it() -> None:
    sched, gmm = schedules.VPLinear(), _gmm()
    noise = _noise((4, 2, 3))
    x = samplers.sample(gmm.denoiser(sched), noise, sched, 10, "dpmpp_2m", final="none")
    x0 = samplers.sample(gmm.denoiser(sched), noise, sched, 10, "dpmpp_2m")
    gap = (x - x0).abs().max().item()
    s_min = sched.alpha_sigma(torch.tensor(sched.t_min))[1].item()
    assert 0 < gap < 10 * s_min


@pytest.mark.parametrize("method", STOCHASTIC)
def test_generator_reproducible(method) -> None:
    sched, gmm = schedules.EDM(), _gmm()
    noise = _noise((4, 2, 3))

    def run(seed):
        return samplers.sample(gmm.denoiser(sched), noise, sched, 5, method,
                               generator=torch.Generator().manual_seed(seed))

    assert torch.equal(run(3), run(3))
    assert not torch.equal(run(3), run(4))


@pytest.mark.parametrize("method", DETERMINISTIC)
def test_deterministic_sample_independent_of_batch(method) -> None:
    sched, gmm = schedules.VPCosine(), _gmm()
    noise = _noise((6, 2, 3))
    full = samplers.sample(gmm.denoiser(sched), noise, sched, 6, method)
    part = samplers.sample(gmm.denoiser(sched), noise[2:4], sched, 6, method)
    torch.testing.assert_close(part, full[2:4], rtol=0, atol=1e-12)


@pytest.mark.parametrize("method", STOCHASTIC)
def test_per_sample_generators_make_stochastic_methods_batch_independent(method) -> None:
    sched, gmm = schedules.VPCosine(), _gmm()
    noise = _noise((4, 2, 3))

    def gens(seeds):
        return [torch.Generator().manual_seed(s) for s in seeds]

    full = samplers.sample(gmm.denoiser(sched), noise, sched, 5, method,
                           generator=gens([10, 11, 12, 13]))
    part = samplers.sample(gmm.denoiser(sched), noise[1:3], sched, 5, method,
                           generator=gens([11, 12]))
    torch.testing.assert_close(part, full[1:3], rtol=0, atol=1e-12)
    # one generator per group of rows: each group as it would be alone (batched windows)
    grouped = samplers.sample(gmm.denoiser(sched), noise, sched, 5, method,
                              generator=gens([7, 8]))
    alone = samplers.sample(gmm.denoiser(sched), noise[2:], sched, 5, method,
                            generator=torch.Generator().manual_seed(8))
    torch.testing.assert_close(grouped[2:], alone, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="got 3 generators for a batch of 4"):
        samplers.sample(gmm.denoiser(sched), noise, sched, 5, method, generator=gens([1, 2, 3]))


@pytest.mark.parametrize("method", ["dpmpp_2m", "heun", "ddpm", "unipc", "adaptive"])
def test_dtypes(method) -> None:
    sched, gmm = schedules.EDM(), _gmm()
    ref = samplers.sample(gmm.denoiser(sched), _noise((8, 2, 3)), sched, 8, method,
                          generator=torch.Generator().manual_seed(0))
    assert ref.dtype == torch.float64
    for noise_dtype, net_dtype, tol in [(torch.float32, torch.float32, 1e-4),
                                        (torch.float32, torch.bfloat16, 0.1),
                                        (torch.bfloat16, torch.bfloat16, 0.1)]:
        base = gmm.denoiser(sched)

        def net(x, t, base=base, net_dtype=net_dtype):
            assert x.dtype == torch.float32 and t.shape == (x.shape[0],)
            return base(x.to(net_dtype), t).to(net_dtype)  # a network computing in net_dtype

        out = samplers.sample(net, _noise((8, 2, 3)).to(noise_dtype), sched, 8, method,
                              generator=torch.Generator().manual_seed(0))
        assert out.dtype == torch.float32  # solver arithmetic at least float32
        assert torch.isfinite(out).all()
        if not samplers.info(method).stochastic:  # (float32 draws differ from float64 ones)
            assert (out.double() - ref).abs().max() < tol


def test_callback_and_progress() -> None:
    sched, gmm = schedules.VPLinear(), _gmm()
    seen = []
    out = samplers.sample(gmm.denoiser(sched), _noise((3, 2, 3)), sched, 5, "dpmpp_2m",
                          progress=True,
                          callback=lambda x, t, d: seen.append((x.shape, t, d.clone())))
    ts = samplers.grids.log_snr(sched, 5).tolist()
    assert [t for _, t, _ in seen] == ts  # every grid point, the last is the final denoising
    assert all(s == (3, 2, 3) for s, _, _ in seen)
    assert torch.isfinite(out).all()


def test_conditioning_and_options_are_routed() -> None:
    sched, gmm = schedules.VE(), _gmm()
    base = gmm.denoiser(sched)
    got = {}

    def den(x, t, *, label, scale=1.0):
        got["label"], got["scale"] = label, scale
        return base(x, t)

    info: dict = {}
    samplers.sample(den, _noise((2, 2, 3)), sched, 4, "ddim", eta=0.5, label="cat",
                    scale=2.0, info=info)
    assert got == {"label": "cat", "scale": 2.0} and info["nfe"] == 5
    with pytest.raises(TypeError):  # an unknown option reaches the denoiser, which rejects it
        samplers.sample(den, _noise((2, 2, 3)), sched, 4, "ddim", etaa=0.5, label="x")


def test_threads_share_nothing() -> None:
    sched, gmm = schedules.VPCosine(), _gmm()
    noises = [_noise((4, 2, 3), seed=s) for s in range(6)]
    expected = [samplers.sample(gmm.denoiser(sched), n, sched, 12, "unipc") for n in noises]
    results: dict = {}

    def work(k):
        results[k] = samplers.sample(gmm.denoiser(sched), noises[k], sched, 12, "unipc")

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for k in range(6):
        assert torch.equal(results[k], expected[k])


def test_resample_repaint() -> None:
    sched, gmm = schedules.VPCosine(), _gmm()
    info: dict = {}
    out = samplers.sample(gmm.denoiser(sched), _noise((4, 2, 3)), sched, 6, "ddpm",
                          resample=(2, 3), info=info, generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(out).all()
    assert info["nfe"] == 3 * 6 + 1  # each block of 2 runs 3 times, plus the final denoising
    with pytest.raises(ValueError, match="resample"):
        samplers.sample(gmm.denoiser(sched), _noise((4, 2, 3)), sched, 6, resample=(0, 2))
    x = _noise((2, 2, 3))
    up = samplers.renoise(x, 0.2, 0.6, sched, torch.Generator().manual_seed(0))
    assert up.shape == x.shape and not torch.equal(up, x)
    with pytest.raises(ValueError, match="up in time"):
        samplers.renoise(x, 0.6, 0.2, sched)


# -- user methods --------------------------------------------------------------------------
def momentum_euler(denoiser, x, ts, schedule, *, gamma=0.0, **kw):
    """A user method: Euler with ``D_eff = D_i + gamma (D_i - D_{i-1})``; ``gamma = 0`` is
    exactly :func:`samplers.euler`."""
    run = samplers.Run(denoiser, x, ts, schedule, **kw)
    x, d_prev = run.x, None
    for i in run.steps():
        d = run.denoise(x, i)
        x = run.step(x, i, d) if d_prev is None else run.step(x, i, d, d_prev, 1.0 + gamma)
        d_prev = d
    return run.finish(x, d_prev)


def test_user_method_reproduces_the_builtin_and_gets_its_options() -> None:
    sched, gmm = schedules.VPCosine(), _gmm()
    base, got = gmm.denoiser(sched), []

    def den(x, t, *, label):  # rejects any other keyword, e.g. a leaked `gamma`
        got.append(label)
        return base(x, t)

    noise, seen = _noise((4, 2, 3)), []
    ref = samplers.sample(den, noise, sched, 6, "euler", label="a")
    info: dict = {"nfe": 2}
    out = samplers.sample(den, noise, sched, 6, momentum_euler, gamma=0.0, label="a", info=info,
                          callback=lambda x, t, d: seen.append(t))
    assert torch.equal(out, ref)
    assert info == {"nfe": 2 + 7} and set(got) == {"a"} and len(seen) == 7
    moved = samplers.sample(den, noise, sched, 6, momentum_euler, gamma=0.5, label="a")
    assert not torch.equal(moved, ref)  # the option reached the method


def test_user_method_info_nfe_and_resample() -> None:
    entry = samplers.info(momentum_euler)
    assert entry.fn is momentum_euler and entry.name == "momentum_euler"
    assert "gamma" in entry.options and {"final", "generator", "info"} <= entry.options
    assert entry.evals_per_step is None and entry.order is None and entry.stochastic is None
    assert samplers.nfe(momentum_euler, 6) is None
    assert samplers.info(samplers.euler) is samplers.info("euler")  # a built-in, by function
    assert samplers.nfe(samplers.heun, 4) == 9
    sched, gmm = schedules.VPCosine(), _gmm()
    noise, runs = _noise((4, 2, 3)), {}
    for method in ("euler", momentum_euler):
        info: dict = {}
        runs[method] = samplers.sample(gmm.denoiser(sched), noise, sched, 6, method,
                                       resample=(2, 3), info=info,
                                       generator=torch.Generator().manual_seed(0))
        assert info["nfe"] == 3 * 6 + 1
    assert torch.equal(runs["euler"], runs[momentum_euler])


def test_user_method_without_run_reports_nfe() -> None:
    """A plain-torch method (no ``Run``): ``sample`` scales the noise and counts the calls."""
    sched, gmm = schedules.VE(), _gmm()
    starts = []

    def one_shot(denoiser, x, ts, schedule, **kw):  # jump straight to the denoised estimate
        starts.append(x)
        t = torch.as_tensor(ts, dtype=x.dtype)[:1].expand(x.shape[0])
        return denoiser(x, t)

    noise, info = _noise((3, 2, 3)), {}
    out = samplers.sample(gmm.denoiser(sched), noise, sched, 4, one_shot, info=info)
    assert info["nfe"] == 1 and out.shape == noise.shape
    sigma_max = sched.alpha_sigma(torch.tensor(1.0, dtype=torch.float64))[1].item()
    torch.testing.assert_close(starts[0], noise * sigma_max, rtol=0, atol=0)


def test_bad_user_methods() -> None:
    sched, den = schedules.EDM(), constant(torch.zeros(3))
    with pytest.raises(ValueError, match=r"method must be one of \[.*'dpmpp_2m'.*\].*got int"):
        samplers.sample(den, _noise((2, 3)), sched, 4, method=3)
    with pytest.raises(ValueError, match=r"method must be one of .*'euler'"):
        samplers.info(None)

    def positional_option(denoiser, x, ts, schedule, gamma=0.5, **kw):
        return x

    def no_kwargs(denoiser, x, ts, schedule):
        return x

    def wrong_shape(denoiser, x, ts, schedule, **kw):
        return x[:1]

    with pytest.raises(ValueError, match=r"keyword-only.*\['gamma'\]"):
        samplers.sample(den, _noise((2, 3)), sched, 4, positional_option)
    with pytest.raises(ValueError, match=r"no_kwargs.*does not fit"):
        samplers.sample(den, _noise((2, 3)), sched, 4, no_kwargs)
    with pytest.raises(ValueError, match=r"wrong_shape returned \(1, 3\).*\(2, 3\)"):
        samplers.sample(den, _noise((2, 3)), sched, 4, wrong_shape)


# -- bad input -----------------------------------------------------------------------------
def test_unknown_method_lists_valid_names() -> None:
    with pytest.raises(ValueError, match=r"unknown method 'dpm\+\+'.*'dpmpp_2m'.*'unipc'"):
        samplers.sample(constant(torch.zeros(3)), _noise((2, 3)), schedules.EDM(), 5, "dpm++")


def test_steps_below_one() -> None:
    for steps in (0, -1):
        with pytest.raises(ValueError, match="steps"):
            samplers.sample(constant(torch.zeros(3)), _noise((2, 3)), schedules.EDM(), steps)


def test_grid_outside_range() -> None:
    sched = schedules.VPLinear()
    with pytest.raises(ValueError, match="outside the schedule's range"):
        samplers.sample(constant(torch.zeros(3)), _noise((2, 3)), sched, grid=[1.0, 0.5, 0.0])
    with pytest.raises(ValueError, match="outside the schedule's range"):
        samplers.dpmpp_2m(constant(torch.zeros(3)), _noise((2, 3)), [1.5, 0.5], sched)


@pytest.mark.parametrize("method", METHODS)
def test_wrong_shape_raises_with_step_and_t(method) -> None:
    def den(x, t):
        return x[:, :2]

    with pytest.raises(ValueError, match=r"step 0 \(t=1\).*returned \(2, 2\).*\(2, 3\)"):
        samplers.sample(den, _noise((2, 3)), schedules.EDM(), 4, method)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_raises_with_step_and_t(method, bad) -> None:
    sched, gmm = schedules.EDM(), _gmm((3,))
    base = gmm.denoiser(sched)
    calls = [0]

    def den(x, t):
        calls[0] += 1
        out = base(x, t)
        if calls[0] == 3:
            out = out.clone()
            out[1, 2] = bad
        return out

    with pytest.raises(ValueError, match=r"step \d+ \(t=[0-9.e-]+\).*1 NaN/Inf"):
        samplers.sample(den, _noise((2, 3)), sched, 4, method,
                        generator=torch.Generator().manual_seed(0))


def test_huge_but_finite_output_is_not_an_error() -> None:
    """The cheap check sums the output; an overflowing sum of finite values is re-checked."""
    den = constant(torch.full((4,), 3e38, dtype=torch.float32))
    out = samplers.sample(den, _noise((3, 4), dtype=torch.float32), schedules.EDM(), 2, "euler")
    assert torch.isfinite(out).all()


def test_bad_noise_and_options() -> None:
    sched = schedules.EDM()
    with pytest.raises(ValueError, match="noise"):
        samplers.sample(constant(torch.zeros(3)), torch.zeros(2, 3, dtype=torch.long), sched)
    with pytest.raises(ValueError, match="noise must be finite"):
        samplers.sample(constant(torch.zeros(3)), torch.full((2, 3), float("nan")), sched)
    with pytest.raises(ValueError, match="final"):
        samplers.sample(constant(torch.zeros(3)), _noise((2, 3)), sched, final="clean")
    with pytest.raises(ValueError, match="eta"):
        samplers.sample(constant(torch.zeros(3)), _noise((2, 3)), sched, method="ddim", eta=2.0)
    with pytest.raises(ValueError, match="order"):
        samplers.sample(constant(torch.zeros(3)), _noise((2, 3)), sched, method="unipc",
                        order=4)
    with pytest.raises(ValueError, match="variant"):
        samplers.sample(constant(torch.zeros(3)), _noise((2, 3)), sched, method="unipc",
                        variant="bh3")
    with pytest.raises(RuntimeError, match="max_nfe"):
        samplers.sample(_gmm((3,)).denoiser(sched), _noise((2, 3)), sched, method="adaptive",
                        rtol=1e-9, atol=1e-9, max_nfe=20)


def test_edm_without_churn_is_heun() -> None:
    sched, gmm = schedules.VPLinear(), _gmm()
    noise = _noise((4, 2, 3))
    a = samplers.sample(gmm.denoiser(sched), noise, sched, 7, "heun", final="none")
    b = samplers.sample(gmm.denoiser(sched), noise, sched, 7, "edm", s_churn=0.0, final="none")
    c = samplers.sample(gmm.denoiser(sched), noise, sched, 7, "edm", s_tmin=1e6,  # no churn
                        final="none")
    torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    torch.testing.assert_close(a, c, rtol=0, atol=1e-12)


def test_renoise_matches_the_forward_process() -> None:
    sched = schedules.VPLinear()
    x = torch.ones(40_000, 1, dtype=torch.float64)
    out = samplers.renoise(x, 0.3, 0.7, sched, torch.Generator().manual_seed(0))
    (a0, a1), (s0, s1) = (v.tolist() for v in sched.alpha_sigma(
        torch.tensor([0.3, 0.7], dtype=torch.float64)))
    k = a1 / a0
    assert abs(out.mean().item() - k) < 0.01
    assert abs(out.std().item() - (s1**2 - k**2 * s0**2) ** 0.5) < 0.01


def test_deferred_checks_report_the_first_bad_step(monkeypatch) -> None:
    """On accelerators the checks run at the end (no sync per step): same error, same step."""
    from polydiff.samplers import _run

    monkeypatch.setattr(_run, "_defer_checks", lambda device: True)
    sched, gmm = schedules.EDM(), _gmm((3,))
    base, calls = gmm.denoiser(sched), [0]

    def den(x, t):
        calls[0] += 1
        return base(x, t) * (float("nan") if calls[0] >= 3 else 1.0)

    with pytest.raises(ValueError, match=r"step 2 \(t=.*NaN/Inf"):
        samplers.sample(den, _noise((2, 3)), sched, 4, "dpmpp_2m")
