"""The model repository layout and the reading of exported ONNX files: one owner for both.

Layout (Triton's model repository, https://docs.nvidia.com/deeplearning/triton-inference-server/
user-guide/docs/user_guide/model_repository.html)::

    MODELS/<name>/config.pbtxt            (for Triton; our own server does not need it)
    MODELS/<name>/<version>/model.onnx    version: a directory named by ASCII digits

A version directory is named by ASCII digits only (``str.isdigit`` would also take "²" or
Arabic-Indic digits), written canonically (``int(name)`` prints back as ``name``, so "01" is not
a version); the highest version holding a ``model.onnx`` is the newest. Hidden directories
(``.tmp-3-...`` while an export installs a version) are never models or versions.

Reading: everything a caller needs from an exported file (:class:`ModelFile`: the
:class:`~translate.modelinfo.ModelInfo` from ``metadata_props``, the raw metadata, the graph's
inputs and outputs) is read here, either from the file with ``onnx`` (:func:`read_model_file`)
or from an ONNX Runtime session that already holds it (:func:`file_of_session`), so a server
parses each file once. Export, the backends, ``translate info`` and the server all use this module.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from translate.atomic import atomic_write_bytes, temp_dir
from translate.errors import ExportError, ModelError
from translate.modelinfo import ModelInfo

MODEL_FILE = "model.onnx"
CONFIG_FILE = "config.pbtxt"


# ----------------------------------------------------------------------------- layout
def version_of(name: str) -> int | None:
    """The version a directory called ``name`` holds (ASCII digits, canonical), else None."""
    if not (name.isascii() and name.isdigit()) or str(int(name)) != name:
        return None
    return int(name)


def version_numbers(model_dir: str | os.PathLike) -> list[int]:
    """Sorted versions of ``model_dir`` that hold a model file ([] when there is none or no such folder)."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        return []
    found = []
    for p in model_dir.iterdir():
        v = version_of(p.name)
        if v is not None and (p / MODEL_FILE).is_file():
            found.append(v)
    return sorted(found)


def next_version(model_dir: str | os.PathLike) -> int:
    """One more than the highest version directory, with or without a model file (1 for a new model).

    A version directory without its model file (a copy in progress, a failed upload) is never
    reused, so a new export cannot land in somebody else's half-made version.
    """
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        return 1
    used = [v for v in (version_of(p.name) for p in model_dir.iterdir() if p.is_dir()) if v is not None]
    return max(used, default=0) + 1


def list_models(repo: str | os.PathLike) -> dict[str, list[int]]:
    """Every model of the repository ``repo`` with its versions (models without a version are left out)."""
    found: dict[str, list[int]] = {}
    for model_dir in sorted(Path(repo).iterdir()):
        if not model_dir.is_dir() or model_dir.name.startswith("."):
            continue
        versions = version_numbers(model_dir)
        if versions:
            found[model_dir.name] = versions
    return found


def model_path(model_dir: str | os.PathLike, version: int) -> Path:
    """``model_dir/<version>/model.onnx``."""
    return Path(model_dir) / str(version) / MODEL_FILE


def variant_path(model_file: str | os.PathLike, precision: str) -> Path:
    """The file of a precision variant beside ``model_file``: ``model.onnx`` -> ``model.int8.onnx``.

    fp32 and bf16 run the file itself (bf16 is a runtime hint), so for them it is ``model_file``.
    """
    model_file = Path(model_file)
    if precision in ("fp32", "bf16"):
        return model_file
    return model_file.with_name(f"{model_file.stem}.{precision}{model_file.suffix}")


def resolve_model_path(path: str | os.PathLike) -> Path:
    """The file a user means by ``path``: a version directory's model file, a model directory's newest one.

    Any other path (an .onnx file, a checkpoint, a path that does not exist) is returned as
    it is; callers check existence with their own message. ModelError for a directory that
    holds neither a model file nor a version with one.
    """
    path = Path(path)
    if not path.is_dir():
        return path
    if (path / MODEL_FILE).is_file():
        return path / MODEL_FILE
    versions = version_numbers(path)
    if not versions:
        raise ModelError(f"{path} is a directory without {MODEL_FILE} or numbered versions holding one")
    return model_path(path, versions[-1])


def install_version(model_dir: str | os.PathLike, version: int, data: bytes, force: bool = False,
                    variants: dict[str, bytes] | None = None) -> Path:
    """Write ``data`` as ``model_dir/<version>/model.onnx`` so that readers see the old version or the new one.

    ``variants`` maps a precision to the bytes of its file (:func:`variant_path`), installed in
    the same step. The file is written into a hidden temp dir (not a number, so servers and Triton ignore it)
    and the directory is renamed into place. An existing version is replaced only with
    ``force`` (ExportError otherwise). Returns the model file's path.
    """
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    final = model_dir / str(version)
    tmp = temp_dir(model_dir, f".tmp-{version}-")  # mkdir()'s permissions, not mkdtemp's 0700
    old = None
    try:
        atomic_write_bytes(tmp / MODEL_FILE, lambda f: f.write(data))
        for precision, blob in (variants or {}).items():
            atomic_write_bytes(variant_path(tmp / MODEL_FILE, precision), lambda f, b=blob: f.write(b))
        if final.exists():
            if not force:  # re-checked: another export may have taken the version meanwhile
                raise ExportError(f"{final} already exists; pass --force to overwrite it or choose a new --version")
            old = temp_dir(model_dir, f".old-{version}-")
            os.rename(final, old / "v")
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return final / MODEL_FILE


# ----------------------------------------------------------------------------- reading files
@dataclass(frozen=True)
class TensorSpec:
    """One graph input or output: name, numpy dtype name and shape (-1 marks a dynamic dimension).

    ``dim_names`` keeps the symbolic name the file gives each dimension ("" where it has none).
    """

    name: str
    dtype: str
    shape: list[int]
    dim_names: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ModelFile:
    """What an exported model file says about itself."""

    path: Path
    info: ModelInfo
    metadata: dict[str, str]
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]


def load_onnx(path: str | os.PathLike):
    """The ``onnx.ModelProto`` of ``path`` (weights in external files are not loaded); ModelError if unreadable."""
    import onnx

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"ONNX model {path} does not exist or is not a file")
    try:
        return onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf DecodeError and friends
        raise ModelError(f"{path} is not a readable ONNX file ({type(exc).__name__}); re-export it "
                         "with `translate export`") from exc


def onnx_metadata(model) -> dict[str, str]:
    """The ``metadata_props`` of an ``onnx.ModelProto`` as a dict."""
    return {p.key: p.value for p in model.metadata_props}


def tensor_specs(model) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """(inputs, outputs) of an ``onnx.ModelProto``'s graph; initializers listed as inputs are left out."""
    import onnx

    def spec(v) -> TensorSpec:
        t = v.type.tensor_type
        dims = list(t.shape.dim)
        return TensorSpec(v.name, onnx.helper.tensor_dtype_to_np_dtype(t.elem_type).name,
                          [d.dim_value if d.HasField("dim_value") else -1 for d in dims],
                          [d.dim_param for d in dims])

    graph = model.graph
    initializers = {i.name for i in graph.initializer}
    return [spec(v) for v in graph.input if v.name not in initializers], [spec(v) for v in graph.output]


def read_model_file(path: str | os.PathLike) -> ModelFile:
    """Read an exported file: ModelError if it is unreadable or carries no translate metadata."""
    model = load_onnx(path)
    metadata = onnx_metadata(model)
    inputs, outputs = tensor_specs(model)
    return ModelFile(Path(path), ModelInfo.from_metadata(metadata), metadata, inputs, outputs)


def read_onnx_info(path: str | os.PathLike) -> ModelInfo:
    """ModelInfo from an exported file's ``metadata_props`` (ModelError if missing/unreadable)."""
    return read_model_file(path).info


# ORT's type strings for the tensor types our models use (inputs float32 / int64, outputs float32)
_ORT_DTYPES = {"tensor(float)": "float32", "tensor(double)": "float64", "tensor(float16)": "float16",
               "tensor(int64)": "int64", "tensor(int32)": "int32", "tensor(uint8)": "uint8", "tensor(bool)": "bool"}


def file_of_session(session, path: str | os.PathLike) -> ModelFile:
    """The :class:`ModelFile` of a loaded ``onnxruntime.InferenceSession`` (no second parse of the file).

    Gives the same description as :func:`read_model_file` for the files ``translate export`` writes.
    """

    def spec(arg) -> TensorSpec:
        shape = list(arg.shape or [])
        return TensorSpec(arg.name, _ORT_DTYPES.get(arg.type, arg.type),
                          [d if isinstance(d, int) else -1 for d in shape],
                          [d if isinstance(d, str) else "" for d in shape])

    metadata = dict(session.get_modelmeta().custom_metadata_map)
    return ModelFile(Path(path), ModelInfo.from_metadata(metadata), metadata,
                     [spec(a) for a in session.get_inputs()], [spec(a) for a in session.get_outputs()])
