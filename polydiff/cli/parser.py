"""The argument parser of ``polydiff sample | calibrate | export | demo``; its errors are one
line (:class:`~polydiff.cli.checks.UserError`), not argparse's usage block."""

from __future__ import annotations

import argparse

from ..samplers import DEFAULT_METHOD, DEFAULT_STEPS
from .checks import UserError, finite_float, nonnegative_int, positive_float, positive_int
from .options import add_model_options, add_sampler_options

__all__ = ["LIGHTNING_COMMANDS", "build_parser"]

LIGHTNING_COMMANDS = ("fit", "validate")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse calls this for bad arguments
        raise UserError(f"{message} (polydiff {self.prog.split()[-1]} --help lists the options)")


def build_parser(extra: dict | None = None, selected: str | None = None
                 ) -> argparse.ArgumentParser:
    """The parser; ``extra`` holds the modalities' commands (name -> (modality, Command)),
    whose options are added only for the ``selected`` command (importing nothing else)."""
    p = _Parser(prog="polydiff", description="Diffusion models across modalities.",
                epilog="polydiff fit --help / polydiff validate --help: the LightningCLI "
                       "options. --debug (or POLYDIFF_DEBUG=1) shows tracebacks of errors.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for cmd in LIGHTNING_COMMANDS:
        sub.add_parser(cmd, help=f"LightningCLI {cmd} (--config FILE; `polydiff demo` lists "
                                 f"the shipped configs; --overwrite replaces earlier results)",
                       add_help=False)

    s = sub.add_parser("sample", help="draw samples from a checkpoint or an export directory")
    add_model_options(s, "the model to sample")
    add_sampler_options(s, plan=True)
    s.add_argument("--num", type=positive_int, default=16, help="number of samples (default 16)")
    s.add_argument("--out", required=True, help="output directory (new or empty)")
    s.add_argument("--overwrite", action="store_true",
                   help="write into a non-empty --out, replacing earlier samples")
    s.add_argument("--guidance-scale", type=finite_float, default=1.0,
                   help="classifier-free guidance scale (class-conditional models; default 1)")
    s.add_argument("--class-label", type=int, action="append", default=None,
                   help="class label(s), repeated or cycled to --num (default: 0, 1, ... "
                        "cycling over the classes of a class-conditional model)")
    s.add_argument("--batch-size", type=positive_int, default=256, help="samples per batch")
    s.add_argument("--writer", default="auto",
                   help="auto (the writer recorded with the model's modality) | tensor (.pt) | "
                        "another writer of the model's modality")
    s.add_argument("--known", default=None,
                   help="a file of known values to keep (inpainting / imputation / "
                        "continuation), read by the modality's reader")
    s.add_argument("--mask", default=None,
                   help="with --known: a file marking what is known (see the reader)")
    s.add_argument("--reader", default="auto",
                   help="auto (the modality's first reader) | tensor (.pt/.npy, NaN = missing) "
                        "| another reader of the model's modality")
    s.add_argument("--resample", type=positive_int, nargs=2, default=None,
                   metavar=("JUMP", "REPEATS"),
                   help="with --known: RePaint resampling, JUMP intervals run REPEATS times")

    c = sub.add_parser("calibrate", help="learn a sampling plan for few steps (JSON)")
    add_model_options(c, "the model to calibrate for")
    c.add_argument("--out", required=True, help="output JSON file (must not exist)")
    c.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    c.add_argument("--steps", type=positive_int, default=4,
                   help="sampler steps (default 4: 5 NFE)")
    c.add_argument("--method", default="dpm_3m", help="dpm_2m | dpm_3m | dpmpp_3m")
    c.add_argument("--num", type=positive_int, default=1024,
                   help="calibration draws (default 1024)")
    c.add_argument("--iters", type=positive_int, default=300, help="Adam iterations (default 300)")
    c.add_argument("--batch-size", type=positive_int, default=None, help="draws per iteration")
    c.add_argument("--teacher-steps", type=positive_int, default=200,
                   help="reference solver steps")
    c.add_argument("--seed", type=nonnegative_int, default=12345,
                   help="calibration noise seed; keep it apart from sampling seeds")
    c.add_argument("--guidance-scale", type=finite_float, default=1.0,
                   help="CFG scale to calibrate for (class-conditional models)")

    e = sub.add_parser("export", help="write weights-only files + config.json from a checkpoint")
    e.add_argument("--checkpoint", required=True, help="a Lightning .ckpt file")
    e.add_argument("--out", required=True, help="output directory (new or empty)")
    e.add_argument("--overwrite", action="store_true", help="write into a non-empty --out")
    e.add_argument("--no-ema", action="store_true", help="export the raw (non-EMA) weights")

    d = sub.add_parser("demo", help="train a small model on bundled data and write samples; "
                                    "without MODALITY, list the registered modalities")
    d.add_argument("modality", nargs="?", default=None,
                   help="a registered modality (run `polydiff demo` to list them)")
    d.add_argument("--minutes", type=positive_float, default=2.0,
                   help="training time (default 2)")
    d.add_argument("--max-steps", type=positive_int, default=None,
                   help="stop after this many steps")
    d.add_argument("--out", default=None,
                   help="output directory, new or empty (default polydiff-demo-MODALITY)")
    d.add_argument("--overwrite", action="store_true",
                   help="write into a non-empty --out, replacing an earlier demo's files")
    d.add_argument("--seed", type=nonnegative_int, default=0)
    d.add_argument("--steps", type=positive_int, default=DEFAULT_STEPS,
                   help=f"sampler steps (default {DEFAULT_STEPS})")
    d.add_argument("--method", default=DEFAULT_METHOD, help=f"sampler (default {DEFAULT_METHOD})")
    d.add_argument("--guidance-scale", type=finite_float, default=2.0,
                   help="CFG scale (default 2)")
    d.add_argument("--no-progress", action="store_true", help="hide progress bars")

    from ..modality import resolve

    for name, (modality, command) in (extra or {}).items():
        cp = sub.add_parser(name, help=f"{command.help} [{modality.name}]")
        if name == selected:
            resolve(command.arguments, f"{modality.name} command {name}")(cp)
    return p
