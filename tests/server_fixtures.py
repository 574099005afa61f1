"""Tiny ONNX models and a running server for the serving tests.

The models are written directly with ``onnx.helper`` (a 3x3 convolution + tanh, a pixel-shuffle
super-resolver, a linear generator) carrying the same metadata ``translate export`` writes
(:meth:`ModelInfo.to_metadata`), so the server sees exactly what it would see in production while a
model costs milliseconds to build and to run. Inputs and outputs follow the export contract:
``input`` -> ``output`` for image models, ``z`` (+ ``label``) -> ``output`` for generators.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from translate.modelinfo import ModelInfo

OPSET = 17


def _save(path: Path, nodes, inputs, outputs, inits, info: ModelInfo) -> Path:
    graph = helper.make_graph(nodes, "tiny", inputs, outputs, [numpy_helper.from_array(a, n) for n, a in inits])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    helper.set_model_props(model, info.to_metadata())
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    onnx.save(model, str(tmp))
    tmp.replace(path)  # atomic, like a real export
    return path


def _image_io(c_in: int, c_out: int):
    return ([helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", c_in, "H", "W"])],
            [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", c_out, "Hs", "Ws"])])


def tiny_translator(path: Path, seed: int = 0, channels: int = 3, pad_multiple: int = 4) -> Path:
    """Conv3x3 + tanh, ``channels`` -> ``channels``, pad multiple 4 (like a ResNet generator)."""
    rng = np.random.default_rng(seed)
    w = (rng.standard_normal((channels, channels, 3, 3)) * 0.3).astype(np.float32)
    b = (rng.standard_normal(channels) * 0.1).astype(np.float32)
    nodes = [helper.make_node("Conv", ["input", "w", "b"], ["h"], pads=[1, 1, 1, 1]),
             helper.make_node("Tanh", ["h"], ["output"])]
    info = ModelInfo(family="cyclegan", task="translate", in_channels=channels, out_channels=channels,
                     pad_multiple=pad_multiple, image_size=32, direction="AtoB", provenance={"seed": str(seed)})
    return _save(path, nodes, *_image_io(channels, channels), [("w", w), ("b", b)], info)


def tiny_super_resolver(path: Path, seed: int = 0, scale: int = 2) -> Path:
    """Conv3x3 to 3*scale^2 channels + DepthToSpace (pixel shuffle) + tanh."""
    rng = np.random.default_rng(seed)
    w = (rng.standard_normal((3 * scale * scale, 3, 3, 3)) * 0.3).astype(np.float32)
    nodes = [helper.make_node("Conv", ["input", "w"], ["h"], pads=[1, 1, 1, 1]),
             helper.make_node("DepthToSpace", ["h"], ["s"], blocksize=scale, mode="CRD"),
             helper.make_node("Tanh", ["s"], ["output"])]
    info = ModelInfo(family="srgan", task="super_resolve", scale=scale, pad_multiple=1, image_size=16)
    return _save(path, nodes, *_image_io(3, 3), [("w", w)], info)


def tiny_generator(path: Path, seed: int = 0, nz: int = 8, size: int = 8, num_classes: int = 0,
                   class_names: list[str] | None = None) -> Path:
    """z [N, nz] (+ label [N]) -> Gemm -> reshape [N, 3, size, size] -> tanh (a linear 'DCGAN').

    ``class_names`` (one per class) are recorded in the metadata; without them the classes are "0", "1", ...
    """
    rng = np.random.default_rng(seed)
    w = (rng.standard_normal((nz, 3 * size * size)) * 0.5).astype(np.float32)
    shape = np.array([-1, 3, size, size], np.int64)
    inputs = [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["N", nz])]
    inits = [("w", w), ("shape", shape)]
    nodes = []
    z = "z"
    if num_classes:
        inputs.append(helper.make_tensor_value_info("label", TensorProto.INT64, ["N"]))
        inits.append(("emb", (rng.standard_normal((num_classes, nz))).astype(np.float32)))
        nodes += [helper.make_node("Gather", ["emb", "label"], ["e"], axis=0),
                  helper.make_node("Add", ["z", "e"], ["ze"])]
        z = "ze"
    nodes += [helper.make_node("MatMul", [z, "w"], ["m"]), helper.make_node("Reshape", ["m", "shape"], ["r"]),
              helper.make_node("Tanh", ["r"], ["output"])]
    outputs = [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 3, size, size])]
    info = ModelInfo(family="dcgan", task="generate", in_channels=0, out_channels=3, latent_size=nz,
                     num_classes=num_classes, image_size=size, class_names=list(class_names or []))
    return _save(path, nodes, inputs, outputs, inits, info)


def make_repo(root: Path) -> Path:
    """MODELS/ with a translator (v1), a grey translator, a super-resolver, two generators and a broken file."""
    tiny_translator(root / "photo2art" / "1" / "model.onnx", seed=1)
    tiny_translator(root / "grey" / "1" / "model.onnx", seed=2, channels=1)
    tiny_super_resolver(root / "sr" / "1" / "model.onnx", seed=3)
    tiny_generator(root / "faces" / "1" / "model.onnx", seed=4)
    tiny_generator(root / "digits" / "1" / "model.onnx", seed=5, num_classes=3)
    (root / "broken" / "1").mkdir(parents=True)
    (root / "broken" / "1" / "model.onnx").write_bytes(b"this is not an onnx file")
    return root


def png_bytes(h: int = 20, w: int = 24, seed: int = 0, channels: int = 3) -> bytes:
    """A random RGB (or grey) PNG, encoded by translate.images."""
    from translate.images import Image, encode_image

    rng = np.random.default_rng(seed)
    return encode_image(Image(rng.integers(0, 256, (h, w, channels), dtype=np.uint8)), "png")


def local_translate(model_path: Path, data: bytes, **kwargs):
    """What the local CLI computes for ``data`` (the reference the server must match)."""
    from translate.backends.onnxruntime import OnnxBackend
    from translate.images import apply_model, decode_image

    backend = OnnxBackend(model_path, device="cpu")
    return apply_model(backend, decode_image(data), backend.info, **kwargs)


@dataclass
class RunningServer:
    """A started :class:`serving.server.InferenceServer` plus what a test needs to talk to it."""

    server: object
    port: int
    root: Path
    tokens: list[str] = field(default_factory=list)

    @property
    def address(self) -> str:
        """host:port to dial."""
        return f"127.0.0.1:{self.port}"


def start_server(root: Path, **overrides) -> RunningServer:
    """Start a real server on port 0 over ``root`` (polling fast, no metrics port unless asked)."""
    from serving.server import InferenceServer, ServerConfig

    config = ServerConfig(models=root, port=0, reload_interval=0.2, grace=5.0, intra_op_threads=1)
    for k, v in overrides.items():
        setattr(config, k, v)
    server = InferenceServer(config)
    port = server.start()
    return RunningServer(server, port, root)


def wait_until(cond, *, timeout: float, what: str = "condition") -> None:
    """Poll ``cond()`` every 20 ms until it is true; AssertionError naming ``what`` after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")
