"""Inference speed: PyTorch eager vs ONNX Runtime for the four generator families.

For each network at its paper size (CycleGAN ResNet-9 at 256x256, pix2pix unet_256 at
256x256, SRResNet x4 from 64x64 to 256x256, DCGAN at 64x64) and batch 1/4/8 this reports
images/s, p50/p95 latency, achieved GFLOP/s from the project's own MAC counter
(``translate.flops.count_macs``, 1 MAC = 2 FLOP) and the share of the machine's measured
peak (a float32 matrix-multiply probe run in the same script, with the same thread count).
Networks are randomly initialised: speed does not depend on the weights.

    python scripts/bench/inference.py [--quick] [--threads 2] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
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
    parser.add_argument("--threads", type=int, default=2, help="intra-op threads for torch and ONNX Runtime")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=["cpu", "cuda"])
    parser.add_argument("--models", nargs="*", default=list(MODELS), choices=list(MODELS))
    args = parser.parse_args()
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


if __name__ == "__main__":
    sys.exit(main())
