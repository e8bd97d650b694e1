"""End to end on the bundled clips: ``polydiff fit`` with the shipped config (a few steps),
``polydiff sample`` to WAVs read back at the right rate and length, and gap filling through
``--known`` + ``--mask`` that returns the observed samples exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from polydiff.cli import main
from polydiff.modalities.audio import ASSETS, MODALITY, load_audio_model

TINY = ["--model.net.init_args.channels=[8, 16, 16]", "--model.net.init_args.factors=[4, 2]",
        "--model.net.init_args.blocks=1", "--model.net.init_args.attention_heads=2",
        "--data.init_args.crop=1024", "--data.init_args.batch_size=4",
        "--trainer.limit_val_batches=1", "--trainer.enable_progress_bar=false",
        "--trainer.enable_model_summary=false", "--trainer.logger=false",
        "--trainer.max_steps=3"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("drums")
    assert main(["fit", "--config", str(MODALITY.config("drums")), *TINY,
                 f"--trainer.default_root_dir={root}"]) == 0
    (ckpt,) = sorted(root.rglob("last.ckpt"))
    return ckpt


def test_fit_sample_and_read_back_wavs(checkpoint, tmp_path):
    raw = torch.load(checkpoint, weights_only=True)
    info = raw["polydiff"]["data"]
    assert info["modality"] == "audio" and info["writer"] == "wav"
    assert info["meta"]["sample_rate"] == 16000 and info["sample_shape"] == [1, 1024]
    assert info["meta"]["classes"] == ["cymbal", "kick", "snare", "tabla"]
    out = tmp_path / "samples"
    assert main(["sample", "--checkpoint", str(checkpoint), "--num", "4", "--out", str(out),
                 "--steps", "3", "--guidance-scale", "2", "--class-label", "1"]) == 0
    x = torch.load(out / "samples.pt", weights_only=True)
    wavs = sorted((out / "samples").glob("*.wav"))
    assert len(wavs) == 4 and (out / "samples" / "spectrograms.png").is_file()
    for k, path in enumerate(wavs):
        data, rate = sf.read(path, always_2d=True, dtype="float32")
        assert rate == 16000 and data.shape == (1024, 1)
        np.testing.assert_allclose(data[:, 0], x[k, 0].clamp(-1, 1).numpy(), atol=1 / 16384)


def test_gap_filling_through_the_cli_keeps_the_observed_samples(checkpoint, tmp_path):
    speech, rate = sf.read(ASSETS / "speech" / "cards_001.flac", dtype="float32")
    sf.write(tmp_path / "clip.wav", speech[4000:5024], rate, subtype="FLOAT")
    (tmp_path / "gaps.txt").write_text("0.020,0.030\n0.040,0.045\n")
    out = tmp_path / "filled"
    assert main(["sample", "--checkpoint", str(checkpoint), "--num", "2", "--out", str(out),
                 "--steps", "3", "--known", str(tmp_path / "clip.wav"), "--mask",
                 str(tmp_path / "gaps.txt"), "--class-label", "0"]) == 0
    x = torch.load(out / "samples.pt", weights_only=True)
    known = torch.from_numpy(speech[4000:5024])
    gap = torch.zeros(1024, dtype=torch.bool)
    gap[320:480] = True
    gap[640:720] = True
    torch.testing.assert_close(x[:, 0, ~gap], known[~gap].expand(2, -1), rtol=0, atol=1e-6)
    assert not torch.allclose(x[0, 0, gap], x[1, 0, gap])  # each sample fills its own way


def test_stereo_into_the_mono_model_is_one_clear_line(checkpoint, tmp_path, cli_error):
    sf.write(tmp_path / "stereo.wav", np.zeros((512, 2), np.float32), 16000)
    cli_error(["sample", "--checkpoint", checkpoint, "--num", "1", "--out", tmp_path / "s",
               "--known", tmp_path / "stereo.wav"],
              r"has 2 channel\(s\) but the model makes mono audio")



def test_load_audio_model_refuses_other_modalities(checkpoint, tmp_path):
    model = load_audio_model(checkpoint)
    assert model.spec.meta["crop"] == 1024 and not model.net.training
    raw = torch.load(checkpoint, weights_only=True)
    raw["polydiff"]["data"]["modality"] = "image"
    torch.save(raw, tmp_path / "image.ckpt")
    with pytest.raises(ValueError, match=r"image.ckpt is an image model, not an audio model"):
        load_audio_model(tmp_path / "image.ckpt")


def test_fill_gaps_command_repairs_a_long_recording_and_keeps_what_is_known(checkpoint,
                                                                           tmp_path):
    speech, rate = sf.read(ASSETS / "speech" / "cards_001.flac", dtype="float32")
    clip = speech[:8000].copy()  # 0.5 s: several of the model's 1024-sample windows
    clip[7000:7100] = np.nan  # a dropout marked by NaN, plus two listed gaps
    sf.write(tmp_path / "long.wav", clip, rate, subtype="FLOAT")
    (tmp_path / "gaps.txt").write_text("start,end\n0.050,0.060\n0.300,0.310\n")
    out = tmp_path / "repaired.wav"
    args = ["fill-gaps", str(tmp_path / "long.wav"), "--checkpoint", str(checkpoint), "--out",
            str(out), "--gaps", str(tmp_path / "gaps.txt"), "--num", "2", "--steps", "3",
            "--class-label", "0", "--no-progress"]
    assert main(args) == 0
    gap = np.zeros(8000, bool)
    gap[800:960] = gap[4800:4960] = gap[7000:7100] = True
    fills = []
    for k in range(2):
        data, r = sf.read(tmp_path / f"repaired_{k}.wav", dtype="float32")
        assert r == rate and data.shape == (8000,)
        np.testing.assert_allclose(data[~gap], clip[~gap], atol=1 / 16384)  # 16-bit PCM
        assert np.abs(data[gap]).max() > 0  # the gaps are filled, not left silent
        fills.append(data[gap])
    assert not np.allclose(fills[0], fills[1])
    assert (tmp_path / "repaired.png").is_file()
    assert main(args + ["--overwrite"]) == 0


def test_fill_gaps_command_checks_everything_first(checkpoint, tmp_path, cli_error):
    speech, rate = sf.read(ASSETS / "speech" / "cards_001.flac", dtype="float32")
    sf.write(tmp_path / "a.wav", speech[:4000], rate)
    (tmp_path / "gaps.txt").write_text("0.01,0.02\n")
    (tmp_path / "long_gap.txt").write_text("0.01,0.2\n")
    (tmp_path / "late.txt").write_text("0.2,0.3\n")
    base = ["fill-gaps", tmp_path / "a.wav", "--checkpoint", checkpoint]
    cli_error([*base, "--out", tmp_path / "o.wav"], r"INPUT .*a.wav: nothing to fill")
    cli_error([*base, "--out", tmp_path / "o.flac", "--gaps", tmp_path / "gaps.txt"],
              r"--out .*o.flac: expected a WAV file name ending in .wav")
    cli_error([*base, "--out", tmp_path / "o.wav", "--gaps", tmp_path / "long_gap.txt"],
              r"--gaps: the gap 0.010-0.200 s \(3040 samples\) is longer than the model's "
              r"window \(1024 samples")
    cli_error([*base, "--out", tmp_path / "o.wav", "--gaps", tmp_path / "late.txt"],
              r"gap file .*late.txt: gap 0.2-0.3 s ends after the recording \(4000 entries, "
              r"0.250 s\)")
    cli_error([*base, "--out", tmp_path / "o.wav", "--gaps", tmp_path / "none.txt"],
              r"--gaps .*none.txt: no such file")
    cli_error([*base, "--out", tmp_path / "o.wav", "--gaps", tmp_path / "gaps.txt",
               "--class-label", "9"], r"--class-label 9: the model has classes 0-3")
    (tmp_path / "taken.wav").write_bytes(b"earlier result")
    cli_error([*base, "--out", tmp_path / "taken.wav", "--gaps", tmp_path / "gaps.txt"],
              r"--out .*taken.wav already exists; choose a new name or pass --overwrite")
    assert (tmp_path / "taken.wav").read_bytes() == b"earlier result"
    assert not (tmp_path / "o.wav").exists()
