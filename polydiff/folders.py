"""Finding data files in a folder: class sub-folders or flat files, with one set of errors.

:func:`scan_class_folders` reads a ``root`` laid out as either

- class sub-folders: each immediate sub-folder holding at least one file with one of the
  ``extensions`` (searched recursively) is a class; sorted names get labels 0, 1, ...; or
- flat files: the matching files directly in ``root``, unlabelled;

or, with ``by_class=False``, every matching file under ``root`` (recursively, unlabelled).
Files with other extensions and sub-folders without a matching file are not used; they are
listed in :attr:`FolderScan.skipped` with the reason, never dropped silently. Extensions match
case-insensitively. Files come back sorted (by path, within each class).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["FolderScan", "MissingFolderError", "scan_class_folders"]


class MissingFolderError(FileNotFoundError, ValueError):
    """The data folder does not exist (both a ``FileNotFoundError`` and a ``ValueError``)."""


@dataclass
class FolderScan:
    """What :func:`scan_class_folders` found under ``root``.

    ``files``: the data files; ``labels``: one class index per file, or ``None`` (flat
    layout); ``classes``: the class names (sub-folder names, ``[]`` when unlabelled);
    ``skipped``: ``(path, reason)`` for every file and sub-folder that was not used."""

    root: Path
    files: list[Path] = field(default_factory=list)
    labels: list[int] | None = None
    classes: list[str] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)


def _extensions(extensions: Sequence[str]) -> list[str]:
    """The lower-cased, sorted extensions; a clear error for anything else."""
    if isinstance(extensions, str) or not extensions:
        raise ValueError(f"extensions must be a non-empty sequence of suffixes such as "
                         f"('.png', '.jpg'), got {extensions!r}")
    bad = [e for e in extensions if not (isinstance(e, str) and e.startswith(".") and len(e) > 1)]
    if bad:
        raise ValueError(f"extensions must be suffixes starting with '.' such as '.png', got "
                         f"{bad!r} in {list(extensions)!r}")
    return sorted({e.lower() for e in extensions})


def _files(folder: Path, recursive: bool) -> list[Path]:
    it = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in it if p.is_file())


def _summary(others: list[Path], empty: list[Path], what: str) -> str:
    """What a folder without matching files holds instead."""
    parts = []
    if others:
        kinds = Counter(p.suffix.lower() or "no extension" for p in others)
        shown = ", ".join(f"{k!r}: {n}" if k != "no extension" else f"{k}: {n}"
                          for k, n in sorted(kinds.items()))
        parts.append(f"{len(others)} file(s) with other extensions ({shown})")
    if empty:
        names = ", ".join(d.name for d in empty)
        parts.append(f"{len(empty)} sub-folder(s) without {what} files ({names})")
    return " and ".join(parts) if parts else "nothing (the folder is empty)"


def scan_class_folders(root: str | Path, extensions: Sequence[str], what: str = "data",
                       by_class: bool = True) -> FolderScan:
    """The files with ``extensions`` under ``root``, with class labels from sub-folders.

    Args:
        root: the folder.
        extensions: file suffixes to use, e.g. ``(".png", ".jpg")`` (case-insensitive).
        what: the kind of file, for messages (``"image"``, ``"audio"``, ...).
        by_class: ``True``: class sub-folders or flat files (see the module docstring);
            ``False``: every matching file under ``root``, recursively, unlabelled.

    Raises :class:`MissingFolderError` (a ``ValueError`` and a ``FileNotFoundError``) when
    ``root`` does not exist, and ``ValueError`` when it is a file, holds no matching file
    (the message says what it holds instead), or has matching files both directly in it and
    in class sub-folders.
    """
    root = Path(root)
    exts = _extensions(extensions)
    layout = (f"a folder of {what} files or of class sub-folders holding them" if by_class
              else f"a folder holding {what} files (searched recursively)")
    if not root.exists():
        raise MissingFolderError(f"root {root} does not exist; expected {layout}")
    if not root.is_dir():
        raise ValueError(f"root {root} is a file; expected {layout}")

    def matches(p: Path) -> bool:
        return p.suffix.lower() in exts

    def other(p: Path) -> tuple[Path, str]:
        found = f"extension {p.suffix!r}" if p.suffix else "no extension"
        return p, f"{found}, not one of the {what} extensions {exts}"

    scan = FolderScan(root)
    if not by_class:
        every = _files(root, recursive=True)
        scan.files = [p for p in every if matches(p)]
        scan.skipped = [other(p) for p in every if not matches(p)]
        if not scan.files:
            raise ValueError(f"root {root} holds no {what} files with extensions {exts}; found "
                             f"{_summary([p for p, _ in scan.skipped], [], what)}")
        return scan

    entries = sorted(root.iterdir())
    top = [p for p in entries if p.is_file()]
    inside = {d: _files(d, recursive=True) for d in entries if d.is_dir()}
    classes = [d for d, files in inside.items() if any(matches(p) for p in files)]
    empty = [d for d in inside if d not in classes]
    loose = [p for p in top if matches(p)]
    if classes and loose:
        raise ValueError(f"root {root} has {what} files directly in it (e.g. {loose[0].name}) "
                         f"and class sub-folders {[d.name for d in classes]}; expected every "
                         f"{what} file in a class sub-folder, or none in sub-folders")
    if not classes and not loose:
        others = top + [p for files in inside.values() for p in files]
        raise ValueError(f"root {root} holds no {what} files with extensions {exts}; found "
                         f"{_summary(others, empty, what)}")
    scan.skipped = [other(p) for p in top if not matches(p)]
    scan.skipped += [(d, f"sub-folder without {what} files (extensions {exts}); not used"
                         + (" as a class" if classes else "")) for d in empty]
    if classes:
        scan.labels = []
        for k, d in enumerate(classes):
            files = [p for p in inside[d] if matches(p)]
            scan.files += files
            scan.labels += [k] * len(files)
            scan.skipped += [other(p) for p in inside[d] if not matches(p)]
        scan.classes = [d.name for d in classes]
    else:
        scan.files = loose
    scan.skipped.sort(key=lambda entry: entry[0])
    return scan
