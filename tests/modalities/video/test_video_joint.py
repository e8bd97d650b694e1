"""Joint image-video training: clip batches and one-frame image batches in one Lightning run;
the image batches move only the spatial layers."""

from __future__ import annotations

import lightning.pytorch as pl
import pytest

from polydiff.modalities.image.data import DigitsDataModule
from polydiff.modalities.video import JointImageVideo, MovingDigitsDataModule
from polydiff.training import DiffusionModule

NET = {"class_path": "polydiff.modalities.video.VideoUNet",
       "init_args": {"in_channels": 1, "base_channels": 8, "channel_mult": [1, 2],
                     "num_res_blocks": 1, "attention_levels": [-1], "attention_heads": 2,
                     "num_classes": 10, "max_relative_distance": 3}}


def _joint(**kw):
    videos = MovingDigitsDataModule(frames=4, size=16, digit_size=8, train_videos=8,
                                    val_videos=4, test_videos=4, batch_size=4)
    images = DigitsDataModule(batch_size=8, size=16, resize="pad")
    return JointImageVideo(videos, images, **kw)


def test_batches_are_clips_or_one_frame_images_with_labels():
    dm = _joint(image_batch_size=16)
    dm.setup()
    assert dm.sample_shape == (1, 4, 16, 16) and dm.num_classes == 10
    assert dm.metadata() == {"fps": 8.0}
    shapes = [tuple(b["x"].shape) for b in dm.train_dataloader()]
    n_images = len(dm.images.train_set)
    assert shapes.count((4, 1, 4, 16, 16)) == 2
    assert shapes.count((16, 1, 1, 16, 16)) == n_images // 16
    assert len(shapes) == 2 + n_images // 16
    batch = next(b for b in dm.train_dataloader() if b["x"].shape[2] == 1)
    assert batch["class_labels"].shape == (16,) and batch["x"].min() >= -1
    assert len(dm.val_dataloader()) == 1  # the clips' validation split


def test_lightning_trains_on_both_and_images_leave_temporal_layers_alone(tmp_path, monkeypatch):
    dm = _joint(image_batch_size=16)
    module = DiffusionModule(NET, prediction="v", lr=1e-3, ema_decay=0.9, seed=0)
    trainer = pl.Trainer(accelerator="cpu", devices=1, max_steps=3, logger=False,
                         enable_progress_bar=False, enable_checkpointing=False,
                         enable_model_summary=False, limit_val_batches=0,
                         default_root_dir=tmp_path)
    trainer.fit(module, dm)
    assert trainer.global_step == 3
    # one image batch through the model: gradients reach spatial layers only
    module.net.zero_grad()
    monkeypatch.setattr(module, "log", lambda *a, **k: None)  # outside the fit loop
    batch = next(b for b in dm.train_dataloader() if b["x"].shape[2] == 1)
    module.training_step(batch, 0).backward()
    temporal = {n: p.grad for n, p in module.net.named_parameters() if "temporal" in n}
    assert temporal and all(g is None or not g.any() for g in temporal.values())
    assert any(p.grad is not None and p.grad.any() for n, p in module.net.named_parameters()
               if "temporal" not in n)


def test_mismatched_images_are_named():
    videos = MovingDigitsDataModule(frames=4, size=16, digit_size=8, train_videos=4,
                                    val_videos=2, test_videos=2)
    with pytest.raises(ValueError, match=r"the images are \[1, 8, 8\] \(C, H, W\) but the "
                                         r"clips' frames are \[1, 16, 16\]"):
        JointImageVideo(videos, DigitsDataModule(size=8)).setup()
    unlabelled = MovingDigitsDataModule(frames=4, size=16, digit_size=8, train_videos=4,
                                        val_videos=2, test_videos=2, labels=False)
    with pytest.raises(ValueError, match="the clips have num_classes=None but the images 10"):
        JointImageVideo(unlabelled, DigitsDataModule(size=16)).setup()
    with pytest.raises(ValueError, match="image_batch_size must be >= 1, got 0"):
        JointImageVideo(videos, DigitsDataModule(size=16), image_batch_size=0)


def test_the_docs_example_trains(tmp_path, monkeypatch):
    """docs/video.md's joint-training snippet is real code (run for two steps)."""
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[3] / "docs" / "video.md").read_text()
    (code,) = [b for b in re.findall(r"```python\n(.*?)```", doc, flags=re.S)
               if "JointImageVideo(" in b]
    assert "pl.Trainer(max_steps=2000).fit(" in code
    code = code.replace("pl.Trainer(max_steps=2000).fit(", "trainer = pl.Trainer(max_steps=2, "
                        "logger=False, enable_progress_bar=False, enable_checkpointing=False, "
                        "limit_val_batches=0)\ntrainer.fit(")
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(code, "docs/video.md", "exec"), scope)
    assert scope["trainer"].global_step == 2 and len(scope["data"].train_set) > 1437


def test_shipped_joint_config_trains_through_the_cli(tmp_path):
    """`polydiff fit --config configs/joint.yaml` builds the nested data modules and trains
    (two steps of a small network)."""
    import yaml

    from polydiff.cli import main
    from polydiff.cli.lightning import check_config
    from polydiff.modalities.video import MODALITY

    path = MODALITY.configs["moving_digits_joint"]
    check_config(yaml.safe_load(path.read_text()))
    assert main(["fit", "--config", str(path), "--trainer.max_steps=2",
                 "--trainer.accelerator=cpu", f"--trainer.default_root_dir={tmp_path}",
                 "--trainer.enable_progress_bar=false", "--trainer.logger=false",
                 "--model.net.init_args.base_channels=8",
                 "--data.init_args.videos.init_args.train_videos=8",
                 "--data.init_args.videos.init_args.batch_size=2",
                 "--data.init_args.image_batch_size=4"]) == 0
    assert list(tmp_path.rglob("last.ckpt"))
