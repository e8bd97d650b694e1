"""The built wheel ships every package and data file, and works outside the repo.

The wheel is built once per module from a clean copy of the sources, installed (non-editable)
into a fresh virtual environment that borrows .venv's dependencies, and used from a directory
outside the repo: this is what a user of ``pip install polydiff`` gets.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: repo folder -> the package name it installs as
ROOTS = {"polydiff": "polydiff", "modalities": "polydiff.modalities"}
#: what the build reads; copied so that no stale build/ folder of the repo leaks into the wheel
BUILD_INPUTS = ["pyproject.toml", "setup.py", "README.md", "LICENSE", *ROOTS]
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc")


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run ``cmd``; on failure, fail the test with its output."""
    out = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    assert out.returncode == 0, f"{cmd} exited {out.returncode}:\n{out.stdout}\n{out.stderr}"
    return out


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def _expected_packages() -> dict[str, Path]:
    """Installed package name -> source folder, for every folder with an ``__init__.py``."""
    found = {}
    for folder, name in ROOTS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            parts = init.parent.relative_to(ROOT / folder).parts
            found[".".join((name, *parts))] = init.parent
    return found


def _expected_data() -> dict[str, Path]:
    """Wheel path -> source file, for every ``configs/*.yaml`` and every file under ``assets/``."""
    found = {}
    for folder, name in ROOTS.items():
        for path in _files(ROOT / folder):
            rel = path.relative_to(ROOT / folder)
            if "assets" in rel.parts[:-1] or (rel.parent.name == "configs"
                                               and path.suffix == ".yaml"):
                found["/".join((*name.split("."), *rel.parts))] = path
    return found


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src, dist = tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("dist")
    for name in BUILD_INPUTS:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=IGNORE)
        elif (ROOT / name).exists():
            shutil.copy2(ROOT / name, src / name)
    # no build isolation: the build backend (setuptools, wheel; in the dev extra) is in .venv,
    # so no network and no fresh build environment are needed
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
          "--disable-pip-version-check", "-q", "-w", str(dist), str(src)])
    (whl,) = dist.glob("polydiff-*.whl")
    return whl


@pytest.fixture(scope="module")
def names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as z:
        return set(z.namelist())


@pytest.fixture(scope="module")
def env(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the wheel installed; dependencies come from .venv."""
    env = tmp_path_factory.mktemp("env")
    _run([sys.executable, "-m", "venv", "--without-pip", str(env)])
    python = env / "bin" / "python"
    # install before the dependencies are visible, so pip sees no other polydiff
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
          "--disable-pip-version-check", "-q", str(wheel)])
    # A path line in a .pth file is appended to sys.path, but that folder's own .pth files are
    # not run: .venv's editable-install finder (__editable__.polydiff*.pth) stays inactive.
    site = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"])
    deps = sysconfig.get_path("purelib")
    (Path(site.stdout.strip()) / "_polydiff_test_deps.pth").write_text(deps + "\n")
    return env


def test_wheel_has_every_package(names: set[str]) -> None:
    missing = {}
    for pkg, folder in _expected_packages().items():
        prefix = pkg.replace(".", "/")
        want = {f"{prefix}/{p.name}" for p in folder.glob("*.py")}
        if want - names:
            missing[pkg] = sorted(want - names)
    assert not missing, (
        f"packages (folders with an __init__.py) missing from the wheel, with the files not "
        f"found: {missing}; expected every one under {list(ROOTS)} (see setup.py)")


def test_wheel_has_configs_and_assets(names: set[str]) -> None:
    data = _expected_data()
    missing = sorted(set(data) - names)
    assert not missing, (f"data files missing from the wheel: {missing}; expected every "
                         f"configs/*.yaml and assets/** file (pyproject package-data)")


def test_wheel_has_no_top_level_modalities(names: set[str]) -> None:
    top = {n.split("/", 1)[0] for n in names}
    extra = sorted(t for t in top if t != "polydiff" and not t.endswith(".dist-info"))
    assert not extra, (f"unexpected top-level entries in the wheel: {extra}; expected only "
                       f"polydiff/ and the .dist-info (never a top-level modalities/)")


def test_installed_wheel_works_outside_repo(
    env: Path, names: set[str], tmp_path: Path
) -> None:
    # every package of the wheel under polydiff/modalities/, as an import name
    modalities = sorted(n.rsplit("/", 1)[0].replace("/", ".") for n in names
                        if n.startswith("polydiff/modalities/") and n.endswith("/__init__.py"))
    assert modalities, f"no polydiff.modalities.<name> package in the wheel: {sorted(names)}"
    code = f"""if True:
        import importlib, importlib.util, sys
        editable = [f for f in sys.meta_path if "editable" in type(f).__module__]
        assert not editable, f"the editable finder is active: {{editable}}"
        assert importlib.util.find_spec("modalities") is None, "top-level modalities importable"
        for name in {modalities!r}:
            importlib.import_module(name)
        import polydiff
        print(polydiff.__file__)
    """
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    out = _run([str(env / "bin" / "python"), "-c", code], cwd=tmp_path, env=clean)
    where = Path(out.stdout.strip().splitlines()[-1]).resolve()
    assert where.is_relative_to(env.resolve()), (
        f"polydiff imported from {where}; expected the fresh environment {env}")
    for args in (["--help"], ["demo", "--help"]):
        _run([str(env / "bin" / "polydiff"), *args], cwd=tmp_path, env=clean)
