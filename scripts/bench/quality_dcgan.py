"""DCGAN quality on Fashion-MNIST: Frechet distance on the classifier's features, next to real-vs-real.

Radford et al. 2016 judged DCGAN samples by eye and by the usefulness of D's features; the
now-standard check is a Frechet distance between generated and real images in a trained
network's feature space (FID uses Inception-v3, which is not available offline). Here the
feature net is the benchmark's Fashion-MNIST classifier (``scripts/bench/classifier.py``, 128-d
penultimate layer), so results are labelled "FD (fmnist-cnn)", never FID. Reported:

- FD of the trained generator's samples against the 10k test images;
- FD of the same architecture at its initial weights (the "nothing learnt" end of the scale);
- FD of as many real training images against the test images (the "perfect" end: sampling noise);
- the entropy of the classifier's predicted classes over the samples (log2 10 = 3.32 bits when all
  ten classes are equally present; low values mean mode collapse).

Training: ``translate train dcgan --preset dcgan-mnist --set ...`` on the class folders
``bench/data/fmnist/classes`` (unconditional; 28 px resized to 32 px by the trainer, so real
images go through the same bilinear resize here). Samples come from the product's
``TorchBackend.generate`` with per-seed latents (``translate.latents.seed_latents``).

    python scripts/bench/quality_dcgan.py [--quick] [--device cpu|cuda]
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

DATA = ROOT / "bench" / "data" / "fmnist" / "classes"
SIZE = 32
BUDGETS = {
    "quick": {"netG_kwargs.ngf": 32, "netD_kwargs.ndf": 32, "batch_size": 64, "max_steps": 300},
    "full": {"max_steps": 11700},  # 25 epochs of 60k images at batch 128, the preset's schedule
}


def resized(images: np.ndarray) -> np.ndarray:
    """uint8 [N, 28, 28] -> float32 [N, 1, 32, 32] in [-1, 1], PIL bilinear like the trainer's loader."""
    out = [np.asarray(PILImage.fromarray(im).resize((SIZE, SIZE), PILImage.Resampling.BILINEAR)) for im in images]
    return (np.stack(out)[:, None].astype(np.float32) / 127.5 - 1.0).astype(np.float32)


def generate(backend, n: int, nz: int, batch: int = 256) -> np.ndarray:
    """``n`` samples [N, C, H, W] in [-1, 1] from seeds 0..n-1."""
    from translate.latents import seed_latents

    z = seed_latents(range(n), nz)
    return np.concatenate([backend.generate(z[i:i + batch]) for i in range(0, n, batch)])


def class_entropy(cnn, x: np.ndarray) -> float:
    """Entropy (bits) of the classifier's predicted-class histogram over ``x``."""
    pred = classifier.predict(cnn, torch.from_numpy(x))
    p = np.bincount(pred, minlength=10) / len(pred)
    p = p[p > 0]
    return abs(float(-(p * np.log2(p)).sum()))  # abs: no "-0.0" for a single class


def main() -> int:
    """Train, sample, measure FDs against the test set, print and save the table."""
    from translate.backends.torch import TorchBackend
    from translate.latents import seed_latents
    from translate.metrics import frechet_distance
    from translate.nets import build_network

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="32-filter nets, 300 steps of batch 64, 2000 samples")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=["cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--samples", type=int, help="generated images (default 2000 quick, 10000 full)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    n = args.samples or (2000 if args.quick else 10000)
    cnn, cinfo = classifier.load_or_train(epochs=1 if args.quick else 3)  # cached after the first run
    feats = classifier.feature_extractor(cnn)
    budget = dict(BUDGETS["quick" if args.quick else "full"])
    steps = int(budget["max_steps"])
    sets = {**budget, "ckpt_every": steps, "log_every": 50, "sample_every": max(steps, 1000), "tensorboard": "false"}
    run, seconds = trainrun.train("quality_dcgan" + ("-quick" if args.quick else ""), "dcgan", DATA, "dcgan-mnist",
                                  sets, device=args.device, threads=args.threads)
    t0 = time.time()
    test_images, _ = classifier.read_split("t10k")
    train_images, _ = classifier.read_split("train")
    test_feats = feats(torch.from_numpy(resized(test_images[:n])))
    backend = TorchBackend.from_checkpoint(trainrun.checkpoint(run, steps), device=args.device)
    nz = backend.info.latent_size
    fake = generate(backend, n, nz)
    # same architecture at its initial weights (the trainer seeds torch with 0 before building G)
    torch.manual_seed(0)
    init = build_network(backend.net.arch, **backend.net.arch_kwargs).eval()
    with torch.no_grad():
        fake0 = init(torch.from_numpy(seed_latents(range(n), nz))).numpy()
    real_train = resized(train_images[np.random.default_rng(0).permutation(len(train_images))[:n]])
    rows = [
        {"images": "DCGAN samples (trained)", "fd": frechet_distance(feats(torch.from_numpy(fake)), test_feats),
         "class_entropy_bits": class_entropy(cnn, fake)},
        {"images": "DCGAN samples (initial weights)",
         "fd": frechet_distance(feats(torch.from_numpy(fake0)), test_feats),
         "class_entropy_bits": class_entropy(cnn, fake0)},
        {"images": "real training images", "fd": frechet_distance(feats(torch.from_numpy(real_train)), test_feats),
         "class_entropy_bits": class_entropy(cnn, real_train)},
    ]
    for r in rows:
        r.update(metric=feats.metric_name, n=n, vs=f"{len(test_feats)} Fashion-MNIST test images")
    print(f"trained {steps} steps in {seconds:.0f} s; classifier test accuracy {cinfo['test_accuracy']:.3f}")
    print_table(rows, ["images", "metric", "fd", "class_entropy_bits", "n", "vs"])
    write_result("quality_dcgan", {"quick": args.quick, "device": args.device, "train_config": sets,
                                   "train_seconds": seconds, "eval_seconds": time.time() - t0,
                                   "classifier": cinfo, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
