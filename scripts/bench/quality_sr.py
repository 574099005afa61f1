"""Super-resolution quality x4 on a CPU budget: SRResNet (global bicubic skip), then the SRGAN stage, against bicubic.

Ledig et al. 2017 (SRGAN) report on Set5 x4: bicubic 28.43 dB, SRResNet 32.05 dB (+3.6 dB), SRGAN
29.40 dB PSNR on the Y channel (BT.601) after cropping a 4-pixel border; the GAN stage trades PSNR
for perceptual quality. Here the same protocol runs on held-out photos that can be installed
offline: butterfly (Set5), baboon (Set14), astronaut, chelsea, coffee (scikit-image). That set is
"Set5-like", NOT Set5: the numbers are comparable between methods of this run, not with the paper.

Training goes through ``translate train srgan --preset srgan-cpu`` (4 blocks x 32 features with
the global bicubic skip, 64 px crops, batch 8) on the 192 px crops of the wallpaper and
opencv-doc photos (``bench/data/sr/train``, built by ``scripts/get_bench_data.sh``), LR made on the
fly by bicubic /4:

1. the SRResNet stage for a wall-clock budget (``--minutes``, default 20): the trainer is stopped
   with SIGTERM (it finishes its step and saves), with a checkpoint every ``--ckpt-every`` steps;
2. the same run resumed into the GAN stage for ``--gan-steps`` steps (``srresnet_steps`` = the step
   the budget reached; the trainer starts the generator's Adam afresh there).

Every checkpoint is evaluated through ``translate.images.apply_model`` on a ``TorchBackend`` (the
product's inference path), so the table shows dB over bicubic against training minutes. LR test
images = antialiased bicubic /4 of the mod-4-cropped HR (PIL, like MATLAB ``imresize``); the
bicubic baseline upsamples them back x4. The colour shift of an output is the largest per-channel
mean difference (RGB, 0-255 units) against the HR photo, and against the SRResNet stage's output;
its sharpness is the variance of the Laplacian of its Y channel over the HR photo's (a rise means
more fine detail or texture: look at the images to tell which).

Targets (issue 16): SRResNet stage >= +1.0 dB over bicubic within 20 minutes of training on a
2-core CPU; the SRGAN stage within 2 dB of the SRResNet stage with a mean colour shift < 2/255.
The result file records the machine's load, steps reached and seconds, next to the numbers.

    python scripts/bench/quality_sr.py [--minutes 20] [--gan-steps 100] [--threads 1] [--quick]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image as PILImage

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, print_table, write_result  # noqa: E402
from trainrun import RUNS  # noqa: E402

SCALE = 4
DATA = ROOT / "bench" / "data" / "sr" / "train"
EVAL = ROOT / "bench" / "data" / "photos" / "set5like"
PAPER = {"bicubic": 28.43, "SRResNet": 32.05, "SRGAN": 29.40}  # Set5 x4, PSNR (dB), Ledig et al. 2017
TARGET_GAIN_DB, TARGET_MINUTES, TARGET_GAN_DROP_DB, TARGET_SHIFT = 1.0, 20.0, 2.0, 2.0


def bicubic(px: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 HWC resized to (width, height) with PIL's antialiased bicubic."""
    return np.asarray(PILImage.fromarray(px).resize(size, PILImage.Resampling.BICUBIC))


def eval_set() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, HR cropped to a multiple of 4, LR = bicubic /4) for each held-out photo."""
    from translate.images import read_image

    out = []
    for path in sorted(EVAL.glob("*.png")):
        px = read_image(path).pixels
        if px.shape[2] == 1:
            px = np.repeat(px, 3, axis=2)
        h, w = px.shape[0] // SCALE * SCALE, px.shape[1] // SCALE * SCALE
        hr = np.ascontiguousarray(px[:h, :w])
        out.append((path.stem, hr, bicubic(hr, (w // SCALE, h // SCALE))))
    if not out:
        raise SystemExit(f"no evaluation photos in {EVAL}: run scripts/get_bench_data.sh first")
    return out


def colour_shift(a: np.ndarray, b: np.ndarray) -> float:
    """Largest |mean(a_c) - mean(b_c)| over the RGB channels of two uint8 images, in 0-255 units."""
    return float(np.abs(a.reshape(-1, 3).mean(0, dtype=np.float64) - b.reshape(-1, 3).mean(0, dtype=np.float64)).max())


def sharpness(sr: np.ndarray, hr: np.ndarray) -> float:
    """Variance of the Laplacian of Y, output over HR: how much fine detail (or texture) there is; bicubic << 1."""
    from scipy.ndimage import laplace

    from translate.metrics import rgb_to_y

    return float(laplace(rgb_to_y(sr)).var() / laplace(rgb_to_y(hr)).var())


def scores(sr: np.ndarray, hr: np.ndarray) -> tuple[float, float]:
    """PSNR and SSIM on Y with a 4-pixel border crop (the SR papers' protocol)."""
    from translate.metrics import psnr, ssim

    return (psnr(sr, hr, y_channel=True, crop_border=SCALE), ssim(sr, hr, y_channel=True, crop_border=SCALE))


def evaluate(method: str, upscale, images, reference: dict[str, np.ndarray] | None = None) -> tuple[list[dict], dict]:
    """Rows per image plus a mean row for ``upscale`` (LR uint8 -> SR uint8), and the outputs by name."""
    rows, outputs = [], {}
    for name, hr, lr in images:
        sr = upscale(lr)
        outputs[name] = sr
        p, s = scores(sr, hr)
        row = {"method": method, "image": name, "psnr_y": p, "ssim_y": s, "colour_shift": colour_shift(sr, hr),
               "sharpness": sharpness(sr, hr)}
        if reference is not None:
            row["shift_vs_srresnet"] = colour_shift(sr, reference[name])
        rows.append(row)
    mean = {"method": method, "image": "mean"}
    for key in rows[0]:
        if key not in mean:
            mean[key] = float(np.mean([r[key] for r in rows]))
    return rows + [mean], outputs


def model_upscaler(ckpt: Path, device: str):
    """LR uint8 HWC -> SR uint8 HWC through the product's apply_model (TorchBackend)."""
    from translate.backends.torch import TorchBackend
    from translate.images import Image, apply_model

    backend = TorchBackend.from_checkpoint(ckpt, device=device)
    return lambda lr: apply_model(backend, Image(pixels=lr, alpha=None, format=None), backend.info).pixels


def train(run: Path, sets: dict, *, budget_s: float | None, threads: int, device: str, resume: bool) -> float:
    """``translate train srgan --preset srgan-cpu ...`` into ``run``; SIGTERM after ``budget_s``. Returns seconds."""
    cmd = [sys.executable, "-m", "translate.cli", "train", "srgan", "--data", str(DATA), "--out", str(run),
           "--preset", "srgan-cpu", "--device", device, "--seed", "0"]
    if resume:
        cmd += ["--resume", "auto"]
    for k, v in sets.items():
        cmd += ["--set", f"{k}={v}"]
    print("$ " + " ".join(cmd[1:]).replace(str(ROOT) + "/", ""), flush=True)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    t0 = time.time()
    with open(run / ("train-gan.log" if resume else "train.log"), "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
        try:
            proc.wait(timeout=budget_s)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGTERM)  # the trainer finishes its step, saves and exits 0
            proc.wait(timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"translate train failed (exit {proc.returncode}); see {run}")
    return time.time() - t0


def checkpoints(run: Path) -> dict[int, Path]:
    """step -> step_XXXXXXXX.pt of a run."""
    return {int(p.stem.split("_")[-1]): p for p in sorted((run / "checkpoints").glob("step_*.pt"))}


def main() -> int:
    """Train, evaluate bicubic / SRResNet (over time) / SRGAN on the Set5-like photos, print and save."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=TARGET_MINUTES,
                        help=f"wall-clock budget of the SRResNet stage (default {TARGET_MINUTES:g})")
    parser.add_argument("--gan-steps", type=int, default=100, help="GAN-stage steps after it (default 100)")
    parser.add_argument("--ckpt-every", type=int, default=250, help="SRResNet checkpoints to evaluate (default 250)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 minutes + 10 GAN steps")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=["cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the trainer (default 1)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="extra training override")
    args = parser.parse_args()
    if args.quick:
        args.minutes, args.gan_steps, args.ckpt_every = 2.0, 10, 100
    torch.set_num_threads(args.threads)
    if not DATA.is_dir():
        raise SystemExit(f"{DATA} missing: run scripts/get_bench_data.sh first")
    run = RUNS / ("quality_sr" + ("-quick" if args.quick else ""))
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True)
    extra = dict(s.split("=", 1) for s in args.set)
    common = {"ckpt_every": args.ckpt_every, "keep_last": 100000, "log_every": 50, "sample_every": 100000,
              "tensorboard": "false", **extra}
    load_before = os.getloadavg()
    t_start = time.time()
    seconds = train(run, {**common, "srresnet_steps": 1_000_000, "gan_steps": 0}, budget_s=60 * args.minutes,
                    threads=args.threads, device=args.device, resume=False)
    load_srresnet = os.getloadavg()
    times = {step: p.stat().st_mtime - t_start for step, p in checkpoints(run).items()}
    reached = max(times)
    gan_seconds = train(run, {**common, "srresnet_steps": reached, "gan_steps": args.gan_steps}, budget_s=None,
                        threads=args.threads, device=args.device, resume=True)
    load_gan = os.getloadavg()
    ckpts = checkpoints(run)
    final = max(ckpts)
    print(f"SRResNet stage: {reached} steps in {seconds:.0f} s (1-minute load {load_before[0]:.1f} -> "
          f"{load_srresnet[0]:.1f}); GAN stage: {final - reached} steps in {gan_seconds:.0f} s", flush=True)

    images = eval_set()
    t0 = time.time()
    rows, _ = evaluate("bicubic", lambda lr: bicubic(lr, (lr.shape[1] * SCALE, lr.shape[0] * SCALE)), images)
    bicubic_mean = rows[-1]["psnr_y"]
    curve = []
    for step in sorted(s for s in ckpts if 0 < s <= reached):
        r, _ = evaluate("SRResNet", model_upscaler(ckpts[step], args.device), images)
        curve.append({"step": step, "minutes": times[step] / 60, "psnr_y": r[-1]["psnr_y"],
                      "gain_over_bicubic_db": r[-1]["psnr_y"] - bicubic_mean, "colour_shift": r[-1]["colour_shift"]})
    srresnet_rows, srresnet_out = evaluate("SRResNet", model_upscaler(ckpts[reached], args.device), images)
    srgan_rows, _ = evaluate("SRGAN", model_upscaler(ckpts[final], args.device), images, reference=srresnet_out)
    rows += srresnet_rows + srgan_rows
    means = {r["method"]: r for r in rows if r["image"] == "mean"}
    summary = [{"method": m, "psnr_y": r["psnr_y"], "ssim_y": r["ssim_y"],
                "gain_over_bicubic_db": r["psnr_y"] - bicubic_mean, "colour_shift": r["colour_shift"],
                "sharpness": r["sharpness"],
                "paper_set5_psnr": PAPER[m], "paper_gain_db": PAPER[m] - PAPER["bicubic"]} for m, r in means.items()]
    first_ok = next((c for c in curve if c["gain_over_bicubic_db"] >= TARGET_GAIN_DB), None)
    gan_drop = means["SRResNet"]["psnr_y"] - means["SRGAN"]["psnr_y"]
    targets = {
        "srresnet_gain_db": means["SRResNet"]["psnr_y"] - bicubic_mean,
        "srresnet_first_step_over_1db": first_ok["step"] if first_ok else None,
        "srresnet_minutes_to_1db": first_ok["minutes"] if first_ok else None,
        "srresnet_target_met": bool(first_ok and first_ok["minutes"] <= TARGET_MINUTES),
        "srgan_drop_db": gan_drop,
        "srgan_colour_shift": means["SRGAN"]["colour_shift"],
        "srgan_shift_vs_srresnet": means["SRGAN"]["shift_vs_srresnet"],
        "srgan_target_met": bool(gan_drop <= TARGET_GAN_DROP_DB and means["SRGAN"]["colour_shift"] < TARGET_SHIFT),
    }
    print("\nSRResNet stage over training time (Set5-like means, x4, Y channel, 4-px border crop):")
    print_table(_display(curve), ["step", "minutes", "psnr_y", "gain_over_bicubic_db", "colour_shift"])
    print("\nper image:")
    print_table(_display(rows), ["method", "image", "psnr_y", "ssim_y", "colour_shift", "shift_vs_srresnet",
                                 "sharpness"])
    print("\nmeans (paper columns: Set5, Ledig et al. 2017; ours: Set5-like, not comparable in absolute terms):")
    print_table(_display(summary), ["method", "psnr_y", "ssim_y", "gain_over_bicubic_db", "colour_shift",
                                    "sharpness", "paper_set5_psnr", "paper_gain_db"])
    print("\ntargets: " + ", ".join(f"{k} {_fmt(v)}" for k, v in targets.items()))
    write_result("quality_sr" + ("-quick" if args.quick else ""), {
        "quick": args.quick, "device": args.device, "threads": args.threads, "preset": "srgan-cpu", "overrides": extra,
        "srresnet_budget_minutes": args.minutes, "srresnet_steps": reached, "srresnet_seconds": seconds,
        "gan_steps": final - reached, "gan_seconds": gan_seconds, "eval_seconds": time.time() - t0,
        "load_average": {"before": load_before, "after_srresnet": load_srresnet, "after_gan": load_gan},
        "content_loss": _content_source(ckpts[final]),
        "eval_set": "Set5-like: " + ", ".join(n for n, _, _ in images),
        "curve": curve, "rows": rows, "summary": summary, "targets": targets})
    return 0


def _fmt(v) -> str:
    return f"{v:.2f}" if isinstance(v, float) else str(v)


def _display(rows: list[dict]) -> list[dict]:
    """Rows with dB values to 2 decimals and SSIM to 3, for the printed tables (JSON keeps full precision)."""
    return [{k: (f"{v:.3f}" if k.startswith("ssim") else f"{v:.2f}") if isinstance(v, float) else v
             for k, v in r.items()} for r in rows]


def _content_source(ckpt: Path) -> str:
    """Which VGG weights the GAN stage's content loss used (recorded by the trainer in the checkpoint)."""
    from translate.checkpoint import load_checkpoint

    return str(load_checkpoint(ckpt).get("provenance", {}).get("content_loss", "unknown"))


if __name__ == "__main__":
    sys.exit(main())
