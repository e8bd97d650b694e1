"""Generation, timing conditioning, gap filling, continuation and longer-than-crop generation:
observed samples come back exactly, shapes and lengths are as asked, timing changes the
output, an imputation-trained model fills gaps, and bad requests are named."""

from __future__ import annotations

import lightning.pytorch as pl
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from polydiff.masks import from_intervals
from polydiff.modalities.audio import (
    ASSETS,
    AudioFolder,
    continue_audio,
    extend,
    fill_gaps,
    generate,
)
from polydiff.training import DiffusionModule

RATE = 1000
NET = {"class_path": "polydiff.modalities.audio.AudioUNet",
       "init_args": {"channels": [8, 16], "factors": [2], "blocks": 1, "patch": 2,
                     "attention_heads": 2, "num_classes": 2}}


def module_for(length: int = 64, timing: bool = False, **net_args) -> DiffusionModule:
    """A small random-weight audio model with the metadata an AudioFolder would record."""
    spec = {**NET, "init_args": {**NET["init_args"], **net_args}}
    if timing:
        spec["init_args"]["vector_cond_dim"] = 2
    module = DiffusionModule(spec, sample_shape=[1, length], ema_decay=None)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in module.net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.1)
    module.data_info = {"modality": "audio", "writer": "wav",
                        "normalizer": {"shift": [0.0], "scale": [0.5]},
                        "meta": {"sample_rate": RATE, "channels": 1, "crop": length,
                                 "classes": ["a", "b"],
                                 "timing_scale": 10.0 if timing else None},
                        "sample_shape": [1, length], "num_classes": 2}
    return module.eval()


MODEL = module_for()


def test_generate_shapes_classes_and_guidance():
    x = generate(MODEL, 3, class_label=[0, 1, 1], guidance_scale=2.0, steps=2, seed=1)
    assert x.shape == (3, 1, 64) and torch.isfinite(x).all()
    assert torch.equal(x, generate(MODEL, 3, class_label=[0, 1, 1], guidance_scale=2.0,
                                   steps=2, seed=1))
    assert not torch.allclose(x, generate(MODEL, 3, class_label=0, steps=2, seed=1))
    with pytest.raises(ValueError, match="trained without timing conditioning"):
        generate(MODEL, 1, seconds=3.0)


def test_timing_changes_the_output():
    timed = module_for(timing=True)
    a = generate(timed, 2, start=0.0, seconds=1.0, steps=2, class_label=0)
    b = generate(timed, 2, start=[2.0, 5.0], seconds=8.0, steps=2, class_label=0)
    again = generate(timed, 2, start=0.0, seconds=1.0, steps=2, class_label=0)
    assert torch.equal(a, again) and not torch.allclose(a, b)
    cfg = generate(timed, 2, start=1.0, seconds=4.0, steps=2, class_label=1, guidance_scale=3.0)
    assert cfg.shape == (2, 1, 64)


def test_timing_trains_through_lightning_and_changes_the_output(tmp_path):
    """AudioFolder(timing=True) batches carry [start, total] / scale, DiffusionModule passes
    them to the network, and a few steps make the output depend on them (the zero-initialised
    vector embedding moves); generate() then conditions on start and duration."""
    pl.seed_everything(0)
    dm = AudioFolder(ASSETS / "speech", crop=1024, timing=True, batch_size=4)
    batch = next(iter(dm.train_dataloader()))
    durations = sorted({round(c.seconds / 10.0, 6) for c in dm.train_set.clips})
    assert all(round(float(v), 6) in durations for v in batch["vector"][:, 1])
    assert (batch["vector"][:, 0] >= 0).all()
    net = {**NET, "init_args": {**NET["init_args"], "num_classes": None, "vector_cond_dim": 2,
                                "factors": [4], "patch": 4}}
    module = DiffusionModule(net, ema_decay=None, lr=1e-2)
    assert not module.net.vector_emb.mlp[2].weight.any()
    trainer = pl.Trainer(accelerator="cpu", max_steps=3, logger=False, limit_val_batches=1,
                         enable_progress_bar=False, enable_model_summary=False,
                         enable_checkpointing=False, default_root_dir=tmp_path)
    trainer.fit(module, dm)
    assert module.net.vector_emb.mlp[2].weight.any()
    assert module.data_info["meta"]["timing_scale"] == 10.0
    short = generate(module, 2, start=0.0, seconds=1.0, steps=2)
    late = generate(module, 2, start=4.0, seconds=7.0, steps=2)
    assert short.shape == (2, 1, 1024) and not torch.allclose(short, late)


@given(gaps=st.lists(st.tuples(st.integers(0, 180), st.integers(1, 40)), min_size=1,
                     max_size=3), n=st.integers(60, 200), seed=st.integers(0, 5))
@settings(max_examples=10, deadline=None)
def test_gap_filling_returns_the_observed_samples_exactly(gaps, n, seed):
    audio = torch.randn(1, n, generator=torch.Generator().manual_seed(seed)) * 0.3
    observed = torch.ones(n, dtype=torch.bool)
    for start, width in gaps:
        observed[min(start, n - 1):min(start + width, n)] = False
    if not observed.any():
        observed[0] = True
    runs = torch.diff(torch.cat([torch.zeros(1), (~observed).float(), torch.zeros(1)])).nonzero()
    assume(int((runs[1::2] - runs[::2]).max()) <= 64)  # every gap fits the model's window
    out = fill_gaps(MODEL, audio, observed=observed, num=2, steps=2, seed=seed, class_label=1,
                    sample_rate=RATE)
    assert out.shape == (2, 1, n)
    assert torch.equal(out[:, 0, observed], audio[0, observed].expand(2, -1))
    assert torch.isfinite(out).all()
    assert not torch.equal(out[0, 0, ~observed], out[1, 0, ~observed])


def test_an_observed_mask_and_gaps_in_seconds_give_the_same_fill():
    """``observed=`` (True = known) False at samples 20-50 and 100-110 is the same request as
    the gaps 0.020-0.050 s and 0.100-0.110 s: the same fill, sample for sample."""
    audio = torch.sin(torch.arange(200.0) / 7)[None] * 0.4
    observed = torch.ones(200, dtype=torch.bool)
    observed[20:50] = observed[100:110] = False
    by_mask = fill_gaps(MODEL, audio, observed=observed, sample_rate=RATE, num=2, steps=2,
                        seed=3, class_label=0)
    by_seconds = fill_gaps(MODEL, audio, [(0.020, 0.050), (0.100, 0.110)], sample_rate=RATE,
                           num=2, steps=2, seed=3, class_label=0)
    assert torch.equal(by_mask, by_seconds)
    assert torch.equal(by_mask[:, 0, observed], audio[0, observed].expand(2, -1))
    assert not torch.allclose(by_mask[:, 0, ~observed], audio[0, ~observed].expand(2, -1))
    channels = fill_gaps(MODEL, audio, observed=observed[None], sample_rate=RATE, num=2,
                         steps=2, seed=3, class_label=0)  # (C, N) works as well as (N,)
    assert torch.equal(channels, by_mask)


def test_gap_filling_with_seconds_nan_and_resampling():
    audio = torch.sin(torch.arange(300.0) / 5)[None] * 0.4
    audio[0, 250:260] = float("nan")
    out = fill_gaps(MODEL, audio, [(0.020, 0.050), (0.100, 0.110)], sample_rate=RATE, steps=2,
                    resample=(1, 2))
    hole = ~from_intervals(300, [(0.020, 0.050), (0.100, 0.110)], RATE)
    hole[250:260] = True
    assert torch.equal(out[0, 0, ~hole], audio[0, ~hole]) and torch.isfinite(out).all()


def test_a_recording_at_another_rate_is_resampled_and_its_gaps_land_in_place(tmp_path):
    """A 2 kHz tensor (twice the model's rate) with a gap at 0.10-0.12 s is filled at the
    model's 1 kHz, the gap at samples 100-120; a tensor without its rate is refused in one
    line, and a file's path says its own rate."""
    import soundfile as sf

    fast = torch.sin(torch.arange(600.0) / 9)[None] * 0.4
    out = fill_gaps(MODEL, fast, [(0.10, 0.12)], sample_rate=2000, steps=2)
    assert out.shape == (1, 1, 300)
    slow = fill_gaps(MODEL, fast[:, ::2], [(0.10, 0.12)], sample_rate=RATE, steps=2)
    hole = ~from_intervals(300, [(0.10, 0.12)], RATE)
    assert hole.nonzero().flatten().tolist() == list(range(100, 120))
    # outside the gap: the resampled recording, exactly; inside it: filled (not the input)
    from polydiff.modalities.audio import resample

    torch.testing.assert_close(out[0, :, ~hole], resample(fast, 2000, RATE)[:, ~hole])
    assert not torch.allclose(out[0, :, hole], resample(fast, 2000, RATE)[:, hole])
    assert torch.isfinite(slow).all()
    with pytest.raises(ValueError, match=r"audio is a tensor of samples: give its sample_rate"):
        fill_gaps(MODEL, fast, [(0.10, 0.12)])
    sf.write(tmp_path / "fast.wav", fast[0].numpy(), 2000, subtype="FLOAT")
    from_file = fill_gaps(MODEL, tmp_path / "fast.wav", [(0.10, 0.12)], steps=2)
    torch.testing.assert_close(from_file, out)
    with pytest.raises(ValueError, match="is a file, which says its own rate"):
        fill_gaps(MODEL, tmp_path / "fast.wav", [(0.10, 0.12)], sample_rate=2000)


def test_gap_filling_errors_name_the_problem():
    audio = torch.zeros(1, 100)
    with pytest.raises(ValueError, match=r"gap 0.05-0.2 s ends after the recording \(100 "):
        fill_gaps(MODEL, audio, [(0.05, 0.2)], sample_rate=RATE)
    with pytest.raises(ValueError, match=r"longer than the model's window \(64 samples"):
        fill_gaps(MODEL, torch.zeros(1, 200), [(0.01, 0.09)], sample_rate=RATE)
    with pytest.raises(ValueError, match=r"has 2 channel\(s\) but the model makes mono"):
        fill_gaps(MODEL, torch.zeros(2, 100), [(0.01, 0.02)], sample_rate=RATE)
    with pytest.raises(ValueError, match="nothing to fill"):
        fill_gaps(MODEL, audio, sample_rate=RATE)
    image_like = module_for()
    image_like.data_info = {**image_like.data_info, "modality": "image"}
    with pytest.raises(ValueError, match="is an image model, not an audio model"):
        fill_gaps(image_like, audio, [(0.01, 0.02)], sample_rate=RATE)


@given(length=st.integers(1, 300), prefix=st.integers(0, 150),
       overlap=st.sampled_from([0.25, 0.5, 0.75]))
@settings(max_examples=10, deadline=None)
def test_extend_makes_any_length_and_keeps_the_prefix(length, prefix, overlap):
    prefix = min(prefix, length - 1)
    start = torch.linspace(-0.5, 0.5, prefix)[None] if prefix else None
    out = extend(MODEL, length, prefix=start, sample_rate=RATE, overlap=overlap, num=2, steps=2,
                 class_label=0)
    assert out.shape == (2, 1, length) and torch.isfinite(out).all()
    if prefix:
        assert torch.equal(out[:, :, :prefix], start.expand(2, 1, -1))


def test_long_generation_windows_continue_each_other():
    """Each window after the first is an inpainting of the previous window's end: with a
    deterministic sampler, rerunning a window from the same known part gives the same audio."""
    out = extend(MODEL, 160, overlap=0.5, steps=2, seed=3, class_label=1)
    first = generate(MODEL, 1, class_label=1, steps=2, seed=3)
    assert torch.equal(out[:, :, :64], first)  # window 0 is plain generation
    # window 1 of extend (seed 3 + 1) is the continuation of window 0 by 32 samples
    cont = continue_audio(MODEL, out[0, :, :64], 0.096, sample_rate=RATE, overlap=0.5, steps=2,
                          seed=4,
                          class_label=1)
    assert torch.equal(cont, out[:, :, :96])
