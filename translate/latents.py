"""Latent vectors for unconditional generators: seeds, truncation, walks, and the Sampler on top.

Seeds: seed ``s`` names the latent ``np.random.default_rng(s).standard_normal(nz)`` (float32),
so a seed gives the same image on every run, locally and through the server.
Truncation (the "truncation trick" of Brock et al. 2019, BigGAN, sec. 3.1): with ``psi`` set,
every component with ``|z_i| > psi`` is redrawn from the same per-seed generator until all lie
within ``[-psi, psi]``, trading variety for fidelity; the result is still a pure function of
``(seed, nz, psi)``. Latent walks interpolate spherically (slerp, as recommended by White 2016,
"Sampling Generative Networks"; the walks of the DCGAN paper, Radford et al. 2016, sec. 6.1).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from translate.backends import Backend
from translate.errors import ConfigError, ModelError
from translate.modelinfo import ModelInfo

MIN_TRUNCATION = 0.01  # below this nearly every draw is rejected and all images look alike


def seed_latents(seeds: Iterable[int], nz: int, truncation: float | None = None) -> np.ndarray:
    """float32 [N, nz]: one latent per seed (see the module docstring for the truncation rule)."""
    if truncation is not None and not truncation >= MIN_TRUNCATION:
        raise ConfigError(f"truncation psi must be >= {MIN_TRUNCATION} (got {truncation}); leave it out for none")
    rows = []
    for seed in seeds:
        if int(seed) < 0:
            raise ConfigError(f"seeds are non-negative integers (got {seed})")
        rng = np.random.default_rng(int(seed))
        z = rng.standard_normal(nz)
        if truncation is not None:
            out = np.abs(z) > truncation
            while out.any():  # redraw only the outliers, from the same per-seed stream
                z[out] = rng.standard_normal(int(out.sum()))
                out = np.abs(z) > truncation
        rows.append(z.astype(np.float32))
    return np.stack(rows) if rows else np.zeros((0, nz), np.float32)


def slerp(a: np.ndarray, b: np.ndarray, t: float | np.ndarray) -> np.ndarray:
    """Spherical interpolation between latents ``a`` and ``b`` ([nz] or [N, nz]) at ``t`` in [0, 1].

    Gaussian latents live near a sphere, so walking along the great circle keeps the norm
    typical (White 2016, "Sampling Generative Networks"); nearly parallel vectors fall back to
    linear interpolation. ``t`` may be an array of K values: the result is then [K, nz].
    """
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    t = np.asarray(t, np.float64)
    if t.ndim == 1:
        return np.stack([slerp(a, b, float(ti)) for ti in t]).astype(np.float32)
    an = a / np.linalg.norm(a, axis=-1, keepdims=True)
    bn = b / np.linalg.norm(b, axis=-1, keepdims=True)
    dot = np.clip(np.sum(an * bn, axis=-1, keepdims=True), -1.0, 1.0)
    omega = np.arccos(dot)
    so = np.sin(omega)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(
            so > 1e-6,
            (np.sin((1 - t) * omega) / so) * a + (np.sin(t * omega) / so) * b,
            (1 - t) * a + t * b,
        )
    return out.astype(np.float32)


def latent_walk(seed_a: int, seed_b: int, steps: int, nz: int, truncation: float | None) -> np.ndarray:
    """float32 latents [steps, nz] from seed A's to seed B's by slerp, both ends included."""
    za, zb = seed_latents([seed_a, seed_b], nz, truncation)
    return slerp(za, zb, np.linspace(0.0, 1.0, steps))  # [steps, nz]


class Sampler:
    """Seeds or latents -> images for generate models (DCGAN)."""

    def __init__(self, backend: Backend, batch_size: int = 16):
        if backend.info.task != "generate":
            raise ModelError(f"this is a {backend.info.task} model, not a generate model; use "
                             "translate.images.apply_model (translate run)")
        self.backend, self.batch_size = backend, max(1, int(batch_size))

    @property
    def info(self) -> ModelInfo:
        """The backend's model description."""
        return self.backend.info

    def seed_latents(self, seeds: Iterable[int], truncation: float | None = None) -> np.ndarray:
        """float32 [N, nz]; the same function the server uses (see :func:`seed_latents`)."""
        return seed_latents(seeds, self.info.latent_size, truncation)

    def generate_arrays(self, seeds: Sequence[int] | None = None, z: np.ndarray | None = None,
                        labels: int | Sequence[int] | np.ndarray | None = None,
                        truncation: float | None = None, *,
                        classes: str | Sequence[str] | None = None) -> np.ndarray:
        """Like :meth:`generate` but returns the raw float32 [N, C, S, S] output in [-1, 1]."""
        if (seeds is None) == (z is None):
            raise ConfigError("pass either seeds or z")
        if classes is not None:
            if labels is not None:
                raise ConfigError("pass either labels (label numbers) or classes (class names), not both")
            labels = self.info.labels_of(classes, what="class name")
        if z is None:
            z = self.seed_latents(seeds, truncation)
        elif truncation is not None:
            raise ConfigError("truncation applies to seeds; clip your own z before passing it")
        z = np.asarray(z, np.float32)
        if z.ndim == 1:
            z = z[None]
        if labels is not None:
            labels = np.asarray(labels).reshape(-1)
            if labels.size == 1 and len(z) != 1:
                labels = np.full(len(z), labels[0], labels.dtype)  # one class for every sample
        lab = self.info.check_labels(labels, len(z))
        outs = []
        for i in range(0, len(z), self.batch_size):
            outs.append(self.backend.generate(z[i : i + self.batch_size],
                                              None if lab is None else lab[i : i + self.batch_size]))
        return np.concatenate(outs) if outs else np.zeros((0, self.info.out_channels, 1, 1), np.float32)

    def generate(self, seeds: Sequence[int] | None = None, z: np.ndarray | None = None,
                 labels: int | Sequence[int] | np.ndarray | None = None,
                 truncation: float | None = None, *, classes: str | Sequence[str] | None = None) -> list:
        """Images (translate.images.Image, uint8) for ``seeds`` or explicit latents ``z`` [N, nz].

        Class-conditional models only: ``classes`` names the class (``info.class_names``, e.g. the
        training folder's name) for all samples or one per sample; ``labels`` gives label numbers
        0..num_classes-1 instead.
        """
        from translate.images import Image, from_model_array

        arrays = self.generate_arrays(seeds=seeds, z=z, labels=labels, truncation=truncation, classes=classes)
        return [Image(pixels=from_model_array(a), alpha=None, format=None) for a in arrays]
