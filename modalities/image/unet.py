"""The image backbone: a 2D preset of :class:`polydiff.nn.UNet`."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

from polydiff.plugin import UNet

__all__ = ["ImageUNet"]

# UNet arguments the preset fixes (dims) or renames (input_size -> image_size)
_NOT_FORWARDED = {"dims": "ImageUNet is 2-D: dims is fixed to 2",
                  "input_size": "ImageUNet takes the training size as image_size"}


class ImageUNet(UNet):
    """2D U-Net for images ``(B, C, H, W)``; defaults suit 16x16 digits on a CPU (~0.9M params).

    Args:
        in_channels: image channels (1 grey, 3 RGB); ``out_channels`` defaults to the same.
        base_channels, channel_mult, num_res_blocks, dropout: as in :class:`polydiff.nn.UNet`,
            with smaller defaults.
        attention_levels: levels with self-attention (0 = full resolution, -1 = lowest);
            ignored when ``attention_resolutions`` is given.
        image_size: the training resolution (``UNet``'s ``input_size``); only used with
            ``attention_resolutions`` (e.g. ``(8,)``, ADM-style: level ``i`` has resolution
            ``image_size / 2**i`` with the default down factors).
        **kwargs: any other :class:`polydiff.nn.UNet` keyword (``num_classes``,
            ``cond_channels``, ``emb_kind``, ``attention_heads``, ``attention_resolutions``,
            ``periodic``, ``down_factors``, ``emb_dim``, ``mid_attention``, ``resample``,
            ``attention_axes``, ...), with UNet's defaults. ``inspect.signature(ImageUNet)``
            lists them all; an unknown keyword raises a ``ValueError`` naming it.

    ``forward(x (B, C, H, W), c_noise (B,), class_labels=None, cond=None) -> (B, C_out, H, W)``;
    H and W must be multiples of ``self.size_multiple`` (``2 ** (len(channel_mult) - 1)`` by
    default). ``class_labels=None`` or ``self.null_class`` is the unconditional (null) class.
    """

    _input_size_name = "image_size"

    def __init__(self, in_channels: int = 1, out_channels: int | None = None,
                 base_channels: int = 32, channel_mult: Sequence[int] = (1, 2, 2),
                 num_res_blocks: int = 1, attention_levels: Sequence[int] | None = (-1,),
                 dropout: float = 0.1, *, image_size: int | None = None, **kwargs: Any):
        unknown = sorted(set(kwargs) - set(_FORWARDED))
        if unknown:
            hints = "; ".join(_NOT_FORWARDED[k] for k in unknown if k in _NOT_FORWARDED)
            raise ValueError(
                f"ImageUNet: unknown option(s) {unknown}{'; ' + hints if hints else ''}; "
                f"valid options: {sorted(_VALID)}"
            )
        if kwargs.get("attention_resolutions") is not None:
            if image_size is None:
                raise ValueError("ImageUNet: attention_resolutions needs image_size (the "
                                 "training resolution), got image_size=None")
            attention_levels = ()  # replaced by the levels of attention_resolutions
        super().__init__(
            dims=2, in_channels=in_channels, out_channels=out_channels,
            base_channels=base_channels, channel_mult=channel_mult,
            num_res_blocks=num_res_blocks, attention_levels=tuple(attention_levels or ()),
            dropout=dropout, input_size=image_size, **kwargs,
        )


def _preset_signature() -> inspect.Signature:
    """ImageUNet's own parameters, then UNet's others as keyword-only (types evaluated), so
    ``inspect.signature`` (the spec checks, LightningCLI) sees every valid option by name."""
    own = inspect.signature(ImageUNet.__init__, eval_str=True).parameters
    base = inspect.signature(UNet.__init__, eval_str=True).parameters
    params = [p for name, p in own.items() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    params += [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for name, p in base.items()
               if name not in own and name not in _NOT_FORWARDED and name != "self"]
    return inspect.Signature(params)


_FORWARDED = [name for name in inspect.signature(UNet.__init__).parameters
              if name != "self" and name not in _NOT_FORWARDED
              and name not in inspect.signature(ImageUNet.__init__).parameters]
ImageUNet.__init__.__signature__ = _preset_signature()  # type: ignore[attr-defined]
_VALID = [name for name in inspect.signature(ImageUNet.__init__).parameters if name != "self"]
