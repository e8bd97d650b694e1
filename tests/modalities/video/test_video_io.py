"""Video files: the writers (mp4 with H.264 or a fallback, GIF, frame strips), decoding with
PyAV, and the reader of known frames, with the bad inputs each must name."""

from __future__ import annotations

import warnings

import av
import numpy as np
import pytest
import torch
from PIL import Image

from polydiff.modalities.video.decode import decode_video
from polydiff.modalities.video.io import (
    available_codec,
    read_video,
    tile,
    write_gif,
    write_mp4,
    write_strip,
)


def _videos(b=2, c=1, f=5, h=12, w=16, seed=0) -> torch.Tensor:
    """Smooth moving blobs in [0, 1] (codecs keep them well)."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    out = torch.zeros(b, c, f, h, w)
    for i in range(b):
        cy, cx = torch.rand(2, generator=g) * torch.tensor([h, w])
        for t in range(f):
            blob = torch.exp(-((yy - cy) ** 2 + (xx - cx - t) ** 2) / 8.0)
            out[i, :, t] = blob * torch.linspace(0.6, 1.0, c)[:, None, None]
    return out


def write_avi(path, frames: np.ndarray, fps: int = 10) -> None:
    """``frames (F, H, W, 3)`` uint8 as an MPEG-4 AVI (a container the writers do not make)."""
    with av.open(str(path), "w") as out:
        s = out.add_stream("mpeg4", rate=fps)
        s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        for arr in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)


def test_tile_places_every_video():
    x = torch.arange(3.0)[:, None, None, None, None].expand(3, 1, 2, 4, 5).contiguous()
    grid = tile(x, nrow=2, padding=1)
    assert grid.shape == (2, 1, 2 * 5 - 1, 2 * 6 - 1)
    assert grid[0, 0, 0, 0] == 0 and grid[1, 0, 0, 6] == 1 and grid[0, 0, 5, 0] == 2
    assert grid[0, 0, 4].abs().sum() == 0 and grid[0, 0, :, 5].abs().sum() == 0  # padding
    assert torch.equal(tile(x[:1]), x[0].transpose(0, 1))  # one video keeps its size


@pytest.mark.parametrize("channels", [1, 3])
def test_mp4_round_trip_keeps_frames_and_rate(tmp_path, channels):
    x = _videos(c=channels, h=12, w=16)
    path = write_mp4(x, tmp_path / "s", {"fps": 12, "nrow": 1})
    assert path.suffix == ".mp4"
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        assert stream.codec_context.name in ("h264", "mpeg4")
        assert float(stream.average_rate) == pytest.approx(12)
    dec = decode_video(path, channels)
    want = tile(x, 1)  # (F, C, 2 * 13 - 1, 16)
    assert dec.fps == pytest.approx(12)
    assert dec.frames.shape[0] == 5 and dec.frames.shape[1] == channels
    h, w = want.shape[2:]
    assert dec.frames.shape[2:] == (h + h % 2, w + w % 2)  # padded to even sizes
    got = dec.frames[:, :, :want.shape[2], :want.shape[3]].float() / 255
    assert (got - want).abs().mean() < 0.03  # lossy codec, close to the samples


def test_mp4_codec_falls_back_with_a_warning(tmp_path):
    assert available_codec() in ("libx264", "h264", "libopenh264", "mpeg4")
    assert available_codec("mpeg4") == "mpeg4"
    with pytest.warns(UserWarning, match="no 'nosuchcodec' encoder.*instead"):
        path = write_mp4(_videos(), tmp_path / "f", {"codec": "nosuchcodec"})
    assert decode_video(path).frames.shape[0] == 5
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        write_mp4(_videos(), tmp_path / "m", {"codec": "mpeg4"})
    with av.open(str(tmp_path / "m.mp4")) as c:
        assert c.streams.video[0].codec_context.name == "mpeg4"


def test_gif_and_strip(tmp_path):
    x = _videos(b=3, c=1, f=4)
    gif = write_gif(x, tmp_path / "s", {"fps": 10, "nrow": 3})
    with Image.open(gif) as img:
        assert img.n_frames == 4 and img.info["duration"] == 100 and img.info["loop"] == 0
    dec = decode_video(gif, 1)
    assert dec.frames.shape[0] == 4 and dec.fps == pytest.approx(10)
    strip = write_strip(x, tmp_path / "s", {"fps": 10})
    with Image.open(strip) as img:
        assert img.size == (4 * 17 - 1, 3 * 13 - 1)
        assert img.text == {"fps": "10.0", "frames": "4"}
        arr = np.asarray(img, dtype=np.float32) / 255
    # row 1, frame 2 of the strip is video 1's frame 2
    tile_ = arr[13:13 + 12, 2 * 17:2 * 17 + 16]
    np.testing.assert_allclose(tile_, x[1, 0, 2].numpy(), atol=1 / 255)
    with pytest.raises(ValueError, match="NaN/Inf"):
        write_strip(torch.full((1, 1, 2, 4, 4), float("nan")), tmp_path / "n")
    with pytest.raises(ValueError, match=r"\(B, C, F, H, W\) with C = 1 or 3"):
        write_gif(torch.zeros(1, 2, 2, 4, 4), tmp_path / "c")


def test_decode_avi_resize_and_frame_step(tmp_path):
    frames = np.zeros((12, 48, 64, 3), np.uint8)
    for t in range(12):
        frames[t, :, :, 0] = 20 * t  # red ramps with time
    write_avi(tmp_path / "a.avi", frames, fps=10)
    dec = decode_video(tmp_path / "a.avi", 3, size=(16, 16), frame_step=3)
    assert dec.frames.shape == (4, 3, 16, 16) and dec.fps == pytest.approx(10 / 3)
    assert dec.source_size == (48, 64)
    red = dec.frames[:, 0].float().mean(dim=(1, 2))
    assert torch.all(red[1:] > red[:-1])  # frames 0, 3, 6, 9 in order
    assert decode_video(tmp_path / "a.avi", 1, fps=5, max_frames=2).frames.shape == (2, 1, 48, 64)


def test_bad_files_are_named(tmp_path):
    good = write_mp4(_videos(f=6), tmp_path / "good", {"fps": 8})
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "junk.mp4").write_bytes(b"not a video " * 50)
    data = good.read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="empty.mp4: is an empty file"):
        decode_video(tmp_path / "empty.mp4")
    with pytest.raises(ValueError, match="junk.mp4: cannot be decoded.*not a video"):
        decode_video(tmp_path / "junk.mp4")
    with pytest.raises(ValueError, match="cut.mp4: (cannot be decoded|is truncated)"):
        decode_video(tmp_path / "cut.mp4")
    with pytest.raises(ValueError, match="missing.mp4: not found"):
        decode_video(tmp_path / "missing.mp4")


def test_truncated_file_with_its_index_first_is_detected(tmp_path):
    """An mp4 whose index comes first (faststart) still opens when cut: the decoded frame
    count against the header's is what tells it is truncated."""
    frames = (np.random.default_rng(0).random((30, 32, 32, 3)) * 255).astype(np.uint8)
    path = tmp_path / "fast.mp4"
    with av.open(str(path), "w", options={"movflags": "faststart"}) as out:
        s = out.add_stream("mpeg4", rate=10)
        s.width, s.height, s.pix_fmt = 32, 32, "yuv420p"
        for arr in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    assert decode_video(path).frames.shape[0] == 30
    data = path.read_bytes()
    (tmp_path / "fast_cut.mp4").write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(ValueError, match="fast_cut.mp4: (is truncated: decoded|cannot be)"):
        decode_video(tmp_path / "fast_cut.mp4")


def _clip(tmp_path, x, name="clip"):
    return write_mp4(x, tmp_path / name, {"fps": 8})


def test_reader_first_frames_are_known(tmp_path):
    x = _videos(b=1, c=1, f=3, h=16, w=16)
    known, observed = read_video(_clip(tmp_path, x), None, (1, 6, 16, 16))
    assert known.shape == (1, 1, 6, 16, 16) and observed.shape == (1, 1, 6, 1, 1)
    assert observed[0, 0, :, 0, 0].tolist() == [True] * 3 + [False] * 3
    assert (known[0, 0, :3] - x[0, 0]).abs().mean() < 0.05
    assert known[0, 0, 3:].abs().sum() == 0


def test_reader_mask_places_frames(tmp_path):
    x = _videos(b=1, c=3, f=3, h=16, w=16)
    (tmp_path / "m.txt").write_text("0, 2\n4")
    known, observed = read_video(_clip(tmp_path, x), tmp_path / "m.txt", (3, 5, 16, 16))
    assert observed[0, 0, :, 0, 0].tolist() == [True, False, True, False, True]
    for k, f in enumerate([0, 2, 4]):
        assert (known[0, :, f] - x[0, :, k]).abs().mean() < 0.05
    full = _clip(tmp_path, _videos(b=1, c=3, f=5, h=16, w=16), "full")
    (tmp_path / "m2.txt").write_text("1 3")
    _, observed = read_video(full, tmp_path / "m2.txt", (3, 5, 16, 16))
    assert observed[0, 0, :, 0, 0].tolist() == [False, True, False, True, False]


def test_reader_bad_input(tmp_path):
    clip = _clip(tmp_path, _videos(b=1, c=3, f=4, h=16, w=16))
    with pytest.raises(ValueError, match="has 4 frames; this model makes 4: give 1..3 frames"):
        read_video(clip, None, (3, 4, 16, 16))
    with pytest.raises(ValueError, match="more than 3 frames; this model makes 3"):
        read_video(clip, None, (3, 3, 16, 16))
    colour = torch.zeros(1, 3, 2, 16, 16)
    colour[:, 0] = 1.0  # pure red
    with pytest.raises(ValueError, match="in colour.*greyscale"):
        read_video(_clip(tmp_path, colour, "red"), None, (1, 4, 16, 16))
    (tmp_path / "bad.txt").write_text("zero two")
    with pytest.raises(ValueError, match="bad.txt: expected known frame numbers"):
        read_video(clip, tmp_path / "bad.txt", (3, 6, 16, 16))
    (tmp_path / "out.txt").write_text("0 9")
    with pytest.raises(ValueError, match=r"distinct frame numbers in 0..5 \(the model makes 6"):
        read_video(clip, tmp_path / "out.txt", (3, 6, 16, 16))
    (tmp_path / "three.txt").write_text("0 1 2")
    with pytest.raises(ValueError, match="has 4 frames; with the mask.*must have 6 frames"):
        read_video(clip, tmp_path / "three.txt", (3, 6, 16, 16))
    (tmp_path / "all.txt").write_text("0 1 2 3")
    with pytest.raises(ValueError, match="marks all 4 frames known"):
        read_video(clip, tmp_path / "all.txt", (3, 4, 16, 16))
    # a greyscale clip stored as RGB (what write_mp4 makes) is fine for a grey model
    grey = _clip(tmp_path, _videos(b=1, c=1, f=2, h=16, w=16), "grey")
    assert read_video(grey, None, (1, 4, 16, 16))[0].shape == (1, 1, 4, 16, 16)
