"""``polydiff demo science`` end to end (two training steps)."""

from __future__ import annotations

import numpy as np
import xarray as xr

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


