"""Behaviour pinned across refactors: each golden case (``cases.py``: every modality's task on a
small fixed case, fixed seed) gives the outputs stored in ``data/`` to 1e-6 (relative to
max(1, |value|): float32 values of 20 degC are only resolved to 2e-6)."""

from __future__ import annotations

import pytest
import torch
from cases import CASES, path_of, run


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_outputs_are_unchanged(name, tmp_path):
    stored = torch.load(path_of(name), weights_only=True)
    out = run(name, tmp_path)
    assert sorted(out) == sorted(stored), f"{name}: outputs {sorted(out)} vs {sorted(stored)}"
    for key, want in stored.items():
        got = out[key]
        assert got.shape == want.shape and got.dtype == want.dtype, (
            f"{name}/{key}: {got.dtype} {tuple(got.shape)} vs stored {want.dtype} "
            f"{tuple(want.shape)}")
        got, want = got.double(), want.double()
        same = (got == want) | (got.isnan() & want.isnan())  # equal infinities included
        err = torch.where(same, 0.0, (got - want).abs() / want.abs().clamp(min=1.0))
        worst = err.max().item() if err.numel() else 0.0
        assert worst <= 1e-6, (f"{name}/{key}: difference {worst:.3g} (relative to max(1, |x|)) "
                               f"from the stored output")


def test_the_cases_are_not_trivial(tmp_path):
    """A golden output that is constant (all zeros, say) would pin nothing."""
    for name in sorted(CASES):
        stored = torch.load(path_of(name), weights_only=True)
        for key, value in stored.items():
            if value.numel() > 1:
                assert value.double().std() > 0, f"{name}/{key} is constant"


def _cli(args) -> None:
    from polydiff.cli import main

    assert main([str(a) for a in args]) == 0


def test_polydiff_sample_gives_what_the_api_gives(tmp_path):
    """``polydiff sample`` on a checkpoint: the same samples (data units) as the Python API on
    the same checkpoint."""
    from cases import IMAGE_NET, _module, save_checkpoint

    from polydiff.training import load_checkpoint

    m = _module(IMAGE_NET, sample_shape=[1, 8, 8])
    m.data_info = {"modality": "image", "writer": "png",
                   "normalizer": {"shift": [0.5], "scale": [0.5]}, "meta": {},
                   "sample_shape": [1, 8, 8], "num_classes": 3}
    ckpt = save_checkpoint(m, tmp_path / "image.ckpt")
    _cli(["sample", "--checkpoint", ckpt, "--num", 4, "--steps", 3, "--seed", 2,
          "--guidance-scale", 2, "--out", tmp_path / "out"])
    got = torch.load(tmp_path / "out" / "samples.pt", weights_only=True)
    module = load_checkpoint(ckpt)
    want = module.to_data_units(module.sample(4, steps=3, seed=2, guidance_scale=2.0,
                                              class_labels=[0, 1, 2, 0]))
    assert got.shape == (4, 1, 8, 8) and torch.allclose(got, want, atol=1e-6, rtol=0)
    assert (tmp_path / "out" / "samples.png").is_file()


def test_polydiff_fill_gaps_gives_what_the_api_gives(tmp_path):
    import soundfile as sf
    from cases import RATE, audio_model, recording, save_checkpoint

    from polydiff.modalities.audio import fill_gaps, save_wav
    from polydiff.training import load_checkpoint

    ckpt = save_checkpoint(audio_model(classes=None, imputation=True), tmp_path / "a.ckpt")
    audio = recording(300)
    audio[:, 150:156] = float("nan")
    sf.write(tmp_path / "in.wav", audio.numpy().T, RATE, subtype="FLOAT")
    (tmp_path / "gaps.txt").write_text("0.02,0.05\n0.25,0.28\n")
    _cli(["fill-gaps", tmp_path / "in.wav", "--checkpoint", ckpt, "--gaps",
          tmp_path / "gaps.txt", "--out", tmp_path / "out.wav", "--steps", 3, "--seed", 4,
          "--num", 2, "--no-progress"])
    missing = torch.isnan(audio)
    missing[:, 20:50] = missing[:, 250:280] = True
    want = fill_gaps(load_checkpoint(ckpt).eval(), torch.nan_to_num(audio),
                     observed=~missing[0], sample_rate=RATE, num=2, steps=3, seed=4)
    for k in range(2):
        save_wav(want[k], tmp_path / f"want_{k}.wav", RATE)
        got, _ = sf.read(tmp_path / f"out_{k}.wav", dtype="float32")
        ref, _ = sf.read(tmp_path / f"want_{k}.wav", dtype="float32")
        assert got.shape == (300,) and (got == ref).all()
    assert not torch.allclose(want[0], want[1])


def test_polydiff_impute_gives_what_the_api_gives(tmp_path):
    import numpy as np
    import xarray as xr
    from cases import field, save_checkpoint, science_model

    from polydiff.modalities.science import impute
    from polydiff.training import load_checkpoint

    ckpt = save_checkpoint(science_model(tmp_path), tmp_path / "s.ckpt")
    field().to_netcdf(tmp_path / "in.nc", engine="scipy")
    _cli(["impute", tmp_path / "in.nc", "--checkpoint", ckpt, "--out", tmp_path / "out.nc",
          "--samples", 3, "--steps", 2, "--seed", 1, "--no-progress"])
    with xr.open_dataset(tmp_path / "out.nc") as got:
        want = impute(field(), load_checkpoint(ckpt), n_samples=3, steps=2, seed=1,
                      progress=False)
        for v in ("SST", "AIRT"):
            for key in (v, f"{v}_std", f"{v}_quantiles"):
                np.testing.assert_allclose(got[key].values, want[key].values, atol=1e-6, rtol=0)
