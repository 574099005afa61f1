"""Latents: seeds name latent vectors, truncation redraws only the outliers, slerp walks the sphere.

Spec: translate/latents.py (seed_latents, slerp, latent_walk); the Sampler on real models is
tested with the backends (test_backends.py).
"""

from __future__ import annotations

import numpy as np
import pytest

from translate.errors import ConfigError
from translate.latents import latent_walk, seed_latents, slerp


def test_seed_latents_are_deterministic_and_truncated():
    a = seed_latents([3, 7], 16)
    assert a.dtype == np.float32 and a.shape == (2, 16)
    np.testing.assert_array_equal(a[0], np.random.default_rng(3).standard_normal(16).astype(np.float32))
    np.testing.assert_array_equal(seed_latents([7], 16)[0], a[1])  # a seed's latent does not depend on its batch
    t = seed_latents([3, 7], 16, truncation=0.5)
    assert np.abs(t).max() <= 0.5
    kept = np.abs(a) <= 0.5
    np.testing.assert_array_equal(t[kept], a[kept])  # only the outliers are redrawn
    np.testing.assert_array_equal(t, seed_latents([3, 7], 16, truncation=0.5))
    with pytest.raises(ConfigError, match="truncation"):
        seed_latents([1], 16, truncation=0)


def test_slerp_endpoints_and_norm():
    a, b = seed_latents([1, 2], 64)
    np.testing.assert_allclose(slerp(a, b, 0.0), a, atol=1e-5)
    np.testing.assert_allclose(slerp(a, b, 1.0), b, atol=1e-5)
    walk = slerp(a, b, np.linspace(0, 1, 5))
    assert walk.shape == (5, 64)
    norms = np.linalg.norm(walk, axis=1)
    assert norms.min() > 0.9 * min(np.linalg.norm(a), np.linalg.norm(b))  # no shrinking toward 0 midway
    np.testing.assert_allclose(slerp(a, a, 0.3), a, atol=1e-5)  # parallel vectors: linear fallback


def test_latent_walk_runs_from_seed_a_to_seed_b():
    walk = latent_walk(3, 7, 5, 16, None)
    assert walk.shape == (5, 16) and walk.dtype == np.float32
    a, b = seed_latents([3, 7], 16)
    np.testing.assert_allclose(walk[0], a, atol=1e-5)
    np.testing.assert_allclose(walk[-1], b, atol=1e-5)
    np.testing.assert_allclose(walk, slerp(a, b, np.linspace(0, 1, 5)))
