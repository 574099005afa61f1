"""Inference behind one interface: exported ONNX models and PyTorch checkpoints.

- :mod:`translate.backends.base`: :class:`Backend` (the interface and its input checks),
  :data:`DEVICES`, :func:`gpu_present`;
- :mod:`translate.backends.onnxruntime`: :class:`OnnxBackend` on ONNX Runtime
  (https://onnxruntime.ai), :func:`session_options`, :func:`choose_providers`;
- :mod:`translate.backends.openvino`: :class:`OpenVinoBackend` on the OpenVINO runtime
  (https://docs.openvino.ai; the ``openvino`` extra), fp32, bf16 and int8;
- :mod:`translate.backends.torch`: :class:`TorchBackend`, a checkpoint's generator in PyTorch.

:func:`load_backend` picks one from the path, and for exported models the runtime and precision
(:mod:`translate.precision_auto`: explicit choices are checked, ``auto`` measures). What sits on
top is in :mod:`translate.images` (``apply_model``: image -> image) and :mod:`translate.latents`
(``Sampler``: seeds -> images), so the CLI, the server and the demo give the same pixels for the same input.
"""

from __future__ import annotations

import os

from translate.backends.base import DEVICES, Backend, gpu_present
from translate.errors import ConfigError, ModelError
from translate.modelrepo import resolve_model_path
from translate.precision import AUTO, BACKENDS, PRECISIONS, CpuCapabilities, RuntimeChoice, check_choice

__all__ = ["BACKENDS", "DEVICES", "PRECISIONS", "Backend", "gpu_present", "load_backend"]


def load_backend(model_path: str | os.PathLike, direction: str | None = None, device: str = "auto",
                 intra_op_threads: int | None = None, *, backend: str = AUTO, precision: str = AUTO,
                 capabilities: CpuCapabilities | None = None) -> Backend:
    """An exported model on the chosen runtime and precision; a checkpoint in PyTorch.

    ``.onnx`` files (and repository directories: ``MODELS/NAME/VERSION`` holds ``model.onnx``,
    ``MODELS/NAME`` means its highest version, see :func:`translate.modelrepo.resolve_model_path`)
    run on ``backend`` ("onnxruntime", "openvino" or "auto") in ``precision`` ("fp32", "bf16",
    "int8" or "auto"). ``auto`` takes the fastest variant measured on this machine among those
    that passed their fidelity gate at export, else fp32 on ONNX Runtime; an explicit choice that
    cannot run here raises ModelError saying why (:mod:`translate.precision_auto`). The result's
    ``choice`` records what was picked and why. ``capabilities`` replaces the CPU flags read from
    ``/proc/cpuinfo`` (tests, or a deliberate override).
    """
    check_choice(backend, precision)
    path = resolve_model_path(model_path)
    if path.suffix != ".onnx":
        if backend != AUTO or precision not in (AUTO, "fp32"):
            raise ConfigError(f"{path} is a checkpoint, run by PyTorch in fp32; --backend and --precision choose "
                              "among exported models: translate export it first")
        from translate.backends.torch import TorchBackend

        loaded = TorchBackend.from_checkpoint(path, direction=direction, device=device)
        loaded.choice = RuntimeChoice("torch", "fp32", "a checkpoint runs in PyTorch")
        return loaded
    if (backend, precision) == ("onnxruntime", "fp32"):
        from translate.backends.onnxruntime import OnnxBackend  # the reference itself: nothing to choose

        loaded = OnnxBackend(path, device=device, intra_op_threads=intra_op_threads)
        if loaded.precision != "fp32":
            loaded.close()
            raise ModelError(f"{path} is the {loaded.precision} variant; for fp32 load model.onnx")
        loaded.choice = RuntimeChoice("onnxruntime", "fp32", "chosen explicitly")
    else:
        from translate.precision_auto import open_backend

        loaded = open_backend(path, backend=backend, precision=precision, device=device, threads=intra_op_threads,
                              capabilities=capabilities)
    if direction and loaded.info.direction and loaded.info.direction != direction:
        loaded.close()
        raise ModelError(f"{path} translates {loaded.info.direction}, not {direction}; load the other export")
    return loaded
