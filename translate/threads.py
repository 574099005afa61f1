"""How many threads a command computes with: chosen for this machine and its load, and said so.

``translate train``, ``run`` and ``serve`` take ``--threads N|auto``; :func:`choose_threads` turns
that into a number and a sentence saying why, which the command logs at start. Two rules, because
the runtimes behave differently on a busy machine (measured on a shared 2-core CPU, see
docs/performance.md):

- **PyTorch** (training; ``translate run`` on a checkpoint): as many threads as the 1-minute load
  average leaves cores free, at least one. PyTorch's OpenMP workers wait for each other at every
  kernel's end, so when one of them is descheduled the others stall: a pix2pix step at load ~10
  took 22.3 s with 2 threads and 6.6 s with 1, and ``cyclegan-tiny`` trained 13x faster with 1.
  Without ``--threads``, a set ``OMP_NUM_THREADS`` wins (PyTorch has already applied it; torchrun
  sets it to 1 for several processes per machine), else ``auto``.
- **ONNX Runtime / OpenVINO** inference: every usable core. Their thread pools do not collapse
  under load: 2 threads beat 1 in every interleaved run, even at load 9-14.

"Usable cores" are the CPUs this process may run on (its affinity), capped by a cgroup CPU quota
when there is one (a container with a 2-CPU limit on a 64-core node gets 2, not 64).
"""

from __future__ import annotations

import argparse
import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

AUTO = "auto"
TORCH = "torch"  # PyTorch compute: training, checkpoints in `translate run`
INFERENCE = "inference"  # ONNX Runtime / OpenVINO sessions
PURPOSES = (TORCH, INFERENCE)

THREADS_HELP = ("compute threads: a number, or auto = chosen for this machine and its load; the choice is logged "
                "at start")


def parse_threads(text: str) -> int | str:
    """argparse ``type`` of ``--threads``: ``auto`` or an integer >= 1."""
    value = str(text).strip().lower()
    if value == AUTO:
        return AUTO
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of threads or 'auto', got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"threads must be >= 1 (or 'auto'), got {n}")
    return n


def cgroup_cpu_limit(root: str | os.PathLike = "/sys/fs/cgroup") -> float | None:
    """CPUs the cgroup quota allows (e.g. 2.0 for a Kubernetes ``limits.cpu: 2``), or None without a quota.

    cgroup v2 ``cpu.max`` ("QUOTA PERIOD" or "max PERIOD"), else v1 ``cpu/cpu.cfs_quota_us`` /
    ``cpu.cfs_period_us`` (quota -1 = none). Inside a container these files describe the container.
    """
    root = Path(root)
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota_us = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota_us / period_us if quota_us > 0 and period_us > 0 else None


def usable_cores(*, cgroup_root: str | os.PathLike = "/sys/fs/cgroup") -> int:
    """CPUs this process may run on (affinity, else ``os.cpu_count()``), capped by the cgroup quota; >= 1."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cores = os.cpu_count() or 1
    limit = cgroup_cpu_limit(cgroup_root)
    if limit is not None:
        cores = min(cores, math.ceil(limit))
    return max(1, cores)


def load_average() -> float | None:
    """The 1-minute load average, or None where the OS has none (Windows)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


@dataclass(frozen=True)
class ThreadChoice:
    """The thread count a command uses and where it came from (``source``: ``--threads``,
    ``OMP_NUM_THREADS`` or ``auto``), with the facts ``auto`` looked at."""

    threads: int
    source: str
    purpose: str
    cores: int
    load1: float | None = None
    processes: int = 1
    quota: bool = False  # a cgroup CPU quota set the cores, and the (host's) load average was not used

    def describe(self) -> str:
        """One line for the log: the number, and why."""
        n = f"{self.threads} thread{'s' if self.threads != 1 else ''}"
        if self.source == "--threads":
            return f"{n} (--threads {self.threads})"
        if self.source == "OMP_NUM_THREADS":
            return f"{n} (OMP_NUM_THREADS={self.threads}; --threads N|auto overrides it)"
        if self.purpose == INFERENCE:
            per = f", shared by {self.processes} concurrent calls" if self.processes > 1 else ""
            return (f"{n} (auto for ONNX Runtime/OpenVINO: every usable core of {self.cores}{per}; "
                    "--threads N overrides)")
        per = f", shared by {self.processes} processes" if self.processes > 1 else ""
        if self.quota:
            return (f"{n} (auto for PyTorch: a CPU quota of {self.cores} cores{per}; inside a quota the 1-minute "
                    "load average is the host's, so it does not count; --threads N overrides)")
        load = "unknown" if self.load1 is None else f"{self.load1:.1f}"
        free = self.cores if self.load1 is None else max(0, round(self.cores - self.load1))
        return (f"{n} (auto for PyTorch: {self.cores} usable cores, 1-minute load {load} leaves {free} free{per}; "
                "at least 1, since PyTorch threads that compete for cores slow each other down; --threads N overrides)")


def choose_threads(requested: int | str | None = None, purpose: str = TORCH, *, cores: int | None = None,
                   load1: float | None = None, processes: int = 1,
                   env: Mapping[str, str] | None = None, quota: bool | None = None) -> ThreadChoice:
    """The threads for ``purpose`` (:data:`TORCH` or :data:`INFERENCE`) given ``--threads`` (``requested``).

    ``requested``: an int (used as is), ``"auto"``, or None (flag not given: ``OMP_NUM_THREADS`` when
    set, for PyTorch; else auto). ``cores``, ``load1`` and ``env`` default to this machine's (tests
    inject them); ``processes``: how many computations share the cores, each getting this many
    threads (PyTorch: torchrun's processes on this machine; inference: concurrent session calls).
    ``quota``: whether a cgroup CPU quota caps the cores (default: read it). Inside one, the load
    average is the host's, not the container's, so PyTorch's auto takes the quota's cores instead.
    """
    if purpose not in PURPOSES:
        raise ValueError(f"purpose must be one of {PURPOSES}, got {purpose!r}")
    if processes < 1:
        raise ValueError(f"processes must be >= 1, got {processes}")
    cores = usable_cores() if cores is None else max(1, int(cores))
    if requested not in (None, AUTO):
        n = parse_threads(str(requested))
        return ThreadChoice(int(n), "--threads", purpose, cores, processes=processes)
    env = os.environ if env is None else env
    if requested is None and purpose == TORCH and env.get("OMP_NUM_THREADS", "").strip().isdigit():
        n = int(env["OMP_NUM_THREADS"])
        if n >= 1:
            return ThreadChoice(n, "OMP_NUM_THREADS", purpose, cores, processes=processes)
    if purpose == INFERENCE:
        return ThreadChoice(max(1, cores // processes), AUTO, purpose, cores, processes=processes)
    if load1 is None and quota is None:
        quota = cgroup_cpu_limit() is not None
    if load1 is None and not quota:
        load1 = load_average()
    free = cores if load1 is None else round(cores - load1)
    n = max(1, min(cores, free) // processes)
    return ThreadChoice(n, AUTO, purpose, cores, load1, processes, quota=bool(quota))


def set_torch_threads(requested: int | str | None = None, *, processes: int = 1, quiet: bool = False) -> ThreadChoice:
    """Choose PyTorch's intra-op threads (:func:`choose_threads`), apply them and log the choice."""
    import torch

    choice = choose_threads(requested, TORCH, processes=processes)
    if torch.get_num_threads() != choice.threads:
        torch.set_num_threads(choice.threads)
    if not quiet:
        log.info("threads: %s", choice.describe())
    return choice


def inference_threads(requested: int | str | None = None, *, processes: int = 1, quiet: bool = False) -> ThreadChoice:
    """Threads for ONNX Runtime / OpenVINO sessions (:func:`choose_threads`), logged; the caller passes
    ``choice.threads`` to the session. ``processes``: session calls that run at the same time."""
    choice = choose_threads(requested, INFERENCE, processes=processes)
    if not quiet:
        log.info("threads: %s", choice.describe())
    return choice
