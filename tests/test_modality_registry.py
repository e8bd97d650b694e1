"""The modality registry: bundled discovery, entry points, registration and lookups."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from polydiff import modality as reg
from polydiff.modality import Modality, get_modality, modality_names, register_modality


def test_bundled_image_is_found_and_lazy():
    image = get_modality("image")
    assert "image" in modality_names()
    assert image.config().is_file() and image.config().suffix == ".yaml"
    assert image.writer().__name__ == "write_png"
    assert image.reader("png").__name__ == "read_png"
    demo = reg.resolve(image.demo, "image demo")
    assert callable(demo) and demo.__name__ == "image_demo"


def test_unknown_names_list_the_choices():
    with pytest.raises(ValueError, match=r"unknown modality 'sound'; expected one of .*'image'"):
        get_modality("sound")
    with pytest.raises(ValueError, match=r"unknown image writer 'wav'.*\['png'\]"):
        get_modality("image").writer("wav")
    with pytest.raises(ValueError, match="'module:attribute'"):
        reg.resolve("no_colon_here", "demo")
    with pytest.raises(ValueError, match="cannot load 'polydiff:nope'"):
        reg.resolve("polydiff:nope", "demo")
    with pytest.raises(ValueError, match="identifier"):
        Modality(name="my modality")


def test_register_refuses_a_second_of_the_same_name():
    mine = Modality(name="mine_test", writers={"x": lambda x, p, m: p})
    try:
        register_modality(mine)
        assert get_modality("mine_test") is mine
        register_modality(mine)  # the same object again is fine
        with pytest.raises(ValueError, match="already registered"):
            register_modality(Modality(name="mine_test"))
        other = register_modality(Modality(name="mine_test"), replace=True)
        assert get_modality("mine_test") is other
        with pytest.raises(TypeError, match="Modality"):
            register_modality({"name": "x"})
    finally:
        reg.unregister_modality("mine_test")
    assert "mine_test" not in modality_names()


def test_data_offset_goes_on_in_data_units_and_off_in_model_units():
    """``data_units`` = normaliser inverted + the modality's offset; ``model_units`` its
    inverse; the offset applies only where the modality says (here: 3 channels)."""
    import torch

    from polydiff.normalize import Normalizer
    from polydiff.training.outputs import data_units, model_units

    def offset(meta, shape):
        return None if shape[1] != 3 else torch.tensor(meta["shift"]).view(1, 3, 1)

    mine = Modality(name="offset_test", data_offset=offset)
    norm = Normalizer.fit([(torch.randn(3, 5) * 2 + 1, None)])
    info = {"modality": "offset_test", "normalizer": norm.to_dict(),
            "meta": {"shift": [1.0, -2.0, 10.0]}}
    try:
        register_modality(mine)
        z = torch.randn(2, 3, 5)
        x = data_units(z, info)
        torch.testing.assert_close(x, norm.denormalize(z) + torch.tensor(
            [1.0, -2.0, 10.0]).view(1, 3, 1))
        torch.testing.assert_close(model_units(x, info), z)
        w = torch.randn(2, 2, 5)  # no offset for this shape
        torch.testing.assert_close(data_units(w, {**info, "normalizer": None}), w)
        assert Modality(name="plain_test").offset({}, (1, 3)) is None
    finally:
        reg.unregister_modality("offset_test")


def _fake_distribution(root: Path, value: str) -> None:
    """An installed package ``toyep`` whose entry point adds a modality ``spectra``."""
    (root / "toyep_pkg.py").write_text(textwrap.dedent('''
        from polydiff.modality import Modality

        def demo(**kwargs):
            print("spectra demo ran", sorted(kwargs))

        MODALITY = Modality(name="spectra", description="(B, 1, K) toy spectra", demo=demo)
    '''))
    info = root / "toyep-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toyep\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[polydiff.modalities]\nspectra = {value}\n")


def _run(code: str, root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                          text=True, env={"PYTHONPATH": str(root), "PATH": ""}, timeout=120)


def test_entry_point_modality_is_registered_and_demo_runs(tmp_path):
    _fake_distribution(tmp_path, "toyep_pkg:MODALITY")
    proc = _run("from polydiff.cli import main; main(['demo']); "
                "main(['demo', 'spectra', '--max-steps', '1'])", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "spectra" in proc.stdout and "(B, 1, K) toy spectra" in proc.stdout
    assert "image" in proc.stdout
    assert "spectra demo ran" in proc.stdout and "'max_steps'" in proc.stdout


def test_broken_entry_point_warns_and_the_rest_still_works(tmp_path):
    _fake_distribution(tmp_path, "toyep_pkg:NOT_THERE")
    proc = _run("import warnings; warnings.simplefilter('always');"
                "from polydiff.modality import modality_names; print(modality_names())",
                tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "'image'" in proc.stdout and "spectra" not in proc.stdout
    assert "entry point 'spectra'" in proc.stderr and "was not loaded" in proc.stderr


def test_a_bundled_folder_without_modality_is_an_error(tmp_path, monkeypatch):
    import polydiff.modalities as bundled_pkg

    pkg = tmp_path / "orphan"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    monkeypatch.setattr(bundled_pkg, "__path__", [*bundled_pkg.__path__, str(tmp_path)])
    with pytest.raises(TypeError, match="orphan defines no MODALITY"):
        bundled_pkg.bundled()


def test_a_modality_adds_its_own_command(capsys, cli_error):
    from polydiff.cli import main
    from polydiff.modality import Command, modality_commands

    def arguments(p):
        p.add_argument("--times", type=int, required=True)

    def run(a):
        print("hello " * a.times)
        return 0

    mine = Modality(name="greeter_test", commands={"greet": Command("say hello", arguments, run)})
    register_modality(mine)
    try:
        assert main(["greet", "--times", "2"]) == 0
        assert "hello hello" in capsys.readouterr().out
        cli_error(["greet"], r"the following arguments are required: --times")
        try:
            main(["--help"])
        except SystemExit:
            pass
        assert "say hello [greeter_test]" in capsys.readouterr().out
        register_modality(Modality(name="greeter_two", commands={"greet": Command("x", arguments,
                                                                                   run)}))
        with pytest.raises(ValueError, match="'greet' is claimed by the modalities"):
            modality_commands()
    finally:
        reg.unregister_modality("greeter_test")
        reg.unregister_modality("greeter_two")


def test_the_registry_skips_a_broken_bundled_folder_with_a_warning(tmp_path, monkeypatch):
    import polydiff.modalities as bundled_pkg

    pkg = tmp_path / "broken_one"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("import a_package_that_is_not_installed\n")
    monkeypatch.setattr(bundled_pkg, "__path__", [*bundled_pkg.__path__, str(tmp_path)])
    with pytest.warns(UserWarning, match="broken_one was not loaded: No module named"):
        found = bundled_pkg.bundled(strict=False)
    assert "image" in [m.name for m in found]
    with pytest.raises(ModuleNotFoundError):
        bundled_pkg.bundled()
