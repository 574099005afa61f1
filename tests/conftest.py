"""Shared pytest fixtures: deterministic seeds and a torch thread count that suits 2 cores."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest
import torch

# Under pytest-xdist every worker gets one thread: workers already use the cores in parallel.
torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else 2)


@pytest.fixture(autouse=True)
def _seed_everything():
    """Every test starts from the same RNG state, so failures reproduce."""
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    yield
