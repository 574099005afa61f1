"""Inference behind one interface: exported ONNX models and PyTorch checkpoints.

- :mod:`translate.backends.base`: :class:`Backend` (the interface and its input checks),
  :data:`DEVICES`, :func:`gpu_present`;
- :mod:`translate.backends.onnxruntime`: :class:`OnnxBackend` on ONNX Runtime
  (https://onnxruntime.ai), :func:`session_options`, :func:`choose_providers`;
- :mod:`translate.backends.torch`: :class:`TorchBackend`, a checkpoint's generator in PyTorch.

:func:`load_backend` picks one from the path. What sits on top is in :mod:`translate.images`
(``apply_model``: image -> image) and :mod:`translate.latents` (``Sampler``: seeds -> images),
so the CLI, the server and the demo give the same pixels for the same input.
"""

from __future__ import annotations

import os

from translate.backends.base import DEVICES, Backend, gpu_present
from translate.errors import ModelError
from translate.modelrepo import resolve_model_path

__all__ = ["DEVICES", "Backend", "gpu_present", "load_backend"]


def load_backend(model_path: str | os.PathLike, direction: str | None = None, device: str = "auto",
                 intra_op_threads: int | None = None) -> Backend:
    """``.onnx`` file -> OnnxBackend; else a checkpoint -> TorchBackend.

    Repository directories work too: ``MODELS/NAME/VERSION`` (its ``model.onnx``) and
    ``MODELS/NAME`` (the highest version), see :func:`translate.modelrepo.resolve_model_path`.
    """
    path = resolve_model_path(model_path)
    if path.suffix == ".onnx":
        from translate.backends.onnxruntime import OnnxBackend

        backend = OnnxBackend(path, device=device, intra_op_threads=intra_op_threads)
        if direction and backend.info.direction and backend.info.direction != direction:
            raise ModelError(f"{path} translates {backend.info.direction}, not {direction}; load the other export")
        return backend
    from translate.backends.torch import TorchBackend

    return TorchBackend.from_checkpoint(path, direction=direction, device=device)
