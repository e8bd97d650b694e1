"""Videos ``(B, C, F, H, W)``: the factorised space-time U-Net."""

from __future__ import annotations

from ...modality import Modality
from .unet import VideoUNet

__all__ = ["MODALITY", "VideoUNet"]

MODALITY = Modality(
    name="video",
    description="(B, C, F, H, W) videos: factorised space-time U-Net",
    networks=(f"{__name__}.VideoUNet",),
)
