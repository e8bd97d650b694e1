"""What every backbone does with its conditioning before its own layers: check the noise
level, class labels, extra channels and vector against how it was built, and sum their
embeddings into the conditioning vector ``emb``.

:class:`ConditionedInputs` is a mixin for networks with the attributes ``noise_emb``,
``class_emb`` (``None`` without classes), ``vector_emb`` (when ``vector_cond_dim``),
``num_classes``, ``cond_channels`` and ``vector_cond_dim`` (:class:`~polydiff.nn.UNet`, the
audio U-Net).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["ConditionedInputs"]


class ConditionedInputs:
    """Checks and the conditioning vector shared by the backbones (see the module
    docstring)."""

    def check_conditioning(self, who: str, x: Tensor, c_noise: Tensor,
                           class_labels: Tensor | None, cond: Tensor | None,
                           vector: Tensor | None) -> Tensor:
        """``c_noise`` as ``(B,)``; a one-sentence ``ValueError`` naming ``who`` for a noise
        level, class labels, ``cond`` (``(B, cond_channels, *axes)``) or ``vector``
        (``(B, vector_cond_dim)``) that does not fit."""
        b = x.shape[0]
        if c_noise.ndim == 0:
            c_noise = c_noise.expand(b)
        if c_noise.shape != (b,):
            raise ValueError(f"{who}: c_noise must have shape ({b},), got "
                             f"{tuple(c_noise.shape)}")
        if class_labels is not None:
            if self.class_emb is None:
                raise ValueError(f"{who}: class_labels given, but the network was built "
                                 f"without num_classes")
            if class_labels.shape != (b,) or class_labels.is_floating_point():
                raise ValueError(f"{who}: class_labels must be integers of shape ({b},), got "
                                 f"{class_labels.dtype} {tuple(class_labels.shape)}")
            # a value check reads the tensor (a graph break under torch.compile, a device
            # sync on GPUs): eager only; compiled, an out-of-range label fails in the embedding
            if not torch.compiler.is_compiling() and class_labels.numel() and (
                class_labels.min() < 0 or class_labels.max() > self.num_classes
            ):
                raise ValueError(f"{who}: class_labels must lie in [0, {self.num_classes}] "
                                 f"({self.num_classes} = null class)")
        if cond is not None:
            want = (b, self.cond_channels, *x.shape[2:])
            if self.cond_channels == 0 or tuple(cond.shape) != want:
                raise ValueError(f"{who}: cond must have shape {want} (cond_channels="
                                 f"{self.cond_channels}), got {tuple(cond.shape)}")
        if vector is not None:
            want = (b, self.vector_cond_dim)
            if not self.vector_cond_dim or tuple(vector.shape) != want:
                raise ValueError(f"{who}: vector must have shape {want} (vector_cond_dim="
                                 f"{self.vector_cond_dim}), got {tuple(vector.shape)}")
        return c_noise

    def embedding(self, c_noise: Tensor, class_labels: Tensor | None = None,
                  vector: Tensor | None = None) -> Tensor:
        """The conditioning vector ``(B, emb_dim)``: the noise level's embedding, plus the
        class's (the null class when ``None``), plus the vector's (nothing when ``None``)."""
        emb = self.noise_emb(c_noise)
        if self.class_emb is not None:
            if class_labels is None:
                class_labels = torch.full(c_noise.shape, self.num_classes, dtype=torch.long,
                                          device=c_noise.device)
            emb = emb + self.class_emb(class_labels.long())
        if vector is not None:
            emb = emb + self.vector_emb(vector)
        return emb
