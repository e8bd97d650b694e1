"""``polydiff impute``: checks before work, never overwrites, one-line errors, and a restored
netCDF file with observed values unchanged (from a checkpoint and from an export)."""

from __future__ import annotations

import lightning.pytorch as pl
import numpy as np
import pytest
import xarray as xr
from conftest import make_field

from polydiff.cli import main
from polydiff.modalities.science import FieldData
from polydiff.training import DiffusionModule, build_net, export


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """``(gappy.nc, checkpoint, export dir)`` of a science model trained for 2 steps."""
    root = tmp_path_factory.mktemp("cmd")
    path = root / "gappy.nc"
    make_field(n_time=3, n_lat=10, n_lon=16, gaps=0.3).to_netcdf(path, engine="scipy")
    pl.seed_everything(0)
    net = build_net("polydiff.modalities.science.FieldUNet", variables=2, base_channels=8,
                    channel_mult=[1, 2], attention_heads=2)
    module = DiffusionModule(net, ema_decay=0.9)
    trainer = pl.Trainer(accelerator="cpu", max_steps=2, logger=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         default_root_dir=root, num_sanity_val_steps=0, limit_val_batches=1)
    trainer.fit(module, FieldData(str(path), patch=[8, 8], batch_size=4, min_observed=0))
    ckpt = root / "model.ckpt"
    trainer.save_checkpoint(ckpt)
    return path, ckpt, export(module, root / "export")


def test_impute_writes_the_restored_file(trained, tmp_path, cli_error):
    path, ckpt, exported = trained
    out = tmp_path / "restored.nc"
    args = ["impute", str(path), "--var", "SST", "--var", "AIRT", "--checkpoint", str(ckpt),
            "--out", str(out), "--samples", "3", "--steps", "2", "--no-progress",
            "--save-samples"]
    assert main(args) == 0
    with xr.open_dataset(out) as got, xr.open_dataset(path) as ds:
        obs = np.isfinite(ds["SST"].values)
        np.testing.assert_array_equal(got["SST"].values[obs], ds["SST"].values[obs])
        assert np.isfinite(got["SST"].values).all()
        assert got["SST_samples"].sizes["sample"] == 3
        assert got.attrs["polydiff_input"] == str(path)
    cli_error(args, r"--out .*restored.nc already exists; choose a new name or pass "
                    r"--overwrite")
    assert main([*args, "--overwrite"]) == 0
    assert main(["impute", str(path), "--checkpoint", str(exported), "--out",
                 str(tmp_path / "from_export.nc"), "--samples", "2", "--steps", "1",
                 "--no-progress"]) == 0
    assert main(["impute", str(path), "--checkpoint", str(exported), "--out",
                 str(tmp_path / "calibrated.nc"), "--samples", "3", "--steps", "1",
                 "--no-progress", "--calibrate"]) == 0
    with xr.open_dataset(tmp_path / "calibrated.nc") as got:
        factor = float(got.attrs["polydiff_spread_factor"])
        assert factor > 0 and got.attrs["polydiff_mean"] == "ensemble"
        calibrated_std = got["SST_std"].values
    # the factor of that run given back: the same widened ensemble, no calibration run
    assert main(["impute", str(path), "--checkpoint", str(exported), "--out",
                 str(tmp_path / "given.nc"), "--samples", "3", "--steps", "1",
                 "--no-progress", "--spread-factor", str(factor)]) == 0
    with xr.open_dataset(tmp_path / "given.nc") as got:
        assert got.attrs["polydiff_calibration"] == "spread_factor given"
        np.testing.assert_allclose(got["SST_std"].values, calibrated_std, rtol=1e-3, atol=1e-6)
    cli_error(["impute", path, "--checkpoint", exported, "--out", tmp_path / "p.nc",
               "--samples", "2", "--steps", "1", "--no-progress", "--mean", "posterior"],
              r"mean='posterior' needs a conditional imputation model .* unconditional")


def test_impute_checks_everything_first(trained, tmp_path, cli_error):
    path, ckpt, _ = trained
    base = ["--checkpoint", str(ckpt), "--steps", "1", "--samples", "2", "--no-progress"]
    (tmp_path / "notes.txt").write_text("not a netCDF file")
    cli_error(["impute", tmp_path / "notes.txt", *base, "--out", tmp_path / "a.nc"],
              r"notes.txt is not a netCDF or zarr store")
    cli_error(["impute", path, *base, "--var", "SST", "--out", tmp_path / "a.nc"],
              r"--var \['SST'\]: the model .* fills the variables \['SST', 'AIRT'\] together")
    cli_error(["impute", path, *base, "--out", tmp_path / "a.txt"],
              r"--out .*a.txt: expected a netCDF file name ending in .nc")
    cli_error(["impute", path, *base, "--out", tmp_path / "a.nc", "--device", "cuda:7"],
              r"--device cuda:7")
    cli_error(["impute", path, *base, "--out", tmp_path / "a.nc", "--method", "magic"],
              r"--method: .*magic")
    cli_error(["impute", path, *base, "--out", tmp_path / "a.nc", "--resample", "1", "2"],
              r"--resample applies to --guidance repaint only")
    cli_error(["impute", path, "--checkpoint", ckpt, "--samples", "1", "--calibrate",
               "--out", tmp_path / "a.nc"], r"--calibrate needs --samples >= 2 .*got 1")
    cli_error(["impute", path, *base, "--calibrate", "--spread-factor", "1.5", "--out",
               tmp_path / "a.nc"], r"--spread-factor 1.5: give it or --calibrate, not both")
    cli_error(["impute", path, *base, "--spread-factor", "-1", "--out", tmp_path / "a.nc"],
              r"--spread-factor -1.0: expected a factor >= 0 .*got --samples 2")
    cli_error(["impute", path, *base, "--spread-factor", "nan", "--out", tmp_path / "a.nc"],
              r"--spread-factor: expected a finite number, got 'nan'")
    cli_error(["impute", path, "--checkpoint", tmp_path / "none.ckpt", "--out",
               tmp_path / "a.nc"], r"--checkpoint .*none.ckpt does not exist")
    kelvin = make_field(n_time=3, n_lat=10, n_lon=16, units="K")
    kelvin.to_netcdf(tmp_path / "kelvin.nc", engine="scipy")
    cli_error(["impute", tmp_path / "kelvin.nc", *base, "--out", tmp_path / "a.nc"],
              r"units differ from the model's: SST: 'K' \(trained on 'degC'\)")
    other = make_field(n_time=3, n_lat=10, n_lon=16).rename({"SST": "sst", "AIRT": "airt"})
    other.to_netcdf(tmp_path / "other.nc", engine="scipy")
    cli_error(["impute", tmp_path / "other.nc", *base, "--out", tmp_path / "a.nc"],
              r"has no variable\(s\) \['(SST|AIRT)'.*(sst|airt)")
    empty = make_field(n_time=3, n_lat=10, n_lon=16)
    empty["AIRT"][:] = np.nan
    empty.to_netcdf(tmp_path / "empty.nc", engine="scipy")
    cli_error(["impute", tmp_path / "empty.nc", *base, "--out", tmp_path / "a.nc"],
              r"\['AIRT'\] hold no finite value \(all NaN\)")
    flat = make_field(n_time=3, n_lat=10, n_lon=16, lat_name="row", lon_name="col")
    for name in ("row", "col"):
        flat[name].attrs = {"units": "1"}
    flat.to_netcdf(tmp_path / "flat.nc", engine="scipy")
    cli_error(["impute", tmp_path / "flat.nc", *base, "--out", tmp_path / "a.nc"],
              r"no recognisable latitude and longitude coordinate: found dimensions "
              r"\['time', 'row', 'col'\]")
    assert not (tmp_path / "a.nc").exists()
