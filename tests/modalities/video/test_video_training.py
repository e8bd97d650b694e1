"""End to end with Lightning on a few moving-digit clips: train, sample, write mp4 and decode it
back; the CLI keeps the given frames of a clip; the shipped fit config is valid."""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
import yaml

from polydiff.cli import check_config, main
from polydiff.modalities.video import MovingDigitsDataModule
from polydiff.modalities.video.decode import decode_video
from polydiff.modalities.video.io import write_mp4
from polydiff.training import DiffusionModule, SampleCallback, build_net, load_checkpoint

CONFIG = Path(__file__).resolve().parents[3] / "modalities" / "video" / "configs" / "video.yaml"
NET = {"class_path": "polydiff.modalities.video.VideoUNet",
       "init_args": {"in_channels": 1, "base_channels": 8, "channel_mult": [1, 2],
                     "attention_heads": 2, "num_classes": 10, "max_relative_distance": 3}}


def _data() -> MovingDigitsDataModule:
    return MovingDigitsDataModule(frames=4, size=16, digit_size=8, train_videos=8,
                                  val_videos=4, test_videos=4, batch_size=4)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("video_run")
    pl.seed_everything(0)
    module = DiffusionModule(NET, lr=2e-3, ema_decay=0.9, cond_dropout=0.2, seed=0,
                             val_noise_levels=[0.5])
    cb = SampleCallback(every_n_epochs=1, num_samples=2, steps=2, guidance_scale=2.0,
                        out_dir=str(root / "cb"))
    trainer = pl.Trainer(accelerator="cpu", devices=1, max_steps=4, logger=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         num_sanity_val_steps=0, default_root_dir=root, callbacks=[cb])
    trainer.fit(module, _data())
    ckpt = root / "last.ckpt"
    trainer.save_checkpoint(ckpt)
    return module, cb, ckpt


def test_train_sample_and_mp4_decodes_to_the_same_frames(trained, tmp_path):
    module, cb, ckpt = trained
    assert module.sample_shape == [1, 4, 16, 16]
    info = module.data_info
    assert info["modality"] == "video" and info["writer"] == "mp4"
    assert info["meta"] == {"fps": 8.0} and info["num_classes"] == 10
    assert cb.written and all(p.suffix == ".mp4" for p in cb.written)
    assert decode_video(cb.written[-1], 1).frames.shape[0] == 4

    out = tmp_path / "s"
    assert main(["sample", "--checkpoint", str(ckpt), "--num", "1", "--steps", "2",
                 "--class-label", "3", "--out", str(out)]) == 0
    x = torch.load(out / "samples.pt", weights_only=True)
    assert x.shape == (1, 1, 4, 16, 16)
    dec = decode_video(out / "samples.mp4", 1)
    assert dec.frames.shape == (4, 1, 16, 16) and dec.fps == pytest.approx(8.0)
    # the file shows the samples (data units in [0, 1], lossy codec)
    err = (dec.frames.float() / 255 - x[0].transpose(0, 1).clamp(0, 1)).abs().mean()
    assert err < 0.05, err
    for writer, suffix in (("gif", ".gif"), ("png", ".png")):
        o = tmp_path / writer
        assert main(["sample", "--checkpoint", str(ckpt), "--num", "2", "--steps", "1",
                     "--out", str(o), "--writer", writer]) == 0
        assert (o / f"samples{suffix}").is_file()


def test_cli_predicts_from_the_first_frames_of_a_clip(trained, tmp_path):
    _, _, ckpt = trained
    data = _data()
    data.setup()
    clip = write_mp4(data.val_set[0]["x"][None, :, :2], tmp_path / "clip", {"fps": 8})
    out = tmp_path / "pred"
    assert main(["sample", "--checkpoint", str(ckpt), "--num", "2", "--steps", "3",
                 "--out", str(out), "--known", str(clip)]) == 0
    x = torch.load(out / "samples.pt", weights_only=True)
    from polydiff.modalities.video.io import read_video

    known, _ = read_video(clip, None, (1, 4, 16, 16))
    torch.testing.assert_close(x[:, :, :2], known[:, :, :2].expand(2, -1, -1, -1, -1),
                               rtol=0, atol=1e-6)
    assert not torch.equal(x[0, :, 2:], x[1, :, 2:])  # the future is sampled per sample


def test_checkpoint_reloads_and_rejects_wrong_channels(trained, cli_error, tmp_path):
    _, _, ckpt = trained
    module = load_checkpoint(ckpt)
    assert module.sample(1, steps=1, class_labels=[1]).shape == (1, 1, 4, 16, 16)
    colour = torch.zeros(1, 3, 2, 16, 16)
    colour[:, 1] = 1.0
    clip = write_mp4(colour, tmp_path / "green", {"fps": 8})
    cli_error(["sample", "--checkpoint", ckpt, "--num", "1", "--out", tmp_path / "o",
               "--known", clip], r"--known .*green.mp4 is in colour.*greyscale")


def test_shipped_config_is_valid():
    config = yaml.safe_load(CONFIG.read_text())
    check_config(config)
    args = config["model"]["net"]["init_args"]
    net = build_net(config["model"]["net"]["class_path"], **args)
    assert 1e6 < sum(p.numel() for p in net.parameters()) < 1e7
    data = MovingDigitsDataModule(**config["data"]["init_args"])
    assert data.sample_shape == (1, 8, 32, 32)
    assert main(["demo"]) == 0
