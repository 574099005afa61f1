#!/usr/bin/env python
"""Server overhead: gRPC server throughput vs a bare ONNX Runtime session, same model, same inputs.

A CycleGAN-size generator (``resnet_9blocks``, ngf 64, random init: speed does not depend on the
weights) is exported into a model repository and served by a real ``translate serve`` process.
Closed-loop clients (1..32 concurrent, each with its own channel) send 256x256 PNGs; we report
throughput and p50/p95/p99 latency per concurrency. In the same run, a bare ``onnxruntime``
session with the same thread count runs the same images (already decoded and normalised, batch 1,
back to back) before and after every level; the ratio server/bare is the server's efficiency
(target: >= 0.90 at concurrency >= 4). Because shared machines drift, CPU seconds per image of
the server process and of the bare session are reported as well (``cpu_ratio`` = bare / server).
Results go to ``bench/results/server-<utc>.json``.

    python scripts/bench_server.py [--quick] [--threads N] [--model MODEL.onnx]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts" / "bench"))
from common import percentile, print_table, write_result  # noqa: E402


def export_model(repo: Path) -> Path:
    """Random-init resnet_9blocks exported with translate.export into REPO/cyclegan/1/model.onnx."""
    from translate.checkpoint import build_checkpoint, save_checkpoint
    from translate.export import export_to_repository
    from translate.modelinfo import ModelInfo
    from translate.nets import build_network

    net = build_network("resnet_9blocks").eval()
    info = ModelInfo(family="cyclegan", task="translate", pad_multiple=4, direction="AtoB", image_size=256)
    ckpt = save_checkpoint(build_checkpoint("cyclegan", {"G_A": net}, {"G_A": info}), repo.parent / "bench.pt")
    return export_to_repository(ckpt, repo, "cyclegan", version=1, verify=False)[0].path


def make_images(n: int, size: int) -> list[bytes]:
    """Random photos-sized PNGs, encoded by translate.images."""
    from translate.images import Image, encode_image

    rng = np.random.default_rng(0)
    return [encode_image(Image(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)), "png") for _ in range(n)]


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bare_ort(model: Path, images: list[bytes], threads: int) -> tuple[float, float]:
    """(images/s, CPU seconds per image) of a plain onnxruntime.InferenceSession, batch 1, same inputs."""
    import onnxruntime as ort

    from translate.images import decode_image, prepare
    from translate.modelrepo import file_of_session

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    sess = ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"])
    info = file_of_session(sess, model).info
    arrays = [prepare(decode_image(b), info).array for b in images]
    sess.run(None, {"input": arrays[0]})  # warm-up
    start, cpu = time.perf_counter(), time.process_time()
    for x in arrays:
        sess.run(None, {"input": x})
    return len(arrays) / (time.perf_counter() - start), (time.process_time() - cpu) / len(arrays)


def start_server(repo: Path, args) -> tuple[subprocess.Popen, int]:
    cmd = [sys.executable, "-m", "translate.cli", "--log-level", "WARNING", "serve", "--models", str(repo),
           "--port", "0", "--reload", "off", "--intra-op-threads", str(args.threads),
           "--max-batch", str(args.max_batch), "--batch-timeout-ms", str(args.batch_timeout_ms), "--max-queue", "256"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))
    return proc, int(json.loads(proc.stdout.readline())["port"])


def sweep_level(address: str, images: list[bytes], concurrency: int, requests: int) -> dict:
    """Closed loop: ``concurrency`` clients share ``requests`` calls; throughput and latency percentiles."""
    from serving.client import TranslateClient

    latencies: list[float] = []
    errors: list[str] = []
    counter = iter(range(requests))
    lock = threading.Lock()

    def client_loop():
        with TranslateClient(address, timeout=600, retries=0) as c:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                t0 = time.perf_counter()
                try:
                    c.translate(images[i % len(images)], "cyclegan")
                except Exception as exc:  # counted and reported, the sweep goes on
                    errors.append(str(exc)[:200])
                    continue
                with lock:
                    latencies.append(time.perf_counter() - t0)

    threads = [threading.Thread(target=client_loop) for _ in range(concurrency)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    return {"concurrency": concurrency, "requests": len(latencies), "errors": len(errors),
            "images_per_s": len(latencies) / wall, "p50_ms": 1000 * percentile(latencies, 50),
            "p95_ms": 1000 * percentile(latencies, 95), "p99_ms": 1000 * percentile(latencies, 99),
            "first_error": errors[0] if errors else None}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="concurrency 1, 4, 32 with few requests each")
    parser.add_argument("--levels", type=int, nargs="*", default=None, help="concurrency levels (default 1..32)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="ONNX Runtime intra-op threads")
    parser.add_argument("--size", type=int, default=256, help="image side in pixels (default 256)")
    parser.add_argument("--max-batch", type=int, default=8)
    parser.add_argument("--batch-timeout-ms", type=float, default=2.0)
    parser.add_argument("--model", type=Path, help="an exported model.onnx to reuse (skips the export)")
    args = parser.parse_args()
    levels = args.levels or ([1, 4, 32] if args.quick else [1, 2, 4, 8, 16, 32])
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "models"
        (repo / "cyclegan" / "1").mkdir(parents=True)
        if args.model:
            os.symlink(args.model.resolve(), repo / "cyclegan" / "1" / "model.onnx")
            model = args.model
        else:
            print("exporting resnet_9blocks (random init) ...", flush=True)
            (repo / "cyclegan" / "1").rmdir()
            model = export_model(repo)
        images = make_images(8, args.size)
        n_bare = 4 if args.quick else 8
        # Shared machines drift: bare ORT is measured right before and after every server level (the
        # server idles meanwhile) and each level is compared with the mean of its two neighbours.
        # CPU seconds per image are reported too: on a shared machine they vary far less than wall time.
        bare = [bare_ort(model, images[:n_bare], args.threads)]
        print(f"bare onnxruntime: {bare[0][0]:.3f} images/s, {bare[0][1]:.2f} CPU s/image", flush=True)
        proc, port = start_server(repo, args)
        rows = []
        try:
            for c in levels:
                requests = max(c, 8) if args.quick else max(2 * c, 16)
                cpu0 = process_cpu_seconds(proc.pid)
                row = sweep_level(f"127.0.0.1:{port}", images, c, requests)
                row["server_cpu_s_per_image"] = (process_cpu_seconds(proc.pid) - cpu0) / max(1, row["requests"])
                bare.append(bare_ort(model, images[:n_bare], args.threads))
                row["bare_ort_images_per_s"] = (bare[-2][0] + bare[-1][0]) / 2
                row["bare_cpu_s_per_image"] = (bare[-2][1] + bare[-1][1]) / 2
                row["ratio_vs_bare_ort"] = row["images_per_s"] / row["bare_ort_images_per_s"]
                row["cpu_ratio"] = row["bare_cpu_s_per_image"] / row["server_cpu_s_per_image"]
                rows.append(row)
                print(f"  concurrency {c:2d}: {row['images_per_s']:.3f} images/s  p50 {row['p50_ms']:.0f} ms  "
                      f"bare {bare[-1][0]:.3f} images/s  ratio {row['ratio_vs_bare_ort']:.3f}  "
                      f"CPU s/image server {row['server_cpu_s_per_image']:.2f} bare {bare[-1][1]:.2f}", flush=True)
        finally:
            proc.terminate()
            proc.wait(60)
    print_table(rows, ["concurrency", "requests", "errors", "images_per_s", "p50_ms", "p95_ms", "p99_ms",
                       "bare_ort_images_per_s", "ratio_vs_bare_ort", "server_cpu_s_per_image",
                       "bare_cpu_s_per_image", "cpu_ratio"])
    high = [r for r in rows if r["concurrency"] >= 4]
    if high:
        print(f"server / bare onnxruntime at concurrency >= 4: throughput ratio min "
              f"{min(r['ratio_vs_bare_ort'] for r in high):.3f} (target >= 0.90), CPU-time ratio min "
              f"{min(r['cpu_ratio'] for r in high):.3f}")
    write_result("server", {"model": "resnet_9blocks ngf64 random init", "size": args.size, "threads": args.threads,
                            "max_batch": args.max_batch, "batch_timeout_ms": args.batch_timeout_ms,
                            "quick": args.quick, "bare_ort_images_per_s": bare,
                            "levels": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
