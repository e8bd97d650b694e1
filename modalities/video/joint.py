"""Joint image-video training: batches of clips and batches of images (one-frame videos) in
one run, as in Video Diffusion Models (Ho et al. 2022).

:class:`~.unet.VideoUNet` skips every temporal layer for one frame, so the image batches train
the spatial layers only, on many more pictures than the clips hold; the clip batches train
everything. Batches never mix the two (:class:`~polydiff.training.MixedBatchSampler`).
"""

from __future__ import annotations

from torch import Tensor
from torch.utils.data import ConcatDataset, Dataset

from polydiff.plugin import DiffusionDataModule, MixedBatchSampler, ResumableLoader

from .data import _VideoModule

__all__ = ["JointImageVideo"]


class _OneFrame(Dataset):
    """Image items ``{"x": (C, H, W), ...}`` as one-frame videos ``(C, 1, H, W)``."""

    def __init__(self, images: Dataset):
        self.images = images

    def __len__(self) -> int:
        return len(self.images)  # type: ignore[arg-type]

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        item = dict(self.images[i])
        item["x"] = item["x"].unsqueeze(1)
        return item


class JointImageVideo(_VideoModule):
    """Clips from ``videos`` and images from ``images`` in one training run.

    Args:
        videos: a video data module (:class:`~.data.MovingDigitsDataModule`,
            :class:`~.data.VideoFolder`); it gives the validation and test clips, the frame
            rate and the clips' batch size.
        images: a data module whose items are images ``{"x": (C, H, W)}`` in [0, 1] of the
            clips' channels and frame size (e.g. ``polydiff.modalities.image``'s
            ``DigitsDataModule`` / ``ImageFolderDataModule``); its training split only.
        image_batch_size: images per image batch (default: the clips' frames per batch,
            ``batch_size x frames``, as many pictures as a clip batch holds).
        seed: the order of the batches (``(seed, epoch)``; resumable mid-epoch).

    Every epoch uses each clip and each image once; with the class labels of both (the same
    number of classes) the model is class-conditional on both. Batches: the video module's
    ``(B, C, F, H, W)``, and ``(B_img, C, 1, H, W)`` for images. Single-device (a custom batch
    sampler is not split across processes).
    """

    def __init__(self, videos: DiffusionDataModule, images: DiffusionDataModule,
                 image_batch_size: int | None = None, seed: int = 0, num_workers: int = 0):
        super().__init__(videos.batch_size, 0.0, seed, num_workers)
        if image_batch_size is not None and image_batch_size < 1:
            raise ValueError(f"JointImageVideo: image_batch_size must be >= 1, got "
                             f"{image_batch_size}")
        self.videos, self.images = videos, images
        self.image_batch_size = image_batch_size

    @property
    def num_classes(self) -> int | None:
        return self.videos.num_classes

    def build(self) -> dict[str, Dataset]:
        v, i = self.videos, self.images
        v.setup()
        i.setup()
        c, _, h, w = v.sample_shape
        shape = tuple(i.sample_shape)
        if shape != (c, h, w):
            raise ValueError(f"JointImageVideo: the images are {list(shape)} (C, H, W) but the "
                             f"clips' frames are {[c, h, w]}; use images of the clips' "
                             f"channels and size")
        if i.num_classes != v.num_classes:
            raise ValueError(f"JointImageVideo: the clips have num_classes={v.num_classes} but "
                             f"the images {i.num_classes}; label both alike or neither")
        sets: dict[str, Dataset] = {"train": ConcatDataset([v.train_set, _OneFrame(i.train_set)])}
        for name in ("val", "test"):
            part = getattr(v, f"{name}_set")
            if part is not None:
                sets[name] = part
        return sets

    def metadata(self) -> dict:
        return self.videos.metadata()

    def train_dataloader(self) -> ResumableLoader:
        self.setup()
        clips, images = self.train_set.datasets  # type: ignore[attr-defined]
        frames = self.videos.sample_shape[1]
        image_batch = self.image_batch_size or self.batch_size * frames
        sampler = MixedBatchSampler([len(clips), len(images)], [self.batch_size, image_batch],
                                    self.seed)
        return ResumableLoader(self.train_set, batch_sampler=sampler,
                               num_workers=self.num_workers, collate_fn=self.collate(),
                               persistent_workers=self.num_workers > 0)
