"""Exported models on the OpenVINO runtime (https://docs.openvino.ai), which reads our ONNX files directly.

Precisions: ``fp32`` and ``bf16`` run ``model.onnx`` with ``INFERENCE_PRECISION_HINT`` set to
``f32`` / ``bf16``; ``int8`` runs the quantised ``model.int8.onnx`` (QDQ), with the ops left in float
in bf16 where the CPU has it natively, else f32. The hint is always passed explicitly: on CPUs with
native bf16 OpenVINO's default is bf16, so a backend that left it out would silently run bf16 when
asked for fp32. After compiling, the precision OpenVINO really chose is read back and checked (on
CPUs without AVX-512 it drops a bf16 hint without an error).

The model's description (:class:`~translate.modelinfo.ModelInfo`, metadata, inputs, outputs) is
read with :func:`translate.modelrepo.read_model_file`, the same reader ``translate info`` uses, so
both backends describe a file alike. Shapes stay dynamic (no reshape per request: measured, it saves
nothing at steady state). An ``InferRequest`` is not thread-safe, so each concurrent call takes
one from a small pool.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from pathlib import Path

import numpy as np

from translate.backends.base import DEVICES, GraphBackend
from translate.errors import ConfigError, ModelError
from translate.modelrepo import ModelFile, read_model_file
from translate.precision import CpuCapabilities, file_precision, read_cpu_capabilities

log = logging.getLogger(__name__)

INSTALL_HINT = "install the extra: pip install 'translate[openvino]'"
# OpenVINO's element-type names for the precision hint, by our precision names
_HINTS = {"fp32": "f32", "bf16": "bf16"}

_core = None
_core_lock = threading.Lock()


def openvino_core():
    """The process's one ``openvino.Core`` (ModelError with the install hint when the package is missing)."""
    global _core
    try:
        import openvino as ov
    except Exception as exc:  # ImportError, or a broken install (missing shared libraries)
        raise ModelError(f"the OpenVINO backend needs the openvino package ({exc}); {INSTALL_HINT}") from exc
    with _core_lock:
        if _core is None:
            _core = ov.Core()
        return _core


class OpenVinoBackend(GraphBackend):
    """An exported model on OpenVINO's CPU plugin; ``precision`` is what OpenVINO really runs.

    Args:
        path: the ONNX file (``model.onnx``; for ``precision="int8"`` its ``model.int8.onnx``).
        precision: ``fp32``, ``bf16`` or ``int8``.
        intra_op_threads: ``INFERENCE_NUM_THREADS`` (default: OpenVINO's choice, every core).
        device: ``auto`` or ``cpu`` (this backend runs on the CPU; ``cuda`` is refused).
        capabilities: the CPU's flags (default :func:`translate.precision.read_cpu_capabilities`);
            int8 runs its float ops in bf16 only where the CPU has bf16 natively.
        described: the file's :class:`ModelFile` when the caller has read it already.
    """

    runtime = "openvino"

    def __init__(self, path: str | os.PathLike, precision: str = "fp32", intra_op_threads: int | None = None,
                 device: str = "auto", capabilities: CpuCapabilities | None = None,
                 described: ModelFile | None = None):
        if device not in DEVICES:
            raise ConfigError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")
        if device == "cuda":
            raise ConfigError("the OpenVINO backend runs on the CPU; use --backend onnxruntime for a CUDA GPU")
        if precision not in ("fp32", "bf16", "int8"):
            raise ConfigError(f"unknown precision {precision!r} for OpenVINO; choose fp32, bf16 or int8")
        self.path = Path(path)
        described = described or read_model_file(self.path)
        self.info = described.info
        self.metadata, self.inputs, self.outputs = described.metadata, described.inputs, described.outputs
        self._describe_inputs(self.path, self.inputs)
        stored = file_precision(self.metadata)
        if (precision == "int8") != (stored == "int8"):
            want = "its model.int8.onnx (exported with --precision int8)" if precision == "int8" else "model.onnx"
            raise ModelError(f"{self.path} holds the {stored} graph; for {precision} load {want}")
        caps = capabilities or read_cpu_capabilities()
        hint = _HINTS.get(precision) or ("bf16" if caps.bf16 else "f32")
        config = {"INFERENCE_PRECISION_HINT": hint, "PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1}
        if intra_op_threads:
            config["INFERENCE_NUM_THREADS"] = int(intra_op_threads)
        core = openvino_core()
        try:
            self.compiled = core.compile_model(str(self.path), "CPU", config)
        except Exception as exc:  # OpenVINO raises RuntimeError with a multi-line trace of its C++ sources
            first = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"OpenVINO cannot load {self.path}: {first}") from exc
        ran = self.compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()  # "f32" / "bf16"
        if ran != hint and precision != "int8":  # int8's float ops: bf16 where it runs, else f32 (recorded below)
            raise ModelError(f"OpenVINO runs {self.path.name} in {ran}, not {hint}, on this CPU "
                             f"({caps.describe()}); choose --precision fp32 (or --backend onnxruntime)")
        self.precision = precision
        self.float_precision = ran  # the precision of the float ops (int8: the unquantised layers)
        self._idle: queue.SimpleQueue = queue.SimpleQueue()

    def _run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        if self.compiled is None:
            raise ModelError(f"{self.path} was closed")
        try:
            request = self._idle.get_nowait()
        except queue.Empty:
            request = self.compiled.create_infer_request()
        try:
            request.infer(feeds)
            return request.get_output_tensor(0).data.copy()  # the tensor's memory is reused by the next call
        except Exception as exc:  # OpenVINO raises RuntimeError for shape and type mismatches
            shapes = ", ".join(f"{k} {list(v.shape)}" for k, v in feeds.items())
            lines = str(exc).strip().splitlines()
            raise ModelError(f"OpenVINO failed on an input of shape {shapes}: "
                             f"{lines[-1] if lines else type(exc).__name__}") from exc
        finally:
            self._idle.put(request)

    def close(self) -> None:
        """Drop the compiled model and its requests."""
        self.compiled = None
        self._idle = queue.SimpleQueue()
