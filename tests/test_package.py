"""Packaging and documentation checks: what a user sees first must work."""

import ast
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODALITIES = "polydiff.modalities"


def test_modalities_install_under_polydiff_only():
    spec = importlib.util.find_spec("polydiff.modalities.image")
    assert spec is not None
    # the repo's top-level folder must not be importable as `modalities` (a PyPI name)
    code = "import importlib.util, sys; print(importlib.util.find_spec('modalities'))"
    out = subprocess.run([sys.executable, "-c", code], cwd="/", capture_output=True, text=True)
    assert out.stdout.strip() == "None", out.stdout + out.stderr


def test_readme_tour_runs():
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "README.md has no python example"
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102
    assert namespace["x"].shape == (8, 32)


def test_readme_commands_match_ci():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    commands = re.search(r"```bash\n(.*?)```", readme, flags=re.S).group(1).splitlines()
    setup, test = (c.split("#")[0].strip() for c in commands[:2])
    assert setup in ci and test in ci


def _is_modality(name: str) -> bool:
    return name == MODALITIES or name.startswith(MODALITIES + ".")


def modality_imports(source: str, module: str, is_package: bool = False) -> list[tuple[int, str]]:
    """``(line, what)`` for each import of ``polydiff.modalities`` (or below) in ``source``, the
    code of ``module``: ``import``, ``from`` (absolute or relative), and ``import_module`` /
    ``__import__`` of a string literal naming a modality. A dynamic import of exactly
    ``"polydiff.modalities"``, the discovery package, is allowed."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, f"import {a.name}") for a in node.names if _is_modality(a.name)]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join([*base, *([node.module] if node.module else [])])
            # `from polydiff import modalities` imports the package too
            if any(_is_modality(f"{target}.{a.name}") or _is_modality(target) for a in node.names):
                names = ", ".join(a.name for a in node.names)
                found.append((node.lineno, f"from {'.' * node.level}{node.module or ''} "
                                           f"import {names} (resolves to {target})"))
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            fname = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            arg = node.args[0]
            if fname in ("import_module", "__import__") and isinstance(arg, ast.Constant) \
                    and isinstance(arg.value, str):
                name = arg.value
                if name.startswith("."):  # relative to the module's package
                    level = len(name) - len(name.lstrip("."))
                    rest = [name.lstrip(".")] if name.lstrip(".") else []
                    name = ".".join([*package[: len(package) - level + 1], *rest])
                if _is_modality(name) and name != MODALITIES:
                    found.append((node.lineno, f"{fname}({arg.value!r})"))
    return found


@pytest.mark.parametrize(("code", "module", "flagged"), [
    ("import polydiff.modalities.image", "polydiff.cli", True),
    ("import polydiff.modalities", "polydiff.cli", True),
    ("from polydiff.modalities.image import x", "polydiff.cli", True),
    ("from polydiff import modalities", "polydiff.cli", True),
    ("from ..modalities.image import x", "polydiff.training.demo", True),
    ("from .. import modalities", "polydiff.training.demo", True),
    ("from . import modalities", "polydiff", True),  # inside polydiff/__init__.py
    ("importlib.import_module('polydiff.modalities.image')", "polydiff.cli", True),
    ("import_module('..modalities.image', __package__)", "polydiff.training.x", True),
    ("importlib.import_module('polydiff.modalities')", "polydiff.modality", False),
    ("from ..modality import Modality", "polydiff.training.demo", False),
    ("from . import nn, samplers", "polydiff", False),
    ("importlib.import_module(name)", "polydiff.cli", False),
])
def test_modality_import_scan(code: str, module: str, flagged: bool) -> None:
    hits = modality_imports(code, module, is_package=module == "polydiff")
    assert bool(hits) == flagged, f"{code!r} in {module}: found {hits}, expected flagged={flagged}"


def test_core_does_not_import_modalities():
    """The core (polydiff/) must not depend on any bundled modality; it may only discover them
    through ``importlib.import_module("polydiff.modalities")``."""
    offenders = []
    for path in sorted((ROOT / "polydiff").rglob("*.py")):
        rel = path.relative_to(ROOT)
        parts = rel.with_suffix("").parts
        is_package = parts[-1] == "__init__"
        module = ".".join(parts[:-1] if is_package else parts)
        for line, what in modality_imports(path.read_text(), module, is_package):
            offenders.append(f"{rel}:{line}: {what}")
    assert not offenders, (
        "modules of the core import a modality:\n  " + "\n  ".join(offenders)
        + f"\nexpected none (only importlib.import_module({MODALITIES!r}) is allowed)")


MODALITY_DIR = ROOT / "modalities"


def _core_imports(path, root=MODALITY_DIR, package=("polydiff", "modalities")):
    """``(line, module, names, relative)`` of every import of polydiff's core in ``path``, a
    file below ``root``, the folder of the package ``package`` (relative imports that leave
    the modality's package resolved)."""
    rel = path.relative_to(root)
    package = [*package, *rel.parts[:-1]]
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("polydiff") and not target.startswith("polydiff.modalities"):
                out.append((node.lineno, target, [a.name for a in node.names],
                            node.level > 0))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "polydiff" or (alias.name.startswith("polydiff.") and
                                                not alias.name.startswith("polydiff.modalities")):
                    out.append((node.lineno, alias.name, [], False))
    return out


def test_modalities_use_only_the_declared_plugin_api():
    """Every bundled modality imports the core only as ``from polydiff.plugin import ...``
    and only names the plugin API declares (docs/modalities.md), with absolute imports."""
    import polydiff.plugin as plugin

    bad = []
    files = sorted(MODALITY_DIR.rglob("*.py"))
    for path in files:
        for line, target, names, relative in _core_imports(path):
            where = f"{path.relative_to(MODALITY_DIR)}:{line}"
            if target != "polydiff.plugin" or relative:
                bad.append(f"{where} imports {target} {names}")
            else:
                bad += [f"{where} imports {n!r}, not in the plugin API" for n in names
                        if n not in plugin.__all__]
    assert len(files) > 40 and not bad, "\n".join(bad)
    for name in plugin.__all__:  # every declared name resolves
        assert getattr(plugin, name) is not None, name


def test_the_plugin_api_is_documented():
    import polydiff.plugin as plugin

    doc = (ROOT / "docs" / "modalities.md").read_text()
    section = doc[doc.index("## The plugin API"):]
    section = section[:section.index("\n## ", 4)]
    named = set(re.findall(r"`([A-Za-z_]+)`", section))
    assert not set(plugin.__all__) - named, sorted(set(plugin.__all__) - named)
