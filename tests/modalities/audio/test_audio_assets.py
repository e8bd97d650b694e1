"""The bundled clips: small, readable, and every file's origin and licence recorded."""

from __future__ import annotations

import re
from pathlib import Path

import soundfile as sf

ASSETS = Path(__file__).resolve().parents[3] / "modalities" / "audio" / "assets"


def test_every_clip_is_listed_with_a_redistributable_licence():
    rows = re.findall(r"^\| (\S+\.flac) \| (.+?) \| (.+?) \|", (ASSETS / "README.md").read_text(),
                      flags=re.M)
    listed = {name: licence for name, _, licence in rows}
    files = {p.relative_to(ASSETS).as_posix() for p in ASSETS.rglob("*.flac")}
    assert files and set(listed) == files
    assert set(listed.values()) <= {"BSD-2-Clause (CMU)", "CC0", "MIT"}
    text = (ASSETS / "LICENSE").read_text()
    assert "Carnegie Mellon University" in text and "Samuel Aaron" in text


def test_clips_are_small_and_readable():
    paths = sorted(ASSETS.rglob("*.flac"))
    assert sum(p.stat().st_size for p in paths) < 3_000_000
    for p in paths:
        info = sf.info(p)
        assert info.frames > 0 and info.samplerate in (16000, 22050), p
        assert info.channels == (2 if p.parent.name == "stereo" else 1), p
