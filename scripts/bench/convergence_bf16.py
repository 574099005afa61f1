"""Does bf16 autocast train like fp32? pix2pix colourisation, fp32 and bf16 from the same seeds.

The task is the demo's translator, on real photos: the sample photos shipped in pip packages
(``scripts/demo_photos.py``) minus the three the demo holds out, 256 px crops of them as
grey -> colour pairs (``translate data crops`` + ``translate data gray``), a validation set of
crops of the held-out photos. Every run is ``translate train pix2pix --preset pix2pix-colourise``
as a user types it (``scripts/bench/trainrun.py``): the demo's keep-luma U-Net-128 with its
generator EMA, here **with the adversarial term on** (``lambda_GAN=1``, the paper's pix2pix
objective), so the discriminator's steps run in bf16 too; ``--set amp=bf16`` or not, one run per
seed and precision. The fp32 and bf16 runs of a seed train side by side (``--jobs 2``, one thread
each), so they see the same machine load.

What "converges alike" means here, measured in this run:

- **run-to-run noise**: how far two fp32 runs with different seeds (initial weights, data order)
  are apart: the mean over windows of ``--window`` steps of |mean loss A - mean loss B| relative
  to their mean, for G_L1 and D. bf16 passes when its distance to the fp32 run *of the same
  seed* is no larger than that noise.
- **final validation PSNR**: the trainer's own validation (every held-out pair, fp32 inference)
  after the last step; bf16 passes when its mean over seeds is within 0.3 dB of fp32's.

    python scripts/bench/convergence_bf16.py [--steps 600] [--seeds 0 1] [--jobs 2] [--quick]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))  # scripts/demo_photos.py
from common import ROOT, print_table, write_result  # noqa: E402
from demo_photos import copy_sample_photos, find_sample_photos  # noqa: E402
from trainrun import train  # noqa: E402

DATA = ROOT / "bench" / "data" / "convergence"
HELDOUT = ("chelsea", "coffee", "motorcycle_right")  # the demo's held-out photos
PSNR_GATE_DB = 0.3
LOSSES = ("G_L1", "D")


def translate(*args: str) -> None:
    """``translate ARGS`` in a child process; raises with its output when it fails."""
    cmd = [sys.executable, "-m", "translate.cli", *args]
    print("$ translate " + " ".join(args).replace(str(ROOT) + "/", ""), flush=True)
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"translate {args[0]} {args[1]} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")


def build_data(size: int, crops: int, val_crops: int) -> Path:
    """grey -> colour A|B pairs in DATA/colourise-SIZE-CROPS-VAL/{train,val}, built once (a marker: complete)."""
    pairs = DATA / f"colourise-{size}-{crops}-{val_crops}"
    if (pairs / ".complete").is_file():
        return pairs
    photos = DATA / "photos"
    found = find_sample_photos()
    train_names = [p.stem for p in found if p.stem not in HELDOUT]
    held = [p.stem for p in found if p.stem in HELDOUT]
    if len(train_names) < 2 or not held:
        raise SystemExit(f"only {len(found)} sample photos found; is scikit-image installed in this venv?")
    copy_sample_photos(photos / "train", train_names)
    copy_sample_photos(photos / "heldout", held)
    for split, src, k in (("train", photos / "train", crops), ("val", photos / "heldout", val_crops)):
        colour = DATA / f"{pairs.name}-{split}-colour"
        translate("data", "crops", str(src), str(colour), "--size", str(size), "--crops-per-image", str(k),
                  "--seed", "0" if split == "train" else "1", "--force", "--no-progress")
        translate("data", "gray", str(colour), str(pairs / split), "--force", "--no-progress")
    translate("data", "check", str(pairs), "--method", "pix2pix")
    (pairs / ".complete").write_text("ok\n")
    return pairs


def read_metrics(run: Path) -> tuple[dict[str, list[tuple[int, float]]], list[dict]]:
    """(loss name -> [(step, value)], validation records) from the run's metrics.jsonl."""
    losses: dict[str, list[tuple[int, float]]] = {k: [] for k in LOSSES}
    vals = []
    for line in (run / "metrics.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if "val/psnr" in rec:
            vals.append(rec)
        for k in LOSSES:
            if f"loss/{k}" in rec:
                losses[k].append((rec["step"], rec[f"loss/{k}"]))
    return losses, vals


def windows(curve: list[tuple[int, float]], window: int) -> dict[int, float]:
    """Mean of the curve over consecutive windows of ``window`` steps: {window index: mean}."""
    groups: dict[int, list[float]] = {}
    for step, v in curve:
        groups.setdefault((step - 1) // window, []).append(v)
    return {w: statistics.fmean(vs) for w, vs in groups.items()}


def curve_distance(a: list[tuple[int, float]], b: list[tuple[int, float]], window: int) -> float:
    """Mean over shared windows of |a - b| / ((|a| + |b|) / 2): 0 = identical, 0.1 = 10 % apart."""
    wa, wb = windows(a, window), windows(b, window)
    shared = sorted(set(wa) & set(wb))
    return statistics.fmean(abs(wa[w] - wb[w]) / max(1e-12, (abs(wa[w]) + abs(wb[w])) / 2) for w in shared)


def main(argv: list[str] | None = None) -> int:
    """Train fp32/bf16 x seeds, compare curves and final PSNR, print and write bench/results/convergence_bf16-*.json."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=600, help="training steps per run (default 600)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="seeds; at least two (the noise)")
    p.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS of the runs (default 1)")
    p.add_argument("--size", type=int, default=256, help="side of the photo crops in px (default 256, the demo's; "
                   "training takes random 128 px crops of them)")
    p.add_argument("--crops", type=int, default=8, help="random crops per training photo (default 8, the demo's)")
    p.add_argument("--val-crops", type=int, default=4, help="random crops per held-out photo (default 4)")
    p.add_argument("--jobs", type=int, default=2, choices=(1, 2),
                   help="2 (default): the fp32 and bf16 runs of a seed side by side; 1: one after the other")
    p.add_argument("--window", type=int, default=100, help="steps per window of the curve comparison")
    p.add_argument("--ema", type=float, default=0.99,
                   help="generator EMA decay (default 0.99, the preset's): validation then sees averaged weights, so "
                        "the final PSNR measures where training got rather than where the last GAN step threw it")
    p.add_argument("--quick", action="store_true", help="200 steps, a smoke run of this script")
    args = p.parse_args(argv)
    if len(args.seeds) < 2:
        p.error("give at least two --seeds: the second fp32 run measures the run-to-run noise")
    if args.quick:
        args.steps, args.window = 200, 50
    pairs = build_data(args.size, args.crops, args.val_crops)
    n_val = len(list((pairs / "val").glob("*.png")))
    sets = {"max_steps": args.steps, "n_epochs_decay": 0, "lambda_GAN": 1.0, "load_size": args.size,
            "log_every": 10, "sample_every": 100000, "ckpt_every": 100000,
            "val_every": max(args.window, args.steps // 5), "val_images": n_val, "tensorboard": "false",
            "ema_decay": args.ema}
    runs: dict[tuple[str, int], dict] = {}

    def one(amp: str, seed: int) -> None:
        name = f"convergence-{'fp32' if amp == 'off' else amp}-seed{seed}"
        load_before = os.getloadavg()[0]
        amp_set = {"amp": amp} if amp != "off" else {}  # (`--set amp=off` would be YAML's boolean false)
        run, seconds = train(name, "pix2pix", pairs, "pix2pix-colourise", {**sets, **amp_set}, threads=args.threads,
                             seed=seed)
        losses, vals = read_metrics(run)
        final = vals[-1]
        runs[(amp, seed)] = {"precision": "fp32" if amp == "off" else amp, "seed": seed, "seconds": seconds,
                             "steps_per_s": args.steps / seconds, "final_psnr": final["val/psnr"],
                             "final_ssim": final["val/ssim"],
                             "val_curve": [(v["step"], v["val/psnr"]) for v in vals],
                             "losses": losses, "load1_before": round(load_before, 2),
                             "load1_after": round(os.getloadavg()[0], 2)}
        print(f"  {name}: {seconds:.0f} s, final val PSNR {final['val/psnr']:.3f} dB", flush=True)

    for seed in args.seeds:  # fp32 and bf16 of a seed together (or back to back): under the same load
        with ThreadPoolExecutor(args.jobs) as pool:
            for job in [pool.submit(one, amp, seed) for amp in ("off", "bf16")]:
                job.result()
    s0, s1 = args.seeds[0], args.seeds[1]
    noise = {k: curve_distance(runs[("off", s0)]["losses"][k], runs[("off", s1)]["losses"][k], args.window)
             for k in LOSSES}
    noise_bf16 = {k: curve_distance(runs[("bf16", s0)]["losses"][k], runs[("bf16", s1)]["losses"][k], args.window)
                  for k in LOSSES}
    effect = {k: statistics.fmean(curve_distance(runs[("off", s)]["losses"][k], runs[("bf16", s)]["losses"][k],
                                                 args.window) for s in args.seeds) for k in LOSSES}
    psnr = {amp: statistics.fmean(runs[(amp, s)]["final_psnr"] for s in args.seeds) for amp in ("off", "bf16")}
    psnr_noise = abs(runs[("off", s0)]["final_psnr"] - runs[("off", s1)]["final_psnr"])
    psnr_gap = abs(psnr["off"] - psnr["bf16"])
    curves_ok = all(effect[k] <= noise[k] for k in LOSSES)
    psnr_ok = psnr_gap <= PSNR_GATE_DB
    rows = [{k: v for k, v in r.items() if k not in ("losses", "val_curve")} for r in runs.values()]
    print_table(rows, ["precision", "seed", "seconds", "steps_per_s", "final_psnr", "final_ssim", "load1_before",
                       "load1_after"])
    for k in LOSSES:
        print(f"loss {k}: fp32 vs fp32 (seeds {s0}/{s1}) {noise[k]:.3f}, bf16 vs bf16 {noise_bf16[k]:.3f}, "
              f"fp32 vs bf16 (same seed, mean) {effect[k]:.3f}  -> {'within' if effect[k] <= noise[k] else 'OUTSIDE'}"
              " the run-to-run noise")
    print(f"final validation PSNR ({n_val} held-out pairs): fp32 {psnr['off']:.3f} dB, bf16 {psnr['bf16']:.3f} dB "
          f"(mean of {len(args.seeds)} seeds): gap {psnr_gap:.3f} dB -> {'within' if psnr_ok else 'OUTSIDE'} "
          f"{PSNR_GATE_DB} dB; fp32 seed-to-seed {psnr_noise:.3f} dB")
    speed = statistics.fmean(runs[("bf16", s)]["steps_per_s"] / runs[("off", s)]["steps_per_s"] for s in args.seeds)
    print(f"whole-run speed (incl. data loading, validation): bf16 {speed:.2f}x fp32")
    write_result("convergence_bf16", {
        "task": f"pix2pix colourisation (preset pix2pix-colourise, lambda_GAN 1), 128 px crops of {args.size} px "
                f"photo crops, EMA {args.ema}",
        "steps": args.steps, "seeds": args.seeds, "threads": args.threads, "jobs": args.jobs, "window": args.window,
        "val_pairs": n_val, "loss_noise_fp32": noise, "loss_noise_bf16": noise_bf16, "loss_fp32_vs_bf16": effect,
        "curves_within_noise": curves_ok, "final_psnr_mean": {"fp32": psnr["off"], "bf16": psnr["bf16"]},
        "psnr_gap_db": psnr_gap, "psnr_seed_noise_fp32_db": psnr_noise, "psnr_within_gate": psnr_ok,
        "speedup_whole_run": speed,
        "runs": [{**r, "losses": {k: v for k, v in r["losses"].items()}} for r in runs.values()]})
    return 0 if (curves_ok and psnr_ok and all(math.isfinite(r["final_psnr"]) for r in rows)) else 1


if __name__ == "__main__":
    sys.exit(main())
