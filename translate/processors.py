"""Processors: what ``translate run`` and ``translate generate`` run, behind one interface each.

A :class:`Processor` turns one input file into one translated image for the batch pipeline
(:mod:`translate.batch`); a :class:`GenerateProcessor` turns seeds or latent walks into images
for ``translate generate``. The local ones here run a model in this process
(:mod:`translate.backends`); the remote ones, which send the work to a running server, live with
the gRPC client in ``serving.remote`` and are found through :func:`translate.plugins.remote`, so
the library never imports the server. Both kinds use the same image and latent code, so both
give the same pixels.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Protocol

from translate.modelinfo import ModelInfo

CHUNK = 64  # latents per generate call: memory stays bounded however many seeds are asked for


class Processor(Protocol):
    """What the batch pipeline runs: ``load`` in the loader threads, ``__call__`` in the inference stage.

    ``concurrency`` is how many inference calls may run at once: 1 for a local model (ONNX
    Runtime already uses every core for one call), more for a server (requests overlap and its
    dynamic batcher groups them). ``__call__`` returns a ``translate.images.Image``.
    """

    concurrency: int

    def load(self, path: Path) -> Any: ...

    def __call__(self, payload: Any) -> Any: ...

    def close(self) -> None: ...


class GenerateProcessor(Protocol):
    """What ``translate generate`` runs: images for seeds, or for a latent walk between two seeds.

    ``info`` describes the model (task, latent size, classes); ``chunk`` is the most images one
    ``generate`` call should be asked for. Images are ``translate.images.Image``. ``label`` is a
    label number; a class name becomes one through ``info.label_of(name)`` (the names are in
    ``info.class_names``), which local and remote processors both have.
    """

    info: ModelInfo
    chunk: int

    def generate(self, seeds: list[int], *, label: int | None, truncation: float | None) -> list: ...

    def interpolate(self, seed_a: int, seed_b: int, steps: int, *, label: int | None,
                    truncation: float | None) -> list: ...

    def close(self) -> None: ...


class LocalTranslate:
    """Processor on a local model: decode in the loader threads, translate in one thread.

    The translation is ``translate.images.apply_model`` (prepare, whole or tiled, finish): the
    same function the server calls.
    """

    concurrency = 1  # ONNX Runtime / torch already use every core for one call

    def __init__(self, backend, *, tile: int | None, overlap: int, batch_size: int = 4) -> None:
        from translate.errors import ConfigError

        if backend.info.task == "generate":
            raise ConfigError("this model generates images from latents; use `translate generate`, not `run`")
        self.backend, self.tile, self.overlap, self.batch_size = backend, tile, overlap, batch_size

    @classmethod
    def load_model(cls, model: str, *, direction: str | None, device: str, tile: int | None, overlap: int | None,
                   batch_size: int, threads: int | None = None, backend: str = "auto",
                   precision: str = "auto") -> LocalTranslate:
        """Load an .onnx file (ONNX Runtime / OpenVINO) or a checkpoint (PyTorch) and pick the tiling for its scale.

        ``threads``: inference threads (default: the runtime's own choice, every core); ``backend``
        and ``precision``: see :func:`translate.backends.load_backend`.
        """
        from translate.backends import load_backend
        from translate.images import default_tiling

        backend = load_backend(model, direction=direction, device=device, intra_op_threads=threads, backend=backend,
                               precision=precision)
        tile, overlap = default_tiling(backend.info.scale, tile, overlap)
        return cls(backend, tile=tile, overlap=overlap, batch_size=batch_size)

    def load(self, path: Path):
        """Read and decode (EXIF orientation, grey/RGBA, size limits: all in translate.images)."""
        from translate.images import read_image

        return read_image(path)

    def __call__(self, img):
        """Translate one decoded image (padding and tiling inside)."""
        from translate.images import apply_model

        return apply_model(self.backend, img, self.backend.info, tile=self.tile, overlap=self.overlap,
                           batch_size=self.batch_size)

    def close(self) -> None:
        """Release the model."""
        self.backend.close()


class LocalGenerator:
    """GenerateProcessor on a local model (:class:`translate.latents.Sampler`)."""

    def __init__(self, model: str, device: str = "auto") -> None:
        from translate.backends import load_backend
        from translate.latents import Sampler

        self.backend = load_backend(model, device=device)
        self.info = self.backend.info
        self.chunk = CHUNK
        self.sampler = Sampler(self.backend) if self.info.task == "generate" else None

    def generate(self, seeds: list[int], *, label: int | None, truncation: float | None) -> list:
        """One image per seed."""
        return self.sampler.generate(seeds=seeds, labels=label, truncation=truncation)

    def interpolate(self, seed_a: int, seed_b: int, steps: int, *, label: int | None,
                    truncation: float | None) -> list:
        """``steps`` images along the great circle from seed A's latent to seed B's."""
        from translate.latents import latent_walk

        z = latent_walk(seed_a, seed_b, steps, self.info.latent_size, truncation)
        return self.sampler.generate(z=z, labels=label)

    def close(self) -> None:
        """Release the model."""
        self.backend.close()


def class_suffix(name: str | None) -> str:
    """What output file names of class ``name`` end with before ``.png`` (``-classNAME``; "" without a class)."""
    return "" if name is None else f"-class{_file_safe(name)}"


def _file_safe(name: str) -> str:
    """A class name as part of a file name: letters, digits, '.', '_' and '-' kept, anything else '_'."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)[:64]
