"""Decoding video files (mp4, avi, gif, ...) with PyAV into uint8 frames.

Every failure is a ``ValueError`` that names the file and says what is wrong with it (not a
video, truncated, no video stream, too few frames), so a data module can skip and report it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

__all__ = ["VIDEO_EXTENSIONS", "Decoded", "decode_video", "size2"]

VIDEO_EXTENSIONS = (".mp4", ".avi", ".gif", ".mov", ".mkv", ".webm", ".m4v")


def size2(size: int | Sequence[int] | None, name: str = "size") -> tuple[int, int] | None:
    """``None``, or ``(height, width)`` from an int (square) or a pair of ints >= 1."""
    if size is None:
        return None
    pair = (size, size) if isinstance(size, int) else tuple(size)
    if len(pair) != 2 or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 1
                                 for s in pair):
        raise ValueError(f"{name} must be an int or (height, width) of ints >= 1, got {size!r}")
    return pair


@dataclass(frozen=True)
class Decoded:
    """A decoded video: ``frames (F, C, H, W)`` uint8 and the frame rate ``fps`` of these
    frames (the file's rate divided by the frame step); ``source_size`` is the file's
    ``(height, width)``."""

    frames: Tensor
    fps: float
    source_size: tuple[int, int]


def _import_av():
    try:
        import av
    except ImportError as err:  # the "video" extra
        raise ImportError("decoding videos needs PyAV: pip install 'polydiff[video]' "
                          "(or pip install av)") from err
    return av


def _cover(src_h: int, src_w: int, size: tuple[int, int]) -> tuple[int, int]:
    """Scaled ``(height, width)`` that covers ``size`` keeping the aspect ratio."""
    th, tw = size
    s = max(th / src_h, tw / src_w)
    return max(th, round(src_h * s)), max(tw, round(src_w * s))


def decode_video(path: str | Path, channels: int = 3, size: int | Sequence[int] | None = None,
                 frame_step: int = 1, max_frames: int | None = None,
                 fps: float | None = None) -> Decoded:
    """Decode a video file into ``Decoded(frames (F, channels, H, W) uint8, fps, ...)``.

    Args:
        path: any container PyAV (FFmpeg) reads: mp4, avi, gif, mov, mkv, webm.
        channels: 3 (RGB) or 1 (grey, FFmpeg's luma).
        size: ``(H, W)`` (int = square): scaled to cover it keeping the aspect ratio
            (area interpolation), then centre-cropped; ``None`` keeps the file's size.
        frame_step: keep every ``frame_step``-th frame (frame-rate subsampling).
        fps: instead of ``frame_step``: the target frame rate; the step is
            ``round(file fps / fps)`` (at least 1).
        max_frames: stop after this many kept frames.

    Raises ``ValueError`` naming the file when it cannot be opened or decoded, has no video
    stream, decodes to no frames, or decodes to fewer frames than its header announces
    (truncated).
    """
    av = _import_av()
    path = Path(path)
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (grey) or 3 (RGB), got {channels}")
    if frame_step < 1 or (max_frames is not None and max_frames < 1):
        raise ValueError(f"frame_step and max_frames must be >= 1, got {frame_step}, "
                         f"{max_frames}")
    target = size2(size)
    if not path.is_file():
        raise ValueError(f"video {path}: not found")
    if path.stat().st_size == 0:
        raise ValueError(f"video {path}: is an empty file")
    fmt = "rgb24" if channels == 3 else "gray"
    kept: list[np.ndarray] = []
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ValueError(f"video {path}: has no video stream")
            stream = container.streams.video[0]
            rate = float(stream.average_rate or stream.guessed_rate or 0) or 25.0
            if fps is not None:
                if not fps > 0:
                    raise ValueError(f"fps must be > 0, got {fps}")
                frame_step = max(1, round(rate / fps))
            announced = int(stream.frames or 0)
            src = (stream.codec_context.height, stream.codec_context.width)
            seen = 0
            for frame in container.decode(stream):
                if seen % frame_step == 0:
                    kept.append(_convert(frame, fmt, target))
                    if max_frames is not None and len(kept) >= max_frames:
                        break
                seen += 1
    except av.error.FFmpegError as err:
        raise ValueError(f"video {path}: cannot be decoded ({type(err).__name__}: "
                         f"{getattr(err, 'strerror', None) or err}); not a video, or "
                         f"truncated or damaged") from None
    if not kept:
        raise ValueError(f"video {path}: decodes to no frames (truncated or damaged)")
    complete = max_frames is not None and len(kept) >= max_frames
    if not complete and announced and seen < announced:
        raise ValueError(f"video {path}: is truncated: decoded {seen} of the {announced} "
                         f"frames its header announces")
    frames = torch.from_numpy(np.stack(kept))
    frames = frames[..., None] if frames.ndim == 3 else frames
    return Decoded(frames.permute(0, 3, 1, 2).contiguous(), rate / frame_step, src)


def _convert(frame, fmt: str, target: tuple[int, int] | None) -> np.ndarray:
    """One decoded frame as ``(H, W[, 3])`` uint8, scaled to cover ``target`` and cropped."""
    if target is None:
        return frame.to_ndarray(format=fmt)
    h, w = _cover(frame.height, frame.width, target)
    arr = frame.reformat(width=w, height=h, format=fmt, interpolation="AREA").to_ndarray()
    top, left = (h - target[0]) // 2, (w - target[1]) // 2
    return np.ascontiguousarray(arr[top:top + target[0], left:left + target[1]])
