"""Buffers fitted on the training data (statistics, not weights), saved with the weights.

:class:`FittedBuffers` is a mixin for modules that keep statistics of their training data as
registered buffers (a conditioner's, a network's first-guess tables): their shape comes from
the data, so a module built before it has seen any data takes the shape stored in a
checkpoint when it loads. They travel in the state dict (checkpoint, the export's
safetensors), not in the JSON description.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["FittedBuffers"]


class FittedBuffers:
    """Registered buffers whose shape comes from the data (see the module docstring)."""

    def register_fitted(self, name: str, value: Tensor | None) -> None:
        """Register (or replace) the fitted buffer ``name`` (``None``: not fitted yet)."""
        self.register_buffer(name, None if value is None else torch.as_tensor(value))
        fitted = set(getattr(self, "_fitted_names", ()))
        fitted.add(name)
        self._fitted_names = tuple(sorted(fitted))

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs) -> None:
        for name in getattr(self, "_fitted_names", ()):  # shapes come from the data
            key = prefix + name
            if key in state_dict:
                self._buffers[name] = torch.empty_like(state_dict[key])
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)
