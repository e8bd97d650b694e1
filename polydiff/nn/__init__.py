"""N-d building blocks shared by every backbone; tensors are ``(B, C, *axes)`` with 1-3 axes.

- :class:`Conv`: Conv1d/2d/3d with "same" zero or periodic padding per axis.
- :class:`EmbBlock`: marker base class of blocks taking the conditioning vector
  (``forward(x, emb)``); :class:`EmbSequential` passes ``emb`` to exactly those.
- :class:`ResBlock`: GroupNorm/SiLU/conv residual block with FiLM conditioning.
- :class:`Attention`: self-attention over all positions or over a group of axes, optionally with
  a :class:`RelativePositionBias`; :class:`FactorisedAttention`: one such layer per axis group.
- :class:`Downsample`, :class:`Upsample`: integer factors per axis.
- :func:`group_norm`, :func:`num_groups`, :func:`zero_init`: helpers.
- :class:`VectorEmbedding`: a few real numbers per sample (e.g. timing) into the embedding.
- :class:`UNet`: the generic noise-conditioned U-Net; modality backbones are presets of it.
"""

from .attention import Attention
from .conv import Conv, pad_axes, same_padding
from .emb import EmbBlock, EmbSequential
from .factorised import FactorisedAttention, attention_block, parse_attention_axes
from .init import zero_init
from .inputs import ConditionedInputs
from .levels import level_sizes, parse_down_factors, resolution_levels
from .norm import group_norm, num_groups
from .relpos import RelativePositionBias
from .resample import Downsample, Upsample
from .resblock import ResBlock
from .unet import UNet
from .vector import VectorEmbedding

__all__ = [
    "ConditionedInputs",
    "Attention",
    "Conv",
    "Downsample",
    "EmbBlock",
    "EmbSequential",
    "FactorisedAttention",
    "RelativePositionBias",
    "ResBlock",
    "UNet",
    "Upsample",
    "VectorEmbedding",
    "attention_block",
    "group_norm",
    "level_sizes",
    "num_groups",
    "pad_axes",
    "parse_attention_axes",
    "parse_down_factors",
    "resolution_levels",
    "same_padding",
    "zero_init",
]
