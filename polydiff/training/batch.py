"""The batch dict (:class:`polydiff.typing.Batch`) as :class:`~polydiff.training.DiffusionModule`
reads it."""

from __future__ import annotations

from typing import Any

from torch import Tensor

__all__ = ["BATCH_KEYS", "NETWORK_KEYS", "unpack_batch"]

#: the keys of a :class:`polydiff.typing.Batch`
BATCH_KEYS = ("x", "class_labels", "observed", "cond", "vector", "weight", "meta")
#: the batch keys passed to the network as conditioning
NETWORK_KEYS = ("class_labels", "cond", "vector")


def unpack_batch(batch: Any) -> tuple[Tensor, Tensor | None, Tensor | None, dict[str, Tensor]]:
    """``(x, observed, weight, cond)`` from a :class:`~polydiff.typing.Batch` dict (or a tensor
    / ``(x, labels)`` tuple); ``cond`` holds what the network takes (:data:`NETWORK_KEYS`).
    An unknown key is an error (a misspelt key would otherwise be ignored)."""
    if isinstance(batch, Tensor):
        return batch, None, None, {}
    if isinstance(batch, (tuple, list)):
        if len(batch) == 2:
            return batch[0], None, None, {"class_labels": batch[1]}
        if len(batch) == 1:
            return batch[0], None, None, {}
        raise ValueError(f"a tuple batch must be (x,) or (x, class_labels), got {len(batch)} "
                         f"items")
    if not isinstance(batch, dict) or "x" not in batch:
        raise ValueError(f"a batch must be a dict with key 'x' (and optionally "
                         f"{list(BATCH_KEYS[1:])}), got {type(batch).__name__}"
                         + (f" with keys {sorted(batch)}" if isinstance(batch, dict) else ""))
    unknown = sorted(set(batch) - set(BATCH_KEYS))
    if unknown:
        raise ValueError(f"unknown batch key(s) {unknown}; a batch has {list(BATCH_KEYS)}")
    cond = {k: batch[k] for k in NETWORK_KEYS if batch.get(k) is not None}
    return batch["x"], batch.get("observed"), batch.get("weight"), cond
