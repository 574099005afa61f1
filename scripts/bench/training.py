"""Training speed: seconds per iteration of each method in fp32, bf16/fp16 autocast, channels_last, torch.compile.

An iteration is what ``translate train`` does per step: the method's ``train_step`` (D update(s) +
G update(s), backward, optimizer steps) inside the shared loop's ``StepContext`` (autocast +
GradScaler), with networks and optimizers exactly as ``training.loop.Trainer`` builds them from a
preset and config keys (``amp``, ``channels_last``, ``compile``). Data loading is excluded: one
batch of the method's own dataset (synthetic images of the right size, ``training.synthetic``) stays
on the device, so the number is the compute cost of a step. The variants of a method are timed
interleaved (one step of each per round), so load changes on a shared machine hit them alike;
``speedup`` is against fp32 (contiguous, not compiled) of the same method in the same run.

Default sizes are the papers': pix2pix U-Net-256 at 256 px, batch 1; CycleGAN ResNet-9 at 256 px,
batch 1 (on a CPU at 128 px by default: at 256 px one step takes minutes on 2 busy cores; pass
``--cyclegan-size 256``). ``--tiny`` uses the ``*-tiny`` presets instead (a smoke run). On a CPU
the variants are fp32, fp32+cl (channels_last), bf16, bf16+cl; on CUDA fp32/bf16/fp16 each with
and without channels_last. ``--compile`` adds fp32+compile and bf16+compile (the first step then
compiles, about 10 minutes per variant on a 2-core CPU; it is reported as ``first_step_s``).

    python scripts/bench/training.py [--quick] [--tiny] [--device cpu|cuda] [--threads N|auto]
        [--methods pix2pix cyclegan ...] [--variants fp32 bf16 ...] [--compile] [--cyclegan-size 128]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

# This file is called training.py like the package it measures: replace its folder at the front of
# sys.path (where Python puts a script's folder) by the repository root, so `import training` finds
# the package, and append it at the end for `common`.
HERE = Path(__file__).resolve().parent
sys.path[:] = [str(HERE.parents[1])] + [p for p in sys.path if Path(p or ".").resolve() != HERE] + [str(HERE)]
from common import print_table, write_result  # noqa: E402
from trainstep import CASES, build_step  # noqa: E402

# variant -> config keys (amp, channels_last, compile)
VARIANTS = {
    "fp32": ("off", False, False),
    "fp32+cl": ("off", True, False),
    "bf16": ("bf16", False, False),
    "bf16+cl": ("bf16", True, False),
    "fp16": ("fp16", False, False),
    "fp16+cl": ("fp16", True, False),
    "fp32+compile": ("off", False, True),
    "bf16+compile": ("bf16", False, True),
    "bf16+cl+compile": ("bf16", True, True),
}
CPU_VARIANTS = ["fp32", "fp32+cl", "bf16", "bf16+cl"]
GPU_VARIANTS = ["fp32", "fp32+cl", "bf16", "bf16+cl", "fp16", "fp16+cl"]
TARGET = 1.3  # issue 14: bf16 >= 1.3x fp32 on this CPU class


def case_overrides(name: str, tiny: bool, cyclegan_size: int) -> dict:
    """Config keys beyond the preset: CycleGAN's crop when it is not the paper's 256 px."""
    if name == "cyclegan" and not tiny and cyclegan_size != 256:
        return {"crop_size": cyclegan_size, "load_size": round(cyclegan_size * 286 / 256)}
    return {}


def build_case(name: str, variant: str, device: str, tiny: bool, cyclegan_size: int, tmp: Path):
    """One method/variant set up as the trainer does it; returns (step function, row metadata)."""
    amp, channels_last, compile_ = VARIANTS[variant]
    overrides = {"device": device, "amp": amp, "channels_last": channels_last, "compile": compile_,
                 **case_overrides(name, tiny, cyclegan_size)}
    step, trainer, _ = build_step(name, tiny=tiny, overrides=overrides, tmp=tmp, tag=variant)
    cfg = trainer.cfg
    size = getattr(cfg, "crop_size", None) or getattr(cfg, "hr_size", None) or cfg.image_size
    meta = {"method": name, "preset": CASES[name][2 if tiny else 1], "netG": cfg.netG, "size_px": size,
            "batch": cfg.batch_size, "variant": variant, "amp": amp, "channels_last": channels_last,
            "compile": compile_}
    return step, meta


def load1() -> float:
    """The 1-minute load average (what the machine's other work was doing)."""
    return round(os.getloadavg()[0], 2)


def bench_method(name: str, variants: list[str], args, tmp: Path) -> list[dict]:
    """Time all variants of one method interleaved, one step of each per round; one row per variant."""
    cases, first = [], []
    for v in variants:
        step, meta = build_case(name, v, args.device, args.tiny, args.cyclegan_size, tmp)
        t0 = time.perf_counter()
        step()  # the first step: allocations, oneDNN primitive creation, and with compile the compilation
        first.append(time.perf_counter() - t0)
        step()  # warm-up
        print(f"  {name} {v}: first step {first[-1]:.1f} s", flush=True)
        cases.append((step, meta))
    times: list[list[float]] = [[] for _ in cases]
    load_before, start = load1(), time.perf_counter()
    for r in range(args.rounds):
        for i, (step, _) in enumerate(cases):
            t0 = time.perf_counter()
            step()
            times[i].append(time.perf_counter() - t0)
        print(f"  {name} round {r + 1}: " + "  ".join(f"{m['variant']} {ts[-1]:.2f}s" for (_, m), ts in
                                                     zip(cases, times)), flush=True)
        if r >= 2 and time.perf_counter() - start > args.budget_s:
            break
    load_after = load1()
    base = statistics.median(times[variants.index("fp32")]) if "fp32" in variants else None
    rows = []
    for (_, meta), ts, f in zip(cases, times, first):
        med = statistics.median(ts)
        rows.append({**meta, "s_per_it": med, "it_per_s": 1 / med, "images_per_s": meta["batch"] / med,
                     "speedup": base / med if base else None, "min_s": min(ts), "max_s": max(ts), "rounds": len(ts),
                     "first_step_s": f, "load1_before": load_before, "load1_after": load_after})
    return rows


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The benchmark's options (defaults depend on the device: see the module docstring)."""
    from translate.threads import parse_threads

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer rounds (5 instead of 12) and a shorter budget")
    p.add_argument("--tiny", action="store_true", help="the *-tiny presets instead of the papers' sizes")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=["cpu", "cuda"])
    p.add_argument("--threads", type=parse_threads, default="auto",
                   help="torch threads on the CPU: N or auto (default: the cores the load average leaves free)")
    p.add_argument("--methods", nargs="*", choices=list(CASES),
                   help="default: pix2pix cyclegan on a CPU, all on CUDA")
    p.add_argument("--variants", nargs="*", choices=list(VARIANTS),
                   help=f"default: {' '.join(CPU_VARIANTS)} on a CPU, {' '.join(GPU_VARIANTS)} on CUDA")
    p.add_argument("--compile", action="store_true", help="add fp32+compile and bf16+compile (minutes per compile)")
    p.add_argument("--cyclegan-size", type=int, default=None,
                   help="CycleGAN crop in px (default 256 on CUDA, 128 on a CPU)")
    p.add_argument("--rounds", type=int, default=None, help="interleaved rounds per method (default 12, quick 5)")
    p.add_argument("--budget-s", type=float, default=None,
                   help="stop a method's rounds after this many seconds (default 1800, quick 600; at least 3 rounds)")
    args = p.parse_args(argv)
    gpu = args.device == "cuda"
    args.methods = args.methods or (list(CASES) if gpu else ["pix2pix", "cyclegan"])
    args.variants = list(args.variants or (GPU_VARIANTS if gpu else CPU_VARIANTS))
    if args.compile:
        args.variants += [v for v in ("fp32+compile", "bf16+compile") if v not in args.variants]
    if "fp32" not in args.variants:
        args.variants.insert(0, "fp32")  # the reference every speedup is measured against
    if not gpu and any(VARIANTS[v][0] == "fp16" for v in args.variants):
        p.error("fp16 needs CUDA (the trainer refuses it on the CPU); use bf16")
    args.cyclegan_size = args.cyclegan_size or (256 if gpu else 128)
    args.rounds = args.rounds or (5 if args.quick else 12)
    args.budget_s = args.budget_s or (600.0 if args.quick else 1800.0)
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the methods and variants, print the table, write bench/results/training-*.json."""
    from training.loop import native_bf16_cpu
    from translate.threads import set_torch_threads

    args = parse_args(argv)
    threads = set_torch_threads(args.threads, quiet=True)
    print(f"threads: {threads.describe()}", flush=True)
    if args.device == "cpu":
        print(f"CPU native bf16: {native_bf16_cpu() or 'none (bf16 is emulated: slower than fp32)'}", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.methods:
            for row in bench_method(name, args.variants, args, Path(tmp)):
                rows.append(row)
                print(f"  {name:15s} {row['variant']:16s} {row['s_per_it']:8.3f} s/it  x{row['speedup'] or 0:.2f}  "
                      f"(load {row['load1_before']} -> {row['load1_after']})", flush=True)
    print_table(rows, ["method", "netG", "size_px", "batch", "variant", "s_per_it", "it_per_s", "speedup",
                       "first_step_s", "rounds", "load1_before", "load1_after"])
    for r in rows:
        if r["variant"] == "bf16" and r["speedup"]:
            verdict = "meets" if r["speedup"] >= TARGET else "misses"
            print(f"{r['method']}: bf16 {r['speedup']:.2f}x fp32 ({verdict} the {TARGET}x target)")
    write_result("training", {"device": args.device, "threads": threads.threads, "threads_choice": threads.describe(),
                              "native_bf16": native_bf16_cpu() if args.device == "cpu" else None,
                              "tiny": args.tiny, "quick": args.quick, "cyclegan_size": args.cyclegan_size,
                              "variants": args.variants, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
