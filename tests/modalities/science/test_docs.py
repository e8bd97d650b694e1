"""docs/science.md's commands and code are real: every ``bash`` and ``python`` block runs, in
order, in a scratch directory on the bundled data (with small training and sampling
settings)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import xarray as xr

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "science.md"
#: the documented settings -> small ones (training steps, network, members, sampler steps)
SMALL = [("--trainer.max_steps=4000",
          "--trainer.max_steps=2 --trainer.accelerator=cpu --data.init_args.batch_size=2 "
          "--trainer.limit_val_batches=1 --model.net.init_args.base_channels=8 "
          "--trainer.enable_progress_bar=false"),
         ("--samples 16", "--samples 2 --steps 1 --no-progress"),
         ("n_samples=16", "n_samples=2"), ("steps=20)", "steps=1, progress=False)")]


def _blocks() -> list[tuple[str, str]]:
    found = re.findall(r"```(bash|python)\n(.*?)```", DOC.read_text(), flags=re.S)
    out = []
    for lang, code in found:
        if "benchmarks/impute.py" in code:  # the benchmark itself: 30 minutes
            continue
        for old, new in SMALL:
            code = code.replace(old, new)
        out.append((lang, code))
    return out


def test_every_command_and_snippet_of_the_science_doc_runs(tmp_path):
    blocks = _blocks()
    assert [lang for lang, _ in blocks] == ["bash", "bash", "bash", "python", "python"]
    (tmp_path / "modalities").symlink_to(ROOT / "modalities")
    bin_dir = Path(sys.executable).parent
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    for lang, code in blocks:
        if lang == "python":
            code += "\nassert int(out['SST_imputed'].sum()) > 0\n"
        cmd = (["bash", "-euo", "pipefail", "-c", code] if lang == "bash"
               else [sys.executable, "-c", code])
        r = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True)
        assert r.returncode == 0, f"{code}\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
    assert (tmp_path / "my_sst_filled.nc").is_file()
    # the time-axis model of the third block trained, and filled the file
    assert (tmp_path / "runs/science/lightning_logs/version_1/checkpoints/last.ckpt").is_file()
    with xr.open_dataset(tmp_path / "my_sst_filled_3d.nc", decode_times=False) as filled:
        assert dict(filled["SST"].sizes) == {"time": 12, "lat": 90, "lon": 180}
        assert int(filled["SST_imputed"].sum()) > 0
