"""``polydiff demo audio`` end to end at a tiny budget: every file it promises, and a report
whose numbers are the metrics of those files."""

from __future__ import annotations

import soundfile as sf

from polydiff.cli import main
from polydiff.modalities.audio import load_audio_model


def test_demo_writes_clips_gap_fills_spectrograms_and_report(tmp_path, cli_error):
    out = tmp_path / "demo"
    assert main(["demo", "audio", "--max-steps", "1", "--steps", "1", "--out", str(out),
                 "--no-progress"]) == 0
    generated = sorted((out / "generated").glob("*.wav"))
    assert [p.stem for p in generated] == [f"{c}_{i}" for c in
                                           ("cymbal", "kick", "snare", "speech", "tabla")
                                           for i in (0, 1)]
    for kind in ("original", "gapped", "filled", "lpc"):
        for clip in ("librivox-0930", "cards-005"):
            data, rate = sf.read(out / "gap_filling" / f"{clip}_{kind}.wav")
            assert rate == 16000 and data.shape == (4096,)
    for png in ("generated.png", "gap_filling.png", "loss.png"):
        assert (out / png).stat().st_size > 1000
    model = load_audio_model(out / "checkpoints" / "last.ckpt")  # weights-only: plain values
    assert model.spec.classes == ["cymbal", "kick", "snare", "speech", "tabla"]
    report = (out / "report.txt").read_text()
    for method in ("model", "zeros", "linear", "lpc"):
        assert f"              {method}" in report
    assert "FAD-like" in report and "1 steps" in report
    cli_error(["demo", "audio", "--out", out], "not empty")
