"""pix2pix quality: L1 + cGAN against L1 alone, trained with the same budget (the paper's ablation).

Isola et al. 2017 (Table 1, Cityscapes labels -> photo) show that L1 alone gives blurry, "safe"
outputs, while L1 + cGAN gives sharper, more realistic ones (better FCN-score), often at a
slightly worse per-pixel error. Here the same ablation runs on two tasks that can be built offline:

- ``edges2photos``: HED edges -> photo crops (like edges2shoes) of wallpaper and opencv-doc photos;
  tested on crops of held-out photos (``bench/data/edges2photos/test``). Realism: a Frechet distance
  on pooled HED-VGG16 relu5_3 features ("FD (hed-vgg16 ...)"; an ImageNet VGG is not available offline).
- ``edges2items``: HED edges -> Fashion-MNIST sandals, sneakers, bags and ankle boots at 64 px;
  realism: a Frechet distance on the features of the benchmark classifier
  (``scripts/bench/classifier.py``), "FD (fmnist-cnn)", next to the real-vs-real distance.

Both models train through ``translate train pix2pix --preset pix2pix --set ...``; the L1-only
baseline is the same command with ``lambda_L1=1e6``: the adversarial term then weighs 1e-6 of the
L1 term (the paper uses 1/100), and since Adam's steps do not depend on the loss scale, this is
L1-only training at the same learning rate. PSNR/SSIM are on RGB (edges2photos) or grey
(edges2items), no border crop; FD is lower = more realistic.

    python scripts/bench/quality_pix2pix.py [--quick] [--tasks edges2photos edges2items] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image as PILImage

sys.path.insert(0, str(Path(__file__).resolve().parent))
import classifier  # noqa: E402
import trainrun  # noqa: E402
from common import ROOT, print_table, write_result  # noqa: E402

DATA = ROOT / "bench" / "data"
TASKS = {
    "edges2photos": {
        "data": DATA / "edges2photos", "channels": 3,
        "quick": {"netG": "unet_128", "load_size": 143, "crop_size": 128, "netG_kwargs.ngf": 16,
                  "netD_kwargs.ndf": 16, "max_steps": 200},
        "full": {"max_steps": 40000},  # the paper preset: unet_256, 286 -> 256, batch 1
    },
    "edges2items": {
        "data": DATA / "fmnist" / "edges2items", "channels": 1,
        # 64 px is below the smallest U-Net's input (128): the ResNet generator of the pix2pix code base
        "quick": {"netG": "resnet_6blocks", "load_size": 72, "crop_size": 64, "netG_kwargs.ngf": 16,
                  "netD_kwargs.ndf": 16, "netD_kwargs.n_layers": 2, "batch_size": 4, "max_steps": 200},
        "full": {"netG": "resnet_6blocks", "load_size": 72, "crop_size": 64, "netD_kwargs.n_layers": 2,
                 "batch_size": 4, "max_steps": 30000},
    },
}
MODELS = {"L1 + cGAN": {}, "L1 only": {"lambda_L1": 1e6}}


def test_pairs(task: str, size: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(A, B) uint8 HWC of every A|B test pair, resized to the training crop size (bicubic)."""
    from translate.images import read_image

    folder = TASKS[task]["data"] / "test"
    pairs = []
    for path in sorted(folder.glob("*.png")):
        ab = read_image(path).pixels
        w = ab.shape[1] // 2
        a, b = (np.asarray(PILImage.fromarray(x).resize((size, size), PILImage.Resampling.BICUBIC))
                for x in (ab[:, :w], ab[:, w:2 * w]))
        pairs.append((a, b))
    if not pairs:
        raise SystemExit(f"no test pairs in {folder}: run scripts/get_bench_data.sh first")
    return pairs


def grey(px: np.ndarray) -> np.ndarray:
    """RGB uint8 -> [H, W, 1] (BT.601 luma), grey passes through."""
    if px.ndim == 3 and px.shape[2] == 3:
        px = (px.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)).round().astype(np.uint8)
        return px[:, :, None]
    return px if px.ndim == 3 else px[:, :, None]


def train_pixels(task: str, size: int, limit: int) -> list[np.ndarray]:
    """Up to ``limit`` B images of the training pairs (real-vs-real reference), resized like the test pairs."""
    from translate.images import read_image

    out = []
    for path in sorted((TASKS[task]["data"] / "train").glob("*.png"))[:limit]:
        ab = read_image(path).pixels
        w = ab.shape[1] // 2
        out.append(np.asarray(PILImage.fromarray(ab[:, w:2 * w]).resize((size, size), PILImage.Resampling.BICUBIC)))
    return out


def feature_net(task: str, device: str, quick: bool):
    """The FD feature extractor of a task."""
    if task == "edges2items":
        cnn, _ = classifier.load_or_train(epochs=1 if quick else 3)  # cached after the first run
        return classifier.feature_extractor(cnn)
    from translate.metrics import vgg_feature_extractor

    return vgg_feature_extractor("hed", device=device)


def run_task(task: str, args) -> tuple[list[dict], dict]:
    """Train both models on one task and score them on its test pairs."""
    from translate.backends.torch import TorchBackend
    from translate.images import Image, apply_model
    from translate.metrics import frechet_distance, psnr, ssim

    spec = TASKS[task]
    budget = dict(spec["quick" if args.quick else "full"])
    c = spec["channels"]
    size = int(budget.get("crop_size", 256))
    steps = int(budget["max_steps"])
    common_sets = {**budget, "in_channels": c, "out_channels": c, "ckpt_every": steps, "log_every": 50,
                   "sample_every": max(steps, 1000), "tensorboard": "false"}
    pairs = test_pairs(task, size)
    if c == 1:
        pairs = [(grey(a), grey(b)) for a, b in pairs]
    feats = feature_net(task, args.device, args.quick)
    real = [b for _, b in pairs]
    real_feats = feats(real)
    rows, info = [], {}
    ref = train_pixels(task, size, len(real))  # as many as test images: FD is biased by the sample count
    if c == 1:
        ref = [grey(x) for x in ref]
    info["fd_real_train_vs_test"] = frechet_distance(feats(ref), real_feats)
    for model, extra in MODELS.items():
        name = f"quality_pix2pix-{task}-{'l1' if extra else 'gan'}" + ("-quick" if args.quick else "")
        run, seconds = trainrun.train(name, "pix2pix", spec["data"], "pix2pix", {**common_sets, **extra},
                                      device=args.device, threads=args.threads)
        backend = TorchBackend.from_checkpoint(trainrun.checkpoint(run, steps), device=args.device)
        fakes = [apply_model(backend, Image(pixels=a, alpha=None, format=None), backend.info).pixels for a, _ in pairs]
        rows.append({
            "task": task, "model": model, "steps": steps, "train_s": seconds,
            "psnr": float(np.mean([psnr(f, b) for f, (_, b) in zip(fakes, pairs)])),
            "ssim": float(np.mean([ssim(f, b) for f, (_, b) in zip(fakes, pairs)])),
            "fd": frechet_distance(feats(fakes), real_feats), "fd_metric": feats.metric_name,
            "fd_real_vs_real": info["fd_real_train_vs_test"], "test_images": len(pairs),
        })
        print(f"  {task} {model}: PSNR {rows[-1]['psnr']:.2f} dB, {feats.metric_name} {rows[-1]['fd']:.3g}",
              flush=True)
    info["config"] = common_sets
    return rows, info


def main() -> int:
    """Run the ablation on each task, print the table, write bench/results/quality_pix2pix-*.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small nets, 200 steps per model (minutes on 2 cores)")
    parser.add_argument("--tasks", nargs="*", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=["cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.time()
    rows, infos = [], {}
    for task in args.tasks:
        r, infos[task] = run_task(task, args)
        rows += r
    print_table(rows, ["task", "model", "steps", "psnr", "ssim", "fd", "fd_real_vs_real", "fd_metric", "test_images"])
    write_result("quality_pix2pix", {"quick": args.quick, "device": args.device, "rows": rows, "tasks": infos,
                                     "seconds": time.time() - t0})
    return 0


if __name__ == "__main__":
    sys.exit(main())
