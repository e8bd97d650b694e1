"""How many rows (windows x members) one network call may take: as many as fit a memory
budget, so that windowed tasks run the network at a large batch instead of window by window.

The memory a row needs is measured, not guessed: one evaluation of the denoiser on a single
row with forward hooks on the network's leaf modules sums the bytes of every activation
(:func:`activation_bytes`; an upper bound of what a no-grad forward holds at once). The
budget (:func:`budget_bytes`) is :data:`CPU_BUDGET_MB` on the CPU and a quarter of the free
memory on a CUDA device; ``POLYDIFF_MEMORY_MB`` overrides it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import torch

__all__ = ["CPU_BUDGET_MB", "MAX_ROWS", "activation_bytes", "budget_bytes", "rows_for"]

#: activations per network call on the CPU (MiB): the windowed tasks' throughput at this
#: budget, against the bare network's best, is measured in docs/benchmarks.md
#: (benchmarks/inference_speed.py)
CPU_BUDGET_MB = 256
#: no call takes more rows than this
MAX_ROWS = 4096


def budget_bytes(device: torch.device | str | None = None) -> int:
    """The activation budget of one network call on ``device`` (bytes)."""
    env = os.environ.get("POLYDIFF_MEMORY_MB")
    if env:
        try:
            mb = float(env)
        except ValueError:
            raise ValueError(f"POLYDIFF_MEMORY_MB={env!r}: expected a number of MiB") from None
        if not mb > 0:
            raise ValueError(f"POLYDIFF_MEMORY_MB={env!r}: expected a number of MiB > 0")
        return int(mb * 2**20)
    device = torch.device(device or "cpu")
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free // 4)
    return CPU_BUDGET_MB * 2**20


def activation_bytes(net: torch.nn.Module, run: Callable[[], Any]) -> int:
    """The bytes of every activation the leaf modules of ``net`` produce while ``run()``
    runs (under ``no_grad``)."""
    total = [0]

    def hook(module, inputs, output) -> None:
        for t in output if isinstance(output, (tuple, list)) else (output,):
            if isinstance(t, torch.Tensor):
                total[0] += t.numel() * t.element_size()

    leaves = [m for m in net.modules() if not any(True for _ in m.children())]
    handles = [m.register_forward_hook(hook) for m in leaves]
    try:
        with torch.no_grad():
            run()
    finally:
        for h in handles:
            h.remove()
    return total[0]


def rows_for(net: Any, run_one_row: Callable[[], Any], group: int = 1,
             device: torch.device | str | None = None) -> int:
    """Rows per call: the budget over one row's activations (measured by ``run_one_row``),
    a multiple of ``group`` (the members of one window), at least ``group``, at most
    :data:`MAX_ROWS`. A plain denoiser function (no ``nn.Module``) gets ``group`` rows per
    group up to 256."""
    if not isinstance(net, torch.nn.Module):
        return max(group, 256 // group * group)
    per_row = max(1, activation_bytes(net, run_one_row))
    rows = min(MAX_ROWS, budget_bytes(device) // per_row)
    return max(group, rows // group * group)
