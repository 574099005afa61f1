"""Training speed: seconds per iteration and images/s of each method, AMP and channels_last on and off.

An iteration is what ``translate train`` does per step: the method's ``train_step`` (pix2pix,
CycleGAN, SRGAN, DCGAN: D update(s) + G update(s), backward, optimizer steps) inside the shared
loop's ``StepContext`` (AMP autocast + GradScaler), with the networks and optimizers exactly as
``training.loop.Trainer`` builds them from a preset. Data loading is excluded: one batch from the
method's own dataset class (on synthetic images of the right size, ``training.synthetic``) is
kept on the device, so the number is the compute cost of a step. The variants of a method are
timed interleaved (one step of each per round) so that load changes on a shared machine affect
them alike.

On a GPU the paper presets (pix2pix unet_256 at 256 px batch 1, CycleGAN ResNet-9 at 256 px
batch 1, SRGAN x4 at 96 px batch 16 in both stages, DCGAN 64 px batch 128) run with AMP off /
bf16 / fp16 and channels_last off / on. On a CPU the ``*-tiny`` presets run, AMP is off (the
trainer refuses AMP without CUDA) and only channels_last is varied.

    python scripts/bench/training.py [--quick] [--paper] [--device cpu|cuda] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
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
from common import percentile, print_table, time_calls, write_result  # noqa: E402

# case name -> (method, preset for CPU, preset for GPU, stage); stage "gan" times SRGAN's second stage
CASES = {
    "pix2pix": ("pix2pix", "pix2pix-tiny", "pix2pix", None),
    "cyclegan": ("cyclegan", "cyclegan-tiny", "cyclegan", None),
    "srgan/srresnet": ("srgan", "srgan-tiny", "srgan", "srresnet"),
    "srgan/gan": ("srgan", "srgan-tiny", "srgan", "gan"),
    "dcgan": ("dcgan", "dcgan-tiny", "dcgan", None),
}


def make_data(method: str, cfg, root: Path) -> Path:
    """Synthetic images in the method's layout, at the size the config trains on (at least one batch)."""
    from training import synthetic

    n = max(cfg.batch_size, 4)
    if method == "pix2pix":
        return synthetic.make_paired(root, n=n, size=cfg.load_size)
    if method == "cyclegan":
        return synthetic.make_unpaired(root, n_a=n, n_b=n, size=cfg.load_size)
    if method == "srgan":
        return synthetic.make_sr(root, n=n, size=cfg.hr_size)
    return synthetic.make_unconditional(root, n=max(n, 16), size=cfg.image_size)


def build_case(name: str, preset: str, device: str, amp: str, channels_last: bool, tmp: Path):
    """One method/preset/variant set up as the trainer does it; returns (step function, row metadata)."""
    from training.config import load_config
    from training.data import collate
    from training.loop import StepContext, Trainer

    method, _, _, stage = CASES[name]
    overrides = {"device": device, "amp": amp, "channels_last": channels_last, "tensorboard": False}
    cfg = load_config(method, preset=preset, overrides=overrides)
    data = make_data(method, cfg, tmp / f"data-{name.replace('/', '-')}-{preset}")
    trainer = Trainer(cfg, data, tmp / "run")
    trainer._setup_device()  # the trainer's own device/AMP/model/optimizer setup, without starting a run
    trainer._setup_model()
    ctx = StepContext(trainer)
    ds = trainer.dataset
    batch = trainer._to_device(collate([ds[(i % len(ds), i)] for i in range(cfg.batch_size)]))
    ctx.step_index = cfg.srresnet_steps if stage == "gan" else 0

    def step():
        trainer.method.train_step(batch, ctx)
        trainer.scaler.update()
        if trainer.device.type == "cuda":
            torch.cuda.synchronize()

    size = getattr(cfg, "crop_size", None) or getattr(cfg, "hr_size", None) or cfg.image_size
    return step, {"method": name, "preset": preset, "size_px": size, "batch": cfg.batch_size, "amp": amp,
                  "channels_last": channels_last}


def bench_method(name: str, preset: str, device: str, variants: list[tuple[str, bool]], tmp: Path,
                 repeats: int, budget_s: float) -> list[dict]:
    """Time all variants of one method, interleaved (one step of each per round), so that load
    changes on a shared machine hit every variant alike; returns one row per variant."""
    cases = [build_case(name, preset, device, amp, cl, tmp) for amp, cl in variants]
    for step, _ in cases:
        time_calls(step, warmup=2, repeats=0)
    times: list[list[float]] = [[] for _ in cases]
    start = time.perf_counter()
    for _ in range(repeats):
        for i, (step, _) in enumerate(cases):
            t0 = time.perf_counter()
            step()
            times[i].append(time.perf_counter() - t0)
        if len(times[0]) >= 3 and time.perf_counter() - start > budget_s:
            break
    rows = []
    for (_, meta), ts in zip(cases, times):
        p50 = percentile(ts, 50)
        rows.append({**meta, "s_per_it": p50, "images_per_s": meta["batch"] / p50, "min_s": min(ts), "runs": len(ts)})
    return rows


def main() -> int:
    """Run the cases and variants, print the table, write bench/results/training-*.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (and on a GPU: AMP off/bf16 only)")
    parser.add_argument("--paper", action="store_true", help="paper presets even on the CPU (slow)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=["cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads on the CPU")
    parser.add_argument("--methods", nargs="*", default=list(CASES), choices=list(CASES))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    gpu = args.device == "cuda"
    amps = (["off", "bf16"] if args.quick else ["off", "bf16", "fp16"]) if gpu else ["off"]
    repeats, budget = (9, 30.0) if args.quick else (30, 120.0)
    if not gpu:
        print("CPU run: AMP off (the trainer allows AMP only on CUDA); channels_last off and on", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.methods:
            preset = CASES[name][2] if (gpu or args.paper) else CASES[name][1]
            variants = [(amp, cl) for amp in amps for cl in (False, True)]
            for row in bench_method(name, preset, args.device, variants, Path(tmp), repeats, budget):
                rows.append(row)
                print(f"  {name:15s} {preset:13s} amp {row['amp']:4s} channels_last {row['channels_last']!s:5s}: "
                      f"{row['s_per_it'] * 1000:8.1f} ms/it", flush=True)
    base = {(r["method"], r["preset"]): r for r in rows if r["amp"] == "off" and not r["channels_last"]}
    for r in rows:  # speed-up against AMP off + contiguous, measured in this run
        r["speedup"] = base[(r["method"], r["preset"])]["s_per_it"] / r["s_per_it"]
    print_table(rows, ["method", "preset", "size_px", "batch", "amp", "channels_last", "s_per_it", "images_per_s",
                       "speedup"])
    write_result("training", {"device": args.device, "threads": args.threads, "quick": args.quick,
                              "load_average_1_5_15": os.getloadavg(),
                              "amp_note": None if gpu else "CPU: AMP off (CUDA only)", "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
