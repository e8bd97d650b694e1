"""A first guess of the missing frames from the given ones, linear in time.

Each missing entry of ``known (B, C, F, H, W)`` becomes the linear blend in time of the nearest
given entries before and after it (at the same channel and pixel), weighted by distance, and
the nearest given one where only one side has one: between given frames it is
:func:`~.baselines.linear_blend`, after the last given frame it holds that frame
(:func:`~.baselines.repeat_last`, the prediction baseline), before the first it holds the
first. Given entries are returned exactly; a pixel with no given entry at all stays 0.

The mechanism is the core's :func:`polydiff.interpolate.linear_along` (also the first guess
of missing time steps in gridded fields). Conditional frame models
(``VideoUNet(conditional=True)``) take it as extra input channels and, with ``residual=True``,
denoise only the residual from it.
"""

from __future__ import annotations

from torch import Tensor

from polydiff.plugin import linear_along

__all__ = ["temporal_guess"]


def temporal_guess(known: Tensor, given: Tensor) -> Tensor:
    """``known (B, C, F, H, W)`` (any values where not given), ``given`` (bool, broadcastable
    to ``known``; True = given) -> the first guess ``(B, C, F, H, W)``, equal to ``known``
    where ``given``. Works along axis 2 for any number of trailing axes."""
    if known.ndim < 3:
        raise ValueError(f"temporal_guess: known must be (B, C, F, ...), got shape "
                         f"{tuple(known.shape)}")
    try:
        return linear_along(known, given, dim=2)
    except ValueError as e:  # name the function the caller called
        raise ValueError(f"temporal_guess: {e}") from None
