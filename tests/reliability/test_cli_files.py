"""Fault injection on the files commands read: every command, every class of bad file, one
clear line naming the file (exit 2), nothing written, and no code ever run."""

from __future__ import annotations

import io
import json
import os
import pickle
import shutil
from pathlib import Path

import pytest
import torch

MARKER = Path("/tmp/polydiff_pickle_ran")
CONFIG = Path(__file__).resolve().parents[2] / "modalities" / "image" / "configs" / "image.yaml"


class _Evil:
    """Unpickling this would create MARKER (it must never happen)."""

    def __reduce__(self):
        return (os.system, (f"touch {MARKER}",))


def _bad_file(kind: str, tmp: Path, models: dict) -> Path:
    """A file (or folder) of the given kind of badness."""
    path = tmp / f"{kind}.ckpt"
    good = models["cond"].read_bytes()
    if kind == "nonexistent":
        return tmp / "nope.ckpt"
    if kind == "directory":
        path.mkdir()
        return path
    data = {
        "empty": b"",
        "truncated": good[: len(good) // 2],
        "random": os.urandom(4096),
        "text": b"learning_rate: 0.1\nthis is not a checkpoint\n" * 20,
        "foreign_pickle": pickle.dumps({"weights": [1, 2, 3]}, protocol=2),
        "code_pickle": pickle.dumps(_Evil(), protocol=2),
    }.get(kind)
    if data is None:  # torch files that are not polydiff checkpoints
        buf = io.BytesIO()
        obj = {"tensor_dict": {"w": torch.ones(3)},
               "code_torch": _Evil()}[kind]
        torch.save(obj, buf)
        data = buf.getvalue()
    path.write_bytes(data)
    return path


KINDS = {
    "nonexistent": "does not exist",
    "directory": "is a directory|not a polydiff export directory",
    "empty": "is an empty file",
    "truncated": "is truncated or damaged",
    "random": "is not a torch file",
    "text": "is not a torch file",
    "foreign_pickle": "is not a torch file",
    "code_pickle": "pickled objects other than tensors",
    "tensor_dict": "is not a polydiff checkpoint: no DiffusionModule hyper-parameters",
    "code_torch": "pickled objects other than tensors",
}


def _commands(ckpt: Path, tmp: Path) -> dict[str, list]:
    return {
        "sample": ["sample", "--checkpoint", ckpt, "--out", tmp / "out", "--num", "2"],
        "calibrate": ["calibrate", "--checkpoint", ckpt, "--out", tmp / "out" / "plan.json"],
        "export": ["export", "--checkpoint", ckpt, "--out", tmp / "out"],
        "validate": ["validate", "--config", CONFIG, "--ckpt_path", ckpt],
    }


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("command", ["sample", "calibrate", "export", "validate"])
def test_bad_checkpoint_is_one_line_and_runs_no_code(tmp_path, models, cli_error, kind, command):
    MARKER.unlink(missing_ok=True)
    bad = _bad_file(kind, tmp_path, models)
    args = _commands(bad, tmp_path)[command]
    pattern = KINDS[kind]
    if command == "export" and kind == "directory":
        pattern = "is a directory"
    if command == "validate":
        pattern = "--ckpt_path: .*(" + pattern + ")"
    line = cli_error(args, pattern)
    if kind != "nonexistent":
        assert str(bad) in line or bad.name in line
    assert not MARKER.exists(), "unpickling ran code"
    assert not (tmp_path / "out").exists(), "a failed command left output behind"


@pytest.mark.parametrize("breakage, pattern", [
    ("bad_json", r"config\.json is not valid JSON"),
    ("not_a_dict", r"format 'list' is not 'polydiff-denoiser'"),
    ("missing_key", r"missing key\(s\) \['prediction'\]"),
    ("no_config", "not a polydiff export directory: no config.json"),
    ("truncated_weights", "truncated or not a safetensors file"),
    ("missing_weights", "do not exist"),
    ("wrong_weights", "the weights do not fit the network"),
])
def test_broken_export_directory(tmp_path, models, cli_error, breakage, pattern):
    exp = tmp_path / "exp"
    shutil.copytree(models["export"], exp)
    cfg = exp / "config.json"
    config = json.loads(cfg.read_text())
    weights = exp / config["weights"]
    if breakage == "bad_json":
        cfg.write_text(cfg.read_text()[:-20])
    elif breakage == "not_a_dict":
        cfg.write_text("[1, 2]")
    elif breakage == "missing_key":
        del config["prediction"]
        cfg.write_text(json.dumps(config))
    elif breakage == "no_config":
        cfg.unlink()
    elif breakage == "truncated_weights":
        weights.write_bytes(weights.read_bytes()[:100])
    elif breakage == "missing_weights":
        weights.unlink()
    else:
        config["net"]["init_args"]["base_channels"] = 16
        cfg.write_text(json.dumps(config))
    for command in ("sample", "calibrate"):
        cli_error(_commands(exp, tmp_path)[command], pattern)
        assert not (tmp_path / "out").exists()


def test_bad_plan_and_known_files_are_named(tmp_path, models, cli_error):
    plan = tmp_path / "plan.json"
    plan.write_text("{not json")
    cli_error(["sample", "--checkpoint", models["cond"], "--out", tmp_path / "o", "--plan",
               plan], r"--plan .*plan\.json is not a readable plan")
    cli_error(["sample", "--checkpoint", models["cond"], "--out", tmp_path / "o", "--plan",
               tmp_path / "none.json"], "--plan .* does not exist")
    known = tmp_path / "known.pt"
    torch.save(_Evil(), known)
    MARKER.unlink(missing_ok=True)
    cli_error(["sample", "--checkpoint", models["cond"], "--out", tmp_path / "o", "--known",
               known, "--reader", "tensor"], "--known .*not a readable tensor file")
    assert not MARKER.exists()
    torch.save(torch.zeros(3, 5), known)
    cli_error(["sample", "--checkpoint", models["cond"], "--out", tmp_path / "o", "--known",
               known, "--reader", "tensor"], r"shape \(3, 5\) does not match .*\(1, 8, 8\)")
    cli_error(["sample", "--checkpoint", models["cond"], "--out", tmp_path / "o", "--known",
               tmp_path / "known.png"], "--known .*known.png")
    assert not (tmp_path / "o").exists()


def test_bad_config_files_are_named(tmp_path, cli_error):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    cli_error(["fit", "--config", bad], "bad.yaml is not valid YAML")
    cli_error(["fit", "--config", tmp_path / "none.yaml"], "none.yaml: does not exist")
    bad.write_text("- just\n- a list\n")
    cli_error(["fit", "--config", bad], "a config is a YAML mapping")
