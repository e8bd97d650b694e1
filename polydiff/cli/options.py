"""The argument groups every model command shares, so that ``polydiff sample``, ``calibrate``
and the modalities' commands (``impute``, ``fill-gaps``, ...) take the same flags with the same
defaults and the same one-line errors:

- :func:`add_model_options`: ``--checkpoint`` (a ``.ckpt`` file or an export directory),
  ``--no-ema``, ``--device``; :func:`load_model` checks and loads them
  (:func:`polydiff.load`);
- :func:`add_sampler_options`: ``--method``, ``--steps``, ``--grid``, ``--seed`` (and
  ``--plan`` where a calibrated plan may replace them); :func:`sampler_from` turns them into a
  :class:`polydiff.inference.Sampler`, checked before any model is loaded.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .checks import UserError, check_device, nonnegative_int, positive_int

__all__ = ["add_model_options", "add_sampler_options", "load_model", "sampler_from"]


def add_model_options(p: argparse.ArgumentParser, what: str = "the model") -> None:
    """``--checkpoint``, ``--no-ema``, ``--device``."""
    g = p.add_argument_group("model")
    g.add_argument("--checkpoint", required=True,
                   help=f"{what}: a Lightning .ckpt file or a `polydiff export` directory")
    g.add_argument("--no-ema", action="store_true",
                   help="use the raw (non-EMA) weights (checkpoints with EMA only)")
    g.add_argument("--device", default="cpu", help="torch device (default cpu)")


def add_sampler_options(p: argparse.ArgumentParser, plan: bool = False) -> None:
    """``--method``, ``--steps``, ``--grid``, ``--seed`` (and ``--plan``). Their defaults are
    :data:`polydiff.samplers.DEFAULT_METHOD`, ``DEFAULT_STEPS`` and
    :data:`polydiff.inference.DEFAULT_GRID`; they read ``None`` until :func:`sampler_from`,
    so that ``--plan`` can refuse them when given."""
    from ..inference.sampler import DEFAULT_GRID
    from ..samplers import DEFAULT_METHOD, DEFAULT_STEPS

    g = p.add_argument_group("sampler")
    g.add_argument("--method", default=None, help=f"sampler (default {DEFAULT_METHOD})")
    g.add_argument("--steps", type=positive_int, default=None,
                   help=f"sampler steps (default {DEFAULT_STEPS})")
    g.add_argument("--grid", default=None, help=f"time grid (default {DEFAULT_GRID})")
    g.add_argument("--seed", type=nonnegative_int, default=0, help="noise seed (default 0)")
    if plan:
        g.add_argument("--plan", default=None,
                       help="a plan JSON from `polydiff calibrate` (instead of --method/--steps/"
                            "--grid)")


def _read_plan(path: str):
    from ..samplers import Plan

    p = Path(path)
    if not p.is_file():
        raise UserError(f"--plan {p}: " + ("is a directory" if p.is_dir() else "does not exist"))
    try:
        return Plan.from_dict(json.loads(p.read_text()))
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as err:
        raise UserError(f"--plan {path} is not a readable plan (written by `polydiff "
                        f"calibrate`): {' '.join(str(err).split())}") from None


def sampler_from(a: argparse.Namespace, resample: tuple[int, int] | None = None):
    """The :class:`~polydiff.inference.Sampler` of ``--plan`` or ``--method/--steps/--grid``
    (one line for an unknown method, or for flags a plan replaces)."""
    from ..inference import Sampler

    plan = getattr(a, "plan", None)
    given = [f"--{k}" for k in ("method", "steps", "grid") if getattr(a, k, None) is not None]
    if plan is not None:
        if given:
            raise UserError(f"--plan {plan} sets the method, steps and grid; drop "
                            f"{', '.join(given)}")
        return Sampler(plan=_read_plan(plan), resample=resample)
    try:
        return Sampler.of(a.method, a.steps, a.grid, resample=resample)
    except ValueError as err:
        raise UserError(f"--method: {err}") from None


def load_model(a: argparse.Namespace, modality: str | None = None, check_grid=None):
    """The model of ``--checkpoint`` on ``--device``, honouring ``--no-ema`` (an error where
    it cannot apply); ``modality``: refuse another modality's model. ``check_grid``: a
    :class:`~polydiff.inference.Sampler` whose grid must suit the model's schedule."""
    from ..inference import load

    device = check_device(a.device)
    src = Path(a.checkpoint)
    if not src.exists():
        raise UserError(f"--checkpoint {src} does not exist")
    try:  # (an export holds one set of weights: --no-ema is checked against it below)
        model = load(src, device=device, ema=not a.no_ema or src.is_dir(), modality=modality)
    except ValueError as err:
        raise UserError(f"--checkpoint: {' '.join(str(err).split())}") from None
    if a.no_ema and src.is_dir() and model.ema:
        raise UserError(f"--no-ema: the export {src} holds its EMA weights only; export the "
                        f"checkpoint again with `polydiff export --no-ema`")
    if a.no_ema and not src.is_dir() and not model.has_ema:
        raise UserError(f"--no-ema: {src} was trained without EMA, so it has only the raw "
                        f"weights; drop --no-ema")
    if check_grid is not None:
        try:
            check_grid.check(model.schedule)
        except ValueError as err:
            raise UserError(f"--grid: {err}") from None
    return model
