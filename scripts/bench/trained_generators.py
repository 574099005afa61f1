"""Trained generators at the papers' architectures, for the precision benchmark (``inference.py --precision``).

Speed does not depend on the weights, but the fidelity of bf16 and int8 does: a random network's
activations are nothing like a trained one's (a random ResNet loses 30 dB to int8 where a trained one
keeps 40). So the benchmark trains its own, briefly, with the product's commands:

- data: the sample photos that ship in pip packages (scripts/demo_photos.py). Three photos
  (chelsea, coffee, motorcycle_right) are held out: the fidelity images come from them only.
  ``translate data edges`` makes HED edge maps -> photo pairs (edges2photos, as pix2pix did);
- ``pix2pix``: unet_256, ngf 64 (the paper's), edges -> photo at 256 px;
- ``cyclegan``: resnet_9blocks, ngf 64 (the paper's), unpaired edges <-> photos, on 64 px crops
  (128 px tiles; the network is fully convolutional and runs at 256 px afterwards);
- ``srgan``: SRResNet x4, 16 blocks x 64 features (the paper's), stage 1 (pixel MSE), 96 px HR crops.

A few hundred steps each (``--steps``): enough for trained activation statistics, nowhere near
the papers' quality. Everything goes to ``bench/data/precision/`` (git-ignored). Per model the
benchmark needs its inputs: ``calibration/`` (crops of the training photos) and ``held-out/``
(crops of the held-out photos); for the super-resolver these are HR crops, which the benchmark
shrinks by the scale itself (bicubic, as the SR papers make their LR inputs).

    python scripts/bench/trained_generators.py [--steps 150] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import ROOT  # noqa: E402
from demo_photos import copy_sample_photos, find_sample_photos  # noqa: E402

DATA = ROOT / "bench" / "data" / "precision"
HELD_OUT = ("chelsea", "coffee", "motorcycle_right")
# name -> (method, preset, data folder, extra --set overrides, input kind)
RUNS = {
    "pix2pix-unet256": ("pix2pix", "pix2pix", "p2p", {"load_size": 286, "crop_size": 256, "batch_size": 1}, "edges"),
    "cyclegan-resnet9": ("cyclegan", "cyclegan", "cyc", {"load_size": 72, "crop_size": 64, "pool_size": 50}, "edges"),
    "srresnet-x4": ("srgan", "srgan", "sr", {"gan_steps": 0, "content_loss": "pixel-mse", "batch_size": 8,
                                             "hr_size": 96}, "photos"),
}


def _translate(*args: str, threads: int = 1, log: Path | None = None) -> None:
    cmd = [sys.executable, "-m", "translate.cli", *args]
    print("$ translate " + " ".join(args).replace(str(ROOT) + "/", ""), flush=True)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    out = open(log, "w") if log else None  # noqa: SIM115 - closed below
    try:
        done = subprocess.run(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT if out else None)
    finally:
        if out:
            out.close()
    if done.returncode != 0:
        tail = log.read_text()[-3000:] if log else ""
        raise RuntimeError(f"translate {args[0]} failed (exit {done.returncode})\n{tail}")


def make_data(threads: int) -> None:
    """Photos, HED edge pairs and the calibration / held-out folders (skipped when present)."""
    photos = DATA / "photos"
    if not (photos / "held-out").is_dir():
        names = [p.stem for p in find_sample_photos()]
        copy_sample_photos(photos / "train", [n for n in names if n not in HELD_OUT])
        copy_sample_photos(photos / "held-out", list(HELD_OUT))
    edges = DATA / "edges"
    if not (edges / "held-out").is_dir():
        shutil.rmtree(edges, ignore_errors=True)
        common = ["--detector", "hed", "--no-progress"]
        _translate("data", "edges", str(photos / "train"), str(edges / "p2p" / "train"), "--size", "256",
                   "--crops-per-image", "12", "--seed", "0", *common, threads=threads)
        _translate("data", "edges", str(photos / "train"), str(edges / "calibration"), "--size", "256",
                   "--crops-per-image", "4", "--seed", "2", "--layout", "folders", *common, threads=threads)
        _translate("data", "edges", str(photos / "train"), str(edges / "unpaired"), "--size", "128",
                   "--crops-per-image", "12", "--seed", "3", "--layout", "folders", *common, threads=threads)
        _translate("data", "edges", str(photos / "held-out"), str(edges / "held-out"), "--size", "256",
                   "--crops-per-image", "6", "--seed", "1", "--layout", "folders", *common, threads=threads)
        _translate("data", "combine", str(edges / "held-out" / "A"), str(edges / "held-out" / "B"),
                   str(edges / "p2p" / "val"), threads=threads)
        # unpaired: edge maps of half the crops (A) and photos of the other half (B), so no pair is seen
        a, b = sorted((edges / "unpaired" / "A").glob("*.png")), sorted((edges / "unpaired" / "B").glob("*.png"))
        for sub, files in (("trainA", a[0::2]), ("trainB", b[1::2])):
            (edges / "cyc" / sub).mkdir(parents=True, exist_ok=True)
            for f in files:
                shutil.copyfile(f, edges / "cyc" / sub / f.name)
    sr = DATA / "sr"
    if not (sr / "val").is_dir():
        shutil.copytree(photos / "train", sr / "train")
        shutil.copytree(photos / "held-out", sr / "val")


def model_data(name: str) -> dict[str, Path]:
    """The training data, calibration images and held-out images of one benchmark model."""
    kind = RUNS[name][4]
    edges = DATA / "edges"
    if kind == "edges":
        return {"train": edges / RUNS[name][2], "calibration": edges / "calibration" / "A",
                "held_out": edges / "held-out" / "A"}
    return {"train": DATA / "sr", "calibration": edges / "calibration" / "B", "held_out": edges / "held-out" / "B"}


def checkpoint(name: str) -> Path | None:
    """The newest checkpoint of a benchmark model, None before it is trained."""
    found = sorted((DATA / "runs" / name / "checkpoints").glob("step_*.pt"))
    return found[-1] if found else None


def train(name: str, steps: int, threads: int) -> Path:
    """``translate train`` one benchmark model (skipped when a checkpoint exists)."""
    if checkpoint(name) is not None:
        return checkpoint(name)
    method, preset, _, sets, _ = RUNS[name]
    out = DATA / "runs" / name
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    sets = {**sets, "log_every": 25, "sample_every": 100000, "ckpt_every": 100000,
            ("srresnet_steps" if method == "srgan" else "max_steps"): steps}
    args = ["train", method, "--data", str(model_data(name)["train"]), "--out", str(out), "--preset", preset,
            "--device", "cpu", "--seed", "0"]
    for k, v in sets.items():
        args += ["--set", f"{k}={v}"]
    t0 = time.time()
    _translate(*args, threads=threads, log=out / "train.log")
    print(f"trained {name} in {time.time() - t0:.0f} s: {checkpoint(name)}", flush=True)
    return checkpoint(name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150, help="training steps per model (default 150)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per training process (default 1)")
    parser.add_argument("--models", nargs="*", default=list(RUNS), choices=list(RUNS))
    args = parser.parse_args()
    make_data(args.threads)
    with ThreadPoolExecutor(len(args.models)) as pool:  # one process per model, each with --threads
        for path in pool.map(lambda n: train(n, args.steps, args.threads), args.models):
            print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
