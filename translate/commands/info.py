"""``translate info``: describe a training checkpoint or an exported ONNX model.

    translate info RUN/checkpoint.pt          # family, networks (arch, kwargs, parameters), processing, ...
    translate info MODELS/zebra/1/model.onnx --json
"""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``translate info``."""
    p.add_argument("model", metavar="MODEL_OR_CHECKPOINT",
                   help="a checkpoint (.pt), an ONNX file, or a repository version directory")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")


def _count_parameters(arch: str, kwargs: dict, state_dict: dict) -> tuple[int, str]:
    """Trainable parameter count (network rebuilt on the meta device: no memory, no init cost)."""
    import torch

    from translate.nets import build_network

    try:
        with torch.device("meta"):
            net = build_network(arch, **kwargs)
        return sum(p.numel() for p in net.parameters()), ""
    except Exception as exc:  # unknown arch in an old file: fall back to counting stored tensors
        total = sum(v.numel() for v in state_dict.values() if hasattr(v, "numel"))
        return total, f"could not rebuild {arch} ({exc}); counted every stored tensor"


def describe_checkpoint(path) -> dict:
    """Plain-dict description of a checkpoint (what ``--json`` prints)."""
    from translate.checkpoint import load_checkpoint
    from translate.modelinfo import ModelInfo

    ckpt = load_checkpoint(path)
    networks = {}
    for name, entry in ckpt["networks"].items():
        params, note = _count_parameters(entry["arch"], entry.get("kwargs", {}), entry.get("state_dict", {}))
        networks[name] = {"arch": entry["arch"], "kwargs": entry.get("kwargs", {}), "parameters": params}
        if note:
            networks[name]["note"] = note
    state = ckpt.get("training_state")
    return {
        "kind": "checkpoint",
        "path": str(path),
        "format_version": ckpt.get("format_version"),
        "family": ckpt["family"],
        "networks": networks,
        # through ModelInfo, so files from before a field existed show its default (e.g. class_names)
        "processing": {name: ModelInfo.from_dict(p).to_dict() for name, p in ckpt["processing"].items()},
        "ema": sorted((ckpt.get("ema") or {}).keys()),
        "provenance": {k: v for k, v in (ckpt.get("provenance") or {}).items()},
        "resumable": bool(state),
        "step": (state or {}).get("step", (ckpt.get("provenance") or {}).get("step")),
    }


def _dims(spec) -> list:
    """A tensor's dimensions as ``translate info`` shows them: sizes, symbolic names, "?" for unnamed."""
    return [d if d >= 0 else (name or "?") for d, name in zip(spec.shape, spec.dim_names)]


def describe_onnx(path) -> dict:
    """Plain-dict description of an exported ONNX model (metadata, inputs/outputs, opset)."""
    import math

    from translate.errors import ModelError
    from translate.modelinfo import ModelInfo
    from translate.modelrepo import load_onnx, onnx_metadata, tensor_specs

    model = load_onnx(path)
    metadata = onnx_metadata(model)
    try:
        info = ModelInfo.from_metadata(metadata).to_dict()
        note = ""
    except ModelError as exc:  # a foreign ONNX file: still describe its graph
        info, note = None, str(exc)
    inputs, outputs = tensor_specs(model)
    out = {
        "kind": "onnx",
        "path": str(path),
        "model_info": info,
        "inputs": [{"name": t.name, "dtype": t.dtype, "shape": _dims(t)} for t in inputs],
        "outputs": [{"name": t.name, "dtype": t.dtype, "shape": _dims(t)} for t in outputs],
        "opset": next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None),
        "ir_version": model.ir_version,
        "producer": f"{model.producer_name} {model.producer_version}".strip(),
        "parameters": sum(math.prod(t.dims) for t in model.graph.initializer),
        "metadata": metadata,
    }
    if note:
        out["note"] = note
    return out


def _print_human(d: dict) -> None:
    if d["kind"] == "checkpoint":
        print(f"checkpoint {d['path']} (format v{d['format_version']}), family {d['family']}")
        print(f"  resumable: {'yes' if d['resumable'] else 'no (weights only)'}"
              + (f", step {d['step']}" if d.get("step") is not None else ""))
        print("  networks:")
        for name, n in d["networks"].items():
            kwargs = ", ".join(f"{k}={v}" for k, v in n["kwargs"].items())
            print(f"    {name:5s} {n['arch']}({kwargs})  {n['parameters']:,} parameters"
                  + (" [EMA weights stored]" if name in d["ema"] else ""))
        print("  processing:")
        for name, p in d["processing"].items():
            shown = {k: v for k, v in p.items() if k not in ("provenance", "class_names") and v not in ("", 0, None)}
            print(f"    {name}: " + ", ".join(f"{k}={v}" for k, v in shown.items()))
            _print_classes(p, indent="      ")
        if d["provenance"]:
            print("  provenance: " + ", ".join(f"{k}={v}" for k, v in d["provenance"].items()))
        return
    print(f"onnx {d['path']}: opset {d['opset']}, IR {d['ir_version']}, {d['parameters']:,} parameters, "
          f"producer {d['producer']}")
    for kind in ("inputs", "outputs"):
        for t in d[kind]:
            print(f"  {kind[:-1]:6s} {t['name']:8s} {t['dtype']:8s} {t['shape']}")
    if d["model_info"] is None:
        print(f"  {d['note']}")
        return
    info = d["model_info"]
    shown = {k: v for k, v in info.items() if k not in ("provenance", "class_names")}
    print("  model: " + ", ".join(f"{k}={v}" for k, v in shown.items()))
    _print_classes(info, indent="  ")
    if info.get("provenance"):
        print("  provenance: " + ", ".join(f"{k}={v}" for k, v in info["provenance"].items()))


def _print_classes(info: dict, indent: str) -> None:
    """The class names of a class-conditional model, with their label numbers (what --class takes)."""
    names = info.get("class_names") or []
    if names:
        print(f"{indent}classes (--class NAME -> label): " + ", ".join(f"{n} -> {k}" for k, n in enumerate(names)))


def main(args: argparse.Namespace) -> int:
    """Print the description; exit 1 (via the CLI) for missing or corrupt files."""
    import json
    from pathlib import Path

    from translate.errors import ModelError
    from translate.modelrepo import resolve_model_path

    path = resolve_model_path(Path(args.model))  # MODELS/NAME/VERSION, or MODELS/NAME (its newest version)
    if not path.exists():
        raise ModelError(f"{path} does not exist")
    d = describe_onnx(path) if path.suffix == ".onnx" else describe_checkpoint(path)
    if args.json:
        print(json.dumps(d, indent=2, default=str))
    else:
        _print_human(d)
    return 0
