"""The gap-filling model: the shipped imputation config trains on observed speech (targets drawn
inside it), and fills gaps through the CLI and fill_gaps with the known samples kept exactly."""

from __future__ import annotations

import soundfile as sf
import torch

from polydiff.cli import main
from polydiff.masks import from_intervals
from polydiff.modalities.audio import ASSETS, MODALITY, fill_gaps, load_audio_model


def test_gaps_config_trains_and_fills(tmp_path):
    root = tmp_path / "run"
    assert main(["fit", "--config", str(MODALITY.config("gaps")),
                 "--model.net.init_args.channels=[8, 16, 16]",
                 "--model.net.init_args.factors=[4, 2]", "--model.net.init_args.blocks=1",
                 "--model.net.init_args.attention_heads=2", "--data.init_args.crop=1024",
                 "--model.imputation.max_block=[160]", "--data.init_args.batch_size=4",
                 "--trainer.max_steps=3", "--trainer.limit_val_batches=1",
                 "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false",
                 "--trainer.logger=false", f"--trainer.default_root_dir={root}"]) == 0
    (ckpt,) = sorted(root.rglob("last.ckpt"))
    module = load_audio_model(ckpt)
    assert module.conditional and module.net.cond_channels == 2

    speech, rate = sf.read(ASSETS / "speech" / "cards_002.flac", dtype="float32")
    clip = torch.from_numpy(speech[8000:9000])[None]
    out = fill_gaps(module, clip, [(0.02, 0.03)], sample_rate=rate, num=2, steps=3)
    hole = ~from_intervals(1000, [(0.02, 0.03)], rate)
    assert torch.equal(out[:, 0, ~hole], clip[0, ~hole].expand(2, -1))
    assert not torch.equal(out[0, 0, hole], out[1, 0, hole])

    sf.write(tmp_path / "clip.wav", speech[8000:9000], rate, subtype="FLOAT")
    (tmp_path / "gaps.txt").write_text("0.020,0.030\n")
    filled = tmp_path / "filled"
    assert main(["sample", "--checkpoint", str(ckpt), "--num", "1", "--out", str(filled),
                 "--steps", "3", "--known", str(tmp_path / "clip.wav"), "--mask",
                 str(tmp_path / "gaps.txt")]) == 0
    x = torch.load(filled / "samples.pt", weights_only=True)
    torch.testing.assert_close(x[0, 0, :1000][~hole], clip[0, ~hole], rtol=0, atol=1e-6)
