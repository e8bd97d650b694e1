"""``polydiff fill-signal IN.npy --checkpoint C --out OUT.npy``: the gaps of a series of any
length filled window by window (the core's ``fill_along``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from polydiff.plugin import (
    add_model_options,
    add_sampler_options,
    check_out_file,
    fill_along,
    load_model,
    positive_int,
    sampler_from,
)


def add_arguments(p) -> None:
    p.add_argument("input", help="a .npy series (NaN = missing)")
    add_model_options(p, "a signals model")
    add_sampler_options(p)
    p.add_argument("--out", required=True, help="output .npy file (must not exist)")
    p.add_argument("--num", type=positive_int, default=1, help="alternative fills")
    p.add_argument("--overwrite", action="store_true")


def run(a) -> int:
    out = check_out_file(a.out, a.overwrite)
    sampler = sampler_from(a)
    if not Path(a.input).is_file():
        raise ValueError(f"INPUT {a.input}: no such file")
    model = load_model(a, modality="signals", check_grid=sampler)
    series = torch.from_numpy(np.load(a.input)).float()[None]
    observed = ~torch.isnan(series)
    filled = fill_along(model, torch.nan_to_num(series), observed, members=a.num,
                        seed=a.seed, sampler=sampler)
    np.save(out, filled.numpy())
    print(f"filled {int((~observed).sum())} samples of {series.shape[-1]}; wrote {out}")
    return 0
