"""Attention layouts: full attention, or factorised attention along groups of axes in turn."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from .attention import Attention, check_axes

__all__ = ["FactorisedAttention", "attention_block", "parse_attention_axes"]


def parse_attention_axes(attention_axes, dims: int) -> tuple[tuple[int, ...], ...] | None:
    """``None`` (full attention), or the axis groups as sorted tuples, checked against ``dims``.

    E.g. ``[[1, 2], [0]]`` for ``(B, C, F, H, W)``: attention over ``(H, W)`` per frame, then
    over ``F`` per pixel.
    """
    if attention_axes is None:
        return None
    if (not isinstance(attention_axes, Sequence) or isinstance(attention_axes, str)
            or not attention_axes):
        raise ValueError(f"attention_axes must be None (full attention) or a non-empty list of "
                         f"axis groups such as [[1, 2], [0]], got {attention_axes!r}")
    groups = []
    for i, group in enumerate(attention_axes):
        axes = check_axes(group, f"attention_axes[{i}]", dims)
        if not axes:
            raise ValueError(f"attention_axes[{i}] must name at least one axis, got {group!r}")
        groups.append(axes)
    return tuple(groups)


class FactorisedAttention(nn.Sequential):
    """One residual :class:`Attention` per axis group, applied in turn.

    ``(B, channels, *axes) -> (B, channels, *axes)``; the identity at initialisation. Layer ``i``
    attends over the flattened positions of ``groups[i]``, batched over the other axes, so its
    score matrices have ``prod(sizes of groups[i])**2`` entries, not ``prod(all sizes)**2``.
    A group's axes that are in ``relative_axes`` get a relative-position bias in that layer.

    Args:
        channels, heads: as for :class:`Attention`.
        groups: axis groups, e.g. ``[[1, 2], [0]]`` (0-based spatial axes).
        relative_axes: spatial axes with a learned relative-position bias; each must be in a
            group.
        max_distance: clip distance of the bias tables.
    """

    def __init__(self, channels: int, heads: int, groups: Sequence[Sequence[int]],
                 relative_axes: Sequence[int] = (), max_distance: int = 8):
        groups = [check_axes(g, f"FactorisedAttention: groups[{i}]") for i, g in enumerate(groups)]
        relative = check_axes(relative_axes, "FactorisedAttention: relative_axes")
        unused = [a for a in relative if not any(a in g for g in groups)]
        if not groups or unused:
            raise ValueError(f"FactorisedAttention: needs at least one axis group and every "
                             f"relative axis in a group; got groups {groups}, relative axes "
                             f"{list(relative)}")
        super().__init__(*(
            Attention(channels, heads, axes=g, relative_axes=[a for a in relative if a in g],
                      max_distance=max_distance)
            for g in groups
        ))
        self.groups = tuple(groups)
        self.relative_axes = relative


def attention_block(channels: int, heads: int,
                    attention_axes: Sequence[Sequence[int]] | None = None,
                    relative_axes: Sequence[int] = (), max_distance: int = 8) -> nn.Module:
    """:class:`Attention` over all positions when ``attention_axes`` is ``None`` (the default
    layout; its parameters are ``norm``, ``qkv``, ``proj``), else :class:`FactorisedAttention`."""
    if attention_axes is None:
        return Attention(channels, heads, relative_axes=relative_axes, max_distance=max_distance)
    return FactorisedAttention(channels, heads, attention_axes, relative_axes, max_distance)
