"""``polydiff sample | calibrate | export | demo``. Each checks all of its inputs and outputs
(:mod:`polydiff.cli.checks`) before any sampling, calibration or training starts."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .checks import UserError, check_device, check_out_dir, check_out_file
from .options import load_model, sampler_from

__all__ = ["cmd_calibrate", "cmd_demo", "cmd_export", "cmd_sample"]

def _labels(requested: list[int] | None, num: int, num_classes: int | None):
    from ..inference.draw import default_labels

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


def _known(a: argparse.Namespace, model):
    """``(known, observed)`` in data units from ``--known``/``--mask`` (or ``(None, None)``)."""
    from ..training.outputs import reader_for

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
        read = reader_for(model.spec.to_info(), a.reader)
        known, observed = read(Path(a.known), None if a.mask is None else Path(a.mask),
                               list(model.sample_shape), dict(model.spec.meta))
    except (ValueError, OSError) as err:
        raise UserError(f"--known {a.known}: {' '.join(str(err).split())}") from None
    return known, observed


def cmd_sample(a: argparse.Namespace) -> int:
    """``polydiff sample``: the samples through the model's writer (``samples.png`` for
    images, ...) and ``samples.pt`` (the raw tensor in data units) in ``--out``."""
    from ..io import write_tensor
    from ..training.outputs import writer_for

    check_device(a.device)
    out = check_out_dir(a.out, a.overwrite)
    sampler = sampler_from(a, None if a.resample is None else tuple(a.resample))
    model = load_model(a, check_grid=sampler)
    try:
        writer, write = writer_for(model.spec.to_info(), a.writer)
    except ValueError as err:
        raise UserError(f"--writer: {err}") from None
    _check_guidance(a.guidance_scale, model.num_classes)
    labels = _labels(a.class_label, a.num, model.num_classes)
    known, observed = _known(a, model)

    info: dict = {}
    x = model.sample(a.num, guidance_scale=a.guidance_scale, class_labels=labels, seed=a.seed,
                     progress=True, batch_size=a.batch_size, info=info, sampler=sampler,
                     known=known, observed=observed)
    out.mkdir(parents=True, exist_ok=True)
    raw = write_tensor(x, out / "samples")
    written = raw if writer == "tensor" else write(
        x, out / "samples", {**model.spec.meta, "nrow": model.num_classes})
    how = (sampler.describe() if sampler.plan is None else
           f"plan {a.plan}: {sampler.plan.method}, {sampler.plan.steps} steps")
    print(f"wrote {a.num} samples ({how}, {info.get('nfe')} network evaluations per batch) to "
          f"{written}" + ("" if written == raw else f" and {raw}"))
    return 0


def cmd_calibrate(a: argparse.Namespace) -> int:
    """``polydiff calibrate``: learns a plan and writes it as JSON to ``--out``."""
    from ..inference.draw import default_labels
    from ..samplers.calibration import MULTISTEP as CALIBRATED

    check_device(a.device)
    out = check_out_file(a.out, a.overwrite)
    if a.method not in CALIBRATED:
        raise UserError(f"--method: {a.method!r} cannot be calibrated; expected one of "
                        f"{sorted(CALIBRATED)}")
    if a.steps < 2:
        raise UserError(f"--steps {a.steps}: calibration needs at least 2 steps")
    if a.batch_size is not None and a.batch_size > a.num:
        raise UserError(f"--batch-size {a.batch_size} exceeds --num {a.num} draws")
    model = load_model(a)
    _check_guidance(a.guidance_scale, model.num_classes)
    plan = model.calibrate(a.steps, a.method, a.num, guidance_scale=a.guidance_scale,
                           class_labels=default_labels(a.num, model.num_classes), seed=a.seed,
                           iters=a.iters, batch_size=a.batch_size,
                           teacher_steps=a.teacher_steps, progress=True)
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
