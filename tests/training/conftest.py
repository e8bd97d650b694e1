"""Fixtures for the training tests: launching multi-process (DDP/FSDP) training scripts."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest


def _run_ranks(script: str, workdir: Path, what: str, timeout: float = 240) -> str:
    """Run ``script`` (Lightning starts the other ranks by re-running it) with ``workdir`` as
    its argument; return its stdout. A hang kills every rank and fails naming ``what``."""
    path = workdir / f"{what.lower()}_train.py"
    path.write_text(script)
    proc = subprocess.Popen([sys.executable, str(path), str(workdir)], cwd=workdir,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # all ranks (Lightning ignores SIGTERM)
        stdout, stderr = proc.communicate()
        raise AssertionError(f"{what} run hung (deadlock?)\n" + stdout[-3000:]
                             + stderr[-3000:]) from None
    assert proc.returncode == 0, stdout[-3000:] + stderr[-3000:]
    return stdout


@pytest.fixture
def run_ranks():
    """``run_ranks(script, workdir, what) -> stdout`` (see :func:`_run_ranks`)."""
    return _run_ranks
