"""The modality registry: one small, typed description per modality, declared in its own package.

A modality (audio, image, video, science fields, or one of your own) is a folder that declares a
:class:`Modality` and registers itself; the core never names one. Two ways in:

- **bundled**: every package under ``polydiff.modalities`` that defines ``MODALITY`` is found by
  :func:`polydiff.modalities.bundled` (adding a folder is enough);
- **outside projects**: an entry point in the group ``polydiff.modalities`` (see
  :data:`ENTRY_POINT_GROUP`) naming a ``Modality`` object (or a callable returning one), e.g. in
  your ``pyproject.toml``::

      [project.entry-points."polydiff.modalities"]
      spectra = "my_package.spectra:MODALITY"

  or, at run time, :func:`register_modality`.

Callables in a description (demo, writers, readers) may be given as ``"module:attribute"``
strings, resolved on first use, so listing modalities imports none of their heavy dependencies.

Contracts of the callables:

- ``demo(out, minutes, max_steps, seed, steps, method, guidance_scale, progress) -> dict``: trains
  on bundled data and writes files to ``out``; returns the report.
- ``writer(x, path, meta) -> Path``: ``x (B, C, *axes)`` samples in *data units* (the
  normaliser already inverted); ``path`` without suffix; ``meta`` the data module's metadata
  (e.g. ``sample_rate``) plus ``nrow`` (the number of classes, for grids). Returns the path
  written (a file or a folder).
- ``reader(path, mask, sample_shape, meta) -> (known, observed)``: conditioning input from a
  file: ``known (N, C, *axes)`` float in data units (``N = 1`` broadcasts to every sample) and
  ``observed`` bool broadcastable to it (True = known). ``mask`` is an optional second file.
- ``commands``: extra ``polydiff`` sub-commands of the modality (e.g. ``polydiff impute``), each
  a :class:`Command`: ``arguments(parser)`` adds its argparse options, ``run(args) -> int``
  does the work; both are called only when the command is used.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._checks import check_choice

__all__ = [
    "Command",
    "ENTRY_POINT_GROUP",
    "Modality",
    "get_modality",
    "modality_commands",
    "modalities",
    "modality_names",
    "register_modality",
    "resolve",
    "unregister_modality",
]

#: entry-point group through which installed packages add modalities
ENTRY_POINT_GROUP = "polydiff.modalities"

Ref = str | Callable[..., Any]


def resolve(ref: Ref, what: str) -> Callable[..., Any]:
    """A callable from itself or a ``"module:attribute"`` string (``what`` names it in errors)."""
    if callable(ref):
        return ref
    if not isinstance(ref, str) or ref.count(":") != 1:
        raise ValueError(f"{what}: expected a callable or a 'module:attribute' string, got "
                         f"{ref!r}")
    module, _, attr = ref.partition(":")
    try:
        obj = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"{what}: cannot load {ref!r}: {err}") from err
    if not callable(obj):
        raise ValueError(f"{what}: {ref!r} is not callable")
    return obj


@dataclass(frozen=True)
class Command:
    """A ``polydiff NAME`` sub-command contributed by a modality.

    Args:
        help: one line for ``polydiff --help``.
        arguments: ``arguments(parser)`` adds the options to an ``argparse`` parser.
        run: ``run(args) -> exit status``; raise ``ValueError`` (one line to the user) for bad
            input, as every command does.
    """

    help: str
    arguments: Ref
    run: Ref


@dataclass(frozen=True)
class Modality:
    """What a modality contributes.

    Args:
        name: registry name (``polydiff demo NAME``; recorded in checkpoints).
        description: one line for listings, e.g. the tensor layout ``"(B, C, H, W) images"``.
        demo: the ``polydiff demo NAME`` function (see the module docstring), or ``None``.
        configs: ``polydiff fit`` configs: name -> YAML file path.
        writers: how samples become files: name -> writer. The first is the default.
        readers: how conditioning inputs (known values + mask) are read: name -> reader. The
            first is the default.
        data_modules: class paths of its ``LightningDataModule``s (listed in help and errors).
        networks: class paths of its backbones (listed in help and errors, and allowed in
            configs and checkpoints without :func:`polydiff.training.register_net`, also for
            a package outside polydiff).
        conditioners: class paths of its conditioners (:mod:`polydiff.conditioners`), allowed
            like its networks.
        commands: extra ``polydiff`` sub-commands: name -> :class:`Command`.
        data_offset: ``fn(meta, shape) -> Tensor | None``: an additive offset in data units
            (broadcastable to samples of ``shape``) between the normalised model units and
            the data, beyond the per-channel normaliser, from the recorded metadata, or
            ``None`` where none applies (science: a field's background, for whole-grid
            samples of a model trained on anomalies). :func:`polydiff.training.outputs.
            data_units` adds it, ``model_units`` subtracts it.
    """

    name: str
    description: str = ""
    demo: Ref | None = None
    configs: Mapping[str, str | Path] = field(default_factory=dict)
    writers: Mapping[str, Ref] = field(default_factory=dict)
    readers: Mapping[str, Ref] = field(default_factory=dict)
    data_modules: Sequence[str] = ()
    networks: Sequence[str] = ()
    conditioners: Sequence[str] = ()
    commands: Mapping[str, Command] = field(default_factory=dict)
    data_offset: Ref | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(f"Modality.name must be an identifier such as 'audio', got "
                             f"{self.name!r}")
        for kind in ("writers", "readers", "configs", "commands"):
            table = getattr(self, kind)
            if not isinstance(table, Mapping) or not all(isinstance(k, str) for k in table):
                raise ValueError(f"Modality {self.name!r}: {kind} must map names to entries, got "
                                 f"{table!r}")
        if not all(isinstance(c, Command) for c in self.commands.values()):
            raise ValueError(f"Modality {self.name!r}: commands must map names to "
                             f"polydiff.modality.Command objects")

    def writer(self, name: str | None = None) -> Callable[..., Path]:
        """The writer ``name`` (default: the first)."""
        return resolve(self._pick(self.writers, name, "writer"), f"{self.name} writer")

    def reader(self, name: str | None = None) -> Callable[..., Any]:
        """The reader ``name`` (default: the first)."""
        return resolve(self._pick(self.readers, name, "reader"), f"{self.name} reader")

    def offset(self, meta: Mapping[str, Any], shape: Sequence[int]) -> Any:
        """:attr:`data_offset` for samples of ``shape`` (``None`` without one)."""
        if self.data_offset is None:
            return None
        return resolve(self.data_offset, f"{self.name} data_offset")(meta, tuple(shape))

    def config(self, name: str | None = None) -> Path:
        """Path of the fit config ``name`` (default: the first)."""
        return Path(self._pick(self.configs, name, "config"))

    def _pick(self, table: Mapping[str, Any], name: str | None, kind: str) -> Any:
        if not table:
            raise ValueError(f"modality {self.name!r} has no {kind}s")
        if name is None:
            return next(iter(table.values()))
        check_choice(name, table, f"{self.name} {kind}")
        return table[name]


_REGISTRY: dict[str, Modality] = {}
_DISCOVERED = False


def register_modality(modality: Modality, replace: bool = False) -> Modality:
    """Add ``modality`` to the registry; another one of the same name raises unless
    ``replace``."""
    if not isinstance(modality, Modality):
        raise TypeError(f"register_modality expects a polydiff.modality.Modality, got "
                        f"{type(modality).__name__}")
    old = _REGISTRY.get(modality.name)
    if old is not None and old is not modality and not replace:
        raise ValueError(f"a modality named {modality.name!r} is already registered; pass "
                         f"replace=True to replace it")
    _REGISTRY[modality.name] = modality
    return modality


def unregister_modality(name: str) -> None:
    """Remove ``name`` from the registry (e.g. after a test)."""
    _REGISTRY.pop(name, None)


def _load_entry_point(ep: Any) -> Modality | None:
    try:
        obj = ep.load()
        if not isinstance(obj, Modality) and callable(obj):
            obj = obj()
        if not isinstance(obj, Modality):
            raise TypeError(f"it gave a {type(obj).__name__}, not a Modality")
        return obj
    except Exception as err:  # a broken third-party package must not break the CLI
        warnings.warn(f"polydiff: modality entry point {ep.name!r} ({ep.value}) was not "
                      f"loaded: {err}", stacklevel=3)
        return None


def _discover() -> None:
    """Register the bundled modalities, then those of installed packages (once)."""
    global _DISCOVERED
    if _DISCOVERED:
        return
    _DISCOVERED = True
    bundled = importlib.import_module("polydiff.modalities")  # discovery package, not a modality
    for modality in bundled.bundled(strict=False):
        _REGISTRY.setdefault(modality.name, modality)
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in _REGISTRY:
            continue
        modality = _load_entry_point(ep)
        if modality is not None:
            _REGISTRY.setdefault(modality.name, modality)


def modalities() -> dict[str, Modality]:
    """Every registered modality by name (bundled, entry points, :func:`register_modality`)."""
    _discover()
    return dict(sorted(_REGISTRY.items()))


def modality_names() -> list[str]:
    """Sorted names of the registered modalities."""
    return list(modalities())


def get_modality(name: str) -> Modality:
    """The registered modality ``name``; the error lists the registered ones."""
    table = modalities()
    check_choice(name, table, "modality")
    return table[name]


def modality_commands() -> dict[str, tuple[Modality, Command]]:
    """Every registered modality's sub-commands: name -> (modality, command). Two modalities
    claiming one name is an error naming both."""
    found: dict[str, tuple[Modality, Command]] = {}
    for modality in modalities().values():
        for name, command in modality.commands.items():
            if name in found:
                raise ValueError(f"the command {name!r} is claimed by the modalities "
                                 f"{found[name][0].name!r} and {modality.name!r}")
            found[name] = (modality, command)
    return found
