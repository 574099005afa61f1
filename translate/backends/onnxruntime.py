"""Exported models on ONNX Runtime (https://onnxruntime.ai).

The session is the only parse of the file: the model's description (metadata, inputs,
outputs) is read from it through :func:`translate.modelrepo.file_of_session`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from translate.backends.base import DEVICES, GraphBackend, gpu_present
from translate.errors import ConfigError, ModelError
from translate.modelrepo import file_of_session
from translate.precision import file_precision

log = logging.getLogger(__name__)


def session_options(intra_op_threads: int | None = None, inter_op_threads: int | None = None):
    """ORT SessionOptions: all graph optimisations, quiet logs, optional thread counts."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3  # errors only: provider fallbacks are chosen on purpose here
    if intra_op_threads:
        opts.intra_op_num_threads = int(intra_op_threads)
    if inter_op_threads:
        opts.inter_op_num_threads = int(inter_op_threads)
    return opts


def choose_providers(device: str = "auto") -> list[str]:
    """ORT providers for ``device``: CUDA (then CPU) only where a GPU exists, else CPU alone.

    Asking ORT for CUDA on a machine without a GPU prints a long error before falling back,
    so the provider list is decided here instead of left to ORT.
    """
    import onnxruntime as ort

    if device not in DEVICES:
        raise ConfigError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")
    if device == "cpu":
        return ["CPUExecutionProvider"]
    cuda_ok = "CUDAExecutionProvider" in ort.get_available_providers() and gpu_present()
    if device == "cuda" and not cuda_ok:
        raise ModelError("device 'cuda' requested but no CUDA GPU (or no CUDA-enabled onnxruntime) is available; "
                         "use --device cpu")
    return ["CUDAExecutionProvider", "CPUExecutionProvider"] if cuda_ok else ["CPUExecutionProvider"]


class OnnxBackend(GraphBackend):
    """An exported model on ONNX Runtime; ``info``, ``metadata``, ``inputs`` and ``outputs`` come from the file."""

    runtime = "onnxruntime"

    def __init__(self, path: str | os.PathLike, device: str = "auto", intra_op_threads: int | None = None,
                 inter_op_threads: int | None = None):
        import onnxruntime as ort

        ort.set_default_logger_severity(3)
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelError(f"ONNX model {self.path} does not exist or is not a file")
        providers = choose_providers(device)
        if "CUDAExecutionProvider" in providers and hasattr(ort, "preload_dlls"):
            try:  # CUDA/cuDNN from the nvidia-* wheels (onnxruntime-gpu >= 1.21)
                ort.preload_dlls()
            except Exception as exc:  # the session below then reports what is missing
                log.debug("onnxruntime.preload_dlls failed: %s", exc)
        try:
            self.session = ort.InferenceSession(
                str(self.path), sess_options=session_options(intra_op_threads, inter_op_threads), providers=providers
            )
        except Exception as exc:  # ORT raises its own Fail/InvalidProtobuf types
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if type(exc).__name__ == "InvalidProtobuf":  # not an ONNX file at all (or a truncated one)
                raise ModelError(f"{self.path} is not a readable ONNX file ({type(exc).__name__}); re-export it "
                                 "with `translate export`") from exc
            raise ModelError(f"ONNX Runtime cannot load {self.path}: {first}") from exc
        described = file_of_session(self.session, self.path)
        self.info = described.info
        self.metadata, self.inputs, self.outputs = described.metadata, described.inputs, described.outputs
        self.precision = file_precision(self.metadata)  # "int8" for a quantised model.int8.onnx
        self._describe_inputs(self.path, self.inputs)

    @property
    def providers(self) -> list[str]:
        """Execution providers the session actually uses."""
        return self.session.get_providers()

    def _run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        try:
            return self.session.run(["output"], feeds)[0]
        except Exception as exc:  # ORT raises its own types (InvalidArgument, RuntimeException, ...)
            shapes = ", ".join(f"{k} {list(v.shape)}" for k, v in feeds.items())
            msg = str(exc).split("Status Message:")[-1].strip().splitlines()[0] if str(exc) else type(exc).__name__
            raise ModelError(f"ONNX Runtime failed on an input of shape {shapes}: {msg}") from exc

    def close(self) -> None:
        """Drop the session."""
        self.session = None
