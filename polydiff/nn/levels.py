"""Resolution levels of a U-Net: per-axis down factors and the sizes they give."""

from __future__ import annotations

from collections.abc import Sequence

from ._utils import positive_ints

__all__ = ["parse_down_factors", "level_sizes", "resolution_levels"]


def parse_down_factors(down_factors, dims: int, transitions: int) -> tuple[tuple[int, ...], ...]:
    """Per-transition, per-axis down factors.

    ``2`` -> factor 2 on every axis at every transition; ``(1, 2, 2)`` -> that per-axis factor at
    every transition; ``((1, 2), (2, 2))`` -> one per-axis tuple per transition.
    """
    if isinstance(down_factors, int) or (
        isinstance(down_factors, Sequence) and all(isinstance(f, int) for f in down_factors)
    ):
        return (positive_ints(down_factors, dims, "down_factors"),) * transitions
    if not isinstance(down_factors, Sequence) or len(down_factors) != transitions:
        raise ValueError(
            f"down_factors must be an int, {dims} ints (one per axis) or {transitions} such "
            f"entries (one per downsampling = len(channel_mult) - 1), got {down_factors!r}"
        )
    return tuple(positive_ints(f, dims, f"down_factors[{i}]") for i, f in enumerate(down_factors))


def level_sizes(input_size, down_factors: Sequence[Sequence[int]], dims: int,
                size_name: str = "input_size") -> list[tuple[int, ...]]:
    """Per-axis size at each level: ``input_size`` (an int or one per axis) at level 0, then
    floor-divided by each transition's factors."""
    size = positive_ints(input_size, dims, size_name)
    sizes = [size]
    for factors in down_factors:
        size = tuple(n // f for n, f in zip(size, factors, strict=True))
        sizes.append(size)
    return sizes


def resolution_levels(attention_resolutions, input_size, down_factors: Sequence[Sequence[int]],
                      dims: int, size_name: str = "input_size") -> tuple[int, ...]:
    """The levels whose per-axis size is one of ``attention_resolutions``.

    An entry is an int (the same size on every axis: ``8`` is ``8x8`` for images) or one int per
    axis (e.g. ``[8, 16, 16]`` for ``(F, H, W)``). Every entry must match at least one level.
    """
    if (not isinstance(attention_resolutions, Sequence)
            or isinstance(attention_resolutions, str)):
        raise ValueError(f"attention_resolutions must be a list of sizes (an int, or {dims} ints "
                         f"per entry), got {attention_resolutions!r}")
    if input_size is None:
        raise ValueError(f"attention_resolutions needs {size_name} (the training size: an int "
                         f"or one per axis), got {size_name}=None")
    sizes = level_sizes(input_size, down_factors, dims, size_name)
    levels, unknown = set(), []
    for i, entry in enumerate(attention_resolutions):
        want = positive_ints(entry, dims, f"attention_resolutions[{i}]")
        found = [lvl for lvl, s in enumerate(sizes) if s == want]
        if not found:
            unknown.append(entry)
        levels.update(found)
    if unknown:
        isotropic = all(len(set(s)) == 1 for s in sizes)
        shown = [s[0] if isotropic else list(s) for s in sizes]
        raise ValueError(f"attention_resolutions {unknown} are not among the level resolutions "
                         f"{shown} for {size_name}={input_size!r}")
    return tuple(sorted(levels))
