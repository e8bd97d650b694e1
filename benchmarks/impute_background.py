"""Which background makes the best first guess? Deterministic, seconds per mask.

    flock /tmp/polydiff-heavy.lock .venv/bin/python benchmarks/impute_background.py

On the masks of ``benchmarks/impute.py`` (the full Ferret navy winds, the same seeds and
scored months, cos-latitude weighted RMSE in m/s at the hidden entries), the RMSE of the
first guess a conditional model starts from: the biharmonic fill of each month, and the
background plus the biharmonic fill of the month's anomalies from it, for backgrounds

- ``observed_mean``: the per-cell time mean of the observed values (NaN-aware);
- ``filled_mean_passes_N``: :func:`~polydiff.modalities.science.statistics.background.
  time_mean_background` with ``N`` passes (``FieldData(background=True)`` uses 2);
- ``calendar_filled_mean``: the mean of the filled maps of the same calendar month.

For whole missing months (``steps``), the scored months have no values, so only backgrounds
that vary in time can add to linear interpolation in time: ``calendar_plus_linear_anomaly``
is the calendar-month mean of the observed months plus the linearly interpolated anomaly
from it.

Writes ``benchmarks/results/impute_background.json``; it asserts nothing.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import impute as bench  # noqa: E402  (the masks, months and guess of the main benchmark)

from polydiff.modalities.science.statistics.background import time_mean_background  # noqa: E402

OUT = bench.ROOT / "benchmarks" / "results" / "impute_background.json"


def rmse(est: np.ndarray, truth: np.ndarray, hidden: np.ndarray, lat: np.ndarray) -> float:
    """``est``, ``truth`` ``(V, K, Y, X)``; ``hidden (K, Y, X)``: the main benchmark's score."""
    where = np.broadcast_to(hidden[None], est.shape)
    return bench.score(truth, where, lat, est)["rmse"]


def linear_in_time(values: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """``(V, T, Y, X)`` -> each variable linear in time (the ``temporal_linear`` baseline)."""
    from science_baselines import temporal_linear

    return np.stack([temporal_linear(v, lat, lon) for v in values])


def guess(bg: np.ndarray, gappy: np.ndarray, months: np.ndarray, kind: str) -> np.ndarray:
    """Background ``(V, [T,] Y, X)`` plus the biharmonic fill of the anomalies of ``months``."""
    bg = np.broadcast_to(bg if bg.ndim == 4 else bg[:, None], gappy.shape)
    return bg[:, months] + bench.first_guess_fill(gappy - bg, months, kind, "biharmonic")


def main() -> None:
    torch.set_num_threads(2)
    ds = bench.load_winds(bench.FERRET, None)
    truth = np.stack([ds[v].values.astype(np.float64) for v in bench.VARS])  # (V, T, Y, X)
    lat, lon = ds["FNOCY"].values, ds["FNOCX"].values
    t = np.arange(truth.shape[1])
    rows: dict = {}
    for kind in bench.MASKS:
        hidden = bench.make_mask(kind, truth.shape[1:], 0)
        months = bench.eval_months(kind, hidden, 4)
        gappy = np.where(hidden[None], np.nan, truth).astype(np.float32)
        y, h = truth[:, months], hidden[months]
        row: dict = {}
        if kind == "steps":
            row["linear_in_time"] = rmse(linear_in_time(gappy, lat, lon)[:, months], y, h, lat)
            seen = np.isfinite(gappy).all(axis=(0, 2, 3))
            cal = np.stack([gappy[:, seen & (t % 12 == m)].mean(1) for m in range(12)], 1)
            cal = cal[:, t % 12]
            row["calendar_plus_linear_anomaly"] = rmse(
                (cal + linear_in_time(gappy - cal, lat, lon))[:, months], y, h, lat)
        else:
            row["biharmonic"] = rmse(bench.first_guess_fill(gappy, months, kind,
                                                            "biharmonic"), y, h, lat)
            at = (gappy, months, kind)
            row["observed_mean"] = rmse(guess(np.nanmean(gappy, axis=1), *at), y, h, lat)
            for passes in (1, 2, 3, 4):
                row[f"filled_mean_passes_{passes}"] = rmse(
                    guess(time_mean_background(gappy, True, passes=passes), *at), y, h, lat)
            filled = bench.first_guess_fill(gappy, t, kind, "biharmonic")
            cal = np.stack([filled[:, t % 12 == m].mean(1) for m in range(12)], 1)
            row["calendar_filled_mean"] = rmse(guess(cal[:, t % 12], *at), y, h, lat)
        rows[kind] = row
        print(kind, {k: round(v, 3) for k, v in row.items()}, flush=True)
    OUT.write_text(json.dumps({
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "field": str(bench.FERRET), "variables": list(bench.VARS), "seed": 0,
        "eval_months": 4, "rmse": rows}, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
