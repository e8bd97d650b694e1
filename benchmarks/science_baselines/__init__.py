"""Classical gap filling, to compare polydiff against (``benchmarks/impute.py``): benchmark
code, not part of the library (run the benchmarks from the repository; ``benchmarks/`` is on
``sys.path`` when a script there runs).

Every method takes one variable ``values (T, Y, X)`` (time, lat, lon; NaN = missing) with its
coordinates ``lat (Y,)``, ``lon (X,)`` in degrees and returns the filled array (observed
values unchanged); :func:`kriging` also returns the predictive standard deviation.

- :func:`griddata` (scipy, ``"linear"`` / ``"cubic"``) and :func:`rbf` (scipy's
  ``RBFInterpolator``, thin-plate spline): each map on its own, bridged across the date line;
- :func:`temporal_linear`: each cell's time series on its own; :func:`temporal_oi`: the same
  by optimal interpolation of its anomalies from the background (seasonal with dates);
- :func:`dineof`: iterative truncated SVD (DINEOF, Beckers & Rixen 2003) with the rank
  chosen by cross-validation;
- :func:`local_oi`: optimal interpolation of anomalies from the background with the field's
  own local, non-stationary covariance (estimated from its filled maps), all variables
  together (``values (C, T, Y, X)``);
- :func:`kriging`: space-time optimal interpolation (simple kriging of anomalies from the
  per-cell mean) with an exponential covariance fitted to the observed values by maximum
  likelihood.
"""

from __future__ import annotations

from .dineof import dineof
from .kriging import KrigingFit, fit_covariance, kriging
from .oi import local_oi
from .spatial import griddata, rbf
from .temporal import temporal_linear, temporal_oi

__all__ = ["KrigingFit", "dineof", "fit_covariance", "griddata", "kriging", "local_oi", "rbf",
           "temporal_linear", "temporal_oi"]
