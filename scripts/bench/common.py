"""Shared plumbing of the benchmark scripts: machine description, timing, tables, JSON results.

Benchmarks are scripts, never timed tests. Every script reports ratios measured in the same
run (these machines are noisy) and writes ``bench/results/<name>-<timestamp>.json`` with the
machine it ran on, so a number in the README can always be traced to a file.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results"


def machine_info() -> dict:
    """CPU model, core count, memory, GPU (if any) and library versions."""
    import numpy
    import onnxruntime
    import torch

    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = None
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        mem_gib = round(pages / 2**30, 1)
    except (ValueError, OSError):
        pass
    info = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": mem_gib,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "numpy": numpy.__version__,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "torch_threads": torch.get_num_threads(),
    }
    try:
        info["git_commit"] = _git("rev-parse", "--short", "HEAD").strip()
        # uncommitted changes to tracked files mean the commit alone does not reproduce the number
        info["git_dirty"] = bool(_git("status", "--porcelain", "--untracked-files=no").strip())
    except (OSError, subprocess.CalledProcessError):
        info["git_commit"] = info["git_dirty"] = None
    return info


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout


def time_calls(fn, *, warmup: int = 1, repeats: int = 5, budget_s: float | None = None) -> list[float]:
    """Wall-clock seconds of ``repeats`` calls of ``fn`` after ``warmup`` calls.

    With ``budget_s`` the loop stops early once that much time is spent (at least 2 timed calls).
    """
    for _ in range(warmup):
        fn()
    times: list[float] = []
    start = time.perf_counter()
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if budget_s is not None and len(times) >= 2 and time.perf_counter() - start > budget_s:
            break
    return times


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (q in [0, 100])."""
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[max(0, min(98, int(round(q)) - 1))]


def print_table(rows: list[dict], columns: list[str]) -> None:
    """Print rows as an aligned plain-text table (also valid Markdown)."""
    cells = [[_fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) if cells else len(c) for i, c in enumerate(columns)]
    print("| " + " | ".join(c.ljust(w) for c, w in zip(columns, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells:
        print("| " + " | ".join(v.ljust(w) for v, w in zip(row, widths)) + " |")


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 100 else f"{v:.0f}"
    return "" if v is None else str(v)


def write_result(name: str, payload: dict) -> Path:
    """Write ``payload`` plus machine info to bench/results/<name>-<utc time>.json; returns the path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = RESULTS / f"{name}-{stamp}.json"
    doc = {"benchmark": name, "utc": stamp, "machine": machine_info(), **payload}
    path.write_text(json.dumps(doc, indent=2, default=str))
    print(f"wrote {path.relative_to(ROOT)}")
    return path


def matmul_peak_gflops(threads: int, size: int = 2048, repeats: int = 5) -> float:
    """Measured float32 GEMM throughput (GFLOP/s) with ``threads`` torch threads: the machine's practical peak.

    The best of ``repeats`` calls: on a shared machine slower calls measure the neighbours, not the
    hardware. Scripts should probe before and after their measurements and keep the larger value.
    """
    import torch

    prev = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        a = torch.randn(size, size)
        b = torch.randn(size, size)
        times = time_calls(lambda: torch.mm(a, b), warmup=2, repeats=repeats)
        return 2 * size**3 / min(times) / 1e9
    finally:
        torch.set_num_threads(prev)
