"""The ``polydiff`` command line.

    polydiff fit --config cfg.yaml           # LightningCLI (also: validate)
    polydiff sample --checkpoint C --num N --out DIR [--method --steps --seed --guidance-scale]
                    [--plan plan.json] [--known FILE [--mask FILE] [--resample J R]]
    polydiff calibrate --checkpoint C --out plan.json [--steps 4 --method dpm_3m --num 1024]
    polydiff export --checkpoint C --out DIR  # weights-only files + config.json
    polydiff demo [MODALITY] [--minutes M] [--out DIR]   # no MODALITY: list the registered

``fit``/``validate`` hand their arguments to Lightning's ``LightningCLI`` with
:class:`polydiff.training.DiffusionModule` and any ``LightningDataModule`` (``data.class_path``);
``polydiff fit --help`` lists every option. Each modality ships its configs in its own folder
(:attr:`polydiff.modality.Modality.configs`; ``polydiff demo`` lists them). Modalities come from
the registry (:mod:`polydiff.modality`); this module names none.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main", "LIGHTNING_COMMANDS", "check_config", "known_data"]

LIGHTNING_COMMANDS = ("fit", "validate")


def known_data() -> list[str]:
    """Data modules offered in error messages: every registered modality's (any
    ``LightningDataModule`` class path works)."""
    from .modality import modalities

    return sorted(d for m in modalities().values() for d in m.data_modules)


def _configs() -> list[str]:
    """``"modality/name: path"`` for every shipped fit config."""
    from .modality import modalities

    return [f"{m.name}/{k}: {v}" for m in modalities().values() for k, v in m.configs.items()]


def _config_files(args: Sequence[str]) -> list[Path]:
    files = []
    for i, arg in enumerate(args):
        if arg == "--config" and i + 1 < len(args):
            files.append(Path(args[i + 1]))
        elif arg.startswith("--config="):
            files.append(Path(arg.split("=", 1)[1]))
    return files


def check_config(config: dict, source: str = "config") -> None:
    """Fail early, listing the valid choices, on an unknown model option, network class or
    network option, or data-module class in a ``polydiff fit`` config."""
    import importlib
    import inspect

    from .training import DiffusionModule
    from .training.spec import _check_init_args, _resolve

    model = config.get("model") or {}
    if isinstance(model, dict):
        valid = sorted(k for k in inspect.signature(DiffusionModule.__init__).parameters
                       if k != "self")
        unknown = sorted(set(model) - set(valid))
        if unknown:
            raise ValueError(f"{source}: unknown model option(s) {unknown}; valid options: "
                             f"{valid}")
        net = model.get("net")
        if isinstance(net, dict) and "class_path" in net:
            try:
                cls = _resolve(net["class_path"])
                _check_init_args(cls, net["class_path"], dict(net.get("init_args") or {}))
            except ValueError as e:
                raise ValueError(f"{source}: model.net: {e}") from None
    data = config.get("data")
    if isinstance(data, dict) and "class_path" in data:
        path = data["class_path"]
        module_name, _, name = path.rpartition(".")
        try:
            getattr(importlib.import_module(module_name), name)
        except (ImportError, AttributeError, ValueError):
            raise ValueError(f"{source}: unknown data class {path!r}; expected one of "
                             f"{known_data()} or another LightningDataModule") from None


def run_lightning(args: Sequence[str]):
    """``LightningCLI`` over ``DiffusionModule`` and a data-module class path; config files are
    checked first (:func:`check_config`)."""
    import lightning.pytorch as pl
    import yaml
    from lightning.pytorch.cli import LightningCLI

    from .training import DiffusionModule

    for path in _config_files(args):
        if path.is_file():
            try:
                check_config(yaml.safe_load(path.read_text()) or {}, str(path))
            except ValueError as e:
                raise SystemExit(f"polydiff {args[0]}: {e}") from None
    return LightningCLI(
        DiffusionModule, pl.LightningDataModule, subclass_mode_data=True,
        args=list(args), save_config_kwargs={"overwrite": True},
        parser_kwargs={"description": "polydiff training through LightningCLI; shipped "
                                      f"configs: {'; '.join(_configs())}"},
    )


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="polydiff", description="Diffusion models across modalities.",
        epilog="polydiff fit --help / polydiff validate --help: the LightningCLI options.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for cmd in LIGHTNING_COMMANDS:
        sub.add_parser(cmd, help=f"LightningCLI {cmd} (--config FILE; `polydiff demo` lists "
                                 f"the shipped configs)", add_help=False)

    s = sub.add_parser("sample", help="draw samples from a checkpoint or an export directory")
    s.add_argument("--checkpoint", required=True,
                   help="a Lightning .ckpt file or a directory written by polydiff export")
    s.add_argument("--num", type=int, default=16, help="number of samples (default 16)")
    s.add_argument("--out", required=True, help="output directory")
    s.add_argument("--method", default="dpmpp_2m", help="sampler (default dpmpp_2m)")
    s.add_argument("--steps", type=int, default=20, help="sampler steps (default 20)")
    s.add_argument("--grid", default="log_snr", help="time grid (default log_snr)")
    s.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    s.add_argument("--guidance-scale", type=float, default=1.0,
                   help="classifier-free guidance scale (class-conditional models; default 1)")
    s.add_argument("--class-label", type=int, action="append", default=None,
                   help="class label(s), repeated or cycled to --num (default: 0, 1, ... "
                        "cycling over the classes of a class-conditional model)")
    s.add_argument("--no-ema", action="store_true", help="use the raw (non-EMA) weights")
    s.add_argument("--device", default="cpu", help="torch device (default cpu)")
    s.add_argument("--batch-size", type=int, default=256, help="samples per batch")
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
    s.add_argument("--resample", type=int, nargs=2, default=None, metavar=("JUMP", "REPEATS"),
                   help="with --known: RePaint resampling, JUMP intervals run REPEATS times")
    s.add_argument("--plan", default=None,
                   help="a plan JSON from `polydiff calibrate` (replaces --method/--steps/--grid)")

    c = sub.add_parser("calibrate", help="learn a sampling plan for few steps (JSON)")
    c.add_argument("--checkpoint", required=True,
                   help="a Lightning .ckpt file or a `polydiff export` directory")
    c.add_argument("--out", required=True, help="output JSON file")
    c.add_argument("--steps", type=int, default=4, help="sampler steps (default 4: 5 NFE)")
    c.add_argument("--method", default="dpm_3m", help="dpm_2m | dpm_3m | dpmpp_3m")
    c.add_argument("--num", type=int, default=1024, help="calibration draws (default 1024)")
    c.add_argument("--iters", type=int, default=300, help="Adam iterations (default 300)")
    c.add_argument("--batch-size", type=int, default=None, help="draws per iteration")
    c.add_argument("--teacher-steps", type=int, default=200, help="reference solver steps")
    c.add_argument("--seed", type=int, default=12345,
                   help="calibration noise seed; keep it apart from sampling seeds")
    c.add_argument("--guidance-scale", type=float, default=1.0, help="CFG scale to calibrate for")
    c.add_argument("--no-ema", action="store_true", help="use the raw (non-EMA) weights")
    c.add_argument("--device", default="cpu", help="torch device (default cpu)")

    e = sub.add_parser("export", help="write weights-only files + config.json from a checkpoint")
    e.add_argument("--checkpoint", required=True, help="a Lightning .ckpt file")
    e.add_argument("--out", required=True, help="output directory")
    e.add_argument("--no-ema", action="store_true", help="export the raw (non-EMA) weights")

    d = sub.add_parser("demo", help="train a small model on bundled data and write samples; "
                                    "without MODALITY, list the registered modalities")
    d.add_argument("modality", nargs="?", default=None,
                   help="a registered modality (run `polydiff demo` to list them)")
    d.add_argument("--minutes", type=float, default=2.0, help="training time (default 2)")
    d.add_argument("--max-steps", type=int, default=None, help="stop after this many steps")
    d.add_argument("--out", default=None,
                   help="output directory (default polydiff-demo-MODALITY)")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--steps", type=int, default=20, help="sampler steps (default 20)")
    d.add_argument("--method", default="dpmpp_2m", help="sampler (default dpmpp_2m)")
    d.add_argument("--guidance-scale", type=float, default=2.0, help="CFG scale (default 2)")
    d.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return p


def _labels(requested: list[int] | None, num: int, num_classes: int | None):
    from .training.sampling import default_labels

    if requested is None:
        return default_labels(num, num_classes)
    if num_classes is None:
        raise SystemExit("polydiff sample: --class-label needs a class-conditional model")
    bad = [c for c in requested if not 0 <= c < num_classes]
    if bad:
        raise SystemExit(f"polydiff sample: class labels {bad} outside 0..{num_classes - 1}")
    return [requested[i % len(requested)] for i in range(num)]


def _load_model(a: argparse.Namespace, command: str):
    """``(denoiser, schedule, sample_shape, num_classes, data_info)`` from ``--checkpoint``."""
    from .training import load_checkpoint, load_exported

    src = Path(a.checkpoint)
    if not src.exists():
        raise SystemExit(f"polydiff {command}: {src} does not exist")
    if src.is_dir():
        den = load_exported(src, device=a.device)
        cfg = den.export_config
        schedule, shape, num_classes = den.schedule, cfg["sample_shape"], cfg["num_classes"]
        data_info = cfg.get("data")
    else:
        module = load_checkpoint(src, map_location=a.device)
        den = module.denoiser(ema=not a.no_ema).eval()
        schedule, shape, num_classes = module.schedule, module.sample_shape, module.num_classes
        data_info = module.data_info
    if not shape:
        raise SystemExit(f"polydiff {command}: {src} does not record the sample shape")
    return den, schedule, shape, num_classes, data_info


def _read_plan(path: str):
    from .samplers import Plan

    try:
        return Plan.from_dict(json.loads(Path(path).read_text()))
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise SystemExit(f"polydiff sample: --plan {path} is not a readable plan "
                         f"(written by `polydiff calibrate`): {err}") from err


def _known(a: argparse.Namespace, shape, data_info):
    """``(known, observed)`` in model units from ``--known``/``--mask`` (or ``(None, None)``)."""
    from .training.outputs import model_units, reader_for

    if a.known is None:
        for flag, value in (("--mask", a.mask), ("--resample", a.resample)):
            if value is not None:
                raise SystemExit(f"polydiff sample: {flag} needs --known FILE")
        return None, None
    try:
        read = reader_for(data_info, a.reader)
        known, observed = read(Path(a.known), None if a.mask is None else Path(a.mask),
                               list(shape), (data_info or {}).get("meta") or {})
    except ValueError as err:
        raise SystemExit(f"polydiff sample: --known {a.known}: {err}") from None
    known = model_units(known, data_info)
    return known, observed


def cmd_sample(a: argparse.Namespace) -> int:
    """``polydiff sample``: writes the samples through the model's writer (``samples.png`` for
    images, ...) and ``samples.pt`` (the raw tensor in data units) to ``--out``."""
    from .io import write_tensor
    from .training.outputs import data_units, write_samples, writer_for
    from .training.sampling import sample_with

    plan = None if a.plan is None else _read_plan(a.plan)
    den, schedule, shape, num_classes, data_info = _load_model(a, "sample")
    try:
        writer, _ = writer_for(data_info, a.writer)
    except ValueError as err:
        raise SystemExit(f"polydiff sample: --writer: {err}") from None
    known, observed = _known(a, shape, data_info)
    labels = _labels(a.class_label, a.num, num_classes)
    info: dict = {}
    x = sample_with(den, schedule, a.num, shape, steps=a.steps, method=a.method, grid=a.grid,
                    guidance_scale=a.guidance_scale if labels is not None else 1.0,
                    class_labels=labels, null_class=num_classes, seed=a.seed, progress=True,
                    device=a.device, batch_size=a.batch_size, info=info, plan=plan,
                    known=known, observed=observed,
                    resample=None if a.resample is None else tuple(a.resample))
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    raw = write_tensor(data_units(x, data_info), out / "samples")
    written = raw if writer == "tensor" else write_samples(x, out / "samples", data_info,
                                                            writer, nrow=num_classes)
    how = (f"{a.method}, {a.steps} steps" if plan is None else
           f"plan {a.plan}: {plan.method}, {plan.steps} steps")
    print(f"wrote {a.num} samples ({how}, {info.get('nfe')} network evaluations per batch) to "
          f"{written}" + ("" if written == raw else f" and {raw}"))
    return 0


def cmd_calibrate(a: argparse.Namespace) -> int:
    """``polydiff calibrate``: learns a plan and writes it as JSON to ``--out``."""
    from .training.sampling import calibrate_with

    den, schedule, shape, num_classes, _ = _load_model(a, "calibrate")
    labels = _labels(None, a.num, num_classes)
    plan = calibrate_with(den, schedule, a.num, shape, a.steps, a.method,
                          guidance_scale=a.guidance_scale if labels is not None else 1.0,
                          class_labels=labels, null_class=num_classes, seed=a.seed,
                          iters=a.iters, batch_size=a.batch_size, teacher_steps=a.teacher_steps,
                          device=a.device, progress=True)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(plan.to_dict(), indent=1))
    print(f"wrote {out}: {plan.method}, {plan.steps} steps ({plan.steps + 1} network "
          f"evaluations); calibration RMSE {plan.rmse_start:.3g} -> {plan.rmse:.3g}")
    return 0


def cmd_export(a: argparse.Namespace) -> int:
    """``polydiff export``: ``model.safetensors`` (or ``weights.pt``) + ``config.json``."""
    from .training import export, load_checkpoint

    out = export(load_checkpoint(a.checkpoint), a.out, ema=not a.no_ema)
    print(f"exported {a.checkpoint} to {out}")
    return 0


def cmd_demo(a: argparse.Namespace) -> int:
    """``polydiff demo MODALITY`` runs that modality's demo; ``polydiff demo`` lists them."""
    from .modality import modalities, resolve

    table = modalities()
    with_demo = [name for name, m in table.items() if m.demo is not None]
    if a.modality is None:
        print("registered modalities (polydiff demo NAME):")
        for name, m in table.items():
            mark = "" if m.demo is not None else " [no demo]"
            print(f"  {name:10s} {m.description}{mark}")
            for key, path in m.configs.items():
                print(f"  {'':10s} config {key}: {path}")
        return 0
    if a.modality not in with_demo:
        raise SystemExit(f"polydiff demo: unknown modality {a.modality!r}; available: "
                         f"{with_demo}")
    demo = resolve(table[a.modality].demo, f"{a.modality} demo")
    demo(out=a.out or f"polydiff-demo-{a.modality}", minutes=a.minutes, max_steps=a.max_steps,
         seed=a.seed, steps=a.steps, method=a.method, guidance_scale=a.guidance_scale,
         progress=not a.no_progress)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``polydiff`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in LIGHTNING_COMMANDS:
        run_lightning(argv)
        return 0
    parser = _parser()
    a = parser.parse_args(argv)
    if a.command is None:
        parser.print_help()
        return 2
    return {"sample": cmd_sample, "calibrate": cmd_calibrate, "export": cmd_export,
            "demo": cmd_demo}[a.command](a)


if __name__ == "__main__":
    sys.exit(main())
