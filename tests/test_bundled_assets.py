"""polydiff.assets.resolve_bundled: ``"bundled:NAME"`` paths and the one error for a wrong
name."""

from __future__ import annotations

from pathlib import Path

import pytest

from polydiff.assets import bundled_entries, resolve_bundled


@pytest.fixture()
def assets(tmp_path) -> Path:
    root = tmp_path / "assets"
    for name in ("drums/kick", "speech"):
        (root / name).mkdir(parents=True)
    for name in ("a.nc", "b.nc", "README.md"):
        (root / name).write_text("x")
    return root


def test_other_paths_are_unchanged(assets):
    assert resolve_bundled("data/x.nc", assets, "field") == Path("data/x.nc")
    assert resolve_bundled(Path("/abs/dir"), assets, "clip set", folders=True) == Path("/abs/dir")


def test_bundled_names_resolve_under_the_assets_folder(assets):
    assert resolve_bundled("bundled:a.nc", assets, "field", suffix=".nc") == assets / "a.nc"
    assert resolve_bundled("bundled:/speech/", assets, "clip set", folders=True) == (
        assets / "speech")
    assert resolve_bundled("bundled:drums/kick", assets, "clip set", folders=True) == (
        assets / "drums" / "kick")
    assert bundled_entries(assets, folders=True) == ["drums", "speech"]
    assert bundled_entries(assets, suffix=".nc") == ["a.nc", "b.nc"]
    assert bundled_entries(assets) == ["README.md", "a.nc", "b.nc"]
    assert bundled_entries(assets / "nowhere") == []


@pytest.mark.parametrize("text", ["bundled:nope", "bundled:", "bundled:a.nc",
                                  "bundled:../" + "x"])
def test_a_wrong_folder_name_lists_the_bundled_ones(assets, text):
    with pytest.raises(ValueError, match=r"no bundled clip set '.*'; bundled: "
                                         r"\['bundled:drums', 'bundled:speech'\]$"):
        resolve_bundled(text, assets, "clip set", folders=True)


@pytest.mark.parametrize("text", ["bundled:x.nc", "bundled:README.md", "bundled:speech"])
def test_a_wrong_file_name_lists_the_bundled_ones(assets, text):
    with pytest.raises(ValueError, match=r"no bundled field '.*'; bundled: "
                                         r"\['bundled:a\.nc', 'bundled:b\.nc'\]$"):
        resolve_bundled(text, assets, "field", suffix=".nc")


def test_names_cannot_leave_the_assets_folder(assets):
    (assets.parent / "outside.nc").write_text("x")
    with pytest.raises(ValueError, match=r"no bundled field '\.\./outside\.nc'"):
        resolve_bundled("bundled:../outside.nc", assets, "field", suffix=".nc")
