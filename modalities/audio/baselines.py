"""Classical gap fillers to measure a model against: zeros, linear interpolation and linear
prediction (LPC) from both sides.

All take ``audio (C, N)`` and ``observed (N,)`` bool (True = known, False = to fill) and
return ``(C, N)`` equal to ``audio`` at the known samples.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from polydiff.plugin import runs

__all__ = ["fill_linear", "fill_lpc", "fill_zeros", "lpc_coefficients", "stable_lpc"]


def _check(audio: Tensor, observed: Tensor) -> tuple[Tensor, Tensor]:
    """``(audio as float64, hole)``: ``hole = ~observed``, the samples to fill."""
    if audio.ndim != 2 or observed.shape != audio.shape[-1:]:
        raise ValueError(f"audio must be (C, N) and observed (N,), got {tuple(audio.shape)} and "
                         f"{tuple(observed.shape)}")
    return audio.double(), ~observed.to(torch.bool)


def fill_zeros(audio: Tensor, observed: Tensor) -> Tensor:
    """Silence in the gaps."""
    x, hole = _check(audio, observed)
    return torch.where(hole, 0.0, x).to(audio.dtype)


def fill_linear(audio: Tensor, observed: Tensor) -> Tensor:
    """A straight line from the last known sample before each gap to the first after it (the
    nearest known sample at the recording's ends)."""
    x, hole = _check(audio, observed)
    out = x.clone()
    n = x.shape[-1]
    for a, b in runs(hole):
        left = x[:, a - 1] if a > 0 else (x[:, b] if b < n else torch.zeros(x.shape[0]))
        right = x[:, b] if b < n else left
        w = torch.arange(1, b - a + 1, dtype=x.dtype) / (b - a + 1)
        out[:, a:b] = left[:, None] * (1 - w) + right[:, None] * w
    return out.to(audio.dtype)


def lpc_coefficients(x: Tensor, order: int, ridge: float = 1e-6) -> Tensor:
    """Least-squares (covariance-method) linear prediction of ``x (N,)``, ``N > order``:
    ``a (order,)`` minimising ``sum_t (x[t] - sum_k a[k] x[t - 1 - k])^2`` plus ``ridge`` times
    the signal energy times ``|a|^2`` (keeps it stable on near-silence). Unlike the windowed
    autocorrelation method it predicts a sum of ``order / 2`` sinusoids exactly."""
    x = x.double()
    n = x.shape[0]
    if n <= order:
        raise ValueError(f"lpc_coefficients: need more than order={order} samples, got {n}")
    rows = torch.stack([x[order - 1 - k:n - 1 - k] for k in range(order)], dim=1)  # (n-p, p)
    target = x[order:]
    gram = rows.T @ rows
    gram = gram + ridge * (target.pow(2).sum() + 1e-12) * torch.eye(order, dtype=torch.float64)
    return torch.linalg.solve(gram, rows.T @ target)


def stable_lpc(a: Tensor, tol: float = 1e-6) -> Tensor:
    """``a (order,)`` with every pole of ``1 / (1 - sum_k a[k] z^-(k+1))`` outside the unit
    circle reflected inside (``r -> 1 / conj(r)``: same magnitude response up to a gain), so a
    prediction run over a long gap cannot grow without bound. The covariance method can fit
    such poles to a rising onset; poles on the unit circle (pure tones) are kept, and ``a`` is
    returned unchanged when every ``|r| <= 1 + tol``."""
    poly = np.concatenate([[1.0], -a.double().numpy()])
    roots = np.roots(poly)
    radius = np.abs(roots)
    if radius.size == 0 or radius.max() <= 1 + tol:
        return a
    roots = np.where(radius > 1 + tol, 1 / np.conj(roots), roots)
    return torch.from_numpy(-np.real(np.poly(roots))[1:].copy()).to(a.dtype)


def _predict(history: Tensor, a: Tensor, steps: int) -> Tensor:
    """Run the AR model ``a`` forward ``steps`` samples after ``history (>= order,)``."""
    order = a.shape[0]
    buf = list(history[-order:].tolist())
    coeffs = a.tolist()
    out = []
    for _ in range(steps):
        v = sum(c * buf[-1 - k] for k, c in enumerate(coeffs))
        out.append(v)
        buf.append(v)
    return torch.tensor(out, dtype=torch.float64)


def fill_lpc(audio: Tensor, observed: Tensor, order: int = 32, context: int = 1024) -> Tensor:
    """Linear prediction from both sides: an AR(``order``) model fitted to up to ``context``
    known samples before each gap predicts forward, one fitted to the samples after it
    (time-reversed) predicts backward (each with its poles kept inside the unit circle,
    :func:`stable_lpc`), and the two are cross-faded linearly over the gap (one
    side alone at the recording's ends or with too little context)."""
    x, hole = _check(audio, observed)
    out = x.clone()
    n = x.shape[-1]
    for a, b in runs(hole):
        length = b - a
        w = torch.arange(1, length + 1, dtype=torch.float64) / (length + 1)
        for ch in range(x.shape[0]):
            before = out[ch, max(0, a - context):a]
            after = out[ch, b:min(n, b + context)]
            fwd = bwd = None
            if before.shape[0] > 2 * order:
                fwd = _predict(before, stable_lpc(lpc_coefficients(before, order)), length)
            if after.shape[0] > 2 * order:
                rev = after.flip(0)
                bwd = _predict(rev, stable_lpc(lpc_coefficients(rev, order)), length).flip(0)
            if fwd is not None and bwd is not None:
                fill = fwd * (1 - w) + bwd * w
            elif fwd is not None or bwd is not None:
                fill = fwd if fwd is not None else bwd
            else:
                fill = fill_linear(out[ch:ch + 1], ~hole)[0, a:b].double()
            out[ch, a:b] = fill
    return out.to(audio.dtype)
