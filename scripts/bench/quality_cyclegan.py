"""CycleGAN quality on Fashion-MNIST sneaker <-> ankle boot: target-class share and cycle PSNR.

Zhu et al. 2017 judge translations with an "FCN-score": an off-the-shelf network trained on the
target domain says whether the translated image looks like its target. Our stand-in: the
benchmark's Fashion-MNIST classifier (``scripts/bench/classifier.py``, trained on all 10 classes)
reports the share of translated test images that it puts in the target class (sneaker 7 ->
ankle boot 9 and back), next to the same share for the untranslated inputs (the floor) and the
classifier's accuracy on real target-class images (the ceiling). Cycle consistency is reported as
the PSNR of G_B(G_A(a)) against a (and G_A(G_B(b)) against b).

Training: ``translate train cyclegan --preset cyclegan --set ...`` on
``bench/data/fmnist/sneaker2boot`` (trainA = sneakers, trainB = ankle boots, unpaired), grey,
28 px images resized to 32 px (LSGAN, cycle lambda 10, identity 0.5, pool 50 as in the paper);
evaluation on testA/testB through the product's ``TorchBackend`` of each direction.

    python scripts/bench/quality_cyclegan.py [--quick] [--device cpu|cuda]
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

DATA = ROOT / "bench" / "data" / "fmnist" / "sneaker2boot"
CLASSES = {"A": 7, "B": 9}  # sneaker, ankle boot
SIZE = 32
BUDGETS = {
    "quick": {"netG": "resnet_6blocks", "netG_kwargs.ngf": 16, "netD_kwargs.ndf": 16, "netD_kwargs.n_layers": 2,
              "batch_size": 4, "max_steps": 300},
    "full": {"netG": "resnet_6blocks", "netD_kwargs.n_layers": 2, "max_steps": 50000},
}


def load_domain(side: str, limit: int | None) -> np.ndarray:
    """testA/testB as float32 [N, 1, 32, 32] in [-1, 1] (bilinear 28 -> 32, as the trainer resizes)."""
    from translate.images import read_image

    files = sorted((DATA / f"test{side}").glob("*.png"))[:limit]
    if not files:
        raise SystemExit(f"no images in {DATA}/test{side}: run scripts/get_bench_data.sh first")
    arrs = []
    for f in files:
        px = read_image(f).pixels[:, :, 0]
        arrs.append(np.asarray(PILImage.fromarray(px).resize((SIZE, SIZE), PILImage.Resampling.BILINEAR)))
    return (np.stack(arrs)[:, None].astype(np.float32) / 127.5 - 1.0).astype(np.float32)


def run_batched(backend, x: np.ndarray, batch: int = 64) -> np.ndarray:
    """The backend on ``x`` [N, C, H, W] in chunks."""
    return np.concatenate([backend(x[i:i + batch]) for i in range(0, len(x), batch)])


def to_uint8(x: np.ndarray) -> np.ndarray:
    """[N, 1, H, W] in [-1, 1] -> uint8 [N, H, W, 1]."""
    return ((np.clip(x, -1, 1) + 1) * 127.5).round().astype(np.uint8).transpose(0, 2, 3, 1)


def main() -> int:
    """Train, translate both test domains, classify, print and save the table."""
    from translate.backends.torch import TorchBackend
    from translate.metrics import psnr

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="16-filter nets, 300 steps of batch 4 (minutes on a CPU)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=["cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--test-images", type=int, help="images per test domain (default: all)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cnn, cinfo = classifier.load_or_train(epochs=1 if args.quick else 3)  # cached after the first run
    budget = dict(BUDGETS["quick" if args.quick else "full"])
    steps = int(budget["max_steps"])
    sets = {**budget, "in_channels": 1, "out_channels": 1, "load_size": SIZE, "crop_size": SIZE,
            "ckpt_every": steps, "log_every": 50, "sample_every": max(steps, 1000), "tensorboard": "false"}
    run, seconds = trainrun.train("quality_cyclegan" + ("-quick" if args.quick else ""), "cyclegan", DATA,
                                  "cyclegan", sets, device=args.device, threads=args.threads)
    ckpt = trainrun.checkpoint(run, steps)
    g = {"AtoB": TorchBackend.from_checkpoint(ckpt, direction="AtoB", device=args.device),
         "BtoA": TorchBackend.from_checkpoint(ckpt, direction="BtoA", device=args.device)}
    t0 = time.time()
    rows = []
    for src, dst, fwd, back in (("A", "B", "AtoB", "BtoA"), ("B", "A", "BtoA", "AtoB")):
        x = load_domain(src, args.test_images)
        fake = run_batched(g[fwd], x)
        rec = run_batched(g[back], fake)
        pred_in = classifier.predict(cnn, torch.from_numpy(x))
        pred_out = classifier.predict(cnn, torch.from_numpy(fake))
        real_dst = classifier.predict(cnn, torch.from_numpy(load_domain(dst, args.test_images)))
        xs, rs = to_uint8(x), to_uint8(rec)
        rows.append({
            "direction": f"{classifier.CLASS_NAMES[CLASSES[src]]} -> {classifier.CLASS_NAMES[CLASSES[dst]]}",
            "test_images": len(x),
            "target_share_translated": float((pred_out == CLASSES[dst]).mean()),
            "target_share_input": float((pred_in == CLASSES[dst]).mean()),
            "target_share_real_target": float((real_dst == CLASSES[dst]).mean()),
            "cycle_psnr": float(np.mean([psnr(a, b) for a, b in zip(rs, xs)])),
        })
    print(f"trained {steps} steps in {seconds:.0f} s; classifier test accuracy {cinfo['test_accuracy']:.3f}")
    print_table(rows, ["direction", "test_images", "target_share_translated", "target_share_input",
                       "target_share_real_target", "cycle_psnr"])
    write_result("quality_cyclegan", {"quick": args.quick, "device": args.device, "train_config": sets,
                                      "train_seconds": seconds, "eval_seconds": time.time() - t0,
                                      "classifier": cinfo, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
