"""Bad values and options that cannot apply: one line naming the argument (exit 2), never a
traceback and never a silent ignore; --debug shows the traceback; bugs still show one."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from polydiff.cli import main

CONFIG = Path(__file__).resolve().parents[2] / "modalities" / "image" / "configs" / "image.yaml"


@pytest.mark.parametrize("extra, pattern", [
    (["--num", "-2"], r"argument --num: expected a whole number >= 1, got -2"),
    (["--num", "two"], r"argument --num: expected a whole number >= 1, got 'two'"),
    (["--steps", "0"], r"argument --steps: expected a whole number >= 1, got 0"),
    (["--batch-size", "0"], r"argument --batch-size: .*got 0"),
    (["--guidance-scale", "nan"], r"argument --guidance-scale: expected a finite number"),
    (["--device", "toaster"], r"--device 'toaster' is not a torch device"),
    (["--method", "hoen"], r"--method: unknown method 'hoen'; expected one of .*'heun'"),
    (["--grid", "cubic"], r"--grid: unknown grid 'cubic'; expected one of"),
    (["--writer", "foo"], r"--writer: unknown image writer 'foo'; expected one of \['png'\]"),
    (["--reader", "foo"], r"--reader foo needs --known"),
    (["--class-label", "12"], r"--class-label \[12\]: outside the model's classes 0..9"),
    (["--resample", "2", "0"], r"argument --resample: expected a whole number >= 1, got 0"),
    (["--frobnicate"], r"unrecognized arguments: --frobnicate"),
])
def test_bad_sample_values(tmp_path, models, cli_error, extra, pattern):
    cli_error(["sample", "--checkpoint", models["cond"], "--out", tmp_path / "o", *extra],
              pattern)
    assert not (tmp_path / "o").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a CPU machine")
def test_missing_cuda_is_named(tmp_path, models, cli_error):
    cli_error(["sample", "--checkpoint", models["cond"], "--out", tmp_path / "o", "--device",
               "cuda"], "--device cuda: CUDA is not available on this machine")
    cli_error(["calibrate", "--checkpoint", models["cond"], "--out", tmp_path / "p.json",
               "--device", "cuda:1"], "CUDA is not available")


def test_options_that_cannot_apply_are_refused(tmp_path, models, cli_error):
    out = tmp_path / "o"
    uncond, cond = models["uncond"], models["cond"]
    cli_error(["sample", "--checkpoint", uncond, "--out", out, "--guidance-scale", "5"],
              r"--guidance-scale 5.0: .*unconditional")
    cli_error(["calibrate", "--checkpoint", uncond, "--out", tmp_path / "p.json",
               "--guidance-scale", "5"], r"--guidance-scale 5.0: .*unconditional")
    cli_error(["sample", "--checkpoint", uncond, "--out", out, "--class-label", "1"],
              "--class-label: the model is not class-conditional")
    cli_error(["sample", "--checkpoint", models["export"], "--out", out, "--no-ema"],
              "--no-ema: the export .* holds its EMA weights only")
    cli_error(["sample", "--checkpoint", uncond, "--out", out, "--no-ema"],
              "--no-ema: .* trained without EMA")
    cli_error(["export", "--checkpoint", uncond, "--out", out, "--no-ema"],
              "--no-ema: .* trained without EMA")
    plan = tmp_path / "plan.json"
    plan.write_text("{}")
    cli_error(["sample", "--checkpoint", cond, "--out", out, "--plan", plan, "--method",
               "heun", "--steps", "30"], r"--plan .* drop --method, --steps")
    cli_error(["calibrate", "--checkpoint", cond, "--out", tmp_path / "p.json", "--num", "0"],
              r"argument --num: expected a whole number >= 1, got 0")
    cli_error(["calibrate", "--checkpoint", cond, "--out", tmp_path / "p.json", "--method",
               "heun"], r"--method: 'heun' cannot be calibrated; expected one of")
    cli_error(["calibrate", "--checkpoint", cond, "--out", tmp_path / "p.json", "--steps", "1"],
              "calibration needs at least 2 steps")
    assert not out.exists() and not (tmp_path / "p.json").exists()
    # the raw-weights export has no EMA to refuse: --no-ema is consistent there
    assert main(["sample", "--checkpoint", str(models["export_raw"]), "--out", str(out),
                 "--no-ema", "--num", "1", "--steps", "1"]) == 0


@pytest.mark.parametrize("flag, pattern", [
    ("--model.prediction=foo", r"unknown prediction 'foo'; expected one of"),
    ("--model.lr=abc", r'Parser key "model.lr": Expected a .*float.* Got value: abc'),
    ("--trainer.max_stepz=3", r"max_stepz"),
    ("--model.ema_decay=1.5", r"ema_decay must lie in \[0, 1\)"),
])
def test_bad_fit_options_are_one_line(tmp_path, cli_error, flag, pattern):
    cli_error(["fit", "--config", CONFIG, "--trainer.max_steps=1", "--trainer.logger=false",
               f"--trainer.default_root_dir={tmp_path}", flag], pattern)


def test_debug_shows_the_traceback_and_bugs_are_not_hidden(tmp_path, models, monkeypatch):
    args = ["sample", "--checkpoint", str(models["cond"]), "--out", str(tmp_path / "o"),
            "--num", "-2"]
    from polydiff.cli import UserError

    with pytest.raises(UserError, match="--num"):
        main([*args, "--debug"])
    monkeypatch.setenv("POLYDIFF_DEBUG", "1")
    with pytest.raises(UserError):
        main(args)
    monkeypatch.delenv("POLYDIFF_DEBUG")

    from polydiff.cli import commands

    def broken(a):
        raise KeyError("an internal bug")

    monkeypatch.setattr(commands, "cmd_export", broken)
    with pytest.raises(KeyError, match="an internal bug"):  # a bug keeps its traceback
        main(["export", "--checkpoint", str(models["cond"]), "--out", str(tmp_path / "e")])
