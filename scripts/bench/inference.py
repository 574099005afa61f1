"""Inference speed: PyTorch eager vs ONNX Runtime, and every runtime x precision (bf16, int8) on trained weights.

Default mode: PyTorch eager vs ONNX Runtime for the four generator families.

For each network at its paper size (CycleGAN ResNet-9 at 256x256, pix2pix unet_256 at
256x256, SRResNet x4 from 64x64 to 256x256, DCGAN at 64x64) and batch 1/4/8 this reports
images/s, p50/p95 latency, achieved GFLOP/s from the project's own MAC counter
(``translate.flops.count_macs``, 1 MAC = 2 FLOP) and the share of the machine's measured
peak (a float32 matrix-multiply probe run in the same script, with the same thread count).
Networks are randomly initialised: speed does not depend on the weights.

    python scripts/bench/inference.py [--quick] [--threads 2] [--device cpu|cuda]

``--precision`` mode: every backend x precision (ONNX Runtime fp32 / int8, OpenVINO fp32 / bf16 /
int8) on trained generators at the papers' architectures (scripts/bench/trained_generators.py makes
them), exported with ``translate export --precision fp32,bf16,int8`` (int8 calibrated on 16 real
crops of the training photos, gates lowered to 0 so every figure is recorded; the table says which
pass the default gates). Per variant: images/s at batch 1 (256 px; SR 64 -> 256), speed-up over
ONNX Runtime fp32 from the same interleaved rounds (A, B, C, A, B, C, ...), PSNR, worst-image PSNR
and max abs error against ONNX Runtime fp32 on held-out real images, and what ``auto`` picks;
the 1-minute load average before and after each block.

    python scripts/bench/trained_generators.py            # once: data + three short training runs
    python scripts/bench/inference.py --precision --threads 1 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import matmul_peak_gflops, percentile, print_table, time_calls, write_result  # noqa: E402

from translate.backends.onnxruntime import OnnxBackend  # noqa: E402
from translate.checkpoint import build_checkpoint, save_checkpoint  # noqa: E402
from translate.export import export_onnx  # noqa: E402
from translate.flops import count_macs  # noqa: E402
from translate.modelinfo import ModelInfo  # noqa: E402
from translate.nets import build_network  # noqa: E402

# name -> (family, arch, kwargs, example input shape without batch, ModelInfo kwargs)
MODELS = {
    "cyclegan-resnet9-256": ("cyclegan", "resnet_9blocks", {}, (3, 256, 256),
                             dict(task="translate", pad_multiple=4, direction="AtoB")),
    "pix2pix-unet256-256": ("pix2pix", "unet_256", {}, (3, 256, 256),
                            dict(task="translate", pad_multiple=256, direction="AtoB")),
    "srresnet-x4-64": ("srgan", "srresnet", {"scale": 4}, (3, 64, 64), dict(task="super_resolve", scale=4)),
    "dcgan-64": ("dcgan", "dcgan_g", {}, (100,),
                 dict(task="generate", in_channels=0, latent_size=100, image_size=64)),
}


def bench_model(name: str, batches: list[int], repeats: int, budget_s: float, device: str, tmp: Path,
                threads: int) -> list[dict]:
    family, arch, kwargs, shape, info_kwargs = MODELS[name]
    net = build_network(arch, **kwargs).eval()
    ckpt = build_checkpoint(family, {"G": net}, {"G": ModelInfo(family=family, **info_kwargs)})
    ckpt_path = save_checkpoint(ckpt, tmp / f"{name}.pt")
    onnx_path = tmp / f"{name}.onnx"
    export_onnx(ckpt_path, onnx_path, verify=False)
    macs = count_macs(net, torch.zeros(1, *shape))
    ort = OnnxBackend(onnx_path, device=device, intra_op_threads=threads)
    tnet = net.to(device)
    rows = []
    for b in batches:
        x = np.random.default_rng(0).standard_normal((b, *shape)).astype(np.float32)
        xt = torch.from_numpy(x).to(device)

        def run_torch(xt=xt):
            with torch.inference_mode():
                out = tnet(xt)
            if device == "cuda":
                torch.cuda.synchronize()
            return out

        def run_ort(x=x):
            return ort.generate(x) if family == "dcgan" else ort(x)

        # Interleave the backends (one call each per round) so a change in machine load hits both alike.
        fns = {"torch-eager": run_torch, "onnxruntime": run_ort}
        times: dict[str, list[float]] = {k: [] for k in fns}
        for fn in fns.values():
            fn()  # warm-up
        start = time.perf_counter()
        for i in range(repeats):
            for backend, fn in fns.items():
                times[backend] += time_calls(fn, warmup=0, repeats=1)
            if i >= 1 and time.perf_counter() - start > budget_s:
                break
        for backend, ts in times.items():
            p50 = percentile(ts, 50)
            rows.append({
                "model": name, "backend": backend, "batch": b, "images_per_s": b / p50,
                "p50_ms": 1000 * p50, "p95_ms": 1000 * percentile(ts, 95),
                "gflops": 2 * macs * b / p50 / 1e9, "gmac_per_image": macs / 1e9, "runs": len(ts),
            })
            print(f"  {name:22s} {backend:12s} batch {b}: {1000 * p50:8.1f} ms", flush=True)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="batches 1 and 4, fewer repeats (a few minutes on 2 cores)")
    parser.add_argument("--threads", type=int, nargs="+", default=[2],
                        help="intra-op threads (several with --precision, e.g. 1 2)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=["cpu", "cuda"])
    parser.add_argument("--models", nargs="*", default=None,
                        help=f"default mode: {', '.join(MODELS)}; --precision: {', '.join(PRECISION_MODELS)}")
    parser.add_argument("--precision", action="store_true",
                        help="every backend x precision on trained weights (see the module docstring)")
    parser.add_argument("--rounds", type=int, default=12, help="--precision: interleaved rounds per block (default 12)")
    parser.add_argument("--budget", type=float, default=120.0,
                        help="--precision: seconds per model and thread count after which rounds stop (default 120)")
    args = parser.parse_args()
    if args.precision:
        return precision_main(args)
    args.threads = args.threads[0]
    args.models = args.models or list(MODELS)
    unknown = sorted(set(args.models) - set(MODELS))
    if unknown:
        parser.error(f"unknown models {unknown}; choose from {list(MODELS)}")
    torch.set_num_threads(args.threads)
    batches = [1, 4] if args.quick else [1, 4, 8]
    repeats, budget = (3, 20.0) if args.quick else (10, 60.0)
    peak = matmul_peak_gflops(args.threads) if args.device == "cpu" else None
    print(f"measured fp32 matmul peak with {args.threads} threads: {peak:.1f} GFLOP/s" if peak else "GPU run")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            rows += bench_model(name, batches, repeats, budget, args.device, Path(tmp), args.threads)
    if peak:  # probe again afterwards: a busy neighbour during the first probe would understate the peak
        peak = max(peak, matmul_peak_gflops(args.threads))
    for r in rows:
        r["share_of_peak"] = r["gflops"] / peak if peak else None
    # ratio ORT/torch speed per model and batch, measured in this run
    by_key = {(r["model"], r["batch"], r["backend"]): r for r in rows}
    for r in rows:
        if r["backend"] == "onnxruntime":
            t = by_key[(r["model"], r["batch"], "torch-eager")]
            r["speedup_vs_torch"] = r["images_per_s"] / t["images_per_s"]
    print_table(rows, ["model", "backend", "batch", "images_per_s", "p50_ms", "p95_ms", "gflops",
                       "share_of_peak", "speedup_vs_torch"])
    write_result("inference", {"device": args.device, "threads": args.threads, "peak_gflops": peak,
                               "quick": args.quick, "rows": rows})
    return 0


# ----------------------------------------------------------------------------- --precision
PRECISION_MODELS = ("pix2pix-unet256", "cyclegan-resnet9", "srresnet-x4")
VARIANTS = (("onnxruntime", "fp32"), ("openvino", "fp32"), ("openvino", "bf16"), ("openvino", "int8"),
            ("onnxruntime", "int8"))


def _lr_folder(src: Path, dst: Path, scale: int) -> Path:
    """HR images -> LR model inputs, bicubic / scale (how the SR papers make their LR images)."""
    from translate.images import Image, list_image_files, read_image, resize_pixels, write_image

    if dst.is_dir() and any(dst.iterdir()):
        return dst
    dst.mkdir(parents=True, exist_ok=True)
    for f in list_image_files(src):
        px = read_image(f).pixels
        write_image(Image(resize_pixels(px, px.shape[0] // scale, px.shape[1] // scale)), dst / f.name)
    return dst


def _export_variants(name: str) -> tuple[Path, dict, Path, float]:
    """(model.onnx, export figures by variant, held-out input folder, export seconds); cached on disk."""
    import json

    import trained_generators as tg

    from translate.checkpoint import load_checkpoint
    from translate.export import export_to_repository
    from translate.precision import Gate

    ckpt = tg.checkpoint(name)
    if ckpt is None:
        raise SystemExit(f"{name} is not trained yet: python scripts/bench/trained_generators.py")
    data = tg.model_data(name)
    info = next(iter(load_checkpoint(ckpt)["processing"].values()))
    calibration, held_out = data["calibration"], data["held_out"]
    if info["task"] == "super_resolve":
        scale = int(info["scale"])
        calibration = _lr_folder(calibration, tg.DATA / "lr" / "calibration", scale)
        held_out = _lr_folder(held_out, tg.DATA / "lr" / "held-out", scale)
    repo = tg.DATA / "exports"
    model = repo / name / "1" / "model.onnx"
    figures_file = repo / name / "figures.json"
    if model.is_file() and figures_file.is_file():
        cached = json.loads(figures_file.read_text())
        return model, cached["figures"], held_out, cached["seconds"]
    t0 = time.perf_counter()
    reports = export_to_repository(ckpt, repo, name, version=1, force=True,
                                   direction="AtoB" if info.get("direction") else None,
                                   precisions=("fp32", "bf16", "int8"), calibration=calibration,
                                   fidelity_images=held_out, calibration_count=16,
                                   gates={"bf16": Gate(0, 0), "int8": Gate(0, 0)})
    seconds = time.perf_counter() - t0
    print(reports[0].summary(), flush=True)
    figures = {f.variant: f.to_dict() for f in reports[0].variants.fidelity}
    figures_file.write_text(json.dumps({"figures": figures, "seconds": seconds}, indent=1))
    return model, figures, held_out, seconds


def _load1() -> float:
    return round(os.getloadavg()[0], 2)


def bench_precision(name: str, threads: int, rounds: int, budget_s: float) -> list[dict]:
    from translate.backends import load_backend
    from translate.images import list_image_files
    from translate.precision import DEFAULT_GATES, Gate
    from translate.precision_auto import open_backend
    from translate.precision_export import compare, model_inputs

    model, export_figures, held_out, export_s = _export_variants(name)
    backends = {f"{b}-{p}": load_backend(model, backend=b, precision=p, intra_op_threads=threads) for b, p in VARIANTS}
    ref = backends["onnxruntime-fp32"]
    inputs = model_inputs(list_image_files(held_out), ref.info)
    want = [ref(x) for x in inputs]
    peak = ref.info.value_range[1] - ref.info.value_range[0]
    fidelity = {}
    for key, b in backends.items():
        if key != "onnxruntime-fp32":
            gate = DEFAULT_GATES.get(b.precision, Gate(60.0, 60.0))
            fidelity[key] = compare([b(x) for x in inputs], want, peak, backend=b.runtime, precision=b.precision,
                                    gate=gate)
    x = inputs[0]  # batch 1: 256 px (SR: 64 px in, 256 out)
    load_before = _load1()
    for b in backends.values():
        b(x)  # warm-up: the first call allocates and picks kernels
    times: dict[str, list[float]] = {k: [] for k in backends}
    start = time.perf_counter()
    for i in range(rounds):
        for k, b in backends.items():
            t0 = time.perf_counter()
            b(x)
            times[k].append(time.perf_counter() - t0)
        if i >= 4 and time.perf_counter() - start > budget_s:
            break
    load_after = _load1()
    for b in backends.values():
        b.close()
    chosen = open_backend(model, threads=threads, use_cache=False)
    auto = f"{chosen.runtime}-{chosen.precision}"
    chosen.close()
    base = statistics.median(times["onnxruntime-fp32"])
    rows = []
    for k, ts in times.items():
        med = statistics.median(ts)
        f = fidelity.get(k)
        rows.append({"model": name, "threads": threads, "variant": k, "images_per_s": 1 / med, "ms": 1000 * med,
                     "speedup_vs_ort_fp32": base / med, "psnr_db": f.psnr_db if f else None,
                     "worst_psnr_db": f.worst_psnr_db if f else None, "max_abs_err": f.max_abs_err if f else None,
                     "passes_default_gate": f.passed if f else None, "auto_picks": auto, "rounds": len(ts),
                     "input": list(x.shape), "load1_before": load_before, "load1_after": load_after,
                     "export_s": round(export_s, 1), "export_figures": export_figures.get(k),
                     "auto_probe_ms": chosen.choice.probe_ms})
        print(f"  {name:17s} t{threads} {k:17s} {1000 * med:9.1f} ms  x{base / med:5.2f}  "
              f"{'' if f is None else f'{f.psnr_db:.1f} dB (worst {f.worst_psnr_db:.1f})'}", flush=True)
    print(f"  {name} t{threads}: auto picks {auto} ({chosen.choice.reason}); load {load_before} -> {load_after}",
          flush=True)
    return rows


def precision_main(args) -> int:
    from translate.precision import openvino_version, read_cpu_capabilities

    names = args.models or list(PRECISION_MODELS)
    unknown = sorted(set(names) - set(PRECISION_MODELS))
    if unknown:
        raise SystemExit(f"unknown models {unknown}; choose from {list(PRECISION_MODELS)}")
    if openvino_version() is None:
        raise SystemExit("the precision benchmark needs the openvino extra: pip install 'translate[openvino]'")
    caps = read_cpu_capabilities()
    print(f"CPU: {caps.describe()}; OpenVINO {openvino_version()}; load {_load1()}", flush=True)
    rows = []
    for name in names:
        for threads in args.threads:
            rows += bench_precision(name, threads, args.rounds, args.budget)
    print_table(rows, ["model", "threads", "variant", "images_per_s", "ms", "speedup_vs_ort_fp32", "psnr_db",
                       "worst_psnr_db", "max_abs_err", "passes_default_gate", "auto_picks"])
    write_result("inference-precision", {"threads": args.threads, "rounds": args.rounds, "budget_s": args.budget,
                                         "cpu_flags": caps.relevant_flags(), "openvino": openvino_version(),
                                         "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
