"""``polydiff demo video`` end to end, with a couple of training steps and sampler steps."""

from __future__ import annotations

import json

import torch

from polydiff.cli import main
from polydiff.modalities.video.decode import decode_video


def test_demo_writes_clips_report_and_checkpoint(tmp_path, monkeypatch):
    import polydiff.modalities.video.demo as demo

    small = {**demo.DEMO_NET, "init_args": {**demo.DEMO_NET["init_args"], "base_channels": 8,
                                            "attention_heads": 2}}
    monkeypatch.setattr(demo, "DEMO_NET", small)
    out = tmp_path / "demo"
    assert main(["demo", "video", "--out", str(out), "--max-steps", "2", "--steps", "1",
                 "--no-progress"]) == 0
    for name, frames in (("samples", 8), ("predicted", 9), ("interpolated", 9),
                         ("interpolated4", 9), ("long", 16)):
        for suffix in (".mp4", ".gif", ".png"):
            assert (out / f"{name}{suffix}").is_file(), name + suffix
        assert decode_video(out / f"{name}.mp4", 1).frames.shape[0] == frames
    report = (out / "report.txt").read_text()
    assert "VideoUNet" in report and "predict_4" in report and "linear_blend" in report
    assert "frame model" in report and "interpolate_4" in report
    assert "posterior mean" in report and "uniform weighting" in report
    for name in ("predicted_mean", "interpolated_mean", "interpolated4_mean"):
        assert (out / f"{name}.png").is_file(), name
    assert (out / "loss.png").is_file() and (out / "checkpoints" / "last.ckpt").is_file()
    ckpt = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["polydiff"]["data"]["modality"] == "video"
    json.dumps(ckpt["polydiff"]["data"])
    frames = torch.load(out / "frames" / "checkpoints" / "last.ckpt", weights_only=True)
    assert list(frames["polydiff"]["sample_shape"]) == [1, 9, 16, 16]
    assert (out / "frames" / "loss.png").is_file()
