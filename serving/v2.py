"""The Open Inference Protocol (KServe v2) without a transport: datatypes, tensors and documents.

Spec: https://kserve.github.io/website/docs/reference/oip/ (the same data model over REST and gRPC),
with Triton's model-configuration and repository-index extensions
(https://github.com/triton-inference-server/server/tree/main/docs/protocol). A transport adapter
(gRPC: serving/kserve.py) turns its messages into the plain values here and back: numpy arrays for
tensors, dicts shaped like the protocol's JSON documents for metadata, configuration and the
repository index. So a tensor, a model's metadata or its configuration reads the same over every
transport, and the checks on them exist once. Nothing here runs a model: that is
:mod:`serving.engine`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from serving.errors import InvalidRequestError
from serving.repository import READY, ModelRepository, ModelVersion
from translate import __version__

MAX_VERSION_DIGITS = 18  # every such number fits the int64 versions of the repository and the domain API
_VERSION = re.compile(rf"[0-9]{{1,{MAX_VERSION_DIGITS}}}")
PLATFORM = "onnxruntime_onnx"  # what Triton calls an ONNX model run by ONNX Runtime
SERVER_NAME = "translate"
EXTENSIONS = ("model_configuration",)  # protocol extensions implemented in full

# Datatypes the server accepts on input -> numpy dtype (tensor bytes are little-endian on every transport).
INPUT_DATATYPES = {"FP32": np.dtype("<f4"), "FP16": np.dtype("<f2"), "UINT8": np.dtype("u1"),
                   "INT64": np.dtype("<i8"), "INT32": np.dtype("<i4")}
# numpy dtype name -> datatype, for every numeric datatype of the protocol.
_DATATYPE_OF_NUMPY = {"bool": "BOOL", "uint8": "UINT8", "uint16": "UINT16", "uint32": "UINT32", "uint64": "UINT64",
                      "int8": "INT8", "int16": "INT16", "int32": "INT32", "int64": "INT64", "float16": "FP16",
                      "float32": "FP32", "float64": "FP64"}


# ----------------------------------------------------------------------------- datatypes and tensors
def datatype_of(dtype: np.dtype | str) -> str:
    """The protocol's datatype name of a numpy dtype ("float32" -> "FP32"); unknown ones upper-cased."""
    name = np.dtype(dtype).name
    return _DATATYPE_OF_NUMPY.get(name, name.upper())


def parse_version(text: str) -> int:
    """A request's model version: ``""`` -> 0 (the served version), ``"3"`` -> 3; anything else is refused.

    Only ASCII digits, at most :data:`MAX_VERSION_DIGITS` of them (``str.isdigit`` would also take
    "²" or Arabic-Indic digits, and ``int`` of 5000 digits is refused by Python itself).
    """
    if not text:
        return 0
    if not _VERSION.fullmatch(text):
        shown = repr(text[:20]) + (f"...({len(text)} chars)" if len(text) > 20 else "")
        raise InvalidRequestError(f"model_version must be a version number of 1 to {MAX_VERSION_DIGITS} ASCII "
                                  f"digits such as '1', or empty for the served version (got {shown})")
    return int(text)


def tensor_spec(name: str, datatype: str, shape: Iterable[int]) -> tuple[np.dtype, list[int]]:
    """The numpy dtype and shape of an input tensor as a request declares it; INVALID_ARGUMENT if unusable."""
    shape = [int(d) for d in shape]
    if datatype not in INPUT_DATATYPES:
        raise InvalidRequestError(f"input {name!r}: datatype {datatype!r} is not accepted here (accepted: "
                                  f"{', '.join(INPUT_DATATYPES)})")
    if not shape or any(d < 0 for d in shape):
        raise InvalidRequestError(f"input {name!r}: shape {shape} must list one non-negative size per dimension")
    return INPUT_DATATYPES[datatype], shape


def tensor_from_bytes(name: str, datatype: str, shape: Iterable[int], data: bytes,
                      where: str = "raw_input_contents") -> np.ndarray:
    """An input tensor sent as raw little-endian bytes (gRPC raw contents, REST binary data), read-only."""
    dtype, shape = tensor_spec(name, datatype, shape)
    count = math.prod(shape)
    if len(data) != count * dtype.itemsize:
        raise InvalidRequestError(f"input {name!r}: shape {shape} of {datatype} needs {count * dtype.itemsize} bytes "
                                  f"({count} x {dtype.itemsize}), but its {where} holds {len(data)}")
    return np.frombuffer(data, dtype=dtype).reshape(shape)


def tensor_from_values(name: str, datatype: str, shape: Iterable[int], values, where: str) -> np.ndarray:
    """An input tensor sent as a flat list of numbers (gRPC typed contents, REST JSON ``data``)."""
    dtype, shape = tensor_spec(name, datatype, shape)
    count = math.prod(shape)
    if len(values) != count:
        raise InvalidRequestError(f"input {name!r}: shape {shape} holds {count} elements, but {where} has "
                                  f"{len(values)}")
    if datatype == "UINT8":  # carried as wider integers on the wire
        wide = np.asarray(values, np.int64)
        if wide.size and (wide.max() > 255 or wide.min() < 0):
            got = int(wide.max()) if wide.max() > 255 else int(wide.min())
            raise InvalidRequestError(f"input {name!r}: UINT8 values must lie in 0..255 (got {got})")
        return wide.astype(np.uint8).reshape(shape)
    return np.asarray(values, dtype=dtype.newbyteorder("=")).reshape(shape)


def tensor_bytes(arr: np.ndarray) -> bytes:
    """An output tensor as the raw little-endian bytes the protocol sends."""
    return np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<")).tobytes()


def named_tensors(tensors: Iterable[tuple[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The request's input list as ``{name: array}``; a name given twice is refused."""
    out: dict[str, np.ndarray] = {}
    for name, arr in tensors:
        if name in out:
            raise InvalidRequestError(f"input {name!r} appears twice in the request")
        out[name] = arr
    return out


def requested_outputs(outputs: Iterable[tuple[str, Mapping[str, Any]]]) -> list[str]:
    """Names of the outputs a request asks for (empty: all), from ``(name, parameters)`` pairs.

    The engine checks the names against the model; the classification extension does not apply to
    image models and is refused here.
    """
    names = []
    for name, parameters in outputs:
        if "classification" in parameters:
            raise InvalidRequestError("classification outputs are not supported by image models")
        names.append(name)
    return names


# ----------------------------------------------------------------------------- documents
def server_metadata() -> dict:
    """The server metadata document: name, version and extensions."""
    return {"name": SERVER_NAME, "version": __version__, "extensions": list(EXTENSIONS)}


def model_ready(repository: ModelRepository, is_serving: Callable[[str], bool], name: str, version: str) -> bool:
    """True when model ``name`` serves (health SERVING) and ``version``, if given, is the served one."""
    if not repository.has_model(name) or not is_serving(name):
        return False
    cur = repository.record(name).current
    return cur is not None and (not version or version == str(cur.version))


def model_metadata(mv: ModelVersion) -> dict:
    """The model metadata document: served version, platform and the ONNX graph's tensors (-1 = any size)."""

    def tensor(t) -> dict:
        return {"name": t.name, "datatype": datatype_of(t.dtype), "shape": list(t.shape)}

    return {"name": mv.name, "versions": [str(mv.version)], "platform": platform_of(mv),
            "inputs": [tensor(t) for t in mv.inputs], "outputs": [tensor(t) for t in mv.outputs]}


def platform_of(mv: ModelVersion) -> str:
    """``onnxruntime_onnx`` (Triton's name for an ONNX model on ONNX Runtime), or ``openvino_onnx`` on OpenVINO."""
    runtime = getattr(mv, "runtime", None)
    return f"{runtime.backend}_onnx" if runtime is not None and runtime.backend != "onnxruntime" else PLATFORM


def static_batch(mv: ModelVersion) -> bool:
    """True when the graph fixes the batch dimension (its first input's first dimension is a number)."""
    return bool(mv.inputs and mv.inputs[0].shape and mv.inputs[0].shape[0] > 0)


def _config_type(dtype: str) -> str:
    datatype = _DATATYPE_OF_NUMPY.get(np.dtype(dtype).name)
    return f"TYPE_{datatype}" if datatype else "TYPE_INVALID"  # Triton's DataType names are TYPE_<datatype>


def model_config(mv: ModelVersion, *, max_batch_size: int, queue_delay_us: int) -> dict:
    """Triton's model configuration (JSON form of ``model_config.proto``), as ``translate export`` writes it.

    ``max_batch_size`` is what the server batches for this model; with a static batch dimension
    the configuration says 0 and the dims include the batch. The ONNX metadata travels as
    parameters, plus a note on the UINT8 pixel input the server also accepts for image models.
    """
    static = static_batch(mv)
    runtime = getattr(mv, "runtime", None)
    cfg: dict[str, Any] = {"name": mv.name, "platform": platform_of(mv),
                           "backend": runtime.backend if runtime is not None else "onnxruntime",
                           "max_batch_size": 0 if static else max_batch_size}
    for key, specs in (("input", mv.inputs), ("output", mv.outputs)):
        cfg[key] = []
        for t in specs:
            tensor: dict[str, Any] = {"name": t.name, "data_type": _config_type(t.dtype),
                                      "dims": list(t.shape) if static else list(t.shape[1:])}
            if not tensor["dims"]:  # per-item scalar (the class label [N]): Triton dims [1] reshaped to []
                tensor["dims"] = [1]
                tensor["reshape"] = {"shape": []}
            cfg[key].append(tensor)
    cfg["dynamic_batching"] = {"max_queue_delay_microseconds": queue_delay_us}
    cfg["parameters"] = {key: {"string_value": value} for key, value in mv.metadata.items()}
    names = list(mv.info.class_names)
    if names:  # label value i is class_names[i] (a JSON list, the ONNX metadata's own form)
        cfg["parameters"]["class_names"] = {"string_value": json.dumps(names)}
    if runtime is not None:  # what this server runs (the fidelity.* metadata above says what export measured)
        cfg["parameters"].update({f"runtime.{k}": {"string_value": v} for k, v in (
            ("backend", runtime.backend), ("precision", runtime.precision), ("reason", runtime.reason))})
    if mv.info.task != "generate":  # files exported before min_input_size was recorded: the derived value
        cfg["parameters"]["min_input_size"] = {"string_value": str(mv.info.min_input_size)}
        cfg["parameters"]["translate.uint8_pixels"] = {"string_value": (
            f"also accepted on input {mv.inputs[0].name!r}: UINT8 [N, H, W, C] pixels, answered as UINT8 "
            "[N, H*scale, W*scale, C'] after the model's own pre/post-processing")}
    return cfg


def repository_index(repository: ModelRepository, ready_only: bool = False) -> list[dict]:
    """Every model with its served version, state and (when not ready) the reason."""
    models = []
    for rec in repository.records():
        if ready_only and rec.state != READY:
            continue
        cur = rec.current
        models.append({"name": rec.name, "version": str(cur.version) if cur else "", "state": rec.state,
                       "reason": rec.error})
    return models
