"""``polydiff demo science`` end to end (two training steps), and the synthetic gaps."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from polydiff.modalities.science import gaps
from polydiff.modalities.science.data import ASSETS
from polydiff.modalities.science.demo import science_demo


def test_demo_writes_the_restored_file_maps_and_report(tmp_path):
    report = science_demo(tmp_path, max_steps=2, steps=1, n_samples=2, progress=False,
                          guidance_scale=2.0)
    for name in ("gappy.nc", "restored.nc", "maps.png", "loss.png", "report.txt",
                 "checkpoints/last.ckpt"):
        assert (tmp_path / name).is_file(), name
    assert report["steps"] == 2 and report["hidden_cells"] > 1000
    for key in ("rmse", "crps", "coverage90", "rmse_griddata_linear"):
        assert np.isfinite(report[key])
    text = (tmp_path / "report.txt").read_text()
    assert "griddata" in text and "guidance scale 2.0 not used" in text
    assert f"spread calibrated on known values hidden like the gaps (x {report['spread_factor']})" \
        in text and report["spread_factor"] > 0
    assert report["mean"] == "posterior" and "centred on the posterior mean" in text
    with xr.open_dataset(tmp_path / "gappy.nc", decode_times=False) as gappy, \
            xr.open_dataset(tmp_path / "restored.nc", decode_times=False) as out, \
            xr.open_dataset(ASSETS / "coads_2deg.nc", decode_times=False) as truth:
        obs = np.isfinite(gappy["SST"].values[:1])
        np.testing.assert_array_equal(out["SST"].values[obs], gappy["SST"].values[:1][obs])
        land = ~np.isfinite(truth["SST"].values).any(0)
        assert np.isnan(out["SST"].values[0][land]).all()  # land stays missing
        assert out["SST_samples"].sizes["sample"] == 2


def test_synthetic_gaps_have_the_requested_shares():
    rng = np.random.default_rng(0)
    assert abs(gaps.random_gaps((4, 30, 40), 0.9, rng).mean() - 0.9) < 0.02
    clouds = gaps.cloud_gaps((3, 30, 40), 0.4, rng, scale=3.0)
    assert np.allclose(clouds.mean(axis=(1, 2)), 0.4, atol=0.01)
    # blobs: a hidden cell's neighbour is mostly hidden too (unlike random points)
    assert (clouds[:, :, 1:] & clouds[:, :, :-1]).sum() / clouds[:, :, 1:].sum() > 0.8
    steps = gaps.step_gaps((20, 4, 5), 0.25, rng)
    whole = steps.all(axis=(1, 2))
    assert whole.sum() == 5 and not whole[0] and not whole[-1]
    assert (steps.any(axis=(1, 2)) == whole).all()
    with pytest.raises(ValueError, match=r"fraction must lie in \(0, 1\)"):
        gaps.random_gaps((2, 2, 2), 1.0, rng)
