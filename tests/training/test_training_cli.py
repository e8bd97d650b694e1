"""The ``polydiff`` command line: fit (LightningCLI), sample, export, demo, and bad input."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from polydiff.cli import check_config, main

CONFIG = Path(__file__).resolve().parents[2] / "modalities" / "image" / "configs" / "image.yaml"
TINY = ["--model.net.init_args.base_channels=8", "--model.net.init_args.attention_heads=2",
        "--trainer.limit_val_batches=1", "--trainer.enable_progress_bar=false",
        "--trainer.enable_model_summary=false", "--trainer.logger=false"]


def test_fit_then_sample_and_export(tmp_path, capsys, cli_error):
    root = tmp_path / "run"
    main(["fit", "--config", str(CONFIG), *TINY, "--trainer.max_steps=2",
          f"--trainer.default_root_dir={root}"])
    ckpts = sorted(root.rglob("last.ckpt"))
    assert len(ckpts) == 1
    raw = torch.load(ckpts[0], weights_only=True)
    assert raw["global_step"] == 2
    assert raw["hyper_parameters"]["net"]["init_args"]["base_channels"] == 8
    assert sorted(root.rglob("*.png")), "the config's SampleCallback writes a grid at the end"

    out = tmp_path / "samples"
    assert main(["sample", "--checkpoint", str(ckpts[0]), "--num", "6", "--out", str(out),
                 "--steps", "3", "--guidance-scale", "2", "--class-label", "3",
                 "--class-label", "5"]) == 0
    x = torch.load(out / "samples.pt", weights_only=True)
    assert x.shape == (6, 1, 16, 16) and torch.isfinite(x).all()
    with Image.open(out / "samples.png") as img:
        assert img.size[0] > 16

    exp = tmp_path / "export"
    assert main(["export", "--checkpoint", str(ckpts[0]), "--out", str(exp)]) == 0
    out2 = tmp_path / "samples2"
    assert main(["sample", "--checkpoint", str(exp), "--num", "6", "--out", str(out2),
                 "--steps", "3", "--guidance-scale", "2", "--class-label", "3",
                 "--class-label", "5"]) == 0
    torch.testing.assert_close(torch.load(out2 / "samples.pt", weights_only=True), x)
    assert "network evaluations" in capsys.readouterr().out

    # a calibrated plan (few draws and iterations: this checks the plumbing, not the quality)
    plan_file = tmp_path / "plan.json"
    assert main(["calibrate", "--checkpoint", str(exp), "--out", str(plan_file), "--steps", "3",
                 "--num", "12", "--iters", "3", "--teacher-steps", "10", "--batch-size", "6",
                 "--guidance-scale", "2"]) == 0
    plan = json.loads(plan_file.read_text())
    assert plan["method"] == "dpm_3m" and len(plan["times"]) == len(plan["eval_times"]) == 4
    assert plan["rmse"] <= plan["rmse_start"]
    assert "calibration RMSE" in capsys.readouterr().out
    out3 = tmp_path / "samples3"
    assert main(["sample", "--checkpoint", str(ckpts[0]), "--num", "6", "--out", str(out3),
                 "--plan", str(plan_file), "--guidance-scale", "2"]) == 0
    x3 = torch.load(out3 / "samples.pt", weights_only=True)
    assert x3.shape == (6, 1, 16, 16) and torch.isfinite(x3).all()
    assert "dpm_3m, 3 steps, 4 network evaluations" in capsys.readouterr().out
    bad = tmp_path / "bad_plan.json"
    bad.write_text('{"method": "heun"}')
    cli_error(["sample", "--checkpoint", exp, "--num", "2", "--out", tmp_path / "s4", "--plan",
               bad], "not a readable plan")


@pytest.mark.parametrize("bad, match", [
    ({"model": {"net": {"class_path": "polydiff.nn.Nope"}}}, r"polydiff\.nn\.UNet"),
    ({"model": {"net": {"class_path": "polydiff.nn.UNet", "init_args": {"dimz": 2}}}},
     r"valid options: .*'dims'"),
    ({"model": {"learning_rate": 1.0}}, r"valid options: .*'lr'"),
    ({"data": {"class_path": "polydiff.modalities.image.Nope"}}, "DigitsDataModule"),
])
def test_bad_config_lists_choices(tmp_path, bad, match, cli_error):
    with pytest.raises(ValueError, match=match):
        check_config(bad)
    cfg = tmp_path / "bad.yaml"
    import yaml

    cfg.write_text(yaml.safe_dump(bad))
    cli_error(["fit", "--config", str(CONFIG), "--config", str(cfg)], match)


def test_shipped_config_is_valid():
    import yaml

    check_config(yaml.safe_load(CONFIG.read_text()))


def test_demo_writes_outputs(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "image", "--max-steps", "3", "--out", str(out), "--steps", "2",
                 "--no-progress"]) == 0
    for name in ("samples.png", "loss.png", "report.txt", "checkpoints/last.ckpt"):
        assert (out / name).is_file(), name
    with Image.open(out / "samples.png") as img:
        assert img.size == (10 * 18 + 2, 10 * 18 + 2)
    report = (out / "report.txt").read_text()
    assert "3 steps" in report and "dpmpp_2m, 2 steps" in report
    assert str(out / "samples.png") in capsys.readouterr().out


def test_demo_unknown_modality_lists_choices(cli_error):
    cli_error(["demo", "sound"], r"unknown modality 'sound'; available: \[.*'image'.*\]")


def test_demo_without_modality_lists_the_registry(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "registered modalities" in out and "image" in out
    assert "image.yaml" in out  # the modality's own fit config


def test_lightning_private_hparams_hook_still_exists():
    """DiffusionModule recovers the network spec of a LightningCLI run from Lightning's private
    ``_given_hyperparameters``; fail loudly if Lightning renames or drops it."""
    from lightning.pytorch.core.mixins import hparams_mixin

    given = getattr(hparams_mixin, "_given_hyperparameters", None)
    assert given is not None, "Lightning dropped _given_hyperparameters: see module.py"
    assert hasattr(given, "get") and hasattr(given, "set")


def test_image_inpainting_keeps_the_known_pixels(tmp_path, cli_error):
    from polydiff.training import DiffusionModule, build_net

    net = build_net("polydiff.modalities.image.ImageUNet", in_channels=1, base_channels=8,
                    channel_mult=[1, 2], attention_levels=[], num_classes=10, attention_heads=1)
    import lightning.pytorch as pl

    from polydiff.modalities.image import DigitsDataModule

    module = DiffusionModule(net, ema_decay=None)
    trainer = pl.Trainer(accelerator="cpu", max_steps=1, logger=False, enable_progress_bar=False,
                         enable_model_summary=False, default_root_dir=tmp_path,
                         limit_val_batches=0)
    trainer.fit(module, DigitsDataModule(batch_size=8, size=8))
    trainer.save_checkpoint(tmp_path / "m.ckpt")
    pixels = np.zeros((8, 8), dtype=np.uint8)
    pixels[2:6, 2:6] = 255
    Image.fromarray(pixels).save(tmp_path / "known.png")
    mask = np.zeros((8, 8), dtype=np.uint8)
    mask[:, 4:] = 255  # white = fill in
    Image.fromarray(mask).save(tmp_path / "mask.png")
    out = tmp_path / "inpainted"
    assert main(["sample", "--checkpoint", str(tmp_path / "m.ckpt"), "--num", "3", "--steps",
                 "2", "--out", str(out), "--known", str(tmp_path / "known.png"), "--mask",
                 str(tmp_path / "mask.png")]) == 0
    x = torch.load(out / "samples.pt", weights_only=True)
    assert x.shape == (3, 1, 8, 8)
    torch.testing.assert_close(x[:, 0, :, :4], torch.from_numpy(pixels[:, :4] / 255.0).float()
                               .expand(3, 8, 4), atol=1e-6, rtol=0)
    with Image.open(out / "samples.png") as img:  # through the image modality's writer
        assert img.size == (3 * 10 + 2, 10 + 2)
    cli_error(["sample", "--checkpoint", tmp_path / "m.ckpt", "--out", tmp_path / "e1", "--mask",
               tmp_path / "mask.png"], "--mask needs --known")
    cli_error(["sample", "--checkpoint", tmp_path / "m.ckpt", "--out", tmp_path / "e2", "--known",
               tmp_path / "known.png"], "no alpha channel")
