"""Bundled modalities, installed as ``polydiff.modalities``: one sub-package each.

A sub-package becomes a modality by defining ``MODALITY`` (a :class:`polydiff.modality.Modality`)
in its ``__init__.py``; :func:`bundled` finds every one, so adding a modality means adding a
folder. See ``docs/modalities.md``.
"""

from __future__ import annotations

import importlib
import pkgutil
import warnings

from polydiff.plugin import Modality

__all__ = ["bundled"]


def bundled(strict: bool = True) -> list[Modality]:
    """The ``MODALITY`` of every sub-package of ``polydiff.modalities`` (sorted by folder).

    A sub-package that fails to import or defines no ``MODALITY`` raises (``strict``), or is
    skipped with a warning naming it (the registry's choice, so one broken folder does not take
    the others down; the packaging test imports every one)."""
    found = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if not info.ispkg or info.name.startswith("_"):
            continue
        name = f"{__name__}.{info.name}"
        try:
            module = importlib.import_module(name)
            modality = getattr(module, "MODALITY", None)
            if not isinstance(modality, Modality):
                raise TypeError(f"{name} defines no MODALITY (a polydiff.modality.Modality); "
                                f"every folder in polydiff/modalities is a modality")
        except Exception as err:
            if strict:
                raise
            warnings.warn(f"polydiff: bundled modality {name} was not loaded: {err}",
                          stacklevel=2)
            continue
        found.append(modality)
    return found
