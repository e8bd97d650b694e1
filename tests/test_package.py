"""Packaging and documentation checks: what a user sees first must work."""

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


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
