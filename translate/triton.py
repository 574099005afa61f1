"""Triton Inference Server model configuration (``config.pbtxt``) for an exported generator.

Spec: Triton's model configuration (``model_config.proto``, protobuf text format). With
``max_batch_size > 0`` Triton owns the batch dimension, so ``dims`` list only the per-item
shape, with ``-1`` for every dynamic axis; a per-item scalar (the class ``label`` of a
conditional generator, ONNX shape [N]) is declared as ``dims: [1]`` and reshaped to ``[]``.
The same ``MODELS/<name>/<version>/model.onnx`` layout (:mod:`translate.modelrepo`) is what our
own server reads.
"""

from __future__ import annotations

from dataclasses import dataclass

from translate.modelinfo import ModelInfo

DEFAULT_MAX_BATCH_SIZE = 8


@dataclass(frozen=True)
class TritonTensor:
    """One input or output as Triton declares it: name, Triton data type and per-item dims (-1 = dynamic).

    (What an exported file itself says about its tensors is :class:`translate.modelrepo.TensorSpec`.)
    """

    name: str
    data_type: str  # TYPE_FP32 / TYPE_INT64
    dims: tuple[int, ...]
    reshape_to_scalar: bool = False  # ONNX shape [N]: Triton dims [1] + reshape { shape: [] }


def triton_tensors(
    info: ModelInfo, static_shape: tuple[int, int] | None = None
) -> tuple[list[TritonTensor], list[TritonTensor]]:
    """Inputs and outputs of the ONNX model that :func:`translate.export.export_onnx` writes for ``info``."""
    if info.task == "generate":
        inputs = [TritonTensor("z", "TYPE_FP32", (info.latent_size,))]
        if info.num_classes > 0:
            inputs.append(TritonTensor("label", "TYPE_INT64", (1,), reshape_to_scalar=True))
        size = info.image_size if info.image_size > 0 else -1
        return inputs, [TritonTensor("output", "TYPE_FP32", (info.out_channels, size, size))]
    if static_shape is not None:
        h, w = static_shape
        in_hw, out_hw = (h, w), (h * info.scale, w * info.scale)
    else:
        in_hw = out_hw = (-1, -1)
    return (
        [TritonTensor("input", "TYPE_FP32", (info.in_channels, *in_hw))],
        [TritonTensor("output", "TYPE_FP32", (info.out_channels, *out_hw))],
    )


def _tensor_block(spec: TritonTensor) -> str:
    lines = [
        "  {",
        f'    name: "{spec.name}"',
        f"    data_type: {spec.data_type}",
        f"    dims: [ {', '.join(str(d) for d in spec.dims)} ]",
    ]
    if spec.reshape_to_scalar:
        lines.append("    reshape: { shape: [ ] }")
    lines.append("  }")
    return "\n".join(lines)


def model_config(
    name: str,
    info: ModelInfo,
    *,
    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
    static_shape: tuple[int, int] | None = None,
) -> str:
    """The ``config.pbtxt`` text for model ``name`` (Triton platform ``onnxruntime_onnx``).

    ``dynamic_batching {}`` lets Triton merge concurrent requests up to ``max_batch_size``;
    the exported graphs have a dynamic batch axis, so any batch up to that size is valid.
    """
    inputs, outputs = triton_tensors(info, static_shape)
    parts = [
        f"# Written by `translate export` for a {info.family} {info.task} model; "
        "the translate metadata lives inside model.onnx.",
        f'name: "{name}"',
        'platform: "onnxruntime_onnx"',
        f"max_batch_size: {int(max_batch_size)}",
        "input [",
        ",\n".join(_tensor_block(s) for s in inputs),
        "]",
        "output [",
        ",\n".join(_tensor_block(s) for s in outputs),
        "]",
        "dynamic_batching { }",
        "",
    ]
    return "\n".join(parts)
