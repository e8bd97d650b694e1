"""Results are never lost or overwritten: outputs are checked before any work starts, and a
non-empty output directory (or an existing file) is refused unless --overwrite is given."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch

from polydiff.cli import main

CONFIG = Path(__file__).resolve().parents[2] / "modalities" / "image" / "configs" / "image.yaml"
TINY = ["--model.net.init_args.base_channels=8", "--model.net.init_args.attention_heads=2",
        "--trainer.limit_val_batches=1", "--trainer.enable_progress_bar=false",
        "--trainer.enable_model_summary=false", "--trainer.logger=false",
        "--trainer.callbacks=lightning.pytorch.callbacks.ModelCheckpoint",
        "--trainer.callbacks.save_last=true"]


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def test_sample_refuses_a_non_empty_out_and_keeps_the_first_results(tmp_path, models,
                                                                     cli_error):
    out = tmp_path / "samples"
    assert main(["sample", "--checkpoint", str(models["cond"]), "--num", "2", "--steps", "2",
                 "--out", str(out)]) == 0
    first = _snapshot(out)
    cli_error(["sample", "--checkpoint", models["cond"], "--num", "2", "--steps", "2",
               "--seed", "1", "--out", out], r"--out .*samples is not empty.*--overwrite")
    assert _snapshot(out) == first
    assert main(["sample", "--checkpoint", str(models["cond"]), "--num", "2", "--steps", "2",
                 "--seed", "1", "--out", str(out), "--overwrite"]) == 0
    assert _snapshot(out)["samples.pt"] != first["samples.pt"]


def test_output_problems_are_found_before_any_work(tmp_path, models, cli_error, capsys):
    a_file = tmp_path / "outfile.txt"
    a_file.write_text("keep me")
    t0 = time.perf_counter()
    # --num 300 would sample for a while: the error must come first, not at the end
    cli_error(["sample", "--checkpoint", models["cond"], "--num", "300", "--out", a_file],
              r"--out .*outfile\.txt is a file; expected a directory")
    cli_error(["calibrate", "--checkpoint", models["cond"], "--out", a_file / "plan.json"],
              r"cannot be created because .*outfile\.txt is a file")
    cli_error(["export", "--checkpoint", models["cond"], "--out", a_file / "exp"],
              r"cannot be created because .*outfile\.txt is a file")
    cli_error(["demo", "image", "--out", a_file], "is a file; expected a directory")
    assert time.perf_counter() - t0 < 30  # generous: nothing was sampled or trained
    assert a_file.read_text() == "keep me"
    assert "sampling" not in capsys.readouterr().err


def test_calibrate_export_demo_never_overwrite(tmp_path, models, cli_error):
    plan = tmp_path / "plan.json"
    plan.write_text("{}")
    cli_error(["calibrate", "--checkpoint", models["cond"], "--out", plan],
              r"plan\.json already exists; .*--overwrite")
    cli_error(["calibrate", "--checkpoint", models["cond"], "--out", tmp_path],
              "is a directory; expected a file name")
    assert plan.read_text() == "{}"
    exp = tmp_path / "exp"
    assert main(["export", "--checkpoint", str(models["cond"]), "--out", str(exp)]) == 0
    before = _snapshot(exp)
    cli_error(["export", "--checkpoint", models["cond"], "--out", exp], "is not empty")
    assert _snapshot(exp) == before
    demo = tmp_path / "demo"
    demo.mkdir()
    (demo / "last.ckpt").write_bytes(b"an earlier 824-step checkpoint")
    cli_error(["demo", "image", "--out", demo, "--max-steps", "1"], "is not empty")
    assert (demo / "last.ckpt").read_bytes() == b"an earlier 824-step checkpoint"


def test_fit_refuses_to_overwrite_checkpoints_but_resumes(tmp_path, cli_error):
    root = tmp_path / "run"
    args = ["fit", "--config", str(CONFIG), *TINY, f"--trainer.default_root_dir={root}"]
    assert main([*args, "--trainer.max_steps=2"]) == 0
    last = root / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)["global_step"] == 2
    before = last.read_bytes()
    cli_error([*args, "--trainer.max_steps=3"],
              r"already holds checkpoints .*--ckpt_path .*last\.ckpt.*--overwrite")
    assert last.read_bytes() == before
    assert main([*args, "--trainer.max_steps=3", f"--ckpt_path={last}"]) == 0
    assert torch.load(last, weights_only=True)["global_step"] == 3
    assert main([*args, "--trainer.max_steps=1", "--overwrite"]) == 0
    # told to write there, Lightning still renames clashing files rather than replacing them
    assert torch.load(last.with_name("last-v1.ckpt"), weights_only=True)["global_step"] == 1


@pytest.mark.parametrize("flag", ["--trainer.max_steps=4", "--model.lr=0.5"])
def test_resume_with_conflicting_model_options_is_refused(tmp_path, cli_error, flag):
    root = tmp_path / "run"
    args = ["fit", "--config", str(CONFIG), *TINY, f"--trainer.default_root_dir={root}"]
    assert main([*args, "--trainer.max_steps=2"]) == 0
    last = root / "checkpoints" / "last.ckpt"
    if flag.startswith("--model"):
        cli_error([*args, flag, f"--ckpt_path={last}"],
                  r"would replace model\.lr=0\.5 \(checkpoint: 0\.002\)")
        cli_error(["validate", "--config", CONFIG, *TINY, "--model.prediction=eps",
                   f"--ckpt_path={last}"], r"model\.prediction='eps' \(checkpoint: 'v'\)")
    else:  # trainer options may change on resume
        assert main([*args, flag, f"--ckpt_path={last}"]) == 0
