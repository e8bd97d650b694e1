"""WAV and spectrogram writers, and the reader of known audio (gaps, masks, continuation)."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image

from polydiff.modalities.audio import LogMel, read_gaps, read_wav, write_wav

META = {"sample_rate": 8000}


def test_wavs_are_written_at_the_rate_and_read_back(tmp_path):
    x = 0.5 * torch.sin(torch.linspace(0, 200, 1200)).reshape(1, 1, 1200).repeat(3, 2, 1)
    folder = write_wav(x, tmp_path / "samples", META)
    files = sorted(folder.glob("*.wav"))
    assert [f.name for f in files] == ["000.wav", "001.wav", "002.wav"]
    for f in files:
        data, rate = sf.read(f, always_2d=True)
        assert rate == 8000 and data.shape == (1200, 2)
        np.testing.assert_allclose(data.T, x[0].numpy(), atol=1 / 32768 + 1e-6)
    png = Image.open(folder / "spectrograms.png")
    assert png.size[0] > 100 and png.size[1] > 100


def test_writer_needs_the_rate_and_finite_samples(tmp_path):
    with pytest.raises(ValueError, match="needs the sample rate"):
        write_wav(torch.zeros(1, 1, 10), tmp_path / "a", {})
    with pytest.raises(ValueError, match="NaN/Inf"):
        write_wav(torch.full((1, 1, 10), float("nan")), tmp_path / "b", META)


def test_gap_file_marks_the_gaps(tmp_path):
    audio = np.random.default_rng(0).uniform(-0.5, 0.5, (800, 1)).astype(np.float32)
    sf.write(tmp_path / "rec.wav", audio, 8000, subtype="FLOAT")
    (tmp_path / "gaps.txt").write_text("start,end\n0.01,0.02  # a click\n0.05,0.06\n")
    assert read_gaps(tmp_path / "gaps.txt") == [(0.01, 0.02), (0.05, 0.06)]
    known, observed = read_wav(tmp_path / "rec.wav", tmp_path / "gaps.txt", (1, 1024), META)
    assert known.shape == observed.shape == (1, 1, 1024)
    missing = ~observed[0, 0]
    assert missing[80:160].all() and missing[400:480].all() and missing[800:].all()
    assert int(missing[:800].sum()) == 160
    kept = observed[0, 0]
    assert torch.equal(known[0, 0][kept], torch.from_numpy(audio[:, 0])[kept[:800]])


def test_short_recording_is_continued_and_mask_wavs_work(tmp_path):
    sf.write(tmp_path / "start.wav", np.full((300, 1), 0.25, np.float32), 8000)
    known, observed = read_wav(tmp_path / "start.wav", None, (1, 512), META)
    assert observed[0, 0, :300].all() and not observed[0, 0, 300:].any()
    mask = np.zeros((300, 1), np.float32)
    mask[10:20] = 1.0
    sf.write(tmp_path / "mask.wav", mask, 8000)
    _, observed = read_wav(tmp_path / "start.wav", tmp_path / "mask.wav", (1, 512), META)
    assert (~observed[0, 0, :300]).nonzero().flatten().tolist() == list(range(10, 20))


def test_nan_samples_are_missing_and_other_rates_resampled(tmp_path):
    audio = np.full((1600, 1), 0.1, np.float32)
    audio[200:260] = np.nan
    sf.write(tmp_path / "holes.wav", audio, 16000, subtype="FLOAT")
    known, observed = read_wav(tmp_path / "holes.wav", None, (1, 1024), META)
    assert torch.isfinite(known).all()
    assert int((~observed[0, 0, :800]).sum()) in range(28, 34)  # 60 samples at 16k -> ~30


def test_reader_errors_name_the_problem(tmp_path):
    sf.write(tmp_path / "stereo.wav", np.zeros((100, 2), np.float32), 8000)
    sf.write(tmp_path / "mono.wav", np.full((100, 1), 0.1, np.float32), 8000)
    sf.write(tmp_path / "long.wav", np.full((2000, 1), 0.1, np.float32), 8000)
    (tmp_path / "late.txt").write_text("0.005,0.5\n")
    (tmp_path / "bad.txt").write_text("one to two\n")
    with pytest.raises(ValueError, match=r"has 2 channel\(s\) but the model makes mono audio"):
        read_wav(tmp_path / "stereo.wav", None, (1, 512), META)
    with pytest.raises(ValueError, match=r"gap file .*late.txt: gap 0.005-0.5 s ends after the "
                                         r"recording \(100 entries, 0.013 s\)"):
        read_wav(tmp_path / "mono.wav", tmp_path / "late.txt", (1, 100), META)
    with pytest.raises(ValueError, match=r"long.wav is 2000 samples .* the model makes 512"):
        read_wav(tmp_path / "long.wav", None, (1, 512), META)
    with pytest.raises(ValueError, match="nothing to fill in"):
        read_wav(tmp_path / "mono.wav", None, (1, 100), META)
    with pytest.raises(ValueError, match=r"line 1: expected 'start,end'"):
        read_wav(tmp_path / "mono.wav", tmp_path / "bad.txt", (1, 100), META)
    with pytest.raises(ValueError, match="cannot read audio file"):
        read_wav(tmp_path / "bad.txt", None, (1, 100), META)


def test_log_mel_shapes_and_griffin_lim_baseline():
    rate = 8000
    t = torch.arange(4096) / rate
    wave = (0.3 * torch.sin(2 * torch.pi * 500 * t)).reshape(1, 1, -1)
    lm = LogMel(sample_rate=rate, n_fft=256, hop=64, n_mels=32, griffin_lim_iters=16)
    mel = lm(wave)
    assert mel.shape == (1, 1, 32, lm.frames(4096)) == (1, 1, 32, 65)
    back = lm.inverse(mel, 4096, generator=torch.Generator().manual_seed(0))
    again = lm.inverse(mel, 4096, generator=torch.Generator().manual_seed(0))
    assert back.shape == wave.shape and torch.equal(back, again)
    spectrum = torch.fft.rfft(back[0, 0]).abs()
    assert abs(int(spectrum.argmax()) * rate / 4096 - 500) < 20  # the tone survives
    loud = mel > mel.max() - 4.0  # bands within ~17 dB of the peak
    assert (lm(back) - mel)[loud].abs().mean() < 1.0  # within ~4 dB: a baseline, not exact
