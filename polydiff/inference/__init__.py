"""The inference layer: one path from a trained model to every task.

- :func:`load`: a :class:`Model` from a ``.ckpt`` file, a ``polydiff export`` directory or a
  live :class:`~polydiff.training.DiffusionModule` (also ``polydiff.load``);
- :class:`Model`: ``sample``, ``impute``, ``posterior_mean``, ``edit``, in data units in and
  out; :class:`DataSpec` its typed, frozen data description;
- :class:`Sampler`: method, steps, grid (or a calibrated plan) and RePaint resampling, with
  the defaults written once;
- :mod:`~polydiff.inference.draw`: the model-unit primitives the tasks share (guidance,
  batching, the posterior mean's terms).

Every modality's task (audio gap filling and continuation, video prediction and
interpolation, science imputation) is a thin wrapper over a :class:`Model`.
"""

from .draw import GUIDANCE
from .load import load
from .model import UNITS, Model
from .sampler import DEFAULT_GRID, Sampler
from .spec import CONDITIONING, DataSpec

__all__ = ["CONDITIONING", "DEFAULT_GRID", "DataSpec", "GUIDANCE", "Model", "Sampler", "UNITS",
           "load"]
