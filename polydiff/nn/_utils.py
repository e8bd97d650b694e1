"""Argument helpers shared by the N-d blocks."""

from __future__ import annotations

from collections.abc import Sequence

DIMS = (1, 2, 3)


def check_dims(dims: int, name: str = "dims") -> int:
    """``dims`` when it is 1, 2 or 3, else a ``ValueError``."""
    if isinstance(dims, bool) or not isinstance(dims, int) or dims not in DIMS:
        raise ValueError(f"{name} must be 1, 2 or 3 (number of spatial axes), got {dims!r}")
    return dims


def per_axis(value, dims: int, name: str, kind: type = int) -> tuple:
    """``value`` repeated to a ``dims``-tuple, or checked to have length ``dims``."""
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return (value,) * dims
    if isinstance(value, Sequence) and not isinstance(value, str):
        out = tuple(value)
        if len(out) != dims or not all(isinstance(v, kind) for v in out):
            raise ValueError(
                f"{name} must be a {kind.__name__} or {dims} {kind.__name__}s (one per spatial "
                f"axis), got {value!r}"
            )
        return out
    raise ValueError(
        f"{name} must be a {kind.__name__} or {dims} {kind.__name__}s (one per spatial axis), "
        f"got {value!r}"
    )


def positive_ints(value, dims: int, name: str) -> tuple[int, ...]:
    """Like :func:`per_axis` for ints, also requiring every entry to be >= 1."""
    out = per_axis(value, dims, name, int)
    if any(v < 1 for v in out):
        raise ValueError(f"{name} entries must be >= 1, got {value!r}")
    return out
