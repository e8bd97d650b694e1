"""Shared test settings: small, deterministic hypothesis profiles for a 2-core CI."""

import os

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
