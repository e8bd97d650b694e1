"""Rebuild the audio clips bundled in ``modalities/audio/assets/`` from the Debian packages.

    apt-get update
    apt-get install -y --no-install-recommends pocketsphinx-testdata sonic-pi-samples
    python scripts/make_audio_assets.py [--out modalities/audio/assets]

What it writes (16-bit FLAC through soundfile, resampled with torchaudio):

- ``speech/``: the ten read-speech WAVs of pocketsphinx-testdata (``cards/`` and
  ``librivox/``), 16 kHz mono as in the package (BSD-2-Clause, Carnegie Mellon University).
- ``drums/{kick,snare,cymbal,tabla}/``: one-shot drum hits of sonic-pi-samples, mixed to mono
  and resampled from 44.1 kHz to 22.05 kHz (so the data module's resampling to 16 kHz runs on
  real files); licences per file from the package's copyright file (CC0 from freesound.org,
  or the Sonic Pi MIT licence).
- ``stereo/``: two stereo sonic-pi loops at 22.05 kHz.
- ``README.md``: one line per file (source, package version, licence, original rate/channels,
  processing) and ``LICENSE``: the licence texts.

Nothing here downloads anything; the packages are the source. klettres-data (GPL) is never
bundled: the benchmarks install and read it.
"""

from __future__ import annotations

import argparse
import re
import subprocess
from pathlib import Path

import soundfile as sf
import torch
import torchaudio.functional as AF

ROOT = Path(__file__).resolve().parents[1]
SPHINX = Path("/usr/share/pocketsphinx/test/data")
SONIC = Path("/usr/share/sonic-pi/samples")
SONIC_COPYRIGHT = Path("/usr/share/doc/sonic-pi-samples/copyright")
SPHINX_COPYRIGHT = Path("/usr/share/doc/pocketsphinx-testdata/copyright")

SPEECH = [f"cards/00{i}.wav" for i in range(1, 6)] + [
    f"librivox/sense_and_sensibility_01_austen_64kb-0{n}.wav" for n in (870, 880, 890, 920, 930)
]
DRUMS = {
    "kick": ["bd_808", "bd_boom", "bd_fat", "bd_gas", "bd_haus", "bd_klub", "bd_pure",
             "bd_sone", "bd_tek", "bd_zome", "drum_heavy_kick", "drum_bass_hard",
             "drum_bass_soft"],
    "snare": ["sn_dolf", "sn_dub", "sn_generic", "sn_zome", "drum_snare_hard",
              "drum_snare_soft", "elec_snare", "elec_hi_snare", "elec_lo_snare",
              "elec_mid_snare"],
    "cymbal": ["drum_cymbal_closed", "drum_cymbal_pedal", "drum_cymbal_soft",
               "drum_cymbal_hard", "drum_cymbal_open", "elec_cymbal"],
    "tabla": ["tabla_na", "tabla_re", "tabla_te1", "tabla_te2", "tabla_dhec", "tabla_ghe1",
              "tabla_ghe4", "tabla_ghe8", "tabla_tas1", "tabla_tas2", "tabla_tas3",
              "tabla_te_m", "tabla_na_s"],
}
STEREO = ["loop_amen", "ambi_choir"]
DRUM_RATE = 22050

MIT = """Copyright (c) 2016 Samuel Aaron

Permission is hereby granted, free of charge, to any person obtaining a copy of this software
and associated documentation files (the "Software"), to deal in the Software without
restriction, including without limitation the rights to use, copy, modify, merge, publish,
distribute, sublicense, and/or sell copies of the Software, and to permit persons to whom the
Software is furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or
substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING
BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM,
DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
"""


def package_version(name: str) -> str:
    """The installed Debian package's version (``dpkg-query``)."""
    out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", name], capture_output=True,
                         text=True, check=True)
    return out.stdout.strip()


def sonic_licences() -> dict[str, tuple[str, str]]:
    """``{sample name: (licence, "copyright; source")}`` from the Debian copyright file; samples
    without a stanza of their own fall under its ``Files: *`` MIT stanza."""
    text = SONIC_COPYRIGHT.read_text()
    out = {}
    for stanza in text.split("\n\n"):
        m = re.search(r"^Files: etc/samples/(\S+)\.flac", stanza, flags=re.M)
        if not m:
            continue
        licence = re.search(r"^License: (\S+)", stanza, flags=re.M).group(1)
        holder = re.search(r"^Copyright: (.+)", stanza, flags=re.M)
        source = re.search(r"^Source: (\S+)", stanza, flags=re.M)
        out[m.group(1)] = (licence, f"{holder.group(1) if holder else '?'}; "
                                    f"{source.group(1) if source else '?'}")
    return out


def sphinx_licence() -> str:
    """Copyright line and BSD-2 text of pocketsphinx's ``Files: *`` stanza."""
    body = next(s for s in SPHINX_COPYRIGHT.read_text().split("\n\n") if "Files: *" in s)
    holders = re.search(r"Copyright: (.+?)\nLicense", body, flags=re.S).group(1)
    text = body.partition("License: BSD-2")[2].strip("\n").splitlines()
    text = ["" if ln.strip() == "." else ln[1:] for ln in text]
    return "Copyright " + " ".join(holders.split()) + "\n\n" + "\n".join(text) + "\n"


def convert(src: Path, dst: Path, rate: int, mono: bool) -> tuple[int, int, float]:
    """Read ``src``, optionally mix to mono, resample to ``rate``, write 16-bit FLAC ``dst``.
    Returns the original (rate, channels, seconds)."""
    data, sr = sf.read(src, dtype="float32", always_2d=True)  # (frames, channels)
    info = (sr, data.shape[1], data.shape[0] / sr)
    x = torch.from_numpy(data.T.copy())
    if mono:
        x = x.mean(0, keepdim=True)
    if sr != rate:
        x = AF.resample(x, sr, rate)
    x = x.clamp(-1.0, 1.0)
    dst.parent.mkdir(parents=True, exist_ok=True)
    sf.write(dst, x.numpy().T, rate, format="FLAC", subtype="PCM_16")
    return info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "modalities" / "audio" / "assets")
    args = parser.parse_args()
    for path, pkg in ((SPHINX, "pocketsphinx-testdata"), (SONIC, "sonic-pi-samples")):
        if not path.is_dir():
            raise SystemExit(f"{path} not found: apt-get install -y --no-install-recommends {pkg}")
    out: Path = args.out
    sphinx_v = package_version("pocketsphinx-testdata")
    sonic_v = package_version("sonic-pi-samples")
    licences = sonic_licences()
    rows = []

    for rel in SPEECH:
        name = Path(rel).parent.name + "_" + Path(rel).stem + ".flac"
        dst = out / "speech" / name
        sr, ch, sec = convert(SPHINX / rel, dst, 16000, mono=True)
        rows.append((dst.relative_to(out), f"pocketsphinx-testdata {sphinx_v}: "
                     f"/usr/share/pocketsphinx/test/data/{rel}", "BSD-2-Clause (CMU)",
                     sr, ch, sec, "FLAC, unchanged samples"))

    def sonic(name: str, folder: str, mono: bool) -> None:
        src = SONIC / f"{name}.flac"
        licence, credit = licences.get(name, ("MIT", "2016 Samuel Aaron; Sonic Pi"))
        if licence not in ("CC0", "MIT"):
            raise SystemExit(f"{name}: licence {licence} is not CC0/MIT; do not bundle it")
        dst = out / folder / f"{name}.flac"
        sr, ch, sec = convert(src, dst, DRUM_RATE, mono=mono)
        step = ("mixed to mono, " if mono and ch > 1 else "") + f"resampled to {DRUM_RATE} Hz"
        rows.append((dst.relative_to(out), f"sonic-pi-samples {sonic_v}: {src} ({credit})",
                     licence, sr, ch, sec, step))

    for label, names in DRUMS.items():
        for name in names:
            sonic(name, f"drums/{label}", mono=True)
    for name in STEREO:
        sonic(name, "stereo", mono=False)

    total = sum(p.stat().st_size for p in out.rglob("*.flac"))
    lines = [
        "# Bundled audio clips",
        "",
        "Made by `scripts/make_audio_assets.py` from the Debian packages pocketsphinx-testdata "
        f"{sphinx_v} and sonic-pi-samples {sonic_v}; {len(rows)} files, "
        f"{total / 1e6:.2f} MB. Licence texts: [LICENSE](LICENSE).",
        "",
        "| file | source | licence | original rate, channels, seconds | processing |",
        "|---|---|---|---|---|",
    ]
    for rel, src, lic, sr, ch, sec, step in rows:
        lines.append(f"| {rel} | {src} | {lic} | {sr} Hz, {ch}, {sec:.2f} s | {step} |")
    (out / "README.md").write_text("\n".join(lines) + "\n")
    (out / "LICENSE").write_text(
        "speech/*: pocketsphinx-testdata, BSD-2-Clause\n"
        "=============================================\n\n" + sphinx_licence() +
        "\ndrums/**, stereo/*: sonic-pi-samples\n"
        "====================================\n\n"
        "Files marked CC0 in README.md: freesound.org recordings dedicated to the public domain "
        "under Creative Commons Zero 1.0\n(https://creativecommons.org/publicdomain/zero/1.0/); "
        "authors and sources are listed per file in README.md.\n\n"
        "Files marked MIT in README.md: the Sonic Pi licence:\n\n" + MIT
    )
    print(f"wrote {len(rows)} clips ({total / 1e6:.2f} MB) to {out}")


if __name__ == "__main__":
    main()
