"""A training run killed mid-way resumes from its last good checkpoint and finishes; a
checkpoint cut short by the kill is recognised and skipped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from polydiff.cli import main
from polydiff.training import latest_checkpoint, read_checkpoint

CONFIG = Path(__file__).resolve().parents[2] / "modalities" / "image" / "configs" / "image.yaml"


def test_killed_run_resumes_from_the_last_good_checkpoint(tmp_path, cli_error):
    root = tmp_path / "run"
    ckpts = root / "checkpoints"
    args = ["fit", "--config", str(CONFIG), "--model.net.init_args.base_channels=8",
            "--model.net.init_args.attention_heads=2", "--trainer.limit_val_batches=1",
            "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false",
            "--trainer.logger=false", f"--trainer.default_root_dir={root}",
            "--trainer.callbacks=lightning.pytorch.callbacks.ModelCheckpoint",
            f"--trainer.callbacks.dirpath={ckpts}", "--trainer.callbacks.every_n_train_steps=2",
            "--trainer.callbacks.save_top_k=-1", "--trainer.callbacks.save_last=true",
            "--data.init_args.size=8"]
    code = ("import sys; from polydiff.cli import main; sys.exit(main(sys.argv[1:]))")
    proc = subprocess.Popen([sys.executable, "-c", code, *args, "--trainer.max_steps=100000"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        deadline = time.time() + 180
        while time.time() < deadline and len(list(ckpts.glob("epoch=*.ckpt"))) < 3:
            time.sleep(0.2)
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # no clean shutdown: as a crash or an OOM kill
        proc.wait()
    saved = sorted(ckpts.glob("epoch=*.ckpt"), key=lambda p: p.stat().st_mtime)
    assert len(saved) >= 3, "the run did not get far enough before the deadline"
    newest = saved[-1]
    newest.write_bytes(newest.read_bytes()[:1000])  # as if killed while writing it
    cli_error([*args, f"--ckpt_path={newest}"], "is truncated or damaged")

    good = latest_checkpoint(ckpts)
    assert good is not None and good != newest
    step = read_checkpoint(good)["global_step"]
    assert step >= 2
    assert main([*args, f"--trainer.max_steps={step + 4}", f"--ckpt_path={good}"]) == 0
    final = torch.load(ckpts / "last.ckpt", weights_only=True)
    assert final["global_step"] == step + 4  # saved every 2 steps
