"""A generic U-Net for 1, 2 or 3 spatial axes, built from the blocks of :mod:`polydiff.nn`.

Modality backbones (image 2D, audio 1D, video 3D, gridded science fields) are presets of
:class:`UNet`: they choose ``dims``, the channel plan, per-axis down factors and periodic axes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from ..conditioning import NoiseEmbedding
from ._utils import check_dims, per_axis
from .attention import check_axes
from .conv import Conv
from .emb import EmbSequential
from .factorised import attention_block, parse_attention_axes
from .init import zero_init
from .inputs import ConditionedInputs
from .levels import parse_down_factors, resolution_levels
from .norm import group_norm
from .resample import Downsample, Upsample
from .resblock import ResBlock
from .vector import VectorEmbedding

__all__ = ["UNet", "EmbSequential", "parse_down_factors"]


class UNet(ConditionedInputs, nn.Module):
    """Noise-conditioned U-Net: ``(B, in_channels, *axes) -> (B, out_channels, *axes)``.

    Args:
        dims: number of spatial axes (1, 2 or 3).
        in_channels: channels of ``x``; ``out_channels`` defaults to ``in_channels``.
        base_channels: channels at the first level; level ``i`` has
            ``base_channels * channel_mult[i]``.
        channel_mult: one multiplier per resolution level; ``len - 1`` downsamplings.
        num_res_blocks: residual blocks per level on the way down (``+ 1`` on the way up).
        attention_levels: levels (0 = full resolution; negative counts from the lowest) whose
            blocks are followed by self-attention. The middle always has attention when
            ``mid_attention``.
        dropout: dropout in every residual block.
        num_classes: enables class conditioning with ``nn.Embedding(num_classes + 1, emb_dim)``;
            index ``num_classes`` (``self.null_class``) is the null class for classifier-free
            guidance.
        cond_channels: extra input channels ``cond`` concatenated to ``x`` (e.g. observed values
            and the mask for imputation).
        emb_kind: ``"sinusoidal"`` or ``"fourier"`` noise-level features.
        periodic: one bool or one per axis: circular padding on those axes (e.g. longitude).
        down_factors: per-axis factor of each downsampling, see :func:`parse_down_factors`;
            e.g. ``(1, 2, 2)`` keeps the time axis of a video.
        attention_heads: heads of every attention block (must divide its channels).
        emb_dim: size of the conditioning vector (default ``4 * base_channels``).
        mid_attention: attention in the middle block.
        resample: ``"conv"`` (strided conv) or ``"avg"`` (average pooling) downsampling.
        attention_resolutions: instead of ``attention_levels``, the per-axis sizes (for inputs of
            ``input_size``) of the levels with attention: an entry is an int (that size on every
            axis) or one int per axis, e.g. ``[8]`` or ``[[8, 16, 16]]``; see
            :func:`~polydiff.nn.levels.resolution_levels`.
        input_size: the training size, an int or one per axis; only used to map
            ``attention_resolutions`` to levels (level sizes are floor-divided by the factors).
        attention_axes: the attention layout of every attention block. ``None``: full attention
            over all positions. Else a list of axis groups applied in turn, e.g. ``[[1, 2], [0]]``
            for ``(F, H, W)``: attention over ``(H, W)`` per frame, then over ``F`` per pixel
            (0-based spatial axes; each group one residual layer, see
            :class:`~polydiff.nn.FactorisedAttention`).
        relative_position_axes: spatial axes with a learned per-head relative-position bias in
            every attention layer over them (e.g. ``[0]``: the temporal layer above).
        max_relative_distance: distances beyond it share the bias table's edge entries, so any
            length works at run time (every entry is trained when it is below the axis length).
        vector_cond_dim: enables vector conditioning: ``vector (B, vector_cond_dim)`` real
            numbers per sample (e.g. audio timing: start offset and total duration), embedded
            by :class:`~polydiff.nn.VectorEmbedding` and added to the conditioning vector.
            ``0`` (default): no vector input and no extra parameters.

    ``forward(x, c_noise, class_labels=None, cond=None, vector=None)``: ``x (B, in_channels,
    *axes)``, ``c_noise (B,)``, ``class_labels (B,)`` long or ``None`` (= null class), ``cond
    (B, cond_channels, *axes)`` or ``None`` (= zeros), ``vector (B, vector_cond_dim)`` or
    ``None`` (no vector term is added). Each spatial size must be a multiple of
    :attr:`size_multiple`. The output layer is zero-initialised: the output is 0 at init.
    """

    #: how error messages name ``input_size`` (presets may take it under another name)
    _input_size_name = "input_size"

    def __init__(self, dims: int, in_channels: int, out_channels: int | None = None,
                 base_channels: int = 64, channel_mult: Sequence[int] = (1, 2, 2, 2),
                 num_res_blocks: int = 2, attention_levels: Sequence[int] = (),
                 dropout: float = 0.0, num_classes: int | None = None, cond_channels: int = 0,
                 emb_kind: str = "sinusoidal", periodic: bool | Sequence[bool] = False,
                 down_factors: int | Sequence = 2, attention_heads: int = 4,
                 emb_dim: int | None = None, mid_attention: bool = True,
                 resample: str = "conv",
                 attention_resolutions: Sequence[int | Sequence[int]] | None = None,
                 input_size: int | Sequence[int] | None = None,
                 attention_axes: Sequence[Sequence[int]] | None = None,
                 relative_position_axes: Sequence[int] = (), max_relative_distance: int = 8,
                 vector_cond_dim: int = 0):
        super().__init__()
        self.dims = check_dims(dims)
        if in_channels < 1 or base_channels < 1 or num_res_blocks < 1 or cond_channels < 0:
            raise ValueError(
                "UNet: in_channels, base_channels and num_res_blocks must be >= 1 and "
                f"cond_channels >= 0, got {in_channels}, {base_channels}, {num_res_blocks}, "
                f"{cond_channels}"
            )
        channel_mult = tuple(channel_mult)
        if not channel_mult or any(m < 1 for m in channel_mult):
            raise ValueError(f"UNet: channel_mult must be non-empty positive ints, got "
                             f"{channel_mult!r}")
        if num_classes is not None and num_classes < 1:
            raise ValueError(f"UNet: num_classes must be >= 1 or None, got {num_classes}")
        if isinstance(vector_cond_dim, bool) or not isinstance(vector_cond_dim, int) \
                or vector_cond_dim < 0:
            raise ValueError(f"UNet: vector_cond_dim must be an int >= 0, got "
                             f"{vector_cond_dim!r}")
        levels = len(channel_mult)
        self.down_factors = parse_down_factors(down_factors, dims, levels - 1)
        attn = set()
        for lvl in attention_levels or ():
            if not -levels <= lvl < levels:
                raise ValueError(
                    f"UNet: attention_levels entry {lvl} is out of range for {levels} levels"
                )
            attn.add(lvl % levels)
        if attention_resolutions is not None:
            if attn:
                raise ValueError(
                    f"UNet: give attention_levels or attention_resolutions, not both; got "
                    f"attention_levels={list(attention_levels)}, attention_resolutions="
                    f"{list(attention_resolutions)}"
                )
            try:
                attn = set(resolution_levels(attention_resolutions, input_size,
                                             self.down_factors, dims, self._input_size_name))
            except ValueError as e:
                raise ValueError(f"{type(self).__name__}: {e}") from None
        self.attention_axes = parse_attention_axes(attention_axes, dims)
        self.relative_position_axes = check_axes(relative_position_axes,
                                                 "UNet: relative_position_axes", dims)
        unused = [a for a in self.relative_position_axes
                  if self.attention_axes is not None
                  and not any(a in g for g in self.attention_axes)]
        if unused:
            raise ValueError(f"UNet: relative_position_axes {unused} are in no attention_axes "
                             f"group {[list(g) for g in self.attention_axes]}")
        self.in_channels = in_channels
        self.out_channels = out_channels or in_channels
        self.cond_channels = cond_channels
        self.num_classes = num_classes
        self.channel_mult = channel_mult
        self.attention_levels = tuple(sorted(attn))
        self.periodic = per_axis(periodic, dims, "periodic", bool)
        self.size_multiple = tuple(
            math.prod(f[i] for f in self.down_factors) for i in range(dims)
        )
        emb_dim = emb_dim or 4 * base_channels
        self.emb_dim = emb_dim

        self.noise_emb = NoiseEmbedding(emb_dim, kind=emb_kind)
        self.class_emb = nn.Embedding(num_classes + 1, emb_dim) if num_classes else None
        self.vector_cond_dim = vector_cond_dim
        if vector_cond_dim:  # only then: the default network keeps its state_dict keys
            self.vector_emb = VectorEmbedding(vector_cond_dim, emb_dim)

        def res(cin: int, cout: int) -> ResBlock:
            return ResBlock(dims, cin, cout, emb_dim, dropout, periodic=self.periodic)

        def attention(channels: int) -> nn.Module:
            return attention_block(channels, attention_heads, self.attention_axes,
                                   self.relative_position_axes, max_relative_distance)

        ch = base_channels
        self.input_conv = Conv(dims, in_channels + cond_channels, ch, 3, periodic=self.periodic)
        skip_channels = [ch]
        self.down = nn.ModuleList()
        for level, mult in enumerate(channel_mult):
            for _ in range(num_res_blocks):
                layers: list[nn.Module] = [res(ch, base_channels * mult)]
                ch = base_channels * mult
                if level in attn:
                    layers.append(attention(ch))
                self.down.append(EmbSequential(layers))
                skip_channels.append(ch)
            if level < levels - 1:
                self.down.append(EmbSequential([
                    Downsample(dims, ch, self.down_factors[level], mode=resample,
                               periodic=self.periodic)
                ]))
                skip_channels.append(ch)

        mid: list[nn.Module] = [res(ch, ch)]
        if mid_attention:
            mid.append(attention(ch))
        mid.append(res(ch, ch))
        self.mid = EmbSequential(mid)

        self.up = nn.ModuleList()
        for level in reversed(range(levels)):
            mult = channel_mult[level]
            for i in range(num_res_blocks + 1):
                layers = [res(ch + skip_channels.pop(), base_channels * mult)]
                ch = base_channels * mult
                if level in attn:
                    layers.append(attention(ch))
                if level > 0 and i == num_res_blocks:
                    layers.append(Upsample(dims, ch, self.down_factors[level - 1],
                                           periodic=self.periodic))
                self.up.append(EmbSequential(layers))

        self.out_norm = group_norm(ch)
        self.out_act = nn.SiLU()
        self.out_conv = zero_init(Conv(dims, ch, self.out_channels, 3, periodic=self.periodic))

    @property
    def null_class(self) -> int | None:
        """Label of the null class (classifier-free guidance), or ``None`` without classes."""
        return self.num_classes

    def _check_inputs(self, x: Tensor, c_noise: Tensor, class_labels: Tensor | None,
                      cond: Tensor | None, vector: Tensor | None = None) -> Tensor:
        if x.ndim != self.dims + 2 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"UNet: x must have shape (B, {self.in_channels}, {self.dims} spatial axes), got "
                f"{tuple(x.shape)}"
            )
        for i, (n, m) in enumerate(zip(x.shape[2:], self.size_multiple, strict=True)):
            if n % m:
                raise ValueError(
                    f"UNet: x has size {n} along spatial axis {i} (x.shape[{i + 2}]); it must be "
                    f"a multiple of {m} (the product of down_factors on that axis)"
                )
        return self.check_conditioning("UNet", x, c_noise, class_labels, cond, vector)

    def prepare(self, x: Tensor, c_noise: Tensor, class_labels: Tensor | None = None,
                cond: Tensor | None = None, vector: Tensor | None = None
                ) -> tuple[Tensor, Tensor]:
        """``(input, emb)``: the checked input with ``cond`` concatenated (zeros when the
        network takes channels and none are given) and the conditioning vector (noise level,
        class, ``vector``) that :meth:`trunk` takes."""
        c_noise = self._check_inputs(x, c_noise, class_labels, cond, vector)
        emb = self.embedding(c_noise, class_labels, vector)
        if self.cond_channels:
            if cond is None:
                cond = x.new_zeros((x.shape[0], self.cond_channels, *x.shape[2:]))
            x = torch.cat([x, cond.to(x.dtype)], dim=1)
        return x, emb

    def trunk(self, x: Tensor, emb: Tensor,
              after_layer: Callable[[str, Tensor], Tensor] | None = None) -> Tensor:
        """The U-Net on a prepared input (:meth:`prepare`): input convolution, the down
        stages, the middle, the up stages with their skips, the output layers.
        ``after_layer(key, h) -> h`` (optional) runs after every layer of every stage, ``key``
        naming it (``"down_{i}_{j}"``, ``"mid_0_{j}"``, ``"up_{i}_{j}"``: layer ``j`` of stage
        ``i``), so a backbone can add layers of its own between them (the video U-Net's
        temporal layers) without re-implementing this."""
        def hook(key: str):
            if after_layer is None:
                return None
            return lambda j, h: after_layer(f"{key}_{j}", h)

        h = self.input_conv(x)
        skips = [h]
        for i, stage in enumerate(self.down):
            h = stage(h, emb, hook(f"down_{i}"))
            skips.append(h)
        h = self.mid(h, emb, hook("mid_0"))
        for i, stage in enumerate(self.up):
            skip = skips.pop()
            h = stage(torch.cat([h, skip.to(h.dtype)], dim=1), emb, hook(f"up_{i}"))
        return self.out_conv(self.out_act(self.out_norm(h)))

    def stage_layers(self):
        """``(key, layer)`` for every layer of every stage, in forward order (the keys
        :meth:`trunk` passes to ``after_layer``)."""
        stages = [("down", i, s) for i, s in enumerate(self.down)]
        stages += [("mid", 0, self.mid)]
        stages += [("up", i, s) for i, s in enumerate(self.up)]
        for part, i, stage in stages:
            for j, layer in enumerate(stage):
                yield f"{part}_{i}_{j}", layer

    def forward(self, x: Tensor, c_noise: Tensor, class_labels: Tensor | None = None,
                cond: Tensor | None = None, vector: Tensor | None = None) -> Tensor:
        """``(B, in_channels, *axes)``, ``(B,)`` -> ``(B, out_channels, *axes)``."""
        return self.trunk(*self.prepare(x, c_noise, class_labels, cond, vector))
