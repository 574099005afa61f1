"""Shared pytest fixtures: deterministic seeds and a torch thread count that suits 2 cores."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest
import torch

# One torch thread per test process: the tests use tiny networks, for which one thread is faster;
# `make test` runs two xdist workers on a 2-core machine, so more threads would oversubscribe the
# cores (several times slower per step, measured on a loaded 2-core machine); and the bitwise
# resume comparisons need one fixed thread count.
torch.set_num_threads(1)
# The same for the commands the tests run (in-process and as subprocesses): without --threads,
# `translate train` and `translate run` on a checkpoint take OMP_NUM_THREADS when it is set, and
# otherwise choose by the load average, which would vary between two runs of one test.
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(autouse=True)
def _seed_everything():
    """Every test starts from the same RNG state, so failures reproduce."""
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    yield
