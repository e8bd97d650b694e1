"""AudioFolder and the file checks: resampling keeps durations, crops have the requested length,
labels from folders or a CSV, mono/stereo, and bad files skipped and reported (never a crash)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import soundfile as sf
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from polydiff.modalities.audio import ASSETS, AudioFolder, CropDataset, resample
from polydiff.modalities.audio.files import AUDIO_EXTENSIONS, Clip, mix_channels


def tone(seconds: float, rate: int, freq: float = 440.0, channels: int = 1) -> np.ndarray:
    t = np.arange(int(round(seconds * rate))) / rate
    x = 0.5 * np.sin(2 * np.pi * freq * t)
    return np.stack([x] * channels, axis=1).astype(np.float32)


@given(rate=st.sampled_from([8000, 11025, 16000, 22050, 44100, 48000]),
       target=st.sampled_from([8000, 16000, 22050, 24000]), n=st.integers(1, 3000))
@settings(max_examples=20, deadline=None)
def test_resampling_preserves_duration(rate, target, n):
    x = torch.randn(2, n)
    y = resample(x, rate, target)
    assert y.shape[0] == 2
    assert y.shape[-1] == math.ceil(n * target / rate)
    assert abs(y.shape[-1] / target - n / rate) < 1.0 / target


def test_resampling_keeps_a_tone():
    x = torch.from_numpy(tone(0.5, 44100, 440.0).T.copy())
    y = resample(x, 44100, 16000)
    spectrum = torch.fft.rfft(y[0]).abs()
    assert abs(int(spectrum.argmax()) * 16000 / y.shape[-1] - 440.0) < 4.0


@given(lengths=st.lists(st.integers(1, 400), min_size=1, max_size=4), crop=st.integers(1, 160),
       channels=st.sampled_from([1, 2]), seed=st.integers(0, 1000))
@settings(max_examples=25, deadline=None)
def test_crops_have_the_requested_length(lengths, crop, channels, seed):
    torch.manual_seed(seed)
    clips = [Clip(None, torch.randn(channels, n), 100, None) for n in lengths]
    for training in (True, False):
        ds = CropDataset(clips, crop, training, padding="mask", timing_scale=1.0)
        assert len(ds) == sum(max(1, math.ceil(n / crop)) for n in lengths)
        for i in range(len(ds)):
            item = ds[i]
            assert item["x"].shape == (channels, crop)
            assert item["observed"].shape == (channels, crop)
            k = ds.index[i][0]
            valid = int(item["observed"][0].sum())
            start = round(float(item["vector"][0]) * 100)
            assert valid == min(crop, lengths[k] - start) and valid >= 1
            assert torch.equal(item["x"][:, :valid], clips[k].audio[:, start:start + valid])
            assert not item["x"][:, valid:].any()  # padding is zeros, marked unobserved
            assert float(item["vector"][1]) == pytest.approx(lengths[k] / 100)
    tiles = CropDataset(clips, crop, False)  # evaluation tiles every clip exactly once
    seen = sum(int((tiles[i]["observed"][0]).sum()) for i in range(len(tiles)))
    assert seen == sum(lengths)


def test_silence_padding_counts_and_has_no_mask():
    ds = CropDataset([Clip(None, torch.ones(1, 5), 10, 2)], 8, True, padding="silence")
    item = ds[0]
    assert "observed" not in item and item["class_labels"] == 2
    assert torch.equal(item["x"], torch.tensor([[1.0] * 5 + [0.0] * 3]))


def test_bundled_drums_are_labelled_resampled_and_batched():
    dm = AudioFolder(ASSETS / "drums", crop=4096, batch_size=4)
    dm.setup()
    assert dm.classes == ["cymbal", "kick", "snare", "tabla"] and dm.num_classes == 4
    assert dm.report.kept == 42 and not dm.report.skipped
    assert all("resampled 22050 -> 16000 Hz" in what for _, what in dm.report.converted)
    batch = next(iter(dm.train_dataloader()))
    assert batch["x"].shape == (4, 1, 4096) and batch["class_labels"].shape == (4,)
    assert batch["observed"].dtype == torch.bool
    info = dm.data_info()
    assert info["meta"]["sample_rate"] == 16000 and info["sample_shape"] == [1, 4096]
    assert info["normalizer"]["shift"] == [0.0] and info["normalizer"]["scale"][0] > 0


def test_stereo_files_and_mono_duplication(tmp_path):
    sf.write(tmp_path / "mono.wav", tone(0.2, 16000), 16000)
    sf.write(tmp_path / "stereo.wav", tone(0.2, 16000, channels=2) * [1.0, -1.0], 16000,
             subtype="FLOAT")
    dm = AudioFolder(tmp_path, channels=2, crop=1024, val_fraction=0.0)
    dm.setup()
    assert dm.sample_shape == (2, 1024)
    by_name = {c.path.name: c.audio for c in dm.train_set.clips}
    assert torch.equal(by_name["mono.wav"][0], by_name["mono.wav"][1])
    assert torch.allclose(by_name["stereo.wav"][0], -by_name["stereo.wav"][1])
    mono = AudioFolder(tmp_path, channels=1, crop=1024, val_fraction=0.0)
    mono.setup()
    mixed = {c.path.name: c.audio for c in mono.train_set.clips}["stereo.wav"]
    assert mixed.abs().max() < 1e-6  # the two opposite channels cancel
    with pytest.raises(ValueError, match="cannot turn 3 channels into 2"):
        mix_channels(torch.zeros(3, 4), 2)


def test_labels_from_a_csv(tmp_path):
    for name in ("a.wav", "b.wav", "c.wav"):
        sf.write(tmp_path / name, tone(0.1, 8000), 8000)
    (tmp_path / "labels.csv").write_text("file,label\na.wav,dog\nb.wav,cat\nz.wav,cat\n")
    dm = AudioFolder(tmp_path, labels=str(tmp_path / "labels.csv"), crop=256, val_fraction=0.0)
    with pytest.warns(UserWarning, match="skipped 2 file"):
        dm.setup()
    assert dm.classes == ["cat", "dog"]
    labels = {c.path.name: c.label for c in dm.train_set.clips}
    assert labels == {"a.wav": 1, "b.wav": 0}
    reasons = {p.name: why for p, why in dm.report.skipped}
    assert "not listed in the label CSV" in reasons["c.wav"]
    assert "listed in the label CSV but not found" in reasons["z.wav"]


def write_bad_files(folder):
    folder.mkdir(parents=True, exist_ok=True)
    sf.write(folder / "good.wav", tone(0.3, 16000), 16000)
    (folder / "garbage.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" + bytes(200))
    (folder / "zero_bytes.flac").write_bytes(b"")
    sf.write(folder / "empty.wav", np.zeros((0, 1), np.float32), 16000)
    sf.write(folder / "claims_128k.wav", tone(1.0, 16000), 128000)  # 1 s of speech-rate audio
    bad = tone(0.2, 16000)
    bad[100] = np.nan
    sf.write(folder / "nan.wav", bad, 16000, subtype="FLOAT")
    sf.write(folder / "silent.wav", np.zeros((3200, 1), np.float32), 16000)
    sf.write(folder / "tiny.wav", tone(0.001, 16000), 16000)
    sf.write(folder / "overdriven.wav", tone(0.2, 16000) * 40, 16000, subtype="FLOAT")


def test_bad_files_are_skipped_and_reported_not_raised(tmp_path):
    write_bad_files(tmp_path / "data")
    report_file = tmp_path / "report.txt"
    dm = AudioFolder(tmp_path / "data", crop=512, val_fraction=0.0, report_file=report_file,
                     batch_size=2)
    with pytest.warns(UserWarning, match="skipped 8 file"):
        dm.setup()
    reasons = {p.name: why for p, why in dm.report.skipped}
    assert sorted(reasons) == ["claims_128k.wav", "empty.wav", "garbage.wav", "nan.wav",
                               "overdriven.wav", "silent.wav", "tiny.wav", "zero_bytes.flac"]
    assert "implausible level: peak 20.0 x full scale" in reasons["overdriven.wav"]
    assert "implausible sample rate 128000 Hz" in reasons["claims_128k.wav"]
    assert reasons["empty.wav"].startswith("empty")
    assert reasons["garbage.wav"].startswith("unreadable")
    assert reasons["nan.wav"].startswith("non-finite")
    assert reasons["silent.wav"].startswith("silent")
    assert reasons["tiny.wav"].startswith("too short")
    assert [c.path.name for c in dm.train_set.clips] == ["good.wav"]
    text = report_file.read_text()
    assert "1 file(s) kept, 8 skipped" in text and "claims_128k.wav" in text
    for batch in dm.train_dataloader():  # a whole epoch runs on what is left
        assert torch.isfinite(batch["x"]).all()
    relaxed = AudioFolder(tmp_path / "data", crop=512, val_fraction=0.0, max_rate=192000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        relaxed.setup()
    assert "claims_128k.wav" not in {p.name for p, _ in relaxed.report.skipped}


def test_ogg_audio_files_are_read_and_other_files_reported(tmp_path):
    (tmp_path / "a").mkdir()
    sf.write(tmp_path / "a" / "x.wav", tone(0.1, 8000), 8000)
    sf.write(tmp_path / "a" / "y.oga", tone(0.1, 8000), 8000, format="OGG", subtype="VORBIS")
    (tmp_path / "a" / "y.mp3").write_bytes(b"ID3 not decoded here")
    (tmp_path / "README").write_text("two clips")
    dm = AudioFolder(tmp_path, sample_rate=8000, crop=256, val_fraction=0.0)
    with pytest.warns(UserWarning, match="skipped 2 file"):
        dm.setup()
    assert ".oga" in AUDIO_EXTENSIONS
    assert sorted(c.path.name for c in dm.train_set.clips) == ["x.wav", "y.oga"]
    reasons = {p.name: why for p, why in dm.report.skipped}
    assert sorted(reasons) == ["README", "y.mp3"]
    assert reasons["y.mp3"].startswith("extension '.mp3', not one of the audio extensions")
    assert "skipped " in dm.report.text() and "y.mp3" in dm.report.text()
    flat = AudioFolder(tmp_path, sample_rate=8000, crop=256, val_fraction=0.0, labels="none")
    with pytest.warns(UserWarning, match="skipped 2 file"):
        flat.setup()
    assert flat.num_classes is None and len(flat.train_set.clips) == 2


def test_folders_without_usable_audio_are_clear_errors(tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("no audio here")
    with pytest.raises(ValueError, match=r"holds no audio files with extensions"):
        AudioFolder(tmp_path / "notes").setup()
    with pytest.raises(ValueError, match="does not exist"):
        AudioFolder(tmp_path / "missing").setup()
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.wav").write_bytes(b"not audio")
    with pytest.raises(ValueError, match=r"no usable audio; every file was skipped"), \
            pytest.warns(UserWarning):
        AudioFolder(tmp_path / "bad").setup()


def test_mismatched_rates_need_a_target_rate(tmp_path):
    sf.write(tmp_path / "a.wav", tone(0.1, 16000), 16000)
    sf.write(tmp_path / "b.wav", tone(0.1, 22050), 22050)
    with pytest.raises(ValueError, match=r"differ in sample rate: .*a.wav is 16000 Hz but "
                                         r".*b.wav is 22050 Hz; pass sample_rate="):
        AudioFolder(tmp_path, sample_rate=None).setup()
    dm = AudioFolder(tmp_path, sample_rate=8000, crop=256, val_fraction=0.0)
    dm.setup()
    assert sorted(c.audio.shape[-1] for c in dm.train_set.clips) == [800, 800]


def test_bad_options_are_named():
    with pytest.raises(ValueError, match="channels must be 1 \\(mono\\) or 2"):
        AudioFolder(ASSETS, channels=3)
    with pytest.raises(ValueError, match="unknown padding 'zeros'"):
        AudioFolder(ASSETS, padding="zeros")
    with pytest.raises(ValueError, match="crop must be >= 1"):
        AudioFolder(ASSETS, crop=0)


def test_bundled_sets_by_name():
    dm = AudioFolder("bundled:stereo", channels=2, crop=2048, val_fraction=0.0)
    dm.setup()
    assert dm.report.kept == 2 and dm.sample_shape == (2, 2048)
    with pytest.raises(ValueError, match=r"no bundled clip set 'nope'; bundled: "
                                         r"\['bundled:drums', 'bundled:speech', "
                                         r"'bundled:stereo'\]"):
        AudioFolder("bundled:nope")


def test_level_scales_every_file_to_one_rms(tmp_path):
    sf.write(tmp_path / "quiet.wav", tone(0.2, 8000) * 0.02, 8000, subtype="FLOAT")
    sf.write(tmp_path / "loud.wav", tone(0.2, 8000) * 1.5, 8000, subtype="FLOAT")
    dm = AudioFolder(tmp_path, sample_rate=8000, crop=256, val_fraction=0.0, level=0.05)
    dm.setup()
    for clip in dm.train_set.clips:
        assert float(clip.audio.pow(2).mean().sqrt()) == pytest.approx(0.05, rel=1e-5)
    assert all("to RMS 0.05" in what for _, what in dm.report.converted)
    with pytest.raises(ValueError, match=r"level must be an RMS in \(0, 1\]"):
        AudioFolder(tmp_path, level=2.0)
