"""Bundled modalities, installed as ``polydiff.modalities``: one sub-package each.

A sub-package becomes a modality by defining ``MODALITY`` (a :class:`polydiff.modality.Modality`)
in its ``__init__.py``; :func:`bundled` finds every one, so adding a modality means adding a
folder. See ``docs/modalities.md``.
"""

from __future__ import annotations

import importlib
import pkgutil

from polydiff.modality import Modality

__all__ = ["bundled"]


def bundled() -> list[Modality]:
    """The ``MODALITY`` of every sub-package of ``polydiff.modalities`` (sorted by folder).

    A sub-package without ``MODALITY`` raises: a folder here is a modality."""
    found = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if not info.ispkg or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        modality = getattr(module, "MODALITY", None)
        if not isinstance(modality, Modality):
            raise TypeError(f"{module.__name__} defines no MODALITY (a polydiff.modality."
                            f"Modality); every folder in polydiff/modalities is a modality")
        found.append(modality)
    return found
