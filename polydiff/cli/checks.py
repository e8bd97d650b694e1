"""Checks every command runs before it starts work: argument values, devices and output paths.

Each failure is a :class:`UserError` whose message is one sentence naming the argument, what
was found and what was expected; :func:`polydiff.cli.main` prints it as one line (exit 2).
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

__all__ = ["UserError", "check_device", "check_out_dir", "check_out_file", "finite_float",
           "nonnegative_int", "positive_float", "positive_int"]


class UserError(ValueError):
    """Bad input to a command: printed as one line, exit status 2."""


# -- argparse types (argparse reports their ValueError/ArgumentTypeError with the flag) --------
def _int_at_least(text: str, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= {low}, got "
                                         f"{text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"expected a whole number >= {low}, got {value}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1."""
    return _int_at_least(text, 1)


def nonnegative_int(text: str) -> int:
    """An integer >= 0."""
    return _int_at_least(text, 0)


def finite_float(text: str) -> float:
    """A finite number (no NaN/Inf)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0."""
    value = finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


# -- devices and paths ----------------------------------------------------------------------
def check_device(name: str, flag: str = "--device"):
    """``torch.device(name)`` after checking that this machine has it."""
    import torch

    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise UserError(f"{flag} {name!r} is not a torch device; expected e.g. 'cpu', 'cuda', "
                        f"'cuda:1' or 'mps'") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError(f"{flag} {name}: CUDA is not available on this machine; use "
                            f"{flag} cpu")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise UserError(f"{flag} {name}: this machine has {count} CUDA device(s) "
                            f"(cuda:0..cuda:{count - 1})")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise UserError(f"{flag} {name}: MPS is not available on this machine; use {flag} cpu")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise UserError(f"{flag} {name}: unsupported device type {device.type!r}; expected "
                        f"cpu, cuda or mps")
    return device


def _creatable(path: Path, flag: str) -> None:
    """``path`` does not exist: its first existing ancestor must be a writable directory."""
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise UserError(f"{flag} {path}: cannot be created because {parent} is a file")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"{flag} {path}: cannot be created: {parent} is not writable")


def check_out_dir(path: str | Path, overwrite: bool, flag: str = "--out") -> Path:
    """An output directory that exists empty, can be created, or may be overwritten."""
    path = Path(path)
    if path.exists():
        if not path.is_dir():
            raise UserError(f"{flag} {path} is a file; expected a directory (new or empty)")
        if any(path.iterdir()) and not overwrite:
            raise UserError(f"{flag} {path} is not empty (it holds earlier results); choose a "
                            f"new directory or pass --overwrite")
        if not os.access(path, os.W_OK | os.X_OK):
            raise UserError(f"{flag} {path} is not writable")
    else:
        _creatable(path, flag)
    return path


def check_out_file(path: str | Path, overwrite: bool, flag: str = "--out") -> Path:
    """An output file that does not exist (or may be overwritten) in a creatable folder."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{flag} {path} is a directory; expected a file name such as "
                        f"{path / 'plan.json'}")
    if path.exists():
        if not overwrite:
            raise UserError(f"{flag} {path} already exists; choose a new name or pass "
                            f"--overwrite")
        if not os.access(path, os.W_OK):
            raise UserError(f"{flag} {path} is not writable")
    else:
        _creatable(path, flag)
    return path
