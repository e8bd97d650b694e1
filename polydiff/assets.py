"""``"bundled:NAME"`` paths: data files shipped with a package, named the same from any
working directory (configs say ``root: bundled:speech`` or ``path: bundled:coads_2deg.nc``).

:func:`resolve_bundled` turns such a text into ``assets_dir / NAME`` and leaves every other path
as it is; an unknown name is one ``ValueError`` listing the bundled entries.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["PREFIX", "bundled_entries", "resolve_bundled"]

#: what marks a bundled path
PREFIX = "bundled:"


def bundled_entries(assets_dir: str | Path, folders: bool = False,
                    suffix: str | None = None) -> list[str]:
    """Sorted names of the entries of ``assets_dir`` that :func:`resolve_bundled` accepts at
    its top level: sub-folders (``folders=True``) or files (ending in ``suffix`` when given)."""
    assets = Path(assets_dir)
    if not assets.is_dir():
        return []
    return sorted(p.name for p in assets.iterdir()
                  if (p.is_dir() if folders else p.is_file() and _has_suffix(p, suffix)))


def _has_suffix(path: Path, suffix: str | None) -> bool:
    return suffix is None or path.suffix.lower() == suffix.lower()


def resolve_bundled(path: str | Path, assets_dir: str | Path, kind: str, *,
                    folders: bool = False, suffix: str | None = None) -> Path:
    """``path`` as a :class:`~pathlib.Path`; ``"bundled:NAME"`` is ``assets_dir / NAME``.

    Args:
        path: a path, or ``"bundled:NAME"`` (leading and trailing ``/`` of ``NAME`` ignored;
            ``NAME`` may name an entry below the top level, e.g. ``drums/kick``).
        assets_dir: the folder of bundled entries.
        kind: what an entry is, for the message (``"clip set"``, ``"field"``).
        folders: entries are folders (else files).
        suffix: files must end in it (e.g. ``".nc"``); ignored with ``folders``.

    Raises ``ValueError`` ("no bundled field 'x.nc'; bundled: ['bundled:coads_2deg.nc', ...]")
    when ``NAME`` is empty, leaves ``assets_dir``, or is not such an entry.
    """
    text = str(path)
    if not text.startswith(PREFIX):
        return Path(path)
    name = text[len(PREFIX):].strip("/")
    assets = Path(assets_dir)
    found = assets / name
    inside = bool(name) and found.resolve().is_relative_to(assets.resolve())
    if not (inside and (found.is_dir() if folders else found.is_file()
                        and _has_suffix(found, suffix))):
        have = [PREFIX + n for n in bundled_entries(assets, folders, suffix)]
        raise ValueError(f"no bundled {kind} {name!r}; bundled: {have}")
    return found
