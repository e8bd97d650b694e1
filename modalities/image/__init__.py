"""Images ``(B, C, H, W)``: the 2D U-Net preset, data modules and PNG I/O.

The data modules import Lightning, so they are loaded on first access.
"""

from __future__ import annotations

from typing import Any

from .io import load_image, make_grid, save_image_grid
from .unet import ImageUNet, image_unet

_LAZY = {"DigitsDataModule", "ImageFolderDataModule", "load_digits_tensor", "scan_image_folder"}

__all__ = [
    "DigitsDataModule",
    "ImageFolderDataModule",
    "ImageUNet",
    "image_unet",
    "load_digits_tensor",
    "load_image",
    "make_grid",
    "save_image_grid",
    "scan_image_folder",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from . import data

        return getattr(data, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
