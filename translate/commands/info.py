"""``translate info``: describe a training checkpoint or an exported ONNX model.

    translate info RUN/checkpoint.pt          # family, networks (arch, kwargs, parameters), processing, ...
    translate info MODELS/zebra/1/model.onnx --json
    translate info MODELS/zebra --choose     # also measure which backend and precision `auto` runs here
"""

from __future__ import annotations

import argparse

from translate.errors import ModelError


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``translate info``."""
    p.add_argument("model", metavar="MODEL_OR_CHECKPOINT",
                   help="a checkpoint (.pt), an ONNX file, or a repository version directory")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.add_argument("--choose", action="store_true",
                   help="exported models: load the model as `translate run` would and show the backend and "
                        "precision it runs on here, and why (auto measures its variants once, then caches)")


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
    """Plain-dict description of an exported ONNX model (metadata, inputs/outputs, opset, precision variants)."""
    import math
    from pathlib import Path

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
    else:
        out["precision"] = describe_precision(Path(path), metadata)
    return out


def describe_precision(path, metadata: dict) -> dict:
    """The file's precision, the variants export measured (with their fidelity) and what ``auto`` considers here."""
    from translate.modelrepo import read_model_file, variant_path
    from translate.precision import QUANT_PREFIX, fidelities, file_precision
    from translate.precision_auto import describe_candidates

    measured = [f.to_dict() for f in fidelities(metadata).values()]
    int8 = variant_path(path, "int8")
    if file_precision(metadata) == "fp32" and int8.is_file():
        try:
            measured += [f.to_dict() for f in fidelities(read_model_file(int8).metadata).values()]
        except ModelError:  # described as unusable by the candidates below
            pass
    return {"file": file_precision(metadata), "variants": measured,
            "quantization": {k[len(QUANT_PREFIX):]: v for k, v in metadata.items() if k.startswith(QUANT_PREFIX)},
            "here": describe_candidates(path, metadata)}


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
    _print_precision(d.get("precision"), d.get("runs_on"))


def _print_precision(p: dict | None, runs_on: dict | None) -> None:
    if not p:
        return
    from translate.precision import Fidelity, Gate

    print(f"  precision: {p['file']} graph" + (f", quantised with {p['quantization']['tool']} on "
                                             f"{p['quantization'].get('calibration_images', '?')} images"
                                             if p["quantization"].get("tool") else ""))
    for v in p["variants"]:
        fid = Fidelity(v["backend"], v["precision"], v["psnr_db"], v["worst_psnr_db"], v["max_abs_err"], v["images"],
                       Gate(v["gate_db"], v["worst_gate_db"]), v["float_precision"])
        print(f"    measured at export: {fid.line()}")
    here = p["here"]
    print(f"  on this machine ({here['cpu']}; openvino {here['openvino'] or 'not installed'}):")
    for c in here["candidates"]:
        print(f"    {c['variant']:17s} " + ("can run" if c["usable"] else f"no: {c['why_not']}"))
    if runs_on:
        print(f"  runs on: {runs_on['backend']} {runs_on['precision']} ({runs_on['reason']})")
    elif here["auto"]:
        print(f"  auto runs: {here['auto']}" + ("" if len([c for c in here["candidates"] if c["usable"]]) == 1
                                                  else " (measured earlier, cached)"))
    else:
        print("  auto: measures the variants that can run at the first load (or now: translate info --choose)")


def _print_classes(info: dict, indent: str) -> None:
    """The class names of a class-conditional model, with their label numbers (what --class takes)."""
    names = info.get("class_names") or []
    if names:
        print(f"{indent}classes (--class NAME -> label): " + ", ".join(f"{n} -> {k}" for k, n in enumerate(names)))


def main(args: argparse.Namespace) -> int:
    """Print the description; exit 1 (via the CLI) for missing or corrupt files."""
    import json
    from pathlib import Path

    from translate.modelrepo import resolve_model_path

    path = resolve_model_path(Path(args.model))  # MODELS/NAME/VERSION, or MODELS/NAME (its newest version)
    if not path.exists():
        raise ModelError(f"{path} does not exist")
    d = describe_onnx(path) if path.suffix == ".onnx" else describe_checkpoint(path)
    if args.choose and d["kind"] == "onnx" and d.get("model_info"):
        from translate.backends import load_backend
        from translate.threads import inference_threads

        # the thread count `translate run` and `serve` use by default: it is part of the measured choice's cache key
        backend = load_backend(path, intra_op_threads=inference_threads(None, quiet=True).threads)
        d["runs_on"] = backend.choice.to_dict()
        backend.close()
    if args.json:
        print(json.dumps(d, indent=2, default=str))
    else:
        _print_human(d)
    return 0
