"""Video writers (mp4 through PyAV, GIF, frame-strip PNG) and the reader of known frames.

Writers take samples ``x (B, C, F, H, W)`` in data units (intensities in [0, 1]) and tile the
``B`` videos of a batch into one video (``meta["nrow"]`` per row, default ``ceil(sqrt(B))``);
``meta["fps"]`` is the frame rate written (default 8). The reader turns a clip into known
frames for :func:`polydiff.guidance.inpaint` over the time axis.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from polydiff.plugin import mosaic

from .decode import decode_video

__all__ = ["H264", "FALLBACK", "available_codec", "read_frames_mask", "read_video", "tile",
           "to_uint8", "write_gif", "write_mp4", "write_strip"]

#: H.264 encoders tried first, in order, then :data:`FALLBACK` (MPEG-4 part 2)
H264 = ("libx264", "h264", "libopenh264")
FALLBACK = ("mpeg4",)
DEFAULT_FPS = 8.0


def tile(x: Tensor, nrow: int | None = None, padding: int = 1) -> Tensor:
    """Tile videos ``(B, C, F, H, W)`` into one ``(F, C, rows*(H+p)-p, nrow*(W+p)-p)``:
    ``nrow`` videos per row, ``p = padding`` black pixels between tiles (none around, so one
    video keeps its size): :func:`polydiff.mosaic.mosaic` of the ``(F, C, H, W)`` clips
    without a border."""
    if x.ndim != 5 or x.shape[0] == 0:
        raise ValueError(f"videos must have shape (B, C, F, H, W) with B >= 1, got "
                         f"{tuple(x.shape)}")
    b = x.shape[0]
    nrow = min(max(1, nrow or math.ceil(math.sqrt(b))), b)
    return mosaic(x.transpose(1, 2), nrow, padding, 0.0, border=False)


def to_uint8(x: Tensor) -> np.ndarray:
    """Frames ``(F, C, H, W)`` in [0, 1] (clipped) -> ``(F, H, W, C)`` uint8."""
    x = x.detach().float().cpu()
    if not torch.isfinite(x).all():
        raise ValueError("video frames hold NaN/Inf values")
    return (x.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def _fps(meta: Mapping[str, Any] | None) -> float:
    fps = float((meta or {}).get("fps") or DEFAULT_FPS)
    if not math.isfinite(fps) or fps <= 0:
        raise ValueError(f"meta['fps'] must be a frame rate > 0, got {fps}")
    return fps


def _frames(x: Tensor, meta: Mapping[str, Any] | None) -> np.ndarray:
    if x.ndim != 5 or x.shape[1] not in (1, 3):
        raise ValueError(f"videos must have shape (B, C, F, H, W) with C = 1 or 3, got "
                         f"{tuple(x.shape)}")
    return to_uint8(tile(x, (meta or {}).get("nrow")))


def available_codec(preferred: str | None = None) -> str:
    """The encoder :func:`write_mp4` uses: ``preferred`` if this PyAV build has it, else the
    first H.264 encoder available, else MPEG-4. A ``preferred`` codec that is missing falls
    back with a warning naming both; no usable encoder at all is a ``ValueError``."""
    import av

    def has(name: str) -> bool:
        try:
            av.codec.Codec(name, "w")
            return True
        except (av.error.FFmpegError, ValueError, KeyError):
            return False

    if preferred is not None and has(preferred):
        return preferred
    for name in (*H264, *FALLBACK):
        if has(name):
            if preferred is not None:
                warnings.warn(f"write_mp4: this PyAV build has no {preferred!r} encoder; "
                              f"writing with {name!r} instead", stacklevel=3)
            return name
    raise ValueError(f"write_mp4: this PyAV build has none of the encoders "
                     f"{[preferred, *H264, *FALLBACK]}; write GIF or PNG frames instead")


def write_mp4(x: Tensor, path: str | Path, meta: Mapping[str, Any] | None = None) -> Path:
    """Videos ``(B, C, F, H, W)`` in [0, 1] -> ``PATH.mp4`` (tiled, yuv420p, ``meta["fps"]``).

    H.264 where this PyAV build has an encoder for it (``meta["codec"]`` chooses another),
    else MPEG-4 part 2 (see :func:`available_codec`). Odd frame sizes are padded by one black
    row/column (yuv420p needs even sizes). Greyscale is written as RGB.
    """
    import av

    frames = _frames(x, meta)
    if frames.shape[-1] == 1:
        frames = np.repeat(frames, 3, axis=-1)
    f, h, w, _ = frames.shape
    frames = np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)))
    codec = available_codec((meta or {}).get("codec"))
    path = Path(path).with_suffix(".mp4")
    path.parent.mkdir(parents=True, exist_ok=True)
    rate = Fraction(_fps(meta)).limit_denominator(1001)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        if codec in H264:
            stream.options = {"crf": "12", "preset": "medium"}
        else:
            stream.bit_rate = 4_000_000
        for arr in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_gif(x: Tensor, path: str | Path, meta: Mapping[str, Any] | None = None) -> Path:
    """Videos ``(B, C, F, H, W)`` in [0, 1] -> ``PATH.gif`` (tiled, looping, ``meta["fps"]``;
    GIF stores frame times in 1/100 s, so the rate is rounded to that)."""
    from PIL import Image

    frames = _frames(x, meta)
    mode = "L" if frames.shape[-1] == 1 else "RGB"
    images = [Image.fromarray(a[..., 0] if mode == "L" else a, mode) for a in frames]
    path = Path(path).with_suffix(".gif")
    path.parent.mkdir(parents=True, exist_ok=True)
    duration = max(20, round(1000 / _fps(meta) / 10) * 10)
    images[0].save(path, format="GIF", save_all=True, append_images=images[1:],
                   duration=duration, loop=0)
    return path


def write_strip(x: Tensor, path: str | Path, meta: Mapping[str, Any] | None = None) -> Path:
    """Videos ``(B, C, F, H, W)`` in [0, 1] -> ``PATH.png``: one row per video, one column per
    frame; the frame rate and count are in the PNG's text chunks (``fps``, ``frames``)."""
    from PIL import Image, PngImagePlugin

    if x.ndim != 5 or x.shape[1] not in (1, 3):
        raise ValueError(f"videos must have shape (B, C, F, H, W) with C = 1 or 3, got "
                         f"{tuple(x.shape)}")
    b, c, f, h, w = x.shape
    frames = x.transpose(1, 2).reshape(b * f, c, 1, h, w).transpose(1, 2)  # (B*F, C, 1, H, W)
    arr = to_uint8(tile(frames, nrow=f))[0]
    info = PngImagePlugin.PngInfo()
    info.add_text("fps", str(_fps(meta)))
    info.add_text("frames", str(f))
    path = Path(path).with_suffix(".png")
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr[..., 0] if c == 1 else arr).save(path, format="PNG", pnginfo=info)
    return path


def read_frames_mask(path: str | Path, frames: int) -> list[int]:
    """Known frame indices (0-based) from a text file: numbers separated by spaces, commas or
    new lines, each in ``0 .. frames - 1``."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"frame mask {path}: cannot be read as text ({err})") from None
    tokens = text.replace(",", " ").split()
    try:
        idx = [int(t) for t in tokens]
    except ValueError:
        raise ValueError(f"frame mask {path}: expected known frame numbers (0-based) separated "
                         f"by spaces or commas, got {text.strip()[:40]!r}") from None
    if not idx or len(set(idx)) != len(idx) or min(idx) < 0 or max(idx) >= frames:
        raise ValueError(f"frame mask {path}: expected distinct frame numbers in 0..{frames - 1}"
                         f" (the model makes {frames} frames), got {idx}")
    return sorted(idx)


def _grey(clip: Tensor, path: Path) -> Tensor:
    """RGB frames ``(F, 3, H, W)`` in [0, 1] -> ``(F, 1, H, W)``; a clip in colour is an
    error (a greyscale model cannot take it), grey stored as RGB is fine."""
    spread = (clip.amax(dim=1) - clip.amin(dim=1)).amax()
    if spread > 0.1:
        raise ValueError(f"clip {path} is in colour (RGB channels differ by up to "
                         f"{float(spread):.2f}); this model makes greyscale (1-channel) videos: "
                         f"convert the clip to grey first")
    return (0.299 * clip[:, :1] + 0.587 * clip[:, 1:2] + 0.114 * clip[:, 2:]).clamp(0, 1)


def read_video(path: str | Path, mask: str | Path | None, sample_shape: Sequence[int],
               meta: Mapping[str, Any] | None = None) -> tuple[Tensor, Tensor]:
    """Known frames from a clip: ``known (1, C, F, H, W)`` in [0, 1], ``observed (1, 1, F, 1, 1)``.

    ``path`` is a video file (decoded with PyAV, scaled to cover the model's ``H x W`` and
    centre-cropped). ``mask`` is an optional text file of known frame numbers (0-based,
    see :func:`read_frames_mask`). The model makes ``F`` frames; a clip of ``k`` frames means:

    - no mask and ``k < F``: the clip is the first ``k`` frames, the rest is predicted;
    - mask listing ``m`` frames and ``k == F``: those frames of the clip are kept;
    - mask listing ``m`` frames and ``k == m``: the clip's frames go to the listed positions
      (e.g. every 2nd frame of a low-frame-rate clip: interpolation).

    Anything else is a ``ValueError`` that says which frame counts the model can take.
    """
    c, f, h, w = (int(v) for v in sample_shape)
    dec = decode_video(path, channels=3, size=(h, w), max_frames=f + 1)
    clip = dec.frames.float() / 255.0
    if c == 1:
        clip = _grey(clip, Path(path))
    elif c != 3:
        raise ValueError(f"read_video: the model has {c} channels per frame; videos have 1 or 3")
    k = clip.shape[0]
    known = torch.zeros(1, c, f, h, w)
    observed = torch.zeros(1, 1, f, 1, 1, dtype=torch.bool)
    if mask is None:
        if k >= f:
            raise ValueError(f"clip {path} has {'more than ' if k > f else ''}{f} frames; this "
                             f"model makes {f}: give 1..{f - 1} frames to predict the rest, or "
                             f"a mask file listing the known frames")
        known[0, :, :k] = clip.transpose(0, 1)
        observed[0, 0, :k] = True
        return known, observed
    idx = read_frames_mask(mask, f)
    if k == f:
        src = clip[idx]
    elif k == len(idx):
        src = clip
    else:
        count = f"more than {f}" if k > f else str(k)
        raise ValueError(f"clip {path} has {count} frames; with the mask {mask} ({len(idx)} known "
                         f"frames) it must have {f} frames (the model's) or {len(idx)} (one per "
                         f"known frame)")
    if len(idx) == f:
        raise ValueError(f"the mask {mask} marks all {f} frames known; nothing to fill in")
    known[0, :, idx] = src.transpose(0, 1)
    observed[0, 0, idx] = True
    return known, observed
