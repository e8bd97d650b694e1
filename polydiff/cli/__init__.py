"""The ``polydiff`` command line.

    polydiff fit --config cfg.yaml           # LightningCLI (also: validate); --overwrite
    polydiff sample --checkpoint C --num N --out DIR [--method --steps --seed --guidance-scale]
                    [--plan plan.json] [--known FILE [--mask FILE] [--resample J R]]
    polydiff calibrate --checkpoint C --out plan.json [--steps 4 --method dpm_3m --num 1024]
    polydiff export --checkpoint C --out DIR  # weights-only files + config.json
    polydiff demo [MODALITY] [--minutes M] [--out DIR]   # no MODALITY: list the registered

Conventions of every command:

- **check first**: all inputs and outputs (files, directories, device, values) are checked
  before any training, sampling or calibration starts;
- **never overwrite**: results go to a new or empty directory (or a new file) unless
  ``--overwrite`` is given; ``polydiff fit --ckpt_path`` resumes a run in place;
- **one line per user error** on stderr naming the argument, what was found and what was
  expected, exit status 2; ``--debug`` (or ``POLYDIFF_DEBUG=1``) shows the traceback. Bugs
  (unexpected exceptions) always show one;
- **weights only**: checkpoints and exports are read with ``torch.load(weights_only=True)`` or
  safetensors; a file with code in it is refused unread.

``fit``/``validate`` hand their arguments to Lightning's ``LightningCLI`` (see
:mod:`polydiff.cli.lightning`). Modalities come from the registry (:mod:`polydiff.modality`);
this package names none.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .checks import UserError
from .lightning import check_config, known_data, run_lightning
from .parser import LIGHTNING_COMMANDS, build_parser

__all__ = ["LIGHTNING_COMMANDS", "UserError", "check_config", "is_user_error", "known_data",
           "main"]


def is_user_error(err: BaseException) -> bool:
    """Whether ``err`` is bad input (printed as one line) rather than a bug (a traceback):
    ``ValueError`` (polydiff's convention for bad arguments, files and configs), ``OSError``
    (paths, permissions, disk), parse errors, non-finite training and Lightning's
    misconfiguration errors."""
    from lightning.fabric.utilities.exceptions import MisconfigurationException

    from ..training import NonFiniteLossError

    return isinstance(err, (ValueError, OSError, argparse.ArgumentError, NonFiniteLossError,
                            MisconfigurationException))


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return text or type(err).__name__


def _dispatch(argv: list[str]) -> int:
    from ..modality import modality_commands, resolve
    from .commands import cmd_calibrate, cmd_demo, cmd_export, cmd_sample

    if argv and argv[0] in LIGHTNING_COMMANDS:
        run_lightning(argv)
        return 0
    extra = modality_commands()
    parser = build_parser(extra, selected=argv[0] if argv else None)
    a = parser.parse_args(argv)
    if a.command is None:
        parser.print_help()
        return 2
    if a.command in extra:
        modality, command = extra[a.command]
        return int(resolve(command.run, f"{modality.name} command {a.command}")(a) or 0)
    return {"sample": cmd_sample, "calibrate": cmd_calibrate, "export": cmd_export,
            "demo": cmd_demo}[a.command](a)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``polydiff`` console script; returns the exit status (2 for a user
    error, printed as one line on stderr)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or os.environ.get("POLYDIFF_DEBUG", "0") not in ("", "0")
    argv = [a for a in argv if a != "--debug"]
    command = argv[0] if argv and not argv[0].startswith("-") else ""
    try:
        return _dispatch(argv)
    except Exception as err:
        if debug or not is_user_error(err):
            raise
        print(f"polydiff {command}: {_one_line(err)}".replace("  ", " "), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
