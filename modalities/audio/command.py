"""``polydiff fill-gaps INPUT --checkpoint C --out OUT.wav [--gaps FILE]``: repair a recording of
any length with an audio model and write the result as WAV, with a spectrogram PNG beside it.

What is missing: ``--gaps`` (a ``.txt``/``.csv`` file of ``start,end`` seconds per line, or a
mask recording whose non-zero samples are missing) and/or NaN samples of a float WAV. Each gap
is filled in a window of the model's length (:func:`~polydiff.modalities.audio.fill_gaps`);
the known samples come back exactly (at the model's rate: a file at another rate is resampled
first and the result is written at the model's rate).

Everything is checked before any sampling: the output files (new, or ``--overwrite``), the
sampler, the model (an audio model), the recording (readable, the model's channel count) and
the gaps (inside the recording, each no longer than the model's window).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

__all__ = ["add_arguments", "out_paths", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``polydiff fill-gaps``."""
    from polydiff.plugin import (
        add_model_options,
        add_sampler_options,
        finite_float,
        nonnegative_int,
        positive_int,
    )

    p.add_argument("input", help="recording (wav/flac/ogg) with gaps: NaN samples and/or --gaps")
    add_model_options(p, "an audio model")
    add_sampler_options(p)
    p.add_argument("--out", required=True,
                   help="output WAV file (must not exist); OUT.png gets the spectrograms")
    p.add_argument("--gaps", default=None,
                   help="gap file (.txt/.csv, 'start,end' seconds per line) or a mask "
                        "recording of the same length and rate (non-zero = missing)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.add_argument("--num", type=positive_int, default=1,
                   help="alternative fills; more than one writes OUT_0.wav, OUT_1.wav, ...")
    p.add_argument("--class-label", type=nonnegative_int, default=None,
                   help="class of a class-conditional model")
    p.add_argument("--guidance-scale", type=finite_float, default=1.0,
                   help="classifier-free guidance scale (default 1: none)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def out_paths(out: Path, num: int) -> list[Path]:
    """The WAV files ``--out`` stands for: ``[OUT]`` or ``[OUT_0, OUT_1, ...]``."""
    if num == 1:
        return [out]
    return [out.with_name(f"{out.stem}_{k}{out.suffix}") for k in range(num)]


def run(a: argparse.Namespace) -> int:
    """Check everything, fill the gaps, write the WAV file(s) and PNG; returns the exit
    status."""
    import torch

    from polydiff.plugin import check_device, check_out_file, load_model, sampler_from

    from .io import observed_from, read_recording, save_wav, write_spectrogram_png
    from .tasks import audio_model, check_gap_lengths, fill_gaps

    out = Path(a.out)
    if out.suffix.lower() != ".wav":
        raise ValueError(f"--out {out}: expected a WAV file name ending in .wav")
    wavs = [check_out_file(p, a.overwrite) for p in out_paths(out, a.num)]
    png = check_out_file(out.with_suffix(".png"), a.overwrite, flag="--out (spectrograms)")
    check_device(a.device)
    sampler = sampler_from(a)
    if not Path(a.input).is_file():
        raise ValueError(f"INPUT {a.input}: no such file")
    if a.gaps is not None and not Path(a.gaps).is_file():
        raise ValueError(f"--gaps {a.gaps}: no such file")
    model = load_model(a, modality="audio", check_grid=sampler)
    try:
        audio_model(model)
    except ValueError as err:
        raise ValueError(f"--checkpoint: {err}") from None
    meta = dict(model.spec.meta)
    rate = model.spec.sample_rate
    channels, window = (int(v) for v in model.sample_shape)
    audio, observed = read_recording(a.input, rate, channels)
    n = audio.shape[-1]
    if a.gaps is not None:
        observed = observed & observed_from(a.gaps, n, rate)
    try:
        check_gap_lengths(observed[0], window, rate)
    except ValueError as err:
        raise ValueError(f"--gaps: the {err}") from None
    if observed.all():
        raise ValueError(f"INPUT {a.input}: nothing to fill (no NaN samples); give --gaps")
    if not observed.any():
        raise ValueError(f"INPUT {a.input}: every sample is missing; use polydiff sample to "
                         f"generate audio instead")
    if model.num_classes is None and a.class_label is not None:
        raise ValueError(f"--class-label {a.class_label}: the model is not class-conditional")
    if model.num_classes is not None and a.class_label is not None \
            and a.class_label >= model.num_classes:
        raise ValueError(f"--class-label {a.class_label}: the model has classes 0-"
                         f"{model.num_classes - 1}")
    t0 = time.perf_counter()
    filled = fill_gaps(model, audio, sample_rate=rate, observed=observed[0], num=a.num,
                       class_label=a.class_label, guidance_scale=a.guidance_scale,
                       sampler=sampler, seed=a.seed,
                       progress=not a.no_progress)
    for k, path in enumerate(wavs):
        save_wav(filled[k], path, rate)
    gapped = torch.where(observed, audio, torch.zeros(()))[None]
    write_spectrogram_png(torch.cat([gapped, filled[:3]]), png.with_suffix(""), meta,
                          titles=["input (gaps zeroed)"] + [f"filled {k}" for k in
                                                            range(min(3, a.num))])
    gap_ms = 1000 * int((~observed).sum()) / rate
    print(f"filled {gap_ms:.0f} ms of {n / rate:.2f} s ({a.num} fill(s), {sampler.describe()}, "
          f"{window}-sample windows) in {time.perf_counter() - t0:.1f} s; "
          f"wrote {', '.join(str(p) for p in wavs)} at {rate} Hz and {png}")
    return 0
