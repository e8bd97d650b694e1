"""Blocks that take the conditioning vector ``emb``, and the container that routes it."""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn

__all__ = ["EmbBlock", "EmbSequential"]


class EmbBlock(nn.Module):
    """Marker base class of blocks whose forward takes the conditioning vector.

    Subclasses implement ``forward(x (B, C, *axes), emb (B, emb_dim) | None) -> Tensor``;
    :class:`EmbSequential` passes ``emb`` to them and only ``x`` to every other layer.
    """

    def forward(self, x: Tensor, emb: Tensor | None) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} must implement forward(x, emb)")


class EmbSequential(nn.ModuleList):
    """Apply modules in turn: ``layer(x, emb)`` for :class:`EmbBlock` layers, else ``layer(x)``;
    ``after(j, x) -> x`` (optional) runs after layer ``j``."""

    def forward(self, x: Tensor, emb: Tensor | None,
                after: Callable[[int, Tensor], Tensor] | None = None) -> Tensor:
        for j, layer in enumerate(self):
            x = layer(x, emb) if isinstance(layer, EmbBlock) else layer(x)
            if after is not None:
                x = after(j, x)
        return x
