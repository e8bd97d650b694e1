"""The waveform backbone: a 1D U-Net that starts by folding time into channels.

Most of a waveform U-Net's cost is at the first levels, where sequences are longest. Like
audio-diffusion-pytorch's ``UNetV0`` (whose first stages downsample by 4 with few channels),
this network spends little there, and goes further:

- the input is *folded* (space-to-depth, lossless): ``(B, C, T) -> (B, C * patch, T / patch)``
  before the first convolution, and the output unfolded the same way, so no layer runs at the
  full sample rate (``UNetV0`` runs a residual block there);
- downsampling is a patch convolution (kernel = stride = factor, as ``UNetV0``) and upsampling
  its transpose: every input sample is seen once, no aliasing from a 3-tap strided conv;
- one skip per level (concatenated into that level's first decoder block), not one per block;
- self-attention only at the coarse levels (``attention_levels``, default the last two), where a
  16384-sample crop has a few hundred positions at most;
- conditioning through one vector: noise level + class (a null class for classifier-free
  guidance) + optional real-valued ``vector`` (timing: start and total seconds), applied by FiLM
  in every :class:`polydiff.nn.ResBlock`; extra input channels ``cond`` (e.g. the known audio
  and its mask of a gap-filling model) are folded with the input.

Built from :mod:`polydiff.nn` blocks (``ResBlock``, ``Attention``, ``Conv``,
``EmbSequential``, ``VectorEmbedding``, ``zero_init``, ``group_norm``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from polydiff.plugin import (
    Attention,
    ConditionedInputs,
    Conv,
    EmbSequential,
    NoiseEmbedding,
    ResBlock,
    VectorEmbedding,
    group_norm,
    zero_init,
)

__all__ = ["AudioUNet", "fold", "unfold"]


def fold(x: Tensor, patch: int) -> Tensor:
    """Space-to-depth: ``(B, C, T) -> (B, C * patch, T / patch)``; channel ``c * patch + j``
    holds samples ``j, j + patch, ...`` of channel ``c``."""
    b, c, t = x.shape
    return x.reshape(b, c, t // patch, patch).transpose(2, 3).reshape(b, c * patch, t // patch)


def unfold(x: Tensor, patch: int) -> Tensor:
    """The inverse of :func:`fold`: ``(B, C * patch, T) -> (B, C, T * patch)``."""
    b, cp, t = x.shape
    return x.reshape(b, cp // patch, patch, t).transpose(2, 3).reshape(b, cp // patch, t * patch)


def _per_level(value: int | Sequence[int], levels: int, name: str) -> tuple[int, ...]:
    out = (value,) * levels if isinstance(value, int) else tuple(value)
    if len(out) != levels or any(not isinstance(v, int) or v < 1 for v in out):
        raise ValueError(f"AudioUNet: {name} must be an int >= 1 or {levels} of them (one per "
                         f"level), got {value!r}")
    return out


class AudioUNet(ConditionedInputs, nn.Module):
    """1D U-Net for waveforms ``(B, C, T)`` (mono ``C = 1`` or stereo ``C = 2``).

    Args:
        in_channels: audio channels; ``out_channels`` defaults to the same.
        channels: channels per level (level 0 runs at ``T / patch``).
        factors: downsampling factor between consecutive levels (``len(channels) - 1``).
        blocks: residual blocks per level on each side (an int or one per level).
        patch: samples folded into channels before the first level.
        attention_levels: levels (negative counts from the coarsest) whose blocks are followed
            by self-attention.
        attention_heads: heads per attention layer (must divide the level's channels).
        num_classes: class conditioning; label ``num_classes`` (:attr:`null_class`) is the
            unconditional class of classifier-free guidance.
        cond_channels: extra input channels ``cond (B, cond_channels, T)``.
        vector_cond_dim: real-valued conditioning ``vector (B, vector_cond_dim)`` (timing:
            ``[start, total] / timing_scale``).
        emb_dim: size of the conditioning vector (default ``4 * channels[0]``, at least 128).
        emb_kind: ``"sinusoidal"`` or ``"fourier"`` noise-level features.
        dropout: dropout in every residual block.
        kernel_size: taps of the residual blocks' convolutions (odd).

    ``forward(x (B, C, T), c_noise (B,), class_labels=None, cond=None, vector=None) ->
    (B, C_out, T)``; ``T`` must be a multiple of :attr:`size_multiple` (``patch *
    prod(factors)``). The output layer is zero-initialised: the output is 0 at init.
    """

    def __init__(self, in_channels: int = 1, out_channels: int | None = None,
                 channels: Sequence[int] = (32, 64, 128, 256, 256),
                 factors: Sequence[int] = (4, 4, 2, 2), blocks: int | Sequence[int] = 2,
                 patch: int = 4, attention_levels: Sequence[int] = (-2, -1),
                 attention_heads: int = 4, num_classes: int | None = None,
                 cond_channels: int = 0, vector_cond_dim: int = 0, emb_dim: int | None = None,
                 emb_kind: str = "sinusoidal", dropout: float = 0.0, kernel_size: int = 3):
        super().__init__()
        channels = _per_level(tuple(channels), len(tuple(channels)), "channels")
        levels = len(channels)
        if in_channels < 1 or cond_channels < 0 or vector_cond_dim < 0:
            raise ValueError(f"AudioUNet: need in_channels >= 1, cond_channels >= 0, "
                             f"vector_cond_dim >= 0; got {in_channels}, {cond_channels}, "
                             f"{vector_cond_dim}")
        self.factors = _per_level(tuple(factors), levels - 1, "factors") if levels > 1 else ()
        self.blocks = _per_level(blocks, levels, "blocks")
        if patch < 1 or kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"AudioUNet: patch must be >= 1 and kernel_size odd, got patch="
                             f"{patch}, kernel_size={kernel_size}")
        if num_classes is not None and num_classes < 1:
            raise ValueError(f"AudioUNet: num_classes must be >= 1 or None, got {num_classes}")
        attn = set()
        for lvl in attention_levels or ():
            if not -levels <= lvl < levels:
                raise ValueError(f"AudioUNet: attention_levels entry {lvl} is out of range for "
                                 f"{levels} levels")
            attn.add(lvl % levels)
        for lvl in attn:
            if channels[lvl] % attention_heads:
                raise ValueError(f"AudioUNet: attention_heads={attention_heads} must divide the "
                                 f"{channels[lvl]} channels of level {lvl}")
        self.in_channels, self.out_channels = in_channels, out_channels or in_channels
        self.cond_channels, self.vector_cond_dim = cond_channels, vector_cond_dim
        self.num_classes, self.patch, self.channels = num_classes, patch, channels
        self.attention_levels = tuple(sorted(attn))
        self.size_multiple = (patch * math.prod(self.factors),)
        emb_dim = emb_dim or max(128, 4 * channels[0])
        self.emb_dim = emb_dim

        self.noise_emb = NoiseEmbedding(emb_dim, kind=emb_kind)
        self.class_emb = nn.Embedding(num_classes + 1, emb_dim) if num_classes else None
        if vector_cond_dim:
            self.vector_emb = VectorEmbedding(vector_cond_dim, emb_dim)

        def stage(cin: int, cout: int, n: int, level: int) -> EmbSequential:
            layers: list[nn.Module] = []
            for k in range(n):
                layers.append(ResBlock(1, cin if k == 0 else cout, cout, emb_dim, dropout,
                                       kernel_size=kernel_size))
                if level in attn:
                    layers.append(Attention(cout, attention_heads))
            return EmbSequential(layers)

        self.stem = Conv(1, (in_channels + cond_channels) * patch, channels[0], 3)
        self.enc = nn.ModuleList(stage(channels[i], channels[i], self.blocks[i], i)
                                 for i in range(levels))
        self.down = nn.ModuleList(nn.Conv1d(channels[i], channels[i + 1], f, stride=f)
                                  for i, f in enumerate(self.factors))
        self.up = nn.ModuleList(nn.ConvTranspose1d(channels[i + 1], channels[i], f, stride=f)
                                for i, f in enumerate(self.factors))
        self.dec = nn.ModuleList(
            stage(channels[i] * (1 if i == levels - 1 else 2), channels[i], self.blocks[i], i)
            for i in range(levels))
        self.out_norm = group_norm(channels[0])
        self.out_act = nn.SiLU()
        self.out_conv = zero_init(Conv(1, channels[0], self.out_channels * patch, 3))

    @property
    def null_class(self) -> int | None:
        """Label of the null class (classifier-free guidance), or ``None`` without classes."""
        return self.num_classes

    def _check(self, x: Tensor, c_noise: Tensor, class_labels: Tensor | None,
               cond: Tensor | None, vector: Tensor | None) -> Tensor:
        if x.ndim != 3 or x.shape[1] != self.in_channels:
            kind = {1: "mono", 2: "stereo"}.get(self.in_channels, f"{self.in_channels}-channel")
            raise ValueError(f"AudioUNet: x must have shape (B, {self.in_channels}, T) ({kind} "
                             f"audio), got {tuple(x.shape)}")
        m = self.size_multiple[0]
        if x.shape[-1] % m:
            raise ValueError(f"AudioUNet: length {x.shape[-1]} must be a multiple of {m} (patch "
                             f"{self.patch} x factors {list(self.factors)})")
        return self.check_conditioning("AudioUNet", x, c_noise, class_labels, cond, vector)

    def forward(self, x: Tensor, c_noise: Tensor, class_labels: Tensor | None = None,
                cond: Tensor | None = None, vector: Tensor | None = None) -> Tensor:
        """``(B, C, T)``, ``(B,)`` -> ``(B, C_out, T)``."""
        c_noise = self._check(x, c_noise, class_labels, cond, vector)
        emb = self.embedding(c_noise, class_labels, vector)
        if self.cond_channels:
            if cond is None:
                cond = x.new_zeros((x.shape[0], self.cond_channels, x.shape[-1]))
            x = torch.cat([x, cond.to(x.dtype)], dim=1)
        h = self.stem(fold(x, self.patch))
        skips = []
        for i, enc in enumerate(self.enc):
            if i:
                h = self.down[i - 1](h)
            h = enc(h, emb)
            skips.append(h)
        last = len(self.dec) - 1
        h = self.dec[last](skips.pop(), emb)
        for i in reversed(range(last)):
            h = self.dec[i](torch.cat([self.up[i](h), skips.pop()], dim=1), emb)
        return unfold(self.out_conv(self.out_act(self.out_norm(h))), self.patch)
