"""``polydiff sample | calibrate | export | demo``. Each checks all of its inputs and outputs
(:mod:`polydiff.cli.checks`) before any sampling, calibration or training starts."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .checks import UserError, check_device, check_out_dir, check_out_file

__all__ = ["cmd_calibrate", "cmd_demo", "cmd_export", "cmd_sample"]

SAMPLE_DEFAULTS = {"method": "dpmpp_2m", "steps": 20, "grid": "log_snr"}


@dataclass
class Model:
    """What sampling needs from a checkpoint or an export directory."""

    denoiser: Any
    schedule: Any
    shape: list[int]
    num_classes: int | None
    data_info: dict | None
    conditional: bool = False  # trained for imputation: the known values are an input too


def load_model(a: argparse.Namespace, device) -> Model:
    """The model of ``--checkpoint`` (a ``.ckpt`` file or an export directory), honouring
    ``--no-ema`` (an error where it cannot apply)."""
    from ..training import load_checkpoint, load_exported

    src = Path(a.checkpoint)
    if not src.exists():
        raise UserError(f"--checkpoint {src} does not exist")
    if src.is_dir():
        den = load_exported(src, device=device)
        cfg = den.export_config
        if a.no_ema and cfg.get("ema"):
            raise UserError(f"--no-ema: the export {src} holds its EMA weights only; export the "
                            f"checkpoint again with `polydiff export --no-ema`")
        model = Model(den, den.schedule, cfg["sample_shape"], cfg.get("num_classes"),
                      cfg.get("data"), cfg.get("imputation") is not None)
    else:
        module = load_checkpoint(src, map_location=device)
        if a.no_ema and module.ema_net is None:
            raise UserError(f"--no-ema: {src} was trained without EMA, so it has only the raw "
                            f"weights; drop --no-ema")
        model = Model(module.denoiser(ema=not a.no_ema).eval(), module.schedule,
                      module.sample_shape, module.num_classes, module.data_info,
                      module.imputation is not None)
    if not model.shape:
        raise UserError(f"--checkpoint {src} does not record the sample shape")
    return model


def _labels(requested: list[int] | None, num: int, num_classes: int | None):
    from ..training.sampling import default_labels

    if requested is None:
        return default_labels(num, num_classes)
    if num_classes is None:
        raise UserError("--class-label: the model is not class-conditional (it takes no labels)")
    bad = [c for c in requested if not 0 <= c < num_classes]
    if bad:
        raise UserError(f"--class-label {bad}: outside the model's classes 0..{num_classes - 1}")
    return [requested[i % len(requested)] for i in range(num)]


def _check_guidance(scale: float, num_classes: int | None) -> None:
    if scale != 1.0 and num_classes is None:
        raise UserError(f"--guidance-scale {scale}: classifier-free guidance needs a "
                        f"class-conditional model, and this one is unconditional; drop it")


def _read_plan(path: str):
    from ..samplers import Plan

    p = Path(path)
    if not p.is_file():
        raise UserError(f"--plan {p}: " + ("is a directory" if p.is_dir() else "does not exist"))
    try:
        return Plan.from_dict(json.loads(p.read_text()))
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as err:
        raise UserError(f"--plan {path} is not a readable plan (written by `polydiff "
                        f"calibrate`): {' '.join(str(err).split())}") from None


def _sampler(a: argparse.Namespace):
    """``(plan, method, steps, grid)`` from ``--plan`` or ``--method/--steps/--grid``."""
    from .. import samplers

    given = [f"--{k}" for k in SAMPLE_DEFAULTS if getattr(a, k) is not None]
    if a.plan is not None:
        if given:
            raise UserError(f"--plan {a.plan} sets the method, steps and grid; drop "
                            f"{', '.join(given)}")
        return _read_plan(a.plan), None, None, None
    method, steps, grid = (getattr(a, k) if getattr(a, k) is not None else v
                           for k, v in SAMPLE_DEFAULTS.items())
    try:
        samplers.info(method)
    except ValueError as err:
        raise UserError(f"--method: {err}") from None
    return None, method, steps, grid


def _known(a: argparse.Namespace, model: Model):
    """``(known, observed)`` in model units from ``--known``/``--mask`` (or ``(None, None)``)."""
    from ..training.outputs import model_units, reader_for

    if a.known is None:
        for flag, value in (("--mask", a.mask), ("--resample", a.resample)):
            if value is not None:
                raise UserError(f"{flag} needs --known FILE")
        if a.reader != "auto":
            raise UserError(f"--reader {a.reader} needs --known FILE")
        if model.conditional:
            raise UserError("--known: none given, but this model was trained for imputation "
                            "(the known values are one of its inputs); pass --known FILE "
                            "(and --mask where the file does not say what is known)")
        return None, None
    try:
        read = reader_for(model.data_info, a.reader)
        known, observed = read(Path(a.known), None if a.mask is None else Path(a.mask),
                               list(model.shape), (model.data_info or {}).get("meta") or {})
    except (ValueError, OSError) as err:
        raise UserError(f"--known {a.known}: {' '.join(str(err).split())}") from None
    return model_units(known, model.data_info), observed


def cmd_sample(a: argparse.Namespace) -> int:
    """``polydiff sample``: the samples through the model's writer (``samples.png`` for
    images, ...) and ``samples.pt`` (the raw tensor in data units) in ``--out``."""
    from ..io import write_tensor
    from ..training.outputs import data_units, write_samples, writer_for
    from ..training.sampling import sample_with

    device = check_device(a.device)
    out = check_out_dir(a.out, a.overwrite)
    plan, method, steps, grid = _sampler(a)
    model = load_model(a, device)
    if plan is None:
        from ..samplers.grids import make_grid

        try:
            make_grid(model.schedule, steps, grid)
        except ValueError as err:
            raise UserError(f"--grid: {err}") from None
    try:
        writer, _ = writer_for(model.data_info, a.writer)
    except ValueError as err:
        raise UserError(f"--writer: {err}") from None
    _check_guidance(a.guidance_scale, model.num_classes)
    labels = _labels(a.class_label, a.num, model.num_classes)
    known, observed = _known(a, model)

    info: dict = {}
    x = sample_with(model.denoiser, model.schedule, a.num, model.shape, steps=steps or 1,
                    method=method or SAMPLE_DEFAULTS["method"], grid=grid or "log_snr",
                    guidance_scale=a.guidance_scale, class_labels=labels,
                    null_class=model.num_classes, seed=a.seed, progress=True, device=device,
                    batch_size=a.batch_size, info=info, plan=plan, known=known,
                    observed=observed, resample=None if a.resample is None else tuple(a.resample),
                    conditional=model.conditional)
    out.mkdir(parents=True, exist_ok=True)
    raw = write_tensor(data_units(x, model.data_info), out / "samples")
    written = raw if writer == "tensor" else write_samples(x, out / "samples", model.data_info,
                                                            writer, nrow=model.num_classes)
    how = (f"{method}, {steps} steps" if plan is None else
           f"plan {a.plan}: {plan.method}, {plan.steps} steps")
    print(f"wrote {a.num} samples ({how}, {info.get('nfe')} network evaluations per batch) to "
          f"{written}" + ("" if written == raw else f" and {raw}"))
    return 0


def cmd_calibrate(a: argparse.Namespace) -> int:
    """``polydiff calibrate``: learns a plan and writes it as JSON to ``--out``."""
    from ..samplers.calibration import MULTISTEP as CALIBRATED
    from ..training.sampling import calibrate_with

    device = check_device(a.device)
    out = check_out_file(a.out, a.overwrite)
    if a.method not in CALIBRATED:
        raise UserError(f"--method: {a.method!r} cannot be calibrated; expected one of "
                        f"{sorted(CALIBRATED)}")
    if a.steps < 2:
        raise UserError(f"--steps {a.steps}: calibration needs at least 2 steps")
    if a.batch_size is not None and a.batch_size > a.num:
        raise UserError(f"--batch-size {a.batch_size} exceeds --num {a.num} draws")
    model = load_model(a, device)
    _check_guidance(a.guidance_scale, model.num_classes)
    labels = _labels(None, a.num, model.num_classes)
    plan = calibrate_with(model.denoiser, model.schedule, a.num, model.shape, a.steps, a.method,
                          guidance_scale=a.guidance_scale, class_labels=labels,
                          null_class=model.num_classes, seed=a.seed, iters=a.iters,
                          batch_size=a.batch_size, teacher_steps=a.teacher_steps,
                          device=device, progress=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(plan.to_dict(), indent=1))
    print(f"wrote {out}: {plan.method}, {plan.steps} steps ({plan.steps + 1} network "
          f"evaluations); calibration RMSE {plan.rmse_start:.3g} -> {plan.rmse:.3g}")
    return 0


def cmd_export(a: argparse.Namespace) -> int:
    """``polydiff export``: ``model.safetensors`` (or ``weights.pt``) + ``config.json``."""
    from ..training import export, load_checkpoint

    src = Path(a.checkpoint)
    if src.is_dir():
        hint = " (it is already an export)" if (src / "config.json").is_file() else ""
        raise UserError(f"--checkpoint {src} is a directory{hint}; export reads a Lightning "
                        f".ckpt file")
    out = check_out_dir(a.out, a.overwrite)
    module = load_checkpoint(src)
    if a.no_ema and module.ema_net is None:
        raise UserError(f"--no-ema: {src} was trained without EMA; its raw weights are the only "
                        f"ones, drop --no-ema")
    export(module, out, ema=not a.no_ema)
    print(f"exported {src} to {out}")
    return 0


def cmd_demo(a: argparse.Namespace) -> int:
    """``polydiff demo MODALITY`` runs that modality's demo; ``polydiff demo`` lists them."""
    from ..modality import modalities, resolve

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
        raise UserError(f"unknown modality {a.modality!r}; available: {with_demo}")
    out = check_out_dir(a.out or f"polydiff-demo-{a.modality}", a.overwrite)
    demo = resolve(table[a.modality].demo, f"{a.modality} demo")
    demo(out=out, minutes=a.minutes, max_steps=a.max_steps, seed=a.seed, steps=a.steps,
         method=a.method, guidance_scale=a.guidance_scale, progress=not a.no_progress)
    return 0
