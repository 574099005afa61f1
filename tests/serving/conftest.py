"""Fixtures the server tests share (the server helpers themselves are in tests/server_fixtures.py)."""

from __future__ import annotations

import pytest
from server_fixtures import tiny_translator


@pytest.fixture()
def one_model(tmp_path):
    """A repository with a single translator, ``m`` version 1."""
    tiny_translator(tmp_path / "m" / "1" / "model.onnx", seed=1)
    return tmp_path
