"""docs/modalities.md's minimal example is real code: its three files, written into a package
of their own, make a working modality (train, sample to CSV, fill NaN gaps)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import pytest
import torch

from polydiff.cli import main
from polydiff.modality import register_modality, unregister_modality
from polydiff.training import DiffusionModule

DOC = Path(__file__).resolve().parents[1] / "docs" / "modalities.md"


def _doc_files() -> dict[str, str]:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    files = {}
    for block in blocks:
        first = block.splitlines()[0]
        m = re.match(r"# modalities/spectra/(\w+\.py)$", first)
        if m:
            files[m.group(1)] = block
    return files


@pytest.fixture()
def spectra(tmp_path, monkeypatch):
    files = _doc_files()
    assert sorted(files) == ["__init__.py", "data.py", "io.py"]
    pkg = tmp_path / "doc_spectra"
    pkg.mkdir()
    for name, code in files.items():
        (pkg / name).write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    import doc_spectra

    register_modality(doc_spectra.MODALITY)
    yield doc_spectra
    unregister_modality("spectra")
    for name in [m for m in sys.modules if m.startswith("doc_spectra")]:
        del sys.modules[name]


def test_the_documented_modality_works(tmp_path, spectra):
    from doc_spectra.data import SpectraData

    k = np.linspace(0, 1, 16)
    rows = np.stack([50 + 10 * np.sin(2 * np.pi * (k + i / 20)) for i in range(20)])
    np.savetxt(tmp_path / "spectra.csv", rows, delimiter=",")
    net = {"class_path": "polydiff.nn.UNet",
           "init_args": {"dims": 1, "in_channels": 1, "base_channels": 8,
                         "channel_mult": [1, 2], "num_res_blocks": 1, "attention_heads": 1}}
    module = DiffusionModule(net, ema_decay=None)
    trainer = pl.Trainer(accelerator="cpu", max_steps=2, logger=False, enable_progress_bar=False,
                         enable_model_summary=False, default_root_dir=tmp_path)
    trainer.fit(module, SpectraData(str(tmp_path / "spectra.csv"), batch_size=4))
    assert module.data_info["modality"] == "spectra" and module.sample_shape == [1, 16]
    trainer.save_checkpoint(tmp_path / "m.ckpt")

    out = tmp_path / "s"
    assert main(["sample", "--checkpoint", str(tmp_path / "m.ckpt"), "--num", "3", "--steps",
                 "2", "--out", str(out)]) == 0
    written = np.loadtxt(out / "samples.csv", delimiter=",")
    assert written.shape == (3, 16)
    assert "wavelength_nm=[400, 700]" in (out / "samples.csv").read_text().splitlines()[0]
    gappy = rows[0].copy()
    gappy[4:9] = np.nan
    np.savetxt(tmp_path / "gappy.csv", gappy[None], delimiter=",")
    assert main(["sample", "--checkpoint", str(tmp_path / "m.ckpt"), "--num", "2", "--steps",
                 "2", "--out", str(tmp_path / "f"), "--known", str(tmp_path / "gappy.csv")]) == 0
    filled = torch.load(tmp_path / "f" / "samples.pt", weights_only=True)
    keep = ~np.isnan(gappy)
    np.testing.assert_allclose(filled[:, 0, keep].numpy(), np.tile(gappy[keep], (2, 1)),
                               rtol=1e-5, atol=1e-3)
