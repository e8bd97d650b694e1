"""Audio ``(B, C, T)``: waveform and log-mel diffusion, recordings folders, WAV/PNG I/O, gap
filling, continuation, audio metrics and the demo. See ``docs/audio.md``.

Modules are loaded on first access, so listing modalities imports neither Lightning nor
torchaudio.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from polydiff.plugin import Command, Modality

_HERE = Path(__file__).resolve().parent

#: public name -> module that defines it
_LAZY = {
    "AudioFolder": "data", "CropDataset": "data", "timing_vector": "data",
    "AUDIO_EXTENSIONS": "files", "ScanReport": "files", "find_audio": "files",
    "load_audio": "files", "resample": "files", "scan_audio": "files",
    "read_wav": "io", "save_wav": "io", "write_spectrogram_png": "io", "write_wav": "io",
    "read_gaps": "io",
    "LogMel": "spectrogram", "LogMelFolder": "mel", "write_mel": "mel",
    "plot_spectrograms": "io",
    "fill_linear": "baselines", "fill_lpc": "baselines", "fill_zeros": "baselines",
    "AudioUNet": "unet",
    "audio_meta": "tasks", "continue_audio": "tasks", "extend": "tasks", "fill_gaps": "tasks",
    "generate": "tasks", "load_audio_model": "tasks",
    "audio_model": "tasks", "check_gap_lengths": "tasks",
}

__all__ = ["ASSETS", "MODALITY", *_LAZY]

#: the bundled clips (see assets/README.md): speech/, drums/{kick,snare,cymbal,tabla}/, stereo/
ASSETS = _HERE / "assets"

MODALITY = Modality(
    name="audio",
    description="(B, C, T) waveforms: recordings folders, WAV + spectrogram PNGs, gap filling",
    demo=f"{__name__}.demo:audio_demo",
    configs={"drums": _HERE / "configs" / "drums.yaml",
             "gaps": _HERE / "configs" / "gaps.yaml",
             "mel": _HERE / "configs" / "mel.yaml"},
    writers={"wav": f"{__name__}.io:write_wav",
             "spectrogram": f"{__name__}.io:write_spectrogram_png",
             "mel": f"{__name__}.mel:write_mel"},
    readers={"wav": f"{__name__}.io:read_wav"},
    data_modules=(f"{__name__}.AudioFolder", f"{__name__}.LogMelFolder"),
    networks=(f"{__name__}.AudioUNet", "polydiff.nn.UNet"),
    commands={"fill-gaps": Command(
        help="fill the gaps (NaN samples, a gap list or a mask) of a recording of any length "
             "with an audio model",
        arguments=f"{__name__}.command:add_arguments", run=f"{__name__}.command:run")},
)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
