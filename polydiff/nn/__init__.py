"""N-d building blocks shared by every backbone; tensors are ``(B, C, *axes)`` with 1-3 axes.

- :class:`Conv` / :func:`conv_nd`: Conv1d/2d/3d with explicit zero or periodic padding per axis.
- :class:`ResBlock`: GroupNorm/SiLU/conv residual block with FiLM conditioning.
- :class:`Attention`: self-attention over all flattened positions.
- :class:`Downsample`, :class:`Upsample`: integer factors per axis.
- :func:`group_norm`, :func:`num_groups`, :func:`zero_init`: helpers.
- :class:`UNet`: the generic noise-conditioned U-Net; modality backbones are presets of it.
"""

from .attention import Attention
from .conv import Conv, conv_nd, pad_axes, same_padding
from .init import zero_init
from .norm import group_norm, num_groups
from .resblock import ResBlock
from .sampling import Downsample, Upsample
from .unet import EmbSequential, UNet, parse_down_factors

__all__ = [
    "Attention",
    "Conv",
    "Downsample",
    "EmbSequential",
    "ResBlock",
    "UNet",
    "Upsample",
    "conv_nd",
    "group_norm",
    "num_groups",
    "pad_axes",
    "parse_down_factors",
    "same_padding",
    "zero_init",
]
