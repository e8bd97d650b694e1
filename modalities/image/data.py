"""Image data modules on the core base: scikit-learn's handwritten digits (offline) and
image folders.

Items are in data units (intensities in [0, 1]); the fixed normaliser maps them to [-1, 1]
for the model and back before samples are written. Batches are dicts ``{"x": (B, C, H, W)
float32 in [-1, 1], "class_labels": (B,) long}`` (``class_labels`` only when the data has
labels).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from polydiff.plugin import (
    DiffusionDataModule,
    Normalizer,
    check_choice,
    random_flip,
    scan_class_folders,
)

__all__ = [
    "DigitsDataModule",
    "ImageFolderDataModule",
    "load_digits_tensor",
    "scan_image_folder",
    "IMAGE_EXTENSIONS",
]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
RESIZE_MODES = ("pad", "bilinear")
CROP_MODES = ("center", "random")


def _check_resize(resize: str) -> str:
    return check_choice(resize, RESIZE_MODES, "resize")


def _item(x: Tensor, label: Tensor | int | None) -> dict[str, Tensor]:
    """A dataset item ``{"x": x}``, with ``"class_labels"`` (a long scalar) when labelled."""
    item = {"x": x}
    if label is not None:
        item["class_labels"] = torch.as_tensor(label, dtype=torch.long)
    return item


def load_digits_tensor(size: int = 16, resize: str = "pad") -> tuple[Tensor, Tensor]:
    """All 1797 scikit-learn digits as ``x (N, 1, size, size)`` in [0, 1] and ``y (N,)`` long.

    ``resize="pad"`` centres the 8x8 digit on a background (0) canvas (``size >= 8``);
    ``"bilinear"`` interpolates to ``size x size``.
    """
    from sklearn.datasets import load_digits

    _check_resize(resize)
    digits = load_digits()
    x = torch.from_numpy(digits.images.astype(np.float32))[:, None] / 16.0
    y = torch.from_numpy(digits.target.astype(np.int64))
    if resize == "pad":
        if size < 8:
            raise ValueError(f"size must be >= 8 to pad the 8x8 digits, got {size}")
        lo = (size - 8) // 2
        hi = size - 8 - lo
        x = F.pad(x, (lo, hi, lo, hi), value=0.0)
    elif size != 8:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False,
                          antialias=size < 8).clamp(0.0, 1.0)
    return x.contiguous(), y


class _TensorImages(Dataset):
    """Items ``{"x": (C, H, W), "class_labels": ()}`` from in-memory tensors."""

    def __init__(self, x: Tensor, y: Tensor | None, hflip: bool = False):
        self.x, self.y, self.hflip = x, y, hflip

    def __len__(self) -> int:
        return self.x.shape[0]

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        return _item(random_flip(self.x[i], -1, self.hflip), None if self.y is None else self.y[i])


class _ImageDataModule(DiffusionDataModule):
    """What the image data modules share: the modality, its PNG writer, intensities in [0, 1]
    mapped to [-1, 1] by a fixed normaliser, and optional random horizontal flips."""

    modality = "image"
    writer = "png"

    def __init__(self, batch_size: int, val_fraction: float, seed: int, hflip: bool,
                 num_workers: int):
        super().__init__(batch_size=batch_size, val_fraction=val_fraction, seed=seed,
                         num_workers=num_workers, normalization="fixed")
        self.hflip = hflip

    def fixed_normalizer(self) -> Normalizer:
        """[0, 1] -> [-1, 1] on every channel."""
        c = self.sample_shape[0]
        return Normalizer([0.5] * c, [0.5] * c)


class DigitsDataModule(_ImageDataModule):
    """scikit-learn's 1797 handwritten 8x8 digits as 1-channel images (data in [0, 1]).

    Args:
        batch_size: batch size of every loader.
        size: output side length (default 16: two 2x downsamplings leave 4x4).
        resize: ``"pad"`` (centre on a black canvas) or ``"bilinear"``.
        val_fraction, test_fraction: seeded random split (default 80/10/10).
        seed: seed of the split and of the training order (a fresh permutation per epoch,
            a function of ``(seed, epoch)``).
        hflip: random horizontal flips of training images (off: digits are not symmetric).
        num_workers: DataLoader workers.

    Batches: ``{"x": (B, 1, size, size) float32 in [-1, 1], "class_labels": (B,) long in
    0..9}``.
    """

    def __init__(self, batch_size: int = 64, size: int = 16, resize: str = "pad",
                 val_fraction: float = 0.1, test_fraction: float = 0.1, seed: int = 0,
                 hflip: bool = False, num_workers: int = 0):
        super().__init__(batch_size, val_fraction, seed, hflip, num_workers)
        _check_resize(resize)
        self.save_hyperparameters()
        self.size = size
        self.resize = resize
        self.test_fraction = test_fraction

    @property
    def num_classes(self) -> int:
        return 10

    @property
    def sample_shape(self) -> tuple[int, int, int]:
        """Shape of one image: ``(1, size, size)``."""
        return (1, self.size, self.size)

    def build(self) -> dict[str, Dataset]:
        x, y = load_digits_tensor(self.size, self.resize)
        train, val, test = self.split(x.shape[0], self.val_fraction, self.test_fraction)
        return {"train": _TensorImages(x[train], y[train], hflip=self.hflip),
                "val": _TensorImages(x[val], y[val]), "test": _TensorImages(x[test], y[test])}


def _size2(size: int | Sequence[int] | None) -> tuple[int, int] | None:
    if size is None:
        return None
    if isinstance(size, int):
        return (size, size)
    size = tuple(size)
    if len(size) != 2 or not all(isinstance(s, int) and s >= 1 for s in size):
        raise ValueError(f"size must be an int or (height, width), got {size!r}")
    return size


def scan_image_folder(root: str | Path, extensions: Sequence[str] = IMAGE_EXTENSIONS
                      ) -> tuple[list[Path], list[int] | None, list[str]]:
    """Image files under ``root``: ``(paths, labels or None, class names)``.

    With sub-folders, each immediate sub-folder is a class (sorted names -> 0, 1, ...) and its
    images (searched recursively) carry that label; otherwise the images directly in ``root``
    are unlabelled (:func:`polydiff.folders.scan_class_folders`, whose ``skipped`` lists the
    files and folders left out). A missing ``root`` raises
    :class:`~polydiff.folders.MissingFolderError` (a ``FileNotFoundError``).
    """
    scan = scan_class_folders(root, extensions, "image")
    return scan.files, scan.labels, scan.classes


@contextmanager
def _open_image(path: Path) -> Iterator[Any]:
    """``PIL.Image.open(path)``; a file PIL cannot read raises a ``ValueError`` naming it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            yield img
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise ValueError(f"cannot read image file {path}: {e}") from e


def _image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the file header; a clear error naming unreadable files."""
    with _open_image(path) as img:
        return img.size


class _FolderImages(Dataset):
    """Decodes, resizes/crops and scales images on access: ``{"x": (C, H, W)[, labels]}``."""

    def __init__(self, paths: list[Path], labels: list[int] | None, size: tuple[int, int] | None,
                 resize: bool, crop: str | None, channels: int, hflip: bool):
        self.paths, self.labels = paths, labels
        self.size, self.resize, self.crop = size, resize, crop
        self.mode = {1: "L", 3: "RGB"}[channels]
        self.hflip = hflip

    def __len__(self) -> int:
        return len(self.paths)

    def _load(self, path: Path):
        with _open_image(path) as img:
            return img.convert(self.mode)

    def _geometry(self, img):
        from PIL import Image

        if self.size is None:
            return img
        th, tw = self.size
        if self.resize and self.crop is None:
            return img.resize((tw, th), Image.Resampling.BICUBIC)
        if self.resize:  # cover the target, keeping the aspect ratio, then crop
            w, h = img.size
            s = max(th / h, tw / w)
            nw, nh = max(tw, round(w * s)), max(th, round(h * s))
            img = img.resize((nw, nh), Image.Resampling.BICUBIC)
        w, h = img.size
        if self.crop == "random":
            top = int(torch.randint(h - th + 1, ()))
            left = int(torch.randint(w - tw + 1, ()))
        else:
            top, left = (h - th) // 2, (w - tw) // 2
        return img.crop((left, top, left + tw, top + th))

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        img = self._geometry(self._load(self.paths[i]))
        arr = np.asarray(img, dtype=np.float32)
        if arr.ndim == 2:
            arr = arr[..., None]
        x = torch.from_numpy(arr.copy()).permute(2, 0, 1) / 255.0
        x = random_flip(x, -1, self.hflip)
        return _item(x.contiguous(), None if self.labels is None else self.labels[i])


class ImageFolderDataModule(_ImageDataModule):
    """PNG/JPEG images from a folder (labels from class sub-folders, if any); data in [0, 1].

    Args:
        root: the folder; each immediate sub-folder is a class, or all images sit in ``root``.
        size: output ``(H, W)`` (int = square) or ``None`` (keep the files' common size).
        crop: ``"center"``, ``"random"`` (training only; validation crops at the centre) or
            ``None``.
        resize: with ``size``: resize to exactly ``size`` (``crop=None``) or so that the image
            covers ``size`` keeping its aspect ratio (then crop). ``False``: never resample.
        hflip: random horizontal flips of training images.
        channels: 3 (RGB) or 1 (grey).
        batch_size, val_fraction, seed, num_workers: loaders and the seeded split; ``seed``
            also fixes the training order per epoch.

    Without a resize or crop, every image must have the same size; otherwise ``setup`` raises a
    ``ValueError`` naming the file and both sizes. Unreadable files raise a ``ValueError``
    naming the file. Files with other extensions and sub-folders without images are not used:
    one warning lists them, and ``self.skipped`` (``(path, reason)``). Batches:
    ``{"x": (B, channels, H, W) in [-1, 1], "class_labels": (B,)}`` (labels only with class
    folders).
    """

    def __init__(self, root: str | Path, size: int | Sequence[int] | None = None,
                 crop: str | None = None, resize: bool = True, hflip: bool = False,
                 channels: int = 3, batch_size: int = 32, val_fraction: float = 0.1,
                 seed: int = 0, num_workers: int = 0):
        super().__init__(batch_size, val_fraction, seed, hflip, num_workers)
        if crop is not None:
            check_choice(crop, CROP_MODES, "crop")
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels}")
        self.size = _size2(size)
        if crop is not None and self.size is None:
            raise ValueError(f"crop={crop!r} needs a size")
        self.save_hyperparameters()
        self.root = Path(root)
        self.crop = crop
        self.resize = resize
        self.channels = channels
        self.classes: list[str] = []
        #: ``(path, reason)`` of the files and folders under ``root`` that were not used
        self.skipped: list[tuple[Path, str]] = []
        self.image_size: tuple[int, int] | None = self.size

    @property
    def num_classes(self) -> int | None:
        """Number of class sub-folders (after ``setup``), or ``None`` for unlabelled data."""
        return len(self.classes) or None

    @property
    def sample_shape(self) -> tuple[int, int, int]:
        """Shape of one image ``(C, H, W)`` (found by ``setup`` when ``size`` is ``None``)."""
        if self.image_size is None:
            self.setup()
        return (self.channels, *self.image_size)

    def _check_sizes(self, paths: list[Path]) -> tuple[int, int]:
        """The common (H, W) of images that are used as they are; errors name the file."""
        first = paths[0]
        fw, fh = _image_size(first)
        for p in paths:
            w, h = _image_size(p)
            if self.size is not None and (h, w) != self.size and self.crop is None \
                    and not self.resize:
                raise ValueError(
                    f"image {p} is {h}x{w} (HxW) but size={self.size[0]}x{self.size[1]} and "
                    f"resize=False, crop=None; pass resize=True or a crop"
                )
            if self.size is not None and not self.resize and self.crop is not None and (
                h < self.size[0] or w < self.size[1]
            ):
                raise ValueError(
                    f"image {p} is {h}x{w} (HxW), smaller than the crop "
                    f"{self.size[0]}x{self.size[1]}; pass resize=True"
                )
            if self.size is None and (w, h) != (fw, fh):
                raise ValueError(
                    f"images differ in size: {first} is {fh}x{fw} (HxW) but {p} is {h}x{w}; "
                    f"pass size=... with resize=True and/or a crop"
                )
        return self.size or (fh, fw)

    def build(self) -> dict[str, Dataset]:
        scan = scan_class_folders(self.root, IMAGE_EXTENSIONS, "image")
        paths, labels, self.classes, self.skipped = (scan.files, scan.labels, scan.classes,
                                                     scan.skipped)
        if self.skipped:
            shown = "; ".join(f"{p.name}: {why}" for p, why in self.skipped[:3])
            more = f" (and {len(self.skipped) - 3} more)" if len(self.skipped) > 3 else ""
            warnings.warn(f"ImageFolderDataModule {self.root}: skipped {len(self.skipped)} "
                          f"file(s) or folder(s): {shown}{more}; see .skipped", stacklevel=2)
        self.image_size = self._check_sizes(paths)
        size = self.size if (self.resize or self.crop) else None
        train, val = self.split(len(paths), self.val_fraction)

        def subset(idx: Tensor, training: bool) -> _FolderImages:
            ps = [paths[i] for i in idx.tolist()]
            ls = None if labels is None else [labels[i] for i in idx.tolist()]
            crop = self.crop if training or self.crop is None else "center"
            return _FolderImages(ps, ls, size, self.resize, crop, self.channels,
                                 self.hflip and training)

        return {"train": subset(train, True), "val": subset(val, False)}
