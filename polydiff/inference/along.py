"""Windowed inference along one axis of inputs longer than a model's window (audio time,
video frames, sensor series), through a :class:`~polydiff.inference.Model`:

- :func:`fill_along`: the gaps of a long input, each filled inside a window of the model's
  length centred on it. Windows are filled in order, so a window sees what earlier ones
  filled inside it; windows that need none of each other's fills run together in one batch
  (the same result, at the network's batch size);
- :func:`continue_along`: an input continued window by window, each window keeping the
  last ``context`` entries so far as known values (:func:`continuation_windows`).

Every window ``k`` has its own seed (``seeds(k)``): its starting noise and the generator of
stochastic samplers are those of a lone call with that seed, whatever else is batched with
it. Inputs and outputs are in data units, shaped ``(B, C, *axes)``; ``axis`` counts the
axes after the channels (0 = the first).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from ..masks import runs
from .model import Model

__all__ = ["continuation_windows", "continue_along", "fill_along", "gap_windows"]

Seeds = Callable[[int], int]
CondOf = Callable[[int, int], dict[str, Any]]


def gap_windows(todo: Tensor, size: int) -> list[tuple[int, int, int]]:
    """``[(k, start, end), ...]``: a window of ``size`` centred on gap ``k`` (the ``k``-th True
    run of ``todo (N,)``), clamped to ``[0, N)``; a gap inside an earlier window is filled
    with it and gets none. A gap longer than ``size`` is a ``ValueError``."""
    n = todo.shape[0]
    left = todo.clone()
    out = []
    for k, (a, b) in enumerate(runs(todo)):
        if b - a > size:
            raise ValueError(f"gap {a}-{b} ({b - a} entries) is longer than the model's "
                             f"window ({size})")
        if not left[a:b].any():
            continue
        s = max(0, min(max(n - size, 0), (a + b) // 2 - size // 2))
        e = min(n, s + size)
        out.append((k, s, e))
        left[s:e] = False
    return out


def _waves(windows: Sequence[tuple[int, int, int]], todo: Tensor
           ) -> list[list[tuple[int, int, int]]]:
    """The windows grouped into waves that give what filling them one at a time, in order,
    gives: a window goes one wave after every earlier window whose filled entries (its gap
    entries still to fill when it comes) lie inside it, so it sees their fills; windows that
    only share known entries do not wait for each other (:func:`gap_windows` leaves no gap
    entry inside an earlier window, so a later window never changes an earlier one)."""
    left = todo.clone()
    filled = []
    for _, s, e in windows:
        filled.append(left[s:e].clone())
        left[s:e] = False
    wave_of: list[int] = []
    for i, (_, s, e) in enumerate(windows):
        w = 0
        for j in range(i - 1, -1, -1):  # starts and ends never decrease: stop at the first
            _, sj, ej = windows[j]      # earlier window that ends before this one starts
            if ej <= s:
                break
            if filled[j][max(s, sj) - sj:min(e, ej) - sj].any():
                w = max(w, wave_of[j] + 1)
        wave_of.append(w)
    waves: list[list[tuple[int, int, int]]] = [[] for _ in range(max(wave_of, default=-1) + 1)]
    for w, window in zip(wave_of, windows, strict=True):
        waves[w].append(window)
    return waves


def _index(ndim: int, axis: int, sl: slice) -> tuple:
    """An index of a ``(B, C, *axes)`` tensor selecting ``sl`` along spatial axis ``axis``."""
    idx = [slice(None)] * ndim
    idx[axis + 2] = sl
    return tuple(idx)


def _draw_windows(model: Model, wins: Sequence[tuple[int, int, int]], members: int,
                  known: Tensor | None, observed: Tensor | None, shape: tuple[int, ...],
                  seeds: Seeds, cond_of: CondOf | None, kwargs: dict) -> Tensor:
    """Samples ``(W * members, *shape)`` (data units) of the windows ``wins`` batched
    together: window ``k``'s rows draw their noise and sampler noise as a lone call with
    ``seeds(k)`` would."""
    noise = torch.cat([torch.randn((members, *shape),
                                   generator=torch.Generator().manual_seed(seeds(k)))
                       for k, _, _ in wins])
    device = model.device
    gens = [torch.Generator(device=device).manual_seed(seeds(k) + 1) for k, _, _ in wins]
    extra: dict[str, Any] = {}
    if cond_of is not None:
        parts = [cond_of(s, e) for _, s, e in wins]
        for name in parts[0]:
            values = [p[name] for p in parts]
            extra[name] = None if values[0] is None else torch.cat(
                [torch.as_tensor(v).expand(members, *torch.as_tensor(v).shape[1:])
                 if torch.as_tensor(v).shape[0] == 1 else torch.as_tensor(v) for v in values])
    labels = kwargs.pop("class_labels", None)
    if labels is not None:
        labels = torch.as_tensor(labels, dtype=torch.long).reshape(-1)
        labels = labels.expand(members) if labels.numel() == 1 else labels
        labels = labels.repeat(len(wins))
    return model.sample(noise.shape[0], known=known, observed=observed, noise=noise,
                        generator=gens, class_labels=labels, shape=shape, **extra, **kwargs)


def fill_along(model: Model, x: Tensor, observed: Tensor, *, axis: int = 0, members: int = 1,
               seeds: Seeds | None = None, seed: int = 0, cond_of: CondOf | None = None,
               batch_size: int | None = None, **kwargs: Any) -> Tensor:
    """Fill the entries of ``x (C, *axes)`` (data units; a long axis ``axis``) that are not
    ``observed`` (bool, broadcastable to ``x``, True = known): ``(members, C, *axes)``, equal
    to ``x`` where it is known.

    Each gap along ``axis`` (a run of positions where any entry is missing) is filled in a
    window of the model's length centred on it (:func:`gap_windows`; a gap longer than the
    window raises); windows go in order, so a window keeps what earlier ones filled as
    known, and windows that do not need each other's fills share a batch (:func:`_waves`:
    the same result as one window at a time). ``seeds(k)``: the seed of
    gap ``k``'s window (default ``seed + k``); ``cond_of(start, end)``: the window's other
    conditioning (``vector``, ``cond``; 1 or ``members`` rows); ``batch_size``: rows per
    network call (default: as many as fit the memory budget,
    :func:`~polydiff.inference.budget.rows_for`); ``kwargs``: the model's
    :meth:`~Model.sample` options (sampler, guidance, class labels, ...)."""
    seeds = seeds or (lambda k: seed + k)
    size = model.sample_shape[axis + 1]
    hole = ~observed.to(torch.bool).expand_as(x)
    dims = [d for d in range(x.ndim) if d != axis + 1]
    todo = hole.any(dim=dims[0], keepdim=True)
    for d in dims[1:]:
        todo = todo.any(dim=d, keepdim=True)
    todo = todo.flatten()
    out = torch.where(hole, 0.0, x.float()).expand(members, *x.shape).clone()
    shape = tuple(model.sample_shape)
    plan = gap_windows(todo, size)
    if batch_size is None and plan:
        batch_size = _budget_rows(model, shape, members, cond_of, plan[0])
    kwargs["batch_size"] = batch_size or 256
    for wave in _waves(plan, todo):
        known = torch.zeros((len(wave) * members, *shape))
        observed = torch.zeros((len(wave) * members, *shape), dtype=torch.bool)
        for j, (_, s, e) in enumerate(wave):
            rows = slice(j * members, (j + 1) * members)
            here = _index(known.ndim, axis, slice(0, e - s))
            there = _index(known.ndim, axis, slice(s, e))
            known[rows][here] = out[there]
            keep = ~hole[there[1:]] | ~todo[s:e].reshape([-1 if d == axis + 1 else 1
                                                          for d in range(x.ndim)])
            observed[rows][here] = keep
        filled = _draw_windows(model, wave, members, known, observed, shape, seeds, cond_of,
                               dict(kwargs))
        for j, (_, s, e) in enumerate(wave):
            rows = slice(j * members, (j + 1) * members)
            here = _index(known.ndim, axis, slice(0, e - s))
            there = _index(known.ndim, axis, slice(s, e))
            out[there] = torch.where(observed[rows][here], known[rows][here],
                                     filled[rows][here])
        for _, s, e in wave:
            todo[s:e] = False
    return out


def _budget_rows(model: Model, shape: tuple[int, ...], members: int, cond_of: CondOf | None,
                 window: tuple[int, int, int]) -> int:
    """Rows per call within the memory budget, measured on one row of the first window."""
    from .budget import rows_for
    from .draw import posterior_terms

    device = model.device
    cond = {} if cond_of is None else {
        k: torch.as_tensor(v)[:1].to(device) for k, v in cond_of(*window[1:]).items()
        if v is not None}
    known = torch.zeros((1, *shape), device=device)
    observed = torch.ones((1, *shape), dtype=torch.bool, device=device)

    def one_row() -> None:
        with model.evaluating():
            posterior_terms(model.denoiser, model.schedule, known, known, observed,
                            model.conditioner, **cond)

    return rows_for(model.net, one_row, members, device)


def continuation_windows(length: int, size: int, context: int, done: int = 0,
                         first_context: int | None = None, align_end: bool = True
                         ) -> list[tuple[int, int]]:
    """``[(start, end), ...]``: windows of ``size`` that continue an input of ``done``
    entries to ``length``, each keeping the last ``context`` entries so far as known (the
    first one ``first_context``, default ``context``; with nothing done it starts at 0).
    ``align_end``: the last window ends at ``length`` (more context, no entries wasted; a
    window is cut to ``length`` when the whole input is shorter), else windows run past
    ``length`` and the caller cuts the result."""
    if not 1 <= context < size:
        raise ValueError(f"context must lie in 1..{size - 1} (the window has {size} entries), "
                         f"got {context}")
    out = []
    first = True
    while done < length:
        keep = (first_context if first and first_context is not None else context) if done \
            else 0
        s = max(0, done - keep)
        if align_end:
            s = max(0, min(s, length - size))
            e = min(length, s + size)
        else:
            e = s + size
        out.append((s, e))
        done, first = e, False
    return out


def continue_along(model: Model, windows: Sequence[tuple[int, int]], *, size: int,
                   axis: int = 0, prefix: Tensor | None = None, num: int | None = None,
                   seeds: Seeds | None = None, seed: int = 0, cond_of: CondOf | None = None,
                   **kwargs: Any) -> Tensor:
    """An input continued over ``windows`` (:func:`continuation_windows`): ``(B, C, *axes)``
    up to the last window's end, whose first entries are ``prefix (B, C, *axes)`` (data
    units) exactly. Each window is sampled with ``size`` entries along ``axis`` (a window cut
    short at the end is padded); window ``i`` keeps what exists before its end as known
    values and samples the rest with ``seeds(i)`` (default ``seed + i``); a window with
    nothing known is sampled freely. ``B``: ``prefix``'s batch, else ``num``.
    ``cond_of(start, end)``: the window's other conditioning; ``kwargs``: the model's
    :meth:`~Model.sample` options."""
    seeds = seeds or (lambda i: seed + i)
    if not windows:
        raise ValueError("continue_along: no windows to sample")
    total = max(e for _, e in windows)
    if prefix is not None:
        b, done = prefix.shape[0], prefix.shape[axis + 2]
        shape = list(prefix.shape)
    else:
        b, done = int(num or 1), 0
        shape = [b, *model.sample_shape]
    shape[axis + 2] = total
    out = torch.zeros(shape)
    if prefix is not None:
        out[_index(out.ndim, axis, slice(0, done))] = prefix.float()
    win = list(shape[1:])
    win[axis + 1] = size
    for i, (s, e) in enumerate(windows):
        if e - s > size:
            raise ValueError(f"continue_along: window {s}-{e} is longer than {size}")
        known = observed = None
        if done > s:
            known = torch.zeros((b, *win))
            known[_index(known.ndim, axis, slice(0, done - s))] = \
                out[_index(out.ndim, axis, slice(s, done))]
            observed = torch.zeros((b, *win), dtype=torch.bool)
            observed[_index(known.ndim, axis, slice(0, done - s))] = True
        x = _draw_windows(model, [(i, s, e)], b, known, observed, tuple(win), seeds, cond_of,
                          dict(kwargs))
        out[_index(out.ndim, axis, slice(done, e))] = \
            x[_index(x.ndim, axis, slice(done - s, e - s))]
        done = e
    return out
