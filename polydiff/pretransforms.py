"""Pretransforms: the model's slot for an encoder/decoder between the data (in model units,
after the normaliser) and the space the diffusion model works in.

The default is :class:`Identity`: the diffusion model works on the data itself. A latent
diffusion model puts an autoencoder here: training encodes every batch before the loss,
sampling decodes every sample; :func:`polydiff.load` rebuilds it from its JSON spec and its
weights come with the model's (checkpoint state dict, the export's safetensors), like the
conditioner's.

- :class:`Pretransform`: ``encode(x) -> z``, ``decode(z) -> x``, ``encoded_shape(shape)``
  and ``exact`` (``decode(encode(x)) == x`` entry by entry: known values can then be kept
  in the encoded space, as inpainting and imputation need);
- :class:`Identity`: the default; :class:`Fold`: an exact, shape-changing example (a
  factor of an axis folded into the channels, as patching does).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

__all__ = ["Fold", "Identity", "Pretransform"]


class Pretransform(nn.Module):
    """Encode / decode between the data (model units) and the diffusion space; the base
    class is the identity. Subclasses set ``exact`` and override the three methods."""

    #: ``decode(encode(x)) == x`` entry by entry, and an entry of ``z`` depends on entries
    #: of ``x`` only through a fixed rearrangement: masks carry over (:meth:`encode_mask`)
    exact: bool = True

    def encode(self, x: Tensor) -> Tensor:
        """``(B, C, *axes)`` data in model units -> ``(B, *encoded_shape)``."""
        return x

    def decode(self, z: Tensor) -> Tensor:
        """The inverse of :meth:`encode` (exact or approximate, see :attr:`exact`)."""
        return z

    def encode_mask(self, observed: Tensor) -> Tensor:
        """A bool mask of the data carried to the encoded space (exact pretransforms only)."""
        if not self.exact:
            raise ValueError(f"{type(self).__name__} is not exact: known values cannot be kept "
                             f"in its encoded space")
        return self.encode(observed.to(torch.float32)) > 0.5

    def encoded_shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        """The shape ``(C', *axes')`` of one encoded sample of ``shape = (C, *axes)``."""
        return tuple(shape)


class Identity(Pretransform):
    """The default pretransform: the diffusion model works on the data itself."""


class Fold(Pretransform):
    """Fold ``factor`` consecutive entries along spatial axis ``axis`` into the channels:
    ``(B, C, ..., n, ...) -> (B, C * factor, ..., n / factor, ...)`` (exact; the axis must be
    a multiple of ``factor``)."""

    def __init__(self, factor: int = 2, axis: int = 0):
        super().__init__()
        if isinstance(factor, bool) or not isinstance(factor, int) or factor < 1:
            raise ValueError(f"Fold: factor must be a whole number >= 1, got {factor!r}")
        if isinstance(axis, bool) or not isinstance(axis, int) or axis < 0:
            raise ValueError(f"Fold: axis must be a spatial axis index >= 0, got {axis!r}")
        self.factor, self.axis = factor, axis

    def _check(self, shape: Sequence[int]) -> None:
        if len(shape) < self.axis + 2:
            raise ValueError(f"Fold(axis={self.axis}): samples of shape {tuple(shape)} have no "
                             f"spatial axis {self.axis}")
        if shape[self.axis + 1] % self.factor:
            raise ValueError(f"Fold(factor={self.factor}): spatial axis {self.axis} has "
                             f"{shape[self.axis + 1]} entries, not a multiple of {self.factor}")

    def encoded_shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        shape = list(shape)
        self._check(shape)
        shape[0] *= self.factor
        shape[self.axis + 1] //= self.factor
        return tuple(shape)

    def encode(self, x: Tensor) -> Tensor:
        self._check(x.shape[1:])
        b, c = x.shape[:2]
        d = self.axis + 2
        n = x.shape[d]
        y = x.reshape(*x.shape[:d], n // self.factor, self.factor, *x.shape[d + 1:])
        y = y.movedim(d + 1, 2)  # (B, C, factor, ..., n / factor, ...)
        return y.reshape(b, c * self.factor, *y.shape[3:])

    def decode(self, z: Tensor) -> Tensor:
        b = z.shape[0]
        c = z.shape[1] // self.factor
        d = self.axis + 2
        y = z.reshape(b, c, self.factor, *z.shape[2:]).movedim(2, d + 1)
        return y.reshape(*y.shape[:d], -1, *y.shape[d + 2:])

    def extra_repr(self) -> str:
        return f"factor={self.factor}, axis={self.axis}"
