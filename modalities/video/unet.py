"""The video backbone: a factorised space-time U-Net built around the 2-D :class:`UNet`.

Every spatial layer is a layer of an image U-Net (``self.spatial``, a
:class:`polydiff.nn.UNet` with ``dims=2``) applied to each frame; after each of its residual
blocks a :class:`~.temporal.TemporalConv` mixes the frames of every pixel, and after each of its
(per-frame) attention layers a :class:`~.temporal.TemporalAttention` attends over time with a
relative-position bias. Space is downsampled, time never is: any frame count works.

``conditional=True`` makes it a frame model for prediction and interpolation, trained with the
core's imputation training (``DiffusionModule(imputation=...)``): ``cond = [known frames,
mask]`` and, by default, the temporal first guess (:func:`~.guess.temporal_guess`,
:meth:`VideoUNet.first_guess`) as more input channels; ``residual=True`` makes the
:class:`polydiff.Denoiser` denoise the residual from that guess (with its own schedule and
prediction), so an untrained ``x0``-prediction model returns the linear blend / last-frame
hold and training can only refine it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from polydiff.plugin import Attention, ResBlock, UNet

from .guess import temporal_guess
from .temporal import TemporalAttention, TemporalConv, fold, unfold

__all__ = ["VideoUNet"]


class VideoUNet(nn.Module):
    """Space-time U-Net for videos ``(B, C, F, H, W)``; an image is a one-frame video.

    Args:
        in_channels: channels per frame (1 grey, 3 RGB); ``out_channels`` defaults to it.
        base_channels, channel_mult, num_res_blocks, attention_levels, dropout, num_classes,
            cond_channels, emb_kind, attention_heads, emb_dim, mid_attention, resample: as in
            :class:`polydiff.nn.UNet` (the spatial U-Net ``self.spatial``). ``down_factors`` is
            2 in space; time is never downsampled.
        temporal_kernel: taps of the temporal convolutions (odd; 1 = pointwise).
        temporal_attention: temporal attention after every spatial attention layer.
        max_relative_distance: clip distance of the temporal relative-position bias (frames).
        conditional: a frame model: ``cond = [known frames, mask]`` (``2 * in_channels``
            channels, :func:`polydiff.conditioners.known_channels`) is required;
            ``cond_channels`` must then be 0 (it is set to ``2 * in_channels``).
        guess: (conditional) the temporal first guess of the missing frames
            (:func:`~.guess.temporal_guess`) as ``in_channels`` more input channels.
        residual: (conditional, with ``guess``) the :class:`polydiff.Denoiser` denoises
            ``x0 - guess`` (:meth:`first_guess`); the output is then the prediction of the
            residual.

    ``forward(x (B, C, F, H, W), c_noise (B,), class_labels=None, cond=None, guess=None) ->
    (B, C_out, F, H, W)`` for any ``F >= 1``; ``H`` and ``W`` must be multiples of
    ``size_multiple[1:]`` (``2 ** (len(channel_mult) - 1)``). ``class_labels=None`` or
    :attr:`null_class` is the unconditional class (classifier-free guidance). With ``F == 1``
    every temporal layer is skipped: the output is exactly ``self.spatial`` applied to the
    frame, so the video model is also an image model, and :meth:`load_image_weights` starts it
    from a trained image U-Net. The output is zero at initialisation.
    """

    dims = 3
    #: init arguments of earlier versions, dropped when a stored spec names them (the
    #: Denoiser now applies the residual with its own prediction and schedule)
    RETIRED_INIT_ARGS = ("prediction", "schedule")

    def __init__(self, in_channels: int = 3, out_channels: int | None = None,
                 base_channels: int = 32, channel_mult: Sequence[int] = (1, 2, 2),
                 num_res_blocks: int = 1, attention_levels: Sequence[int] = (-1,),
                 dropout: float = 0.0, num_classes: int | None = None, cond_channels: int = 0,
                 emb_kind: str = "sinusoidal", attention_heads: int = 4,
                 emb_dim: int | None = None, mid_attention: bool = True, resample: str = "conv",
                 temporal_kernel: int = 3, temporal_attention: bool = True,
                 max_relative_distance: int = 8, conditional: bool = False,
                 guess: bool = True, residual: bool = False):
        super().__init__()
        self.conditional = bool(conditional)
        self.guess = bool(guess) and self.conditional
        if self.conditional and cond_channels not in (0, 2 * in_channels):
            raise ValueError(f"VideoUNet: conditional=True sets cond = [known frames, mask] = "
                             f"{2 * in_channels} channels; got cond_channels={cond_channels} "
                             f"(leave it 0)")
        if residual and not self.guess:
            raise ValueError("VideoUNet: residual=True needs conditional=True and guess=True "
                             "(the output adds the first guess of the missing frames)")
        if self.conditional:
            cond_channels = 2 * in_channels
        #: the Denoiser denoises ``x0 - first_guess(cond)`` (see :class:`polydiff.Denoiser`)
        self.residual = bool(residual)
        self.spatial = UNet(
            dims=2, in_channels=in_channels, out_channels=out_channels,
            base_channels=base_channels, channel_mult=channel_mult,
            num_res_blocks=num_res_blocks, attention_levels=tuple(attention_levels or ()),
            dropout=dropout, num_classes=num_classes,
            cond_channels=cond_channels + in_channels * self.guess,
            emb_kind=emb_kind, down_factors=2, attention_heads=attention_heads, emb_dim=emb_dim,
            mid_attention=mid_attention, resample=resample,
        )
        self.in_channels, self.out_channels = self.spatial.in_channels, self.spatial.out_channels
        #: channels of ``cond`` the caller gives ([known, mask] for conditional models)
        self.cond_channels, self.num_classes = cond_channels, num_classes
        self.size_multiple = (1, *self.spatial.size_multiple)
        self.temporal_kernel = temporal_kernel
        self.temporal = nn.ModuleDict()
        for path, layer in self.spatial.stage_layers():
            if isinstance(layer, ResBlock):
                self.temporal[path] = TemporalConv(layer.out_channels, self.spatial.emb_dim,
                                                   temporal_kernel, dropout)
            elif isinstance(layer, Attention) and temporal_attention:
                self.temporal[path] = TemporalAttention(layer.channels, attention_heads,
                                                        max_relative_distance)

    @property
    def null_class(self) -> int | None:
        """Label of the null class (classifier-free guidance), or ``None`` without classes."""
        return self.spatial.null_class

    def load_image_weights(self, state_dict: Mapping[str, Tensor]) -> None:
        """Load a 2-D :class:`UNet` / ``ImageUNet`` ``state_dict`` of the same configuration
        into the spatial layers (the temporal layers keep their values, the identity when
        fresh): a trained image model becomes a video model that starts as that image model
        applied per frame."""
        try:
            self.spatial.load_state_dict(state_dict)
        except RuntimeError as err:
            first = str(err).strip().splitlines()
            raise ValueError(f"VideoUNet.load_image_weights: the image weights do not fit the "
                             f"spatial U-Net (same in_channels, base_channels, channel_mult, "
                             f"num_res_blocks, attention_levels, num_classes needed): "
                             f"{' '.join(first[:2])}") from None

    def _check(self, x: Tensor, c_noise: Tensor) -> Tensor:
        if x.ndim != 5:
            raise ValueError(f"VideoUNet: x must be a video (B, C, F, H, W), got shape "
                             f"{tuple(x.shape)}")
        b, c, f, h, w = x.shape
        if c != self.in_channels:
            kind = {1: "greyscale (1 channel)", 3: "RGB (3 channels)"}
            raise ValueError(f"VideoUNet: x has {c} channels per frame, but this network takes "
                             f"{kind.get(self.in_channels, f'{self.in_channels} channels')}; "
                             f"convert the video (e.g. VideoFolder(channels="
                             f"{self.in_channels}))")
        m = self.size_multiple[1]
        if f < 1 or h % m or w % m:
            raise ValueError(f"VideoUNet: x has {f} frames of {h}x{w}; it takes any number of "
                             f"frames >= 1 and heights and widths that are multiples of {m}")
        if c_noise.ndim == 0:
            c_noise = c_noise.expand(b)
        if c_noise.shape != (b,):
            raise ValueError(f"VideoUNet: c_noise must have shape ({b},), got "
                             f"{tuple(c_noise.shape)}")
        return c_noise

    def first_guess(self, cond: Tensor | None = None, **_: object) -> Tensor:
        """The temporal first guess ``(B, C, F, H, W)`` of the missing frames from ``cond =
        [known frames, mask]`` (:func:`~.guess.temporal_guess`), the given frames exact."""
        if not self.guess or cond is None:
            raise ValueError("VideoUNet.first_guess needs a conditional frame model with guess="
                             "True and cond = [known frames, mask]")
        c = self.in_channels
        return temporal_guess(cond[:, :c], cond[:, c:2 * c] > 0.5)

    def forward(self, x: Tensor, c_noise: Tensor, class_labels: Tensor | None = None,
                cond: Tensor | None = None, guess: Tensor | None = None) -> Tensor:
        """``(B, C, F, H, W)``, ``(B,)`` -> ``(B, C_out, F, H, W)``; ``guess``: the first
        guess when the caller (the Denoiser) has it, else computed from ``cond``."""
        c_noise = self._check(x, c_noise)
        if class_labels is not None:
            class_labels = torch.as_tensor(class_labels, device=x.device)
            if class_labels.shape != (x.shape[0],) or class_labels.is_floating_point():
                raise ValueError(f"VideoUNet: class_labels must be integers of shape "
                                 f"({x.shape[0]},), got {class_labels.dtype} "
                                 f"{tuple(class_labels.shape)}")
        want = (x.shape[0], self.cond_channels, *x.shape[2:])
        if cond is not None and tuple(cond.shape) != want:
            what = ("[known frames, mask]" if self.conditional
                    else f"cond_channels={self.cond_channels}")
            raise ValueError(f"VideoUNet: cond must have shape {want} ({what}), got "
                             f"{tuple(cond.shape)}")
        if self.conditional and cond is None:
            raise ValueError("VideoUNet: this conditional frame model (conditional=True) got "
                             "no given frames (cond=None); it needs cond = [known frames, mask]: "
                             "use predict() / interpolate(), sample(known=..., observed=...) "
                             "or polydiff sample --known FILE")
        if not self.guess:
            return self._run(x, c_noise, class_labels, cond)
        g = self.first_guess(cond) if guess is None else guess
        return self._run(x, c_noise, class_labels, torch.cat([cond, g.to(cond.dtype)], dim=1))

    def _run(self, x: Tensor, c_noise: Tensor, class_labels: Tensor | None,
             cond: Tensor | None) -> Tensor:
        """The U-Net on checked inputs, frames folded into the batch; ``cond`` has the spatial
        U-Net's channels. After every spatial layer its temporal layer (if any) mixes the
        frames (:meth:`polydiff.nn.UNet.trunk`'s ``after_layer``)."""
        frames = x.shape[2]
        if class_labels is not None:
            class_labels = class_labels.repeat_interleave(frames)
        x_in, emb = self.spatial.prepare(fold(x), c_noise.repeat_interleave(frames),
                                         class_labels, None if cond is None else fold(cond))

        def temporal(key: str, h: Tensor) -> Tensor:
            layer = self.temporal[key] if key in self.temporal else None
            if isinstance(layer, TemporalConv):
                return layer(h, emb, frames)
            return h if layer is None else layer(h, frames)

        return unfold(self.spatial.trunk(x_in, emb, temporal), frames).contiguous()
