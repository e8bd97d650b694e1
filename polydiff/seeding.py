"""Seeds derived from keys: one 63-bit integer per key tuple, stable across runs, processes and
machines (blake2b, not Python's salted ``hash``).

- :func:`mix`: a seed from integer keys, e.g. ``mix(seed, epoch, batch)``.
- :func:`text_seed`: a seed from a text, e.g. ``text_seed(f"shuffle/{seed}/{epoch}")``.

Both are in ``[0, 2**63)``, so ``torch.Generator().manual_seed`` takes them as they are.
"""

from __future__ import annotations

import hashlib
import operator

__all__ = ["mix", "text_seed"]


def text_seed(text: str) -> int:
    """A 63-bit seed from ``text``: the first 8 bytes of its blake2b digest (UTF-8), read
    little-endian, shifted right by one bit."""
    if not isinstance(text, str):
        raise ValueError(f"text_seed: text must be a str, got {type(text).__name__} {text!r}")
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def mix(*keys: int) -> int:
    """A 63-bit seed mixing integer ``keys`` (order matters; no keys is allowed):
    ``text_seed(repr(tuple(int(k) for k in keys)))``. Integer-like keys (``bool``, numpy
    integers) count as the ``int`` they equal; anything else raises ``ValueError``."""
    ints = []
    for i, k in enumerate(keys):
        try:
            ints.append(int(operator.index(k)))
        except TypeError:
            raise ValueError(f"mix: keys must be integers, got {k!r} ({type(k).__name__}) at "
                             f"position {i}") from None
    return text_seed(repr(tuple(ints)))
