"""polydiff: diffusion models across modalities with one modality-agnostic core.

Core modules: :mod:`polydiff.schedules`, :mod:`polydiff.parameterization`,
:mod:`polydiff.conditioning`, :mod:`polydiff.denoiser`, :mod:`polydiff.losses`,
:mod:`polydiff.masks`, :mod:`polydiff.analytic`, :mod:`polydiff.samplers`,
:mod:`polydiff.guidance`; the inference layer :mod:`polydiff.inference`
(``polydiff.load``).
"""

from . import analytic, conditioning, guidance, parameterization, samplers, schedules
from .denoiser import Denoiser

__version__ = "0.1.0"


def load(source, *, device="cpu", ema: bool = True, modality: str | None = None):
    """A trained model, ready for inference, from a ``.ckpt`` file, a ``polydiff export``
    directory or a live ``DiffusionModule``: :func:`polydiff.inference.load`."""
    from .inference import load as _load

    return _load(source, device=device, ema=ema, modality=modality)


__all__ = [
    "Denoiser", "analytic", "conditioning", "guidance", "load", "parameterization", "samplers",
    "schedules",
]
