"""One-GPU check in minutes: training precisions, DDP over NCCL, ONNX Runtime on CUDA/TensorRT, the server.

Run it on any machine with one CUDA GPU; it measures and checks, then writes one JSON file:

1. **training**: pix2pix (U-Net-256, 256 px), CycleGAN (ResNet-9, 256 px) and SRGAN (SRResNet x4,
   GAN stage, batch 16 at 96 px) training steps, built exactly as ``translate train`` builds them,
   in fp32 and with AMP bf16/fp16, each without and with channels_last. Every variant starts from
   the same weights and batch; after ``--steps`` steps its generator's output on that batch
   (eval mode, fp32) is compared with the fp32 run's (PSNR, peak 2 for [-1, 1]), and then steps
   are timed (it/s, speed-up over fp32).
2. **ddp**: a NCCL process group of world size 1, an all_reduce, and a generator trained by
   ``DistributedDataParallel`` against the same generator trained without it (same weights expected).
3. **onnx**: each generator exported with ``translate.export.build_onnx`` and run on ONNX Runtime's
   CUDA execution provider in fp32 (the product's ``OnnxBackend``) and fp16 (the file converted by
   ``onnxruntime.transformers.float16``, inputs/outputs kept fp32), and on the TensorRT provider
   (fp32, fp16) when the installed wheel offers it; each against PyTorch fp32 (max error, PSNR)
   and timed next to PyTorch fp32 and fp16 autocast.
4. **server**: ``translate serve``'s server on those exports (CUDA provider), Translate calls over
   gRPC compared pixel for pixel with the local ``translate run`` path, latency measured.

The whole run has a hard time budget (``--budget-s``, default 450 s, so it ends within 8 minutes
with start-up): a section that would not fit is skipped with that reason, and a watchdog writes
the JSON so far and exits with code 3 when the budget runs out mid-section. Progress goes to
stdout. Exit codes: 0 every check passed (or, without a GPU, everything skipped), 1 a check
failed, 3 the budget ran out. ``--device cpu --tiny`` runs the same code on tiny networks on a
CPU (the CUDA-only parts are skipped with a reason): that is how the tests exercise it.

The PSNR gates are provisional: they were set from CPU bf16 runs (no GPU was available when this
script was written); read the measured values in the JSON before tightening or loosening them.

    python scripts/bench/gpu.py [--budget-s 450] [--out FILE] [--sections training ddp onnx server]
        [--steps 20] [--timed-steps 30] [--tiny] [--device cuda|cpu]
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:] = [str(HERE.parents[1])] + [p for p in sys.path if Path(p or ".").resolve() != HERE] + [str(HERE)]

SCHEMA_VERSION = 1
SECTIONS = ("training", "ddp", "onnx", "server")
TRAIN_CASES = ("pix2pix", "cyclegan", "srgan/gan")
# variant -> (amp, channels_last)
TRAIN_VARIANTS = {
    "fp32": ("off", False),
    "fp32+cl": ("off", True),
    "bf16": ("bf16", False),
    "bf16+cl": ("bf16", True),
    "fp16": ("fp16", False),
    "fp16+cl": ("fp16", True),
}
# Least PSNR (dB) of a variant's output against the reference, per precision. Provisional (see above).
GATES_DB = {"train_fp32": 30.0, "train_amp": 20.0, "onnx_fp32": 40.0, "onnx_fp16": 30.0, "ddp": 60.0}
# Rough seconds each section needs on a GPU (paper sizes): a section starts only if this much is left.
ESTIMATE_S = {"training": 120.0, "ddp": 15.0, "onnx": 90.0, "server": 30.0}
STATUSES = ("ok", "failed", "skipped", "timeout")


# ----------------------------------------------------------------------------- parity helpers
def psnr_db(a, b, peak: float = 2.0) -> float:
    """PSNR of ``a`` against ``b`` (arrays or tensors, same shape) for values spanning ``peak``; inf when equal."""
    a, b = _numpy(a), _numpy(b)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    mse = float(np.mean((a - b) ** 2))
    if not math.isfinite(mse):
        return float("nan")
    return float("inf") if mse == 0 else 10 * math.log10(peak**2 / mse)


def max_abs_err(a, b) -> float:
    """Largest absolute difference between ``a`` and ``b``."""
    return float(np.max(np.abs(_numpy(a) - _numpy(b))))


def _numpy(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def finite_json(x):
    """``x`` with inf/nan floats as strings ("inf", "nan"), so the JSON is standard."""
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    if isinstance(x, dict):
        return {k: finite_json(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [finite_json(v) for v in x]
    return x


# ----------------------------------------------------------------------------- report, budget, watchdog
class Report:
    """The JSON document, built section by section; safe to snapshot from the watchdog thread."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.lock = threading.Lock()
        self.started = time.monotonic()
        self.doc: dict = {"benchmark": "gpu", "schema": SCHEMA_VERSION, "utc": time.strftime("%Y%m%dT%H%M%SZ",
                                                                                           time.gmtime()),
                          "status": "ok", "budget_s": args.budget_s, "elapsed_s": 0.0,
                          "options": {k: v for k, v in vars(args).items() if k != "out"},
                          "device": {}, "sections": {}, "checks": []}

    def log(self, msg: str) -> None:
        """Progress line with the seconds since start."""
        print(f"[{time.monotonic() - self.started:6.1f}s] {msg}", flush=True)

    def section(self, name: str, status: str, **fields) -> dict:
        """Set (or replace) a section's entry."""
        with self.lock:
            entry = {"status": status, **fields}
            self.doc["sections"][name] = entry
            return entry

    def check(self, section: str, name: str, ok: bool, value=None, limit=None, note: str = "") -> bool:
        """Record one pass/fail check (printed as it happens)."""
        with self.lock:
            self.doc["checks"].append({"section": section, "name": name, "ok": bool(ok), "value": value,
                                       "limit": limit, "note": note})
        self.log(f"  {'PASS' if ok else 'FAIL'} {section}: {name}" + (f" = {value}" if value is not None else "")
                 + (f" (limit {limit})" if limit is not None else "") + (f" {note}" if note else ""))
        return bool(ok)

    def snapshot(self, status: str | None = None) -> dict:
        """A deep copy of the document, with elapsed time and (optionally) a final status."""
        with self.lock:
            doc = copy.deepcopy(self.doc)
        doc["elapsed_s"] = round(time.monotonic() - self.started, 1)
        if status:
            doc["status"] = status
        elif any(not c["ok"] for c in doc["checks"]) or any(s["status"] == "failed" for s in doc["sections"].values()):
            doc["status"] = "failed"
        elif doc["sections"] and all(s["status"] == "skipped" for s in doc["sections"].values()):
            doc["status"] = "skipped"
        return finite_json(doc)


def write_report(doc: dict, out: Path | None) -> Path:
    """Write the document to ``out``, or to bench/results/gpu-<utc>.json; returns the path."""
    if out is None:
        from common import RESULTS

        out = RESULTS / f"gpu-{doc['utc']}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1, default=str))
    os.replace(tmp, out)
    print(f"wrote {out}", flush=True)
    return out


class Budget:
    """The run's hard time limit: ``left()`` seconds remain; ``fits(section)`` says whether it may start."""

    def __init__(self, seconds: float, started: float | None = None) -> None:
        self.seconds = seconds
        self.started = time.monotonic() if started is None else started

    def left(self) -> float:
        """Seconds until the deadline."""
        return self.seconds - (time.monotonic() - self.started)

    def fits(self, estimate_s: float) -> bool:
        """True when at least ``estimate_s`` seconds remain."""
        return self.left() >= estimate_s


def start_watchdog(report: Report, budget: Budget, out: Path | None) -> threading.Event:
    """At the deadline: write the JSON so far (status "timeout") and end the process with exit code 3.

    Returns an event; set it to disarm the watchdog once the run finished on its own.
    """
    done = threading.Event()

    def watch():
        if done.wait(max(0.0, budget.left())):
            return
        report.log(f"time budget of {budget.seconds:.0f} s spent: writing what was measured and stopping")
        try:
            write_report(report.snapshot("timeout"), out)
        finally:
            os._exit(3)

    threading.Thread(target=watch, name="gpu-check-watchdog", daemon=True).start()
    return done


# ----------------------------------------------------------------------------- device facts
def device_info(device: str) -> dict:
    """GPU name, compute capability, memory, CUDA/cuDNN/NCCL/torch/ONNX Runtime versions and providers."""
    import onnxruntime as ort
    import torch

    info = {"device": device, "torch": torch.__version__, "cuda": torch.version.cuda,
            "onnxruntime": ort.__version__, "ort_providers": ort.get_available_providers()}
    if device == "cuda":
        props = torch.cuda.get_device_properties(0)
        info.update(name=props.name, capability=f"{props.major}.{props.minor}",
                    memory_gib=round(props.total_memory / 2**30, 1), device_count=torch.cuda.device_count(),
                    cudnn=torch.backends.cudnn.version(), tf32_conv=torch.backends.cudnn.allow_tf32,
                    tf32_matmul=torch.backends.cuda.matmul.allow_tf32, bf16=torch.cuda.is_bf16_supported())
        try:
            info["nccl"] = ".".join(map(str, torch.cuda.nccl.version()))
        except Exception as exc:  # torch built without NCCL
            info["nccl"] = f"unavailable: {exc}"
    return info


def variants_for(device: str) -> list[str]:
    """Training variants that can run on ``device`` (fp16 AMP is CUDA-only)."""
    return [v for v, (amp, _) in TRAIN_VARIANTS.items() if device == "cuda" or amp != "fp16"]


# ----------------------------------------------------------------------------- 1. training
def generator_output(trainer, batch):
    """The first generator's output (a tensor) on the batch's ``A`` images: eval mode, fp32, no autocast."""
    import torch

    from translate.checkpoint import unwrap

    g = unwrap(trainer.method.nets[trainer.method.generators[0]])
    was = g.training
    g.eval()
    try:
        with torch.no_grad():
            return g(batch["A"].float().contiguous()).float().contiguous()
    finally:
        g.train(was)


def run_training(report: Report, args, budget: Budget, tmp: Path) -> None:
    """Every case x variant: parity after ``--steps`` steps against fp32, then timed steps."""
    from trainstep import build_step

    rows = []
    report.section("training", "running", rows=rows)
    for case in args.train_cases:
        ref_out = None
        for variant in variants_for(args.device):
            if budget.left() < 10:
                report.log(f"training: {case} {variant} skipped (budget)")
                rows.append({"case": case, "variant": variant, "status": "skipped", "reason": "time budget"})
                continue
            amp, cl = TRAIN_VARIANTS[variant]
            overrides = {"device": args.device, "amp": amp, "channels_last": cl, "seed": 0}
            if case.startswith("srgan"):
                overrides["perceptual_weights"] = args.srgan_weights
            row = {"case": case, "variant": variant, "amp": amp, "channels_last": cl}
            try:
                t0 = time.perf_counter()
                try:
                    step, trainer, batch = build_step(case, tiny=args.tiny, overrides=overrides, tmp=tmp, tag=variant)
                except Exception as exc:  # e.g. no VGG weights offline: SRGAN's pixel-MSE content loss instead
                    if not case.startswith("srgan"):
                        raise
                    row["note"] = f"VGG content loss unavailable ({type(exc).__name__}: {exc}); pixel MSE used"
                    overrides = {**overrides, "content_loss": "pixel-mse"}
                    step, trainer, batch = build_step(case, tiny=args.tiny, overrides=overrides, tmp=tmp,
                                                      tag=variant)
                row["setup_s"] = round(time.perf_counter() - t0, 2)
                losses = [step() for _ in range(args.steps)]
                finite = all(torch_finite(v) for ls in losses for v in ls.values())
                out = generator_output(trainer, batch)
                if variant == "fp32":
                    ref_out = out
                row["psnr_vs_fp32_db"] = psnr_db(out, ref_out) if ref_out is not None else None
                times = []
                for _ in range(args.timed_steps):
                    t = time.perf_counter()
                    step()
                    times.append(time.perf_counter() - t)
                    if budget.left() < 5:
                        break
                med = statistics.median(times)
                row.update(status="ok", s_per_it=med, it_per_s=1 / med, timed_steps=len(times),
                           losses_finite=finite, final_losses={k: float(v) for k, v in losses[-1].items()})
                report.check("training", f"{case} {variant}: losses finite after {args.steps} steps", finite)
                if ref_out is not None and variant != "fp32":
                    gate = GATES_DB["train_amp" if amp != "off" else "train_fp32"]
                    report.check("training", f"{case} {variant}: generator output vs fp32 after {args.steps} steps "
                                 "(dB)", row["psnr_vs_fp32_db"] >= gate, round(row["psnr_vs_fp32_db"], 2), gate)
                del trainer, step, batch
            except Exception as exc:
                row.update(status="failed", error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc(-3))
                report.check("training", f"{case} {variant}: runs", False, note=row["error"][:300])
            rows.append(row)
            report.log(f"training: {case:10s} {variant:8s} " + (
                f"{row['it_per_s']:8.2f} it/s  PSNR vs fp32 {row.get('psnr_vs_fp32_db')}"
                if row.get("status") == "ok" else row.get("status", "")))
        base = next((r for r in rows if r["case"] == case and r["variant"] == "fp32" and r.get("status") == "ok"), None)
        for r in rows:
            if r["case"] == case and base and r.get("status") == "ok":
                r["speedup_vs_fp32"] = base["s_per_it"] / r["s_per_it"]
        free_cuda_memory()
    status = "failed" if any(r.get("status") == "failed" for r in rows) else "ok"
    report.section("training", status, rows=rows, steps=args.steps, timed_steps=args.timed_steps)


def torch_finite(v) -> bool:
    """True when a loss value (tensor or number) is finite."""
    return math.isfinite(float(v))


def free_cuda_memory() -> None:
    """Release cached CUDA memory between cases (the next case's networks are larger or smaller)."""
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


# ----------------------------------------------------------------------------- 2. DDP
def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_ddp(report: Report, args, budget: Budget, tmp: Path) -> None:
    """World size 1: NCCL (gloo on a CPU) init, all_reduce, and DDP training equal to plain training."""
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP

    from translate.nets import build_network

    cuda = args.device == "cuda"
    backend = "nccl" if cuda else "gloo"
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ["MASTER_PORT"] = str(free_port())
    dev = torch.device("cuda", 0) if cuda else torch.device("cpu")
    dist.init_process_group(backend, rank=0, world_size=1)
    try:
        t = torch.full((4,), 3.0, device=dev)
        dist.all_reduce(t)
        report.check("ddp", f"{backend} all_reduce (world size 1)", bool(torch.all(t == 3.0)), float(t[0]), 3.0)
        kwargs = {"ngf": 8 if args.tiny else 64, "norm": "batch", "in_channels": 3, "out_channels": 3}
        arch, size = ("unet_128", 128) if args.tiny else ("unet_256", 256)
        torch.manual_seed(0)
        plain = build_network(arch, **kwargs).to(dev)
        wrapped_net = copy.deepcopy(plain)
        wrapped = DDP(wrapped_net, device_ids=[0] if cuda else None)
        x = torch.rand(2, 3, size, size, device=dev) * 2 - 1
        y = torch.rand(2, 3, size, size, device=dev) * 2 - 1
        times = {}
        for name, net in (("plain", plain), ("ddp", wrapped)):
            opt = torch.optim.Adam(net.parameters(), lr=2e-4, betas=(0.5, 0.999))
            torch.manual_seed(1)  # the same dropout masks for both
            ts = []
            for _ in range(args.steps):
                t0 = time.perf_counter()
                opt.zero_grad(set_to_none=True)
                torch.nn.functional.l1_loss(net(x), y).backward()
                opt.step()
                if cuda:
                    torch.cuda.synchronize()
                ts.append(time.perf_counter() - t0)
            times[name] = statistics.median(ts[1:] or ts)
        worst = max(max_abs_err(a, b) for a, b in zip(plain.parameters(), wrapped_net.parameters()))
        plain.eval()
        wrapped_net.eval()
        with torch.no_grad():
            close = psnr_db(wrapped_net(x), plain(x))
        report.check("ddp", f"DDP-trained generator vs plain after {args.steps} steps (dB)", close >= GATES_DB["ddp"],
                     round(close, 2) if math.isfinite(close) else close, GATES_DB["ddp"])
        report.section("ddp", "ok", backend=backend, world_size=1, arch=arch, steps=args.steps, max_param_diff=worst,
                       psnr_db=close, s_per_it_plain=times["plain"], s_per_it_ddp=times["ddp"],
                       ddp_overhead=times["ddp"] / times["plain"])
    finally:
        dist.destroy_process_group()


# ----------------------------------------------------------------------------- 3. ONNX Runtime
def onnx_generators(args) -> list[tuple[str, object, object]]:
    """(name, generator in eval mode, ModelInfo) of each method's first generator, from the paper presets."""
    import torch

    from training.config import load_config
    from training.registry import METHODS

    out = []
    for case in args.train_cases:
        method = case.split("/")[0]
        preset = {"pix2pix": "pix2pix", "cyclegan": "cyclegan", "srgan": "srgan"}[method]
        cfg = load_config(method, preset=f"{preset}-tiny" if args.tiny else preset,
                          overrides={"device": "cpu", "tensorboard": False, "content_loss": "pixel-mse"}
                          if method == "srgan" else {"device": "cpu", "tensorboard": False})
        torch.manual_seed(0)
        m = METHODS[method](cfg, "cpu")
        g = m.generators[0]
        out.append((method, m.nets[g].eval(), m.processing()[g]))
    return out


def to_fp16_model(onnx_bytes: bytes) -> bytes:
    """The model with fp16 weights and arithmetic, fp32 inputs and outputs (ONNX Runtime's own converter)."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = onnx.load_from_string(onnx_bytes)
    return convert_float_to_float16(model, keep_io_types=True).SerializeToString()


def time_calls(fn, repeats: int, budget: Budget) -> float:
    """Median seconds of ``fn()`` over ``repeats`` calls after one warm-up (fewer when the budget runs low)."""
    fn()
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
        if budget.left() < 5:
            break
    return statistics.median(ts)


def run_onnx(report: Report, args, budget: Budget, tmp: Path) -> None:
    """Export each generator; ORT CUDA fp32/fp16 (+ TensorRT) against torch fp32: error and speed."""
    import onnxruntime as ort
    import torch

    from translate.backends.onnxruntime import OnnxBackend
    from translate.export import build_onnx

    cuda = args.device == "cuda"
    dev = torch.device("cuda", 0) if cuda else torch.device("cpu")
    available = ort.get_available_providers()
    rows = []
    report.section("onnx", "running", rows=rows)
    repo = tmp / "models"
    for name, net, info in onnx_generators(args):
        if budget.left() < 15:
            rows.append({"model": name, "status": "skipped", "reason": "time budget"})
            continue
        t0 = time.perf_counter()
        data, _ = build_onnx(net, info, verify=False, exporter=args.exporter)
        path = repo / name / "1" / "model.onnx"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        export_s = time.perf_counter() - t0
        side = info.image_size // max(1, info.scale)
        x = (torch.rand(1, info.in_channels, side, side, generator=torch.Generator().manual_seed(1)) * 2 - 1)
        tnet = copy.deepcopy(net).to(dev).eval()
        tf32 = torch.backends.cudnn.allow_tf32
        torch.backends.cudnn.allow_tf32 = False  # the reference is true fp32
        try:
            with torch.no_grad():
                ref = tnet(x.to(dev)).float().cpu().numpy()
        finally:
            torch.backends.cudnn.allow_tf32 = tf32
        xd = x.to(dev)

        def torch_call(dtype=None, tnet=tnet, xd=xd):
            with torch.no_grad(), torch.autocast(dev.type, dtype=dtype, enabled=dtype is not None):
                tnet(xd)
            if cuda:
                torch.cuda.synchronize()

        base = {"model": name, "input": list(x.shape), "export_s": round(export_s, 2)}
        rows.append({**base, "runtime": "torch", "precision": "fp32", "status": "ok",
                     "ms": 1000 * time_calls(torch_call, args.timed_steps, budget)})
        if cuda:
            rows.append({**base, "runtime": "torch", "precision": "fp16-autocast", "status": "ok",
                         "ms": 1000 * time_calls(lambda: torch_call(torch.float16), args.timed_steps, budget)})
        xn = x.numpy()
        variants = [("CUDAExecutionProvider" if cuda else "CPUExecutionProvider", "fp32")]
        if cuda:
            variants.append(("CUDAExecutionProvider", "fp16"))
            if "TensorrtExecutionProvider" in available:
                variants += [("TensorrtExecutionProvider", "fp32"), ("TensorrtExecutionProvider", "fp16")]
        for provider, precision in variants:
            row = {**base, "runtime": "onnxruntime", "provider": provider, "precision": precision}
            try:
                if precision == "fp32" and provider != "TensorrtExecutionProvider":  # the product's backend
                    backend = OnnxBackend(path, device="cuda" if cuda else "cpu")
                    session = backend.session
                else:
                    model = to_fp16_model(data) if (precision == "fp16" and provider == "CUDAExecutionProvider") \
                        else data
                    opts = {"trt_fp16_enable": precision == "fp16", "trt_engine_cache_enable": True,
                            "trt_engine_cache_path": str(tmp / "trt")} if provider == "TensorrtExecutionProvider" \
                        else {}
                    session = ort.InferenceSession(model, providers=[(provider, opts), "CPUExecutionProvider"])
                used = session.get_providers()[0]
                row["provider_used"] = used
                out = session.run(None, {"input": xn})[0]
                row.update(status="ok", max_abs_err=max_abs_err(out, ref), psnr_db=psnr_db(out, ref),
                           ms=1000 * time_calls(lambda s=session, x=xn: s.run(None, {"input": x}), args.timed_steps,
                                                budget))
                gate = GATES_DB["onnx_fp16" if precision == "fp16" else "onnx_fp32"]
                report.check("onnx", f"{name} {provider} {precision} vs torch fp32 (dB)", row["psnr_db"] >= gate,
                             round(row["psnr_db"], 2) if math.isfinite(row["psnr_db"]) else row["psnr_db"], gate)
                report.check("onnx", f"{name} {provider} {precision} runs on {provider}", used == provider, used)
            except Exception as exc:
                row.update(status="failed", error=f"{type(exc).__name__}: {str(exc)[:500]}")
                if provider == "TensorrtExecutionProvider":  # the wheel lists it; TensorRT itself may be absent
                    row["status"] = "skipped"
                    report.log(f"onnx: {name} TensorRT unavailable: {row['error'][:200]}")
                else:
                    report.check("onnx", f"{name} {provider} {precision} runs", False, note=row["error"][:300])
            rows.append(row)
        torch_ms = rows[[r["model"] for r in rows].index(name)]["ms"]
        for r in rows:
            if r["model"] == name and r.get("ms"):
                r["speedup_vs_torch_fp32"] = torch_ms / r["ms"]
                report.log(f"onnx: {name:8s} {r['runtime']:11s} {r.get('provider', ''):26s} {r['precision']:13s} "
                           f"{r['ms']:8.2f} ms  x{r['speedup_vs_torch_fp32']:.2f}"
                           + (f"  {r['psnr_db']:.1f} dB" if "psnr_db" in r else ""))
        del tnet
        free_cuda_memory()
    status = "failed" if any(r.get("status") == "failed" for r in rows) else "ok"
    report.section("onnx", status, rows=rows, repository=str(repo))


# ----------------------------------------------------------------------------- 4. the server
def run_server(report: Report, args, budget: Budget, tmp: Path) -> None:
    """The gRPC server on the exports: provider in use, Translate == local path, latency."""
    from serving.client import TranslateClient
    from serving.server import InferenceServer, ServerConfig
    from translate.backends.onnxruntime import OnnxBackend
    from translate.images import Image, apply_model, decode_image, encode_image

    repo = tmp / "models"
    models = sorted(p.name for p in repo.iterdir()) if repo.is_dir() else []
    if not models:
        report.section("server", "skipped", reason="no exported models (the onnx section did not run)")
        return
    cuda = args.device == "cuda"
    want = "CUDAExecutionProvider" if cuda else "CPUExecutionProvider"
    server = InferenceServer(ServerConfig(models=str(repo), port=0, reload="off", grace=2.0))
    port = server.start()
    rows = []
    try:
        with TranslateClient(f"127.0.0.1:{port}") as client:
            for rec in server.repository.records():
                used = rec.current.backend.session.get_providers()[0] if rec.current else None
                report.check("server", f"{rec.name} served on {want}", used == want, used)
                info = rec.current.info
                side = info.image_size // max(1, info.scale)
                rng = np.random.default_rng(0)
                png = encode_image(Image(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)), "png")
                ts = []
                for _ in range(max(3, args.timed_steps // 3)):
                    t0 = time.perf_counter()
                    result = client.translate(png, rec.name, timeout=60)
                    ts.append(time.perf_counter() - t0)
                    if budget.left() < 5:
                        break
                local_backend = OnnxBackend(rec.current.path, device="cuda" if cuda else "cpu")
                local = apply_model(local_backend, decode_image(png), local_backend.info)
                local_backend.close()
                served = decode_image(result.image)
                diff = int(np.max(np.abs(served.pixels.astype(int) - local.pixels.astype(int))))
                report.check("server", f"{rec.name}: served pixels == local pixels (max diff)", diff <= 1, diff, 1)
                rows.append({"model": rec.name, "provider": used, "latency_ms_median": 1000 * statistics.median(ts),
                             "calls": len(ts), "max_pixel_diff": diff, "size": [result.width, result.height]})
                report.log(f"server: {rec.name} {1000 * statistics.median(ts):.1f} ms per Translate on {used}")
    finally:
        server.drain(1.0)
    report.section("server", "ok", rows=rows, port=port)


# ----------------------------------------------------------------------------- schema and main
REQUIRED = {"benchmark": str, "schema": int, "utc": str, "status": str, "budget_s": (int, float),
            "elapsed_s": (int, float), "options": dict, "device": dict, "sections": dict, "checks": list}


def validate_report(doc: dict) -> list[str]:
    """Problems with a report's shape (empty when it follows schema 1): what readers of the JSON rely on."""
    problems = [f"{k}: missing" for k in REQUIRED if k not in doc]
    problems += [f"{k}: {type(doc[k]).__name__}, expected {getattr(t, '__name__', t)}" for k, t in REQUIRED.items()
                 if k in doc and not isinstance(doc[k], t)]
    if doc.get("status") not in STATUSES:
        problems.append(f"status: {doc.get('status')!r} is not one of {STATUSES}")
    for name, sec in (doc.get("sections") or {}).items():
        if name not in SECTIONS:
            problems.append(f"sections.{name}: unknown section")
        if not isinstance(sec, dict) or sec.get("status") not in STATUSES + ("running",):
            problems.append(f"sections.{name}.status: {sec.get('status') if isinstance(sec, dict) else sec!r}")
        elif sec["status"] == "skipped" and not sec.get("reason"):
            problems.append(f"sections.{name}: skipped without a reason")
    for i, c in enumerate(doc.get("checks") or []):
        if not {"section", "name", "ok"} <= set(c) or not isinstance(c.get("ok"), bool):
            problems.append(f"checks[{i}]: needs section, name and a boolean ok")
    return problems


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The script's options; ``--device`` defaults to cuda."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budget-s", type=float, default=450.0,
                   help="hard time limit in seconds (default 450: with start-up, under 8 minutes)")
    p.add_argument("--out", type=Path, help="JSON file to write (default bench/results/gpu-<UTC time>.json)")
    p.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS), help="what to run (default all)")
    p.add_argument("--steps", type=int, default=20, help="training steps before the parity comparison (default 20)")
    p.add_argument("--timed-steps", type=int, default=30, help="timed steps / calls per variant (default 30)")
    p.add_argument("--cases", dest="train_cases", nargs="+", choices=TRAIN_CASES, default=list(TRAIN_CASES),
                   help="training cases (default all)")
    p.add_argument("--srgan-weights", default="auto",
                   help="SRGAN content-loss VGG weights (the config key perceptual_weights; default auto)")
    p.add_argument("--exporter", choices=("auto", "dynamo", "torchscript"), default="auto",
                   help="ONNX exporter of translate export (default auto, the product's default)")
    p.add_argument("--tiny", action="store_true", help="the *-tiny presets (a dry run of the script itself)")
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda",
                   help="cuda (default); cpu runs what can run there, for testing this script")
    args = p.parse_args(argv)
    if args.budget_s <= 0 or args.steps < 1 or args.timed_steps < 1:
        p.error("--budget-s, --steps and --timed-steps must be positive")
    return args


RUNNERS = {"training": run_training, "ddp": run_ddp, "onnx": run_onnx, "server": run_server}


def run(args: argparse.Namespace, report: Report | None = None) -> tuple[dict, int]:
    """Run the sections within the budget; returns (the final document, exit code). Writes nothing.

    ``report``: the document to fill (the watchdog's, so a timeout writes what was measured).
    """
    import torch

    report = report or Report(args)
    budget = Budget(args.budget_s, report.started)
    if args.device == "cuda" and not torch.cuda.is_available():
        report.log("no CUDA device visible: nothing to check here (--device cpu runs the CPU-capable parts)")
        for name in args.sections:
            report.section(name, "skipped", reason="no CUDA device")
        return report.snapshot("skipped"), 0
    report.doc["device"] = device_info(args.device)
    if args.device == "cpu":  # PyTorch threads that compete for busy cores stall each other
        from translate.threads import set_torch_threads

        report.doc["device"]["torch_threads"] = set_torch_threads("auto", quiet=True).describe()
    report.log(f"device: {report.doc['device'].get('name', 'cpu')}; budget {args.budget_s:.0f} s; "
               f"sections {' '.join(args.sections)}")
    scale = 0.25 if args.tiny else 1.0
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as t:
        tmp = Path(t)
        for name in args.sections:
            if not budget.fits(ESTIMATE_S[name] * scale):
                report.section(name, "skipped", reason=f"time budget: {budget.left():.0f} s left, about "
                                                      f"{ESTIMATE_S[name] * scale:.0f} s needed")
                report.log(f"{name}: skipped (budget)")
                continue
            report.log(f"{name}: start")
            t0 = time.monotonic()
            try:
                RUNNERS[name](report, args, budget, tmp)
            except Exception as exc:
                report.section(name, "failed", error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
                report.log(f"{name}: FAILED {type(exc).__name__}: {exc}")
            report.doc["sections"][name]["seconds"] = round(time.monotonic() - t0, 1)
    doc = report.snapshot()
    failed = [c["name"] for c in doc["checks"] if not c["ok"]]
    report.log(f"done in {doc['elapsed_s']:.0f} s: {len(doc['checks']) - len(failed)}/{len(doc['checks'])} checks "
               f"passed" + (f"; failed: {'; '.join(failed)}" if failed else ""))
    return doc, (1 if doc["status"] == "failed" else 0)


def main(argv: list[str] | None = None) -> int:
    """Parse, arm the watchdog, run, write the JSON; the exit code says whether every check passed."""
    args = parse_args(argv)
    report = Report(args)
    done = start_watchdog(report, Budget(args.budget_s, report.started), args.out)
    try:
        doc, code = run(args, report)
    finally:
        done.set()
    problems = validate_report(doc)
    if problems:  # a bug in this script: say so rather than write a file readers cannot trust
        print("report does not follow the schema: " + "; ".join(problems), file=sys.stderr)
        code = 1
    write_report(doc, args.out)
    return code


if __name__ == "__main__":
    sys.exit(main())
