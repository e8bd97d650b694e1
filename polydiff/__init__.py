"""polydiff: diffusion models across modalities with one modality-agnostic core.

Core modules: :mod:`polydiff.schedules`, :mod:`polydiff.parameterization`,
:mod:`polydiff.conditioning`, :mod:`polydiff.denoiser`, :mod:`polydiff.losses`,
:mod:`polydiff.masks`, :mod:`polydiff.analytic`, :mod:`polydiff.samplers`,
:mod:`polydiff.guidance`.
"""

from . import analytic, conditioning, guidance, parameterization, samplers, schedules
from .denoiser import Denoiser

__version__ = "0.1.0"
__all__ = [
    "Denoiser", "analytic", "conditioning", "guidance", "parameterization", "samplers", "schedules",
]
