"""Package list for polydiff, computed so that no folder can be forgotten.

Everything else (metadata, dependencies, package data) lives in pyproject.toml. pyproject alone
cannot auto-discover packages under a renamed root, and the repo's ``modalities/`` folder is
installed as ``polydiff.modalities`` (a PyPI package is called ``modalities``; it must never be
installed at the top level). So: every folder with an ``__init__.py`` under ``polydiff/`` keeps
its name, and every one under ``modalities/`` gets the ``polydiff.modalities`` prefix.
"""

from setuptools import find_packages, setup

CORE = find_packages(include=["polydiff", "polydiff.*"])
# find_packages(where=...) lists the sub-packages of the root, not the root itself
MODALITIES = ["polydiff.modalities"] + [
    f"polydiff.modalities.{name}" for name in find_packages(where="modalities")
]

setup(
    packages=CORE + MODALITIES,
    # the nearest mapped parent wins: polydiff.modalities.image -> modalities/image
    package_dir={"polydiff": "polydiff", "polydiff.modalities": "modalities"},
)
