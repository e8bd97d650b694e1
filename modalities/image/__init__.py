"""Images ``(B, C, H, W)``: the 2D U-Net preset, data modules, PNG I/O and the demo.

The data modules import Lightning, so they are loaded on first access.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from polydiff.plugin import Modality

from .io import load_image, make_grid, read_png, save_image_grid, write_png
from .unet import ImageUNet

_LAZY = {"DigitsDataModule", "ImageFolderDataModule", "load_digits_tensor", "scan_image_folder"}

__all__ = [
    "MODALITY",
    "DigitsDataModule",
    "ImageFolderDataModule",
    "ImageUNet",
    "load_digits_tensor",
    "load_image",
    "make_grid",
    "read_png",
    "save_image_grid",
    "scan_image_folder",
    "write_png",
]

_HERE = Path(__file__).resolve().parent

MODALITY = Modality(
    name="image",
    description="(B, C, H, W) images: class-conditional digits demo, image folders, PNG grids",
    demo=f"{__name__}.demo:image_demo",
    configs={"digits": _HERE / "configs" / "image.yaml"},
    writers={"png": write_png},
    readers={"png": read_png},
    data_modules=(f"{__name__}.DigitsDataModule", f"{__name__}.ImageFolderDataModule"),
    networks=(f"{__name__}.ImageUNet",),
)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from . import data

        return getattr(data, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
