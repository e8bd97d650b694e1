"""Vector conditioning: a few real numbers per sample (timing, camera or site parameters) added
to a network's conditioning embedding."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .init import zero_init

__all__ = ["VectorEmbedding"]


class VectorEmbedding(nn.Module):
    """``vector (B, in_dim) -> (B, emb_dim)``: Fourier features of each entry, then a 2-layer MLP
    whose last layer is zero-initialised (so adding it to an embedding changes nothing at
    initialisation).

    Each entry ``v`` becomes ``[v, sin(2^k pi v), cos(2^k pi v)]`` for ``k < frequencies``:
    entries of order 1 (e.g. seconds divided by a scale) are resolved down to ``2^-frequencies``.

    Args:
        in_dim: entries per sample.
        emb_dim: output size (the network's embedding size).
        frequencies: octaves of Fourier features per entry (0: the raw values only).
    """

    def __init__(self, in_dim: int, emb_dim: int, frequencies: int = 8):
        super().__init__()
        if in_dim < 1 or emb_dim < 1 or frequencies < 0:
            raise ValueError(f"VectorEmbedding: need in_dim >= 1, emb_dim >= 1, frequencies >= "
                             f"0; got {in_dim}, {emb_dim}, {frequencies}")
        self.in_dim, self.emb_dim = in_dim, emb_dim
        self.register_buffer("freqs", math.pi * 2.0 ** torch.arange(frequencies),
                             persistent=False)
        features = in_dim * (1 + 2 * frequencies)
        self.mlp = nn.Sequential(nn.Linear(features, emb_dim), nn.SiLU(),
                                 zero_init(nn.Linear(emb_dim, emb_dim)))

    def forward(self, vector: Tensor) -> Tensor:
        """``(B, in_dim) -> (B, emb_dim)``."""
        if vector.ndim != 2 or vector.shape[1] != self.in_dim or vector.is_complex():
            raise ValueError(f"VectorEmbedding: vector must be real with shape (B, {self.in_dim}), "
                             f"got {vector.dtype} {tuple(vector.shape)}")
        v = vector.to(self.mlp[0].weight.dtype)
        args = v[:, :, None] * self.freqs.to(v.dtype)  # (B, in_dim, F)
        feats = torch.cat([v[:, :, None], torch.sin(args), torch.cos(args)], dim=2)
        return self.mlp(feats.flatten(1))
