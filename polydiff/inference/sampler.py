"""``Sampler``: which sampling method, how many steps, which grid (or a calibrated plan), and
RePaint resampling: the settings every task and command shares, with the defaults written
once (:data:`polydiff.samplers.DEFAULT_METHOD`, :data:`polydiff.samplers.DEFAULT_STEPS`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import Tensor

from .. import samplers
from ..samplers import DEFAULT_METHOD, DEFAULT_STEPS, Plan
from ..schedules import Schedule

__all__ = ["DEFAULT_GRID", "Sampler"]

#: the time grid unless told otherwise
DEFAULT_GRID = "log_snr"


@dataclass(frozen=True)
class Sampler:
    """Sampler settings.

    Args:
        method: a name of :func:`polydiff.samplers.methods` (or a method function).
        steps: grid intervals (>= 1).
        grid: a grid name of :mod:`polydiff.samplers.grids`.
        plan: a calibrated :class:`~polydiff.samplers.Plan` (``polydiff calibrate``); it sets
            the method, steps and grid itself.
        resample: ``(jump, repeats)``: RePaint resampling (known values only).
        options: options of the method (``eta``, ``order``, ...).

    Every field is checked when the settings are made, so a bad method name fails before any
    model is loaded.
    """

    method: Any = DEFAULT_METHOD
    steps: int = DEFAULT_STEPS
    grid: str = DEFAULT_GRID
    plan: Plan | None = None
    resample: tuple[int, int] | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        samplers.info(self.method)  # the method's name, with the valid ones when unknown
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1:
            raise ValueError(f"steps must be a whole number >= 1, got {self.steps!r}")
        if self.resample is not None:
            jump, repeats = self.resample
            if jump < 1 or repeats < 1:
                raise ValueError(f"resample must be (jump >= 1, repeats >= 1), got "
                                 f"{tuple(self.resample)}")
            object.__setattr__(self, "resample", (int(jump), int(repeats)))
        if self.plan is not None and not isinstance(self.plan, Plan):
            raise ValueError(f"plan must be a polydiff.samplers.Plan, got "
                             f"{type(self.plan).__name__}")

    @classmethod
    def of(cls, method: Any = None, steps: int | None = None, grid: str | None = None,
           plan: Plan | None = None, resample: tuple[int, int] | None = None,
           **options: Any) -> Sampler:
        """Settings from optional values (``None``: the default)."""
        return cls(method=DEFAULT_METHOD if method is None else method,
                   steps=DEFAULT_STEPS if steps is None else steps,
                   grid=DEFAULT_GRID if grid is None else grid, plan=plan,
                   resample=None if resample is None else tuple(resample),
                   options=dict(options))

    def check(self, schedule: Schedule) -> None:
        """The grid can be made for ``schedule`` (else a ``ValueError`` naming it)."""
        if self.plan is None:
            from ..samplers.grids import make_grid

            make_grid(schedule, self.steps, self.grid)

    def describe(self) -> str:
        """One line for reports: ``"dpmpp_2m, 20 steps"``."""
        if self.plan is not None:
            return f"calibrated plan: {self.plan.method}, {self.plan.steps} steps"
        name = getattr(self.method, "__name__", self.method)
        return f"{name}, {self.steps} steps"

    def __call__(self, denoiser, noise: Tensor, schedule: Schedule, **kwargs: Any) -> Tensor:
        """Run it: ``noise (B, ...)`` at the grid's first time to samples (see
        :func:`polydiff.samplers.sample`; ``kwargs``: ``generator``, ``progress``, ``info``,
        ``callback`` and the denoiser's conditioning)."""
        extra = {} if self.resample is None else {"resample": self.resample}
        if self.plan is not None:
            return self.plan.sample(denoiser, noise, schedule, **extra, **self.options,
                                    **kwargs)
        return samplers.sample(denoiser, noise, schedule, steps=self.steps, method=self.method,
                               grid=self.grid, **extra, **self.options, **kwargs)
