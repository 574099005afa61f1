"""Run ``translate train`` from a benchmark script, exactly as a user would, and find its checkpoints.

The quality benchmarks measure the product: they train through the ``translate train`` CLI
(preset + ``--set`` overrides), in a child process, and read the checkpoints it writes. Runs go
to ``bench/data/runs/<name>`` (git-ignored); the CLI's progress goes to ``<run>/train.log``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from common import ROOT

RUNS = ROOT / "bench" / "data" / "runs"


def train(name: str, method: str, data: Path, preset: str, sets: dict, *, device: str = "cpu",
          threads: int = 2, seed: int = 0) -> tuple[Path, float]:
    """``translate train METHOD --data DATA --out bench/data/runs/NAME --preset P --set k=v ...``.

    Starts from an empty run folder; returns (run folder, wall seconds). Raises RuntimeError with
    the log's tail when the command fails.
    """
    out = RUNS / name
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    cmd = [sys.executable, "-m", "translate.cli", "train", method, "--data", str(data), "--out", str(out),
           "--preset", preset, "--device", device, "--seed", str(seed)]
    for k, v in sets.items():
        cmd += ["--set", f"{k}={v}"]
    print("$ " + " ".join(cmd[1:]).replace(str(ROOT) + "/", ""), flush=True)
    env = {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    t0 = time.time()
    with open(out / "train.log", "w") as log:
        proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                              env={**os.environ, **env})
    seconds = time.time() - t0
    if proc.returncode != 0:
        tail = (out / "train.log").read_text()[-3000:]
        raise RuntimeError(f"translate train {method} failed (exit {proc.returncode}):\n{tail}")
    return out, seconds


def checkpoint(run: Path, step: int) -> Path:
    """``run/checkpoints/step_XXXXXXXX.pt``; raises FileNotFoundError naming what exists."""
    path = run / "checkpoints" / f"step_{step:08d}.pt"
    if not path.is_file():
        have = sorted(p.name for p in (run / "checkpoints").glob("*.pt"))
        raise FileNotFoundError(f"{path} not written; the run has {have}")
    return path
