"""The conditional frame model (imputation training along time, temporal first guess,
residual): given frames back exactly, an untrained model returns the baselines, end to end with
Lightning on a few moving-digit clips, and bad input named in one line."""

from __future__ import annotations

import lightning.pytorch as pl
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from test_video_unet import unzero_

from polydiff.cli import main
from polydiff.modalities.video import MovingDigitsDataModule, VideoUNet
from polydiff.modalities.video.baselines import linear_blend, repeat_last
from polydiff.modalities.video.demo import FRAME_MASKS, frame_module, frame_net
from polydiff.modalities.video.io import read_video, write_mp4
from polydiff.modalities.video.tasks import interpolate, interpolation_mask, predict
from polydiff.training import DiffusionModule, load_checkpoint

SMALL = {"class_path": "polydiff.modalities.video.VideoUNet",
         "init_args": {"in_channels": 1, "base_channels": 8, "channel_mult": [1, 2],
                       "attention_heads": 2, "max_relative_distance": 3}}


def _module(unzero: bool = True) -> DiffusionModule:
    torch.manual_seed(0)
    m = DiffusionModule(frame_net(SMALL), prediction="x0", imputation=FRAME_MASKS,
                        ema_decay=None, sample_shape=[1, 5, 8, 8])
    if unzero:
        unzero_(m.net)  # a network that does something (not the zero output of a fresh one)
    return m.eval()


@pytest.fixture(scope="module")
def module():
    return _module()


@settings(max_examples=6)
@given(k=st.integers(1, 4), method=st.sampled_from(["dpmpp_2m", "euler", "heun", "ddpm"]),
       seed=st.integers(0, 9))
def test_conditional_prediction_returns_the_given_frames_exactly(module, k, method, seed):
    context = torch.randn(2, 1, k, 8, 8, generator=torch.Generator().manual_seed(seed))
    out = predict(module, context, steps=2, method=method, seed=seed)
    assert out.shape == (2, 1, 5, 8, 8)
    assert torch.equal(out[:, :, :k], context)
    assert torch.isfinite(out).all()
    # the model sees the given frames: other context, other future
    other = predict(module, context + 1, steps=2, method=method, seed=seed)
    assert not torch.allclose(other[:, :, k:], out[:, :, k:])


@settings(max_examples=4)
@given(keys=st.integers(2, 3), every=st.integers(2, 4))
def test_conditional_interpolation_returns_the_keyframes_exactly(module, keys, every):
    keyframes = torch.randn(1, 1, keys, 8, 8)
    out = interpolate(module, keyframes, every, steps=2)
    assert out.shape == (1, 1, (keys - 1) * every + 1, 8, 8)
    assert torch.equal(out[:, :, ::every], keyframes)


def test_untrained_residual_model_returns_the_baselines():
    fresh = _module(unzero=False)
    x = torch.rand(2, 1, 9, 8, 8) * 2 - 1
    torch.testing.assert_close(interpolate(fresh, x[:, :, ::4], 4, steps=3),
                               linear_blend(x[:, :, ::4], 4), rtol=0, atol=1e-5)
    torch.testing.assert_close(predict(fresh, x[:, :, :5], 9, steps=3),
                               repeat_last(x[:, :, :5], 9), rtol=0, atol=1e-5)
    # the posterior mean too: the residual from the first guess starts at zero
    torch.testing.assert_close(predict(fresh, x[:, :, :5], 9, estimate="mean", draws=2),
                               repeat_last(x[:, :, :5], 9), rtol=0, atol=1e-5)
    torch.testing.assert_close(interpolate(fresh, x[:, :, ::2], 2, estimate="mean"),
                               linear_blend(x[:, :, ::2], 2), rtol=0, atol=1e-5)


@settings(max_examples=4, deadline=None)
@given(k=st.integers(1, 4), draws=st.integers(1, 3), seed=st.integers(0, 9))
def test_posterior_mean_keeps_the_given_frames_and_averages_the_draws(module, k, draws, seed):
    context = torch.randn(2, 1, k, 8, 8, generator=torch.Generator().manual_seed(seed))
    out = predict(module, context, estimate="mean", draws=draws, seed=seed)
    assert out.shape == (2, 1, 5, 8, 8) and torch.equal(out[:, :, :k], context)
    again = predict(module, context, estimate="mean", draws=draws, seed=seed)
    assert torch.equal(out, again)  # seeded
    other = predict(module, context, estimate="mean", draws=draws, seed=seed + 1)
    assert not torch.equal(other[:, :, k:], out[:, :, k:])  # the draws matter
    with pytest.raises(ValueError, match=r"estimate must be one of \['sample', 'mean'\], "
                                         r"got 'median'"):
        predict(module, context, estimate="median")


def test_frame_model_bad_input_is_named(module):
    with pytest.raises(ValueError, match=r"this model was trained for imputation \(the known "
                                         r"values are one of its inputs\): give known="):
        module.sample(1, steps=1)
    with pytest.raises(ValueError, match=r"conditional frame model \(conditional=True\) got no "
                                         r"given frames \(cond=None\)"):
        module.net(torch.zeros(1, 1, 5, 8, 8), torch.zeros(1))
    with pytest.raises(ValueError, match=r"cond must have shape \(1, 2, 5, 8, 8\) \(\[known "
                                         r"frames, mask\]\), got \(1, 1, 5, 8, 8\)"):
        module.net(torch.zeros(1, 1, 5, 8, 8), torch.zeros(1), cond=torch.zeros(1, 1, 5, 8, 8))
    with pytest.raises(ValueError, match="observed"):  # a mask that does not fit the frames
        module.sample(1, steps=1, known=torch.zeros(1, 1, 5, 8, 8),
                      observed=interpolation_mask(7, 2))
    with pytest.raises(ValueError, match="conditional=True sets cond .* 2 channels; got "
                                         "cond_channels=3"):
        VideoUNet(1, conditional=True, cond_channels=3)
    with pytest.raises(ValueError, match="residual=True needs conditional=True and guess=True"):
        VideoUNet(1, residual=True)


def _data() -> MovingDigitsDataModule:
    return MovingDigitsDataModule(frames=5, size=16, digit_size=8, train_videos=8,
                                  val_videos=4, test_videos=4, labels=False, batch_size=4)


def test_lightning_trains_and_predicts_with_the_frame_model(tmp_path, cli_error):
    pl.seed_everything(0)
    module = frame_module(0, net=SMALL)
    trainer = pl.Trainer(accelerator="cpu", devices=1, max_steps=4, logger=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         num_sanity_val_steps=0, default_root_dir=tmp_path)
    data = _data()
    trainer.fit(module, data)
    assert trainer.global_step == 4
    assert module.imputation is not None and module.sample_shape == [1, 5, 16, 16]
    ckpt = tmp_path / "last.ckpt"
    trainer.save_checkpoint(ckpt)
    clips = torch.stack([data.test_set[i]["x"] for i in range(2)])  # data units
    context = module.normalizer.normalize(clips[:, :, :3])
    out = predict(module, context, steps=3)
    assert out.shape == (2, 1, 5, 16, 16) and torch.isfinite(out).all()
    assert torch.equal(out[:, :, :3], context)
    loaded = load_checkpoint(ckpt)
    again = predict(loaded, context, steps=3)
    torch.testing.assert_close(again, out)
    keys = interpolate(loaded, context[:, :, ::2], 2, steps=2)
    assert torch.equal(keys[:, :, ::2], context[:, :, ::2])

    # the command line: the given frames come from --known; without them, one line
    clip = write_mp4(clips[:1, :, :2], tmp_path / "clip", {"fps": 8})
    out_dir = tmp_path / "pred"
    assert main(["sample", "--checkpoint", str(ckpt), "--num", "2", "--steps", "2",
                 "--out", str(out_dir), "--known", str(clip)]) == 0
    x = torch.load(out_dir / "samples.pt", weights_only=True)
    known, _ = read_video(clip, None, (1, 5, 16, 16))
    torch.testing.assert_close(x[:, :, :2], known[:, :, :2].expand(2, -1, -1, -1, -1),
                               rtol=0, atol=1e-6)
    cli_error(["sample", "--checkpoint", ckpt, "--num", "1", "--steps", "1", "--out",
               tmp_path / "o"], r"--known: none given, but this model was trained for "
                                r"imputation .*pass --known FILE")


def test_shipped_frame_config_is_valid():
    from pathlib import Path

    import yaml

    from polydiff.cli import check_config
    from polydiff.training import build_net

    path = Path(__file__).resolve().parents[3] / "modalities" / "video" / "configs" / \
        "frames.yaml"
    config = yaml.safe_load(path.read_text())
    check_config(config)
    args = config["model"]["net"]["init_args"]
    net = build_net(config["model"]["net"]["class_path"], **args)
    assert net.conditional and net.residual and net.cond_channels == 2
    assert "prediction" not in args and "schedule" not in args  # the Denoiser's own
    module = DiffusionModule(net, prediction="x0", imputation=config["model"]["imputation"],
                             sample_shape=[1, 9, 32, 32])
    assert module.imputation.kinds == ("suffix", "strided")
    data = MovingDigitsDataModule(**config["data"]["init_args"])
    assert data.sample_shape == (1, 9, 32, 32) and data.num_classes is None
