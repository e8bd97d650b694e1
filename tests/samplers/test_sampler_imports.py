"""``polydiff.samplers`` and ``polydiff.guidance`` depend on torch only (numpy/scipy at most),
so that other projects can import them without polydiff's training stack."""

import subprocess
import sys

ALLOWED = {"polydiff", "numpy", "scipy"}


def test_samplers_and_guidance_import_nothing_beyond_torch() -> None:
    code = (
        "import sys, torch\n"
        "before = set(sys.modules)\n"
        "import polydiff.samplers, polydiff.guidance\n"
        "print(' '.join(sorted({m.split('.')[0] for m in set(sys.modules) - before})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    new = set(out.stdout.split())
    assert "polydiff" in new  # the probe did import the packages
    # (private top-level names like `_cython_3_x` are compiled helpers of numpy/scipy)
    extra = {m for m in new - ALLOWED
             if m not in sys.stdlib_module_names and not m.startswith("_")}
    assert not extra, f"polydiff.samplers/guidance pull in {sorted(extra)}"
    # and none of polydiff's heavier parts come along
    code2 = code.replace("print(' '.join(sorted({m.split('.')[0] for m in set(sys.modules) - "
                         "before})))", "print(' '.join(sorted(m for m in sys.modules if "
                         "m.startswith('polydiff.'))))")
    mods = subprocess.run([sys.executable, "-c", code2], capture_output=True, text=True,
                          check=True).stdout.split()
    heavy = [m for m in mods if m.startswith(("polydiff.training", "polydiff.modalities",
                                              "polydiff.nn", "polydiff.cli"))]
    assert mods and not heavy, heavy


def _sampler_imports() -> dict[str, set[str]]:
    """Module -> the modules of ``polydiff.samplers`` it imports (anywhere in its code)."""
    import ast
    from pathlib import Path

    import polydiff.samplers as pkg

    root = Path(pkg.__file__).parent
    names = {p.stem for p in root.glob("*.py") if p.stem != "__init__"}
    graph = {}
    for name in names:
        tree = ast.parse((root / f"{name}.py").read_text())
        found = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                if node.module:
                    found.add(node.module.split(".")[0])
                else:
                    found.update(a.name for a in node.names)
        graph[name] = found & names
    return graph


def test_the_sampler_modules_import_each_other_without_a_cycle() -> None:
    graph = _sampler_imports()
    assert graph["_run"] and "registry" not in graph["_run"]  # the probe sees imports
    done, path = set(), []

    def visit(node: str) -> None:
        assert node not in path, f"import cycle: {' -> '.join([*path, node])}"
        if node in done:
            return
        path.append(node)
        for nxt in sorted(graph[node]):
            visit(nxt)
        path.pop()
        done.add(node)

    for node in sorted(graph):
        visit(node)
