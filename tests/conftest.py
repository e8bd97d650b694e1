"""Shared test settings: small, deterministic hypothesis profiles for a 2-core CI."""

import os

import pytest
import torch
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=25, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=25, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else "dev")
torch.set_num_threads(1)  # tiny tensors: one thread avoids contention on 2 cores


@pytest.fixture
def cli_error(capsys):
    """``cli_error(args, pattern)``: ``polydiff ARGS`` fails as a user error: exit status 2 and
    exactly one stderr line matching ``pattern`` (no traceback). Returns the line."""
    import re

    from polydiff.cli import main

    def run(args, pattern):
        capsys.readouterr()
        code = main([str(a) for a in args])
        err = capsys.readouterr().err.strip()
        assert code == 2, f"exit {code}, stderr: {err}"
        assert len(err.splitlines()) == 1, f"expected one line, got:\n{err}"
        assert re.search(pattern, err), f"{pattern!r} not in {err!r}"
        return err

    return run
