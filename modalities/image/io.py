"""Image file I/O with Pillow: sample grids and single images as tensors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from polydiff.plugin import mosaic

__all__ = ["save_image_grid", "load_image", "make_grid", "read_png", "write_png"]

_MODES = {1: "L", 3: "RGB", 4: "RGBA"}


def make_grid(x: Tensor, nrow: int | None = None, padding: int = 2,
              pad_value: float = 0.0) -> Tensor:
    """Tile ``x (B, C, H, W)`` into one image ``(C, rows*(H+p)+p, nrow*(W+p)+p)``.

    ``nrow`` images per row (default ``ceil(sqrt(B))``); ``p = padding`` pixels of
    ``pad_value`` around and between tiles (:func:`polydiff.mosaic.mosaic` with a border).
    """
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[0] == 0:
        raise ValueError(f"make_grid: x must have shape (B, C, H, W) with B >= 1, got "
                         f"{tuple(x.shape)}")
    nrow = nrow or None  # 0: the default
    if nrow is not None and nrow < 1:
        raise ValueError(f"make_grid: nrow must be >= 1, got {nrow}")
    return mosaic(x, nrow, padding, pad_value, border=True)


def save_image_grid(x: Tensor, path: str | Path, nrow: int | None = None,
                    value_range: tuple[float, float] = (-1.0, 1.0), padding: int = 2) -> Path:
    """Write ``x (B, C, H, W)`` (C = 1, 3 or 4) as one PNG grid and return its path.

    Values are mapped from ``value_range`` to 0..255 (clipped). The grid has ``nrow`` tiles per
    row (default ``ceil(sqrt(B))``) and is ``rows*(H+padding)+padding`` by
    ``nrow*(W+padding)+padding`` pixels. Parent folders are created.
    """
    from PIL import Image

    x = x.detach().float().cpu()
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[1] not in _MODES:
        raise ValueError(f"save_image_grid: x must have shape (B, C, H, W) with C in 1, 3, 4, got "
                         f"{tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError("save_image_grid: x holds NaN/Inf values")
    lo, hi = value_range
    if not hi > lo:
        raise ValueError(f"save_image_grid: value_range must be (low, high) with high > low, "
                         f"got {value_range}")
    x = ((x - lo) / (hi - lo)).clamp(0, 1)
    grid = make_grid(x, nrow=nrow, padding=padding)
    arr = (grid * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    c = arr.shape[-1]
    img = Image.fromarray(arr[..., 0] if c == 1 else arr)
    if img.mode != _MODES[c]:
        img = img.convert(_MODES[c])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, format="PNG")
    return path


def load_image(path: str | Path, channels: int | None = None,
               value_range: tuple[float, float] = (-1.0, 1.0)) -> Tensor:
    """Read an image file as a float32 tensor ``(C, H, W)`` scaled to ``value_range``.

    ``channels``: 1 (grey), 3 (RGB), 4 (RGBA) or ``None`` (keep: L -> 1, RGBA -> 4, else 3).
    Raises ``ValueError`` naming the file when Pillow cannot read it.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as img:
            if channels is None:
                mode = img.mode if img.mode in ("L", "RGB", "RGBA") else "RGB"
            elif channels in _MODES:
                mode = _MODES[channels]
            else:
                raise ValueError(f"load_image: channels must be 1, 3, 4 or None, got {channels}")
            arr = np.asarray(img.convert(mode), dtype=np.float32)
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise ValueError(f"cannot read image file {path}: {e}") from e
    if arr.ndim == 2:
        arr = arr[..., None]
    lo, hi = value_range
    return torch.from_numpy(arr).permute(2, 0, 1).contiguous() / 255.0 * (hi - lo) + lo


def write_png(x: Tensor, path: str | Path, meta: dict | None = None) -> Path:
    """The image modality's writer: samples ``(B, C, H, W)`` in [0, 1] (data units) as one PNG
    grid ``PATH.png`` with ``meta["nrow"]`` tiles per row (default ``ceil(sqrt(B))``)."""
    nrow = (meta or {}).get("nrow")
    return save_image_grid(x, Path(path).with_suffix(".png"), nrow=nrow, value_range=(0.0, 1.0))


def read_png(path: str | Path, mask: str | Path | None, sample_shape, meta=None
             ) -> tuple[Tensor, Tensor]:
    """The image modality's reader: known pixels and what is missing.

    ``path``: an image file (PNG/JPEG) of the model's size; values in [0, 1]. ``mask``: an
    image of the same size whose white pixels (>= 128) are to be filled in (the convention of
    diffusers' inpainting masks); without one, transparent pixels (alpha < 128) of an RGBA file
    are missing. Returns ``known (1, C, H, W)`` and ``observed (1, 1, H, W)``.
    """
    c, h, w = (int(v) for v in sample_shape)
    rgba = load_image(path, channels=None, value_range=(0.0, 1.0))
    if rgba.shape[1:] != (h, w):
        raise ValueError(f"image {path} is {rgba.shape[1]}x{rgba.shape[2]} (HxW); the model "
                         f"makes {h}x{w} images")
    known = load_image(path, channels=c, value_range=(0.0, 1.0))[None]
    if mask is not None:
        m = load_image(mask, channels=1, value_range=(0.0, 1.0))
        if m.shape[1:] != (h, w):
            raise ValueError(f"mask {mask} is {m.shape[1]}x{m.shape[2]} (HxW); expected {h}x{w} "
                             f"like the image")
        observed = m[None] < 0.5
    elif rgba.shape[0] == 4:
        observed = rgba[None, 3:] >= 0.5
    else:
        raise ValueError(f"image {path} has no alpha channel; give a mask image (white = fill "
                         f"in) with --mask")
    if observed.all():
        raise ValueError(f"the mask for {path} marks nothing to fill in")
    if not observed.any():
        raise ValueError(f"the mask for {path} marks every pixel missing; nothing is known")
    return known, observed
