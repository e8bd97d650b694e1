"""The image backbone: a 2D preset of :class:`polydiff.nn.UNet`."""

from __future__ import annotations

from collections.abc import Sequence

from ...nn import UNet

__all__ = ["ImageUNet", "image_unet"]


class ImageUNet(UNet):
    """2D U-Net for images ``(B, C, H, W)``; defaults suit 16x16 digits on a CPU (~0.9M params).

    Args:
        in_channels: image channels (1 grey, 3 RGB); ``out_channels`` defaults to the same.
        base_channels, channel_mult, num_res_blocks, dropout, num_classes, cond_channels,
        emb_kind, attention_heads: as in :class:`polydiff.nn.UNet`.
        attention_levels: levels with self-attention (0 = full resolution, -1 = lowest).
        attention_resolutions: alternatively, the resolutions (e.g. ``(8,)``) with attention,
            ADM-style; needs ``image_size``. Level ``i`` has resolution ``image_size / 2**i``.
        image_size: the training resolution (only used with ``attention_resolutions``).

    ``forward(x (B, C, H, W), c_noise (B,), class_labels=None, cond=None) -> (B, C_out, H, W)``;
    H and W must be multiples of ``2 ** (len(channel_mult) - 1)``. ``class_labels=None`` or
    ``self.null_class`` is the unconditional (null) class.
    """

    def __init__(self, in_channels: int = 1, out_channels: int | None = None,
                 base_channels: int = 32, channel_mult: Sequence[int] = (1, 2, 2),
                 num_res_blocks: int = 1, attention_levels: Sequence[int] | None = (-1,),
                 dropout: float = 0.1, num_classes: int | None = None, cond_channels: int = 0,
                 emb_kind: str = "sinusoidal", attention_heads: int = 4,
                 attention_resolutions: Sequence[int] | None = None,
                 image_size: int | None = None):
        levels = len(tuple(channel_mult))
        if attention_resolutions is not None:
            if image_size is None:
                raise ValueError("ImageUNet: attention_resolutions needs image_size")
            resolutions = [image_size // 2**i for i in range(levels)]
            unknown = [r for r in attention_resolutions if r not in resolutions]
            if unknown:
                raise ValueError(
                    f"ImageUNet: attention_resolutions {unknown} are not among the level "
                    f"resolutions {resolutions} for image_size={image_size}"
                )
            attention_levels = [resolutions.index(r) for r in attention_resolutions]
        super().__init__(
            dims=2, in_channels=in_channels, out_channels=out_channels,
            base_channels=base_channels, channel_mult=channel_mult,
            num_res_blocks=num_res_blocks, attention_levels=tuple(attention_levels or ()),
            dropout=dropout, num_classes=num_classes, cond_channels=cond_channels,
            emb_kind=emb_kind, attention_heads=attention_heads,
        )


def image_unet(**kwargs) -> ImageUNet:
    """Build an :class:`ImageUNet`; keyword arguments as for its constructor."""
    return ImageUNet(**kwargs)
