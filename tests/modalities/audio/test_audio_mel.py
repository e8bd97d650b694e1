"""The spectrogram path: log-mel crops, their normaliser and padding masks, a 2D U-Net trained on
them through the shipped config, and Griffin-Lim WAVs of the right rate and length."""

from __future__ import annotations

import soundfile as sf
import torch

from polydiff.cli import main
from polydiff.modalities.audio import ASSETS, MODALITY, LogMel, LogMelFolder, write_mel


def test_log_mel_items_normaliser_and_padding_frames():
    dm = LogMelFolder(ASSETS / "drums", frames=16, hop=64, n_fft=256, n_mels=32, batch_size=4)
    dm.setup()
    assert dm.sample_shape == (1, 32, 16) and dm.crop == 15 * 64
    batch = next(iter(dm.train_dataloader()))
    assert batch["x"].shape == (4, 1, 32, 16) and batch["observed"].shape == (4, 1, 32, 16)
    norm = dm.normalizer
    assert norm.shift[0] < -3 and norm.scale[0] > 0.5  # log-mel power, not waveform units
    meta = dm.data_info()["meta"]
    assert meta["mel"]["n_mels"] == 32 and meta["sample_rate"] == 16000
    long = LogMelFolder(ASSETS / "drums", frames=64, hop=128, n_fft=256, n_mels=16)
    long.setup()
    crops = long.train_set.crops
    k = min(range(len(crops.clips)), key=lambda j: crops.clips[j].audio.shape[-1])
    valid = crops.clips[k].audio.shape[-1]
    assert valid < long.crop  # a drum hit shorter than the 0.5 s crop: padded
    item = long.train_set[next(j for j, (c, _) in enumerate(crops.index) if c == k)]
    frames = item["observed"][0, 0]  # frames whose centre is past the clip's end: unobserved
    assert int(frames.sum()) == (valid - 1) // 128 + 1 and not frames[-1]


def test_mel_writer_makes_wavs_of_the_crop_length(tmp_path):
    mel = LogMel(sample_rate=8000, n_fft=256, hop=64, n_mels=32, griffin_lim_iters=4)
    wave = 0.3 * torch.sin(torch.arange(15 * 64) / 3.0).reshape(1, 1, -1).repeat(2, 1, 1)
    meta = {"sample_rate": 8000, "mel": {"n_fft": 256, "hop": 64, "n_mels": 32,
                                         "griffin_lim_iters": 4}}
    folder = write_mel(mel(wave), tmp_path / "out", meta)
    wavs = sorted(folder.glob("*.wav"))
    assert len(wavs) == 2 and (folder / "spectrograms.png").is_file()
    data, rate = sf.read(wavs[0])
    assert rate == 8000 and data.shape == (15 * 64,) and abs(data).max() <= 1.0


def test_mel_config_trains_and_samples_to_wavs(tmp_path):
    root = tmp_path / "run"
    assert main(["fit", "--config", str(MODALITY.config("mel")),
                 "--model.net.init_args.base_channels=8",
                 "--model.net.init_args.attention_heads=2", "--data.init_args.frames=16",
                 "--data.init_args.n_mels=16", "--data.init_args.griffin_lim_iters=2",
                 "--data.init_args.batch_size=4", "--trainer.max_steps=2",
                 "--trainer.limit_val_batches=1", "--trainer.enable_progress_bar=false",
                 "--trainer.enable_model_summary=false", "--trainer.logger=false",
                 f"--trainer.default_root_dir={root}"]) == 0
    (ckpt,) = sorted(root.rglob("last.ckpt"))
    out = tmp_path / "samples"
    assert main(["sample", "--checkpoint", str(ckpt), "--num", "2", "--out", str(out),
                 "--steps", "2", "--class-label", "1"]) == 0
    x = torch.load(out / "samples.pt", weights_only=True)
    assert x.shape == (2, 1, 16, 16)
    data, rate = sf.read(out / "samples" / "000.wav")
    assert rate == 16000 and data.shape == (15 * 128,)
