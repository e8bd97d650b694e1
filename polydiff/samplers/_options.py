"""The option names of the built-in methods, for refusing a misplaced option: a keyword named
like an option of a method (``eta=``) that reaches another method as conditioning raises
instead of being passed to the denoiser.

:mod:`.registry` fills the table when it has described every method; :class:`._run.Run`
checks against it without importing the methods, so the sampler modules import each other
in one direction only (``_options`` <- ``_run`` <- the methods <- ``registry``).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

__all__ = ["check_conditioning", "register_takers"]

#: option name -> the built-in methods that take it
_TAKERS: Mapping[str, tuple[str, ...]] = MappingProxyType({})


def register_takers(takers: Mapping[str, tuple[str, ...]]) -> None:
    """Set the table (:mod:`.registry` calls it once, at import)."""
    global _TAKERS
    _TAKERS = MappingProxyType(dict(takers))


def check_conditioning(cond: Mapping[str, Any], method: str = "this method") -> None:
    """Raise when a conditioning keyword is named like an option of a built-in method: the
    method at hand does not take it, and a sampler option must never reach the denoiser."""
    misplaced = sorted(cond.keys() & _TAKERS.keys())
    if misplaced:
        k = misplaced[0]
        raise ValueError(f"{method} takes no option {k}= (an option of {list(_TAKERS[k])}), and "
                         f"a sampler option is never passed to the denoiser as conditioning")
