"""A modality from outside polydiff, written against the declared plugin API only
(``tests/plugin/signals``): registered at run time, it trains with ``polydiff fit``, samples
with ``polydiff sample`` and fills a long series window by window with its own command."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

PLUGIN = Path(__file__).resolve().parent / "plugin"


@pytest.fixture
def signals(monkeypatch):
    monkeypatch.syspath_prepend(str(PLUGIN))
    import signals

    from polydiff.modality import register_modality, unregister_modality

    register_modality(signals.MODALITY)
    yield signals
    unregister_modality("signals")
    for name in [m for m in sys.modules if m == "signals" or m.startswith("signals.")]:
        del sys.modules[name]


def test_the_outside_modality_imports_only_the_plugin_api():
    from test_package import _core_imports

    import polydiff.plugin as plugin

    files = sorted((PLUGIN / "signals").glob("*.py"))
    assert len(files) == 5
    for path in files:
        for line, target, names, _ in _core_imports(path, PLUGIN, ()):
            assert target == "polydiff.plugin", f"{path.name}:{line} imports {target}"
            assert set(names) <= set(plugin.__all__), f"{path.name}:{line}: {names}"


def test_fit_sample_and_a_windowed_task_through_the_cli(signals, tmp_path):
    from polydiff.cli import main

    data = tmp_path / "series"
    data.mkdir()
    t = np.arange(400) / 100
    rng = np.random.default_rng(0)
    for k in range(3):
        s = np.sin(2 * np.pi * (1 + k) * t) + 0.05 * rng.standard_normal(t.size)
        s[rng.random(t.size) < 0.1] = np.nan  # gaps in the training data too
        np.save(data / f"s{k}.npy", s.astype(np.float32))
    config = {
        "seed_everything": 0,
        "trainer": {"max_steps": 3, "accelerator": "cpu", "logger": False,
                    "enable_progress_bar": False, "enable_model_summary": False,
                    "default_root_dir": str(tmp_path / "run"),
                    "callbacks": [{"class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
                                   "init_args": {"dirpath": str(tmp_path / "ckpt"),
                                                 "save_last": True}}]},
        "model": {"net": {"class_path": "signals.net.SignalNet",  # listed by the modality
                          "init_args": {"base_channels": 8}},
                  "prediction": "x0", "weighting": "uniform", "ema_decay": None,
                  "imputation": {"kinds": ["random", "blocks"], "missing": [0.1, 0.5]}},
        "data": {"class_path": "signals.data.SignalFolder",
                 "init_args": {"root": str(data), "length": 32, "batch_size": 4}},
    }
    cfg = tmp_path / "fit.yaml"
    cfg.write_text(yaml.safe_dump(config))
    assert main(["fit", "--config", str(cfg)]) == 0
    ckpt = tmp_path / "ckpt" / "last.ckpt"
    assert ckpt.is_file()

    # polydiff sample, with the modality's reader for the known values and its writer
    known = np.sin(2 * np.pi * t[:32]).astype(np.float32)
    known[10:20] = np.nan
    np.save(tmp_path / "known.npy", known)
    assert main(["sample", "--checkpoint", str(ckpt), "--num", "2", "--steps", "3",
                 "--known", str(tmp_path / "known.npy"), "--out", str(tmp_path / "s")]) == 0
    written = np.load(tmp_path / "s" / "samples.npy")
    seen = ~np.isnan(known)
    assert written.shape == (2, 1, 32) and np.isfinite(written).all()
    np.testing.assert_array_equal(written[:, 0, seen], np.broadcast_to(known[seen],
                                                                      (2, seen.sum())))

    # the modality's own windowed task: a series of 300 samples with gaps, in 32-sample windows
    long = np.sin(2 * np.pi * t[:300]).astype(np.float32)
    for a in (5, 90, 150, 151, 260):
        long[a:a + 8] = np.nan
    np.save(tmp_path / "long.npy", long)
    assert main(["fill-signal", str(tmp_path / "long.npy"), "--checkpoint", str(ckpt),
                 "--steps", "3", "--num", "2", "--out", str(tmp_path / "filled.npy")]) == 0
    filled = np.load(tmp_path / "filled.npy")
    seen = ~np.isnan(long)
    assert filled.shape == (2, 1, 300) and np.isfinite(filled).all()
    np.testing.assert_array_equal(filled[:, 0, seen], np.broadcast_to(long[seen],
                                                                     (2, seen.sum())))
    assert not np.array_equal(filled[0, 0, ~seen], filled[1, 0, ~seen])
