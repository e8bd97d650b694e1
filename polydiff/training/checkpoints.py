"""Reading checkpoints safely: tensors and primitives only, and a clear sentence for any file
that is not a polydiff checkpoint.

Every read is ``torch.load(weights_only=True)``: a file with pickled code in it is refused, and
nothing in it runs. Errors are :class:`CheckpointError` (a ``ValueError``) naming the file and
what it is not: empty, truncated, not a torch file, pickled objects other than tensors, or a
torch file without a :class:`~polydiff.training.DiffusionModule`'s hyper-parameters.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch

__all__ = ["CheckpointError", "latest_checkpoint", "load_checkpoint", "load_weights",
           "read_checkpoint", "read_torch_file"]

_ZIP_MAGIC = b"PK\x03\x04"


class CheckpointError(ValueError):
    """A file that cannot be used as a polydiff checkpoint or export (the message says why)."""


def read_torch_file(path: str | Path, what: str = "checkpoint") -> Any:
    """``torch.load(path, map_location="cpu", weights_only=True)``; failures become one
    :class:`CheckpointError` sentence naming the file."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{what} {path} does not exist")
    if path.is_dir():
        raise CheckpointError(f"{what} {path} is a directory, not a checkpoint file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{what} {path} is an empty file")
    with path.open("rb") as f:
        head = f.read(4)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "GLOBAL" in str(err):  # the file names a class or function to import
            raise CheckpointError(
                f"{what} {path} holds pickled objects other than tensors and plain values "
                f"(code or foreign classes); it was refused unread, since polydiff never "
                f"unpickles code") from None
        raise CheckpointError(f"{what} {path} is not a torch file (its contents do not "
                              f"unpickle)") from None
    except Exception as err:  # zip/pickle internals raise anything from EOFError to KeyError
        if head == _ZIP_MAGIC:
            raise CheckpointError(f"{what} {path} is truncated or damaged (its zip archive "
                                  f"cannot be read)") from None
        raise CheckpointError(f"{what} {path} is not a torch file ({type(err).__name__} "
                              f"while reading it)") from None


def load_weights(module: torch.nn.Module, weights: dict[str, Any], where: str) -> None:
    """``module.load_state_dict(weights)``; a mismatch is one :class:`CheckpointError`
    sentence: ``where`` (e.g. "m.ckpt: its weights do not fit the network it describes")
    and the first reason."""
    try:
        module.load_state_dict(weights)
    except RuntimeError as err:
        first = str(err).splitlines()[1:2] or [str(err)]
        raise CheckpointError(f"{where} ({first[0].strip()})") from None


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint dict of a polydiff Lightning checkpoint (validated, on the CPU)."""
    ckpt = read_torch_file(path)
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"checkpoint {path} holds a {type(ckpt).__name__}, not a Lightning "
                              f"checkpoint dict")
    hparams = ckpt.get("hyper_parameters")
    if not isinstance(hparams, dict) or "prediction" not in hparams or "net" not in hparams:
        raise CheckpointError(f"{path} is not a polydiff checkpoint: no DiffusionModule "
                              f"hyper-parameters (keys found: {sorted(ckpt)[:8]})")
    if not isinstance(ckpt.get("state_dict"), dict):
        raise CheckpointError(f"{path} is not a polydiff checkpoint: no state_dict")
    return ckpt


def load_checkpoint(path: str | Path, map_location: torch.device | str = "cpu", **overrides):
    """A :class:`~polydiff.training.DiffusionModule` from a Lightning checkpoint read with
    ``weights_only=True``; ``overrides`` replace stored hyper-parameters (e.g. ``net=`` for a
    module that was built from a bare network)."""
    from .module import DiffusionModule

    ckpt = read_checkpoint(path)
    hparams = {**ckpt["hyper_parameters"], **overrides}
    try:
        module = DiffusionModule(**hparams)
    except TypeError as err:
        raise CheckpointError(f"{path}: its hyper-parameters do not fit this polydiff version's "
                              f"DiffusionModule ({err})") from None
    module.on_load_checkpoint(ckpt)
    load_weights(module, ckpt["state_dict"], f"{path}: its weights do not fit the network it "
                                             f"describes")
    return module.to(map_location)


def latest_checkpoint(directory: str | Path) -> Path | None:
    """The most recently written readable ``*.ckpt`` under ``directory`` (``None`` if none is):
    after a crash, the last good checkpoint to resume from (``--ckpt_path``)."""
    files = sorted(Path(directory).rglob("*.ckpt"), key=lambda p: p.stat().st_mtime,
                   reverse=True)
    for path in files:
        try:
            read_checkpoint(path)
        except CheckpointError:
            continue
        return path
    return None
