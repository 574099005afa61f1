"""Measure the resident memory of a real ``translate serve`` process, to size container memory.

Exports two generators into a temporary model repository, one per run, starts ``translate serve``
on it exactly as the container image does (apart from the ports, which are picked free), and
samples ``VmRSS`` (now) and ``VmHWM`` (peak so far) from ``/proc/<pid>/status`` after start-up and
after each load step:

- ``tiny``: a ResNet-6 generator with 4 base filters (a few thousand weights: the server's own
  footprint, Python + gRPC + ONNX Runtime);
- ``resnet9``: the CycleGAN ResNet-9 generator (ngf 64, 11.4 M weights), random weights (the
  memory does not depend on the values).

Load steps: one 256x256, one 512x512 and one 1024x1024 image; 8 concurrent 256x256 images (the
dynamic batcher runs them as one batch); and, unless ``--quick``, one 2048x2048 image, the
largest image the server runs whole (larger ones are tiled by default, see ``--tile-above``).

    python serving/deploy/measure_rss.py --threads 2 > rss.json

Linux only (reads /proc). Prints one JSON object; docs/deployment.md quotes the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

MODELS = {"tiny": ("resnet_6blocks", 4), "resnet9": ("resnet_9blocks", 64)}


def export_model(repo: Path, name: str, arch: str, ngf: int) -> None:
    """A random-weight generator exported the way `translate export --repo` does (no parity check)."""
    import torch

    from translate.checkpoint import build_checkpoint
    from translate.export import export_to_repository
    from translate.modelinfo import ModelInfo
    from translate.nets import build_network

    torch.manual_seed(0)
    g = build_network(arch, in_channels=3, out_channels=3, ngf=ngf)
    d = build_network("patch", in_channels=6, ndf=4, n_layers=1)
    info = ModelInfo(family="pix2pix", task="translate", in_channels=3, out_channels=3, pad_multiple=g.pad_multiple,
                     image_size=256, direction="AtoB")
    ckpt = build_checkpoint("pix2pix", {"G": g, "D": d}, {"G": info}, config={"measure": True})
    export_to_repository(ckpt, repo, name, verify=False, exporter="torchscript")


def memory(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM of ``pid`` in MiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = round(int(value.split()[0]) / 1024, 1)  # kB -> MiB
    return fields


def png(size: int) -> bytes:
    """A smooth, compressible test picture (gradients), so large requests stay small on the wire."""
    import numpy as np

    from translate.images import Image, encode_image

    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    px = np.stack([x, y, (x + y) / 2], axis=-1)
    return encode_image(Image((px * 255).astype(np.uint8)), "png")


def measure(repo: Path, name: str, threads: int, quick: bool) -> dict:
    """Start the server on ``repo`` (one model), apply the load steps, return the samples."""
    from serving.client import TranslateClient

    translate = Path(sys.executable).with_name("translate")
    cmd = [str(translate), "serve", "--models", str(repo), "--host", "127.0.0.1", "--port", "0",
           "--intra-op-threads", str(threads), "--reload", "off"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        ready = json.loads(proc.stdout.readline())
        samples = {"started": memory(proc.pid)}
        steps = [(256, 1), (512, 1), (1024, 1), (256, 8)] + ([] if quick else [(2048, 1)])
        with TranslateClient(f"127.0.0.1:{ready['port']}", timeout=600, retries=0) as client:
            for size, concurrent in steps:
                data = png(size)
                started = time.perf_counter()
                with ThreadPoolExecutor(concurrent) as pool:
                    list(pool.map(lambda d: client.translate(d, name, output_format="png"), [data] * concurrent))
                key = f"{concurrent}x{size}px"
                samples[key] = {**memory(proc.pid), "seconds": round(time.perf_counter() - started, 2)}
        return samples
    finally:
        proc.terminate()
        proc.wait(60)


def main(argv: list[str] | None = None) -> int:
    """Export, serve, load and sample each model in turn; print one JSON object."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2, help="--intra-op-threads of the server (default 2)")
    p.add_argument("--quick", action="store_true", help="skip the 2048x2048 step (minutes on a 2-core CPU)")
    p.add_argument("--models", nargs="+", choices=sorted(MODELS), default=sorted(MODELS), help="which generators")
    args = p.parse_args(argv)
    result = {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
              "loadavg_before": os.getloadavg()[0], "threads": args.threads, "unit": "MiB", "models": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            repo = Path(tmp) / f"repo-{name}"
            arch, ngf = MODELS[name]
            export_model(repo, name, arch, ngf)
            size = (repo / name / "1" / "model.onnx").stat().st_size
            result["models"][name] = {"arch": arch, "ngf": ngf, "onnx_mib": round(size / 2**20, 1),
                                      **measure(repo, name, args.threads, args.quick)}
    result["loadavg_after"] = os.getloadavg()[0]
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
