"""Super-resolution quality x4: SRResNet, then the SRGAN stage, against bicubic, with the papers' protocol.

Ledig et al. 2017 (SRGAN) report on Set5 x4: bicubic 28.43 dB, SRResNet 32.05 dB (+3.6 dB), SRGAN
29.40 dB PSNR on the Y channel (BT.601) after cropping a 4-pixel border; the GAN stage trades PSNR
for perceptual quality. Here the same protocol runs on held-out photos that can be installed
offline: butterfly (Set5), baboon (Set14), astronaut, chelsea, coffee (scikit-image). That set is
"Set5-like", NOT Set5: the numbers are comparable between methods of this run, not with the paper.

Training goes through ``translate train srgan --preset srgan --set ...`` on random HR crops of the
wallpaper and opencv-doc photos (``bench/data/sr/train``, built by ``scripts/get_bench_data.sh``),
LR made on the fly by bicubic /4. The checkpoint at the end of the SRResNet stage and the final
(SRGAN) checkpoint are evaluated through ``translate.images.apply_model`` on a ``TorchBackend``
(the product's inference path). LR test images = antialiased bicubic /4 of the mod-4-cropped HR (PIL, like
MATLAB ``imresize``); the bicubic baseline upsamples them back x4.

    python scripts/bench/quality_sr.py [--quick] [--device cpu|cuda]
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
import trainrun  # noqa: E402
from common import ROOT, print_table, write_result  # noqa: E402

SCALE = 4
DATA = ROOT / "bench" / "data" / "sr" / "train"
EVAL = ROOT / "bench" / "data" / "photos" / "set5like"
PAPER = {"bicubic": 28.43, "SRResNet": 32.05, "SRGAN": 29.40}  # Set5 x4, PSNR (dB), Ledig et al. 2017

# budgets: the paper trains 1e6 SRResNet steps + 2e5 GAN steps with 16 blocks x 64 features
BUDGETS = {
    "quick": {"srresnet_steps": 400, "gan_steps": 20, "gan_lr_drop_at": 10, "hr_size": 64, "batch_size": 8,
              "netG_kwargs.num_feat": 32, "netG_kwargs.num_blocks": 4, "netD_kwargs.num_feat": 32},
    "full": {"srresnet_steps": 100000, "gan_steps": 20000, "gan_lr_drop_at": 10000},
}


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


def scores(sr: np.ndarray, hr: np.ndarray) -> tuple[float, float]:
    """PSNR and SSIM on Y with a 4-pixel border crop (the SR papers' protocol)."""
    from translate.metrics import psnr, ssim

    return (psnr(sr, hr, y_channel=True, crop_border=SCALE), ssim(sr, hr, y_channel=True, crop_border=SCALE))


def evaluate(model: str, upscale, images) -> list[dict]:
    """One row per image plus a mean row for ``upscale`` (LR uint8 -> SR uint8)."""
    rows = []
    for name, hr, lr in images:
        p, s = scores(upscale(lr), hr)
        rows.append({"method": model, "image": name, "psnr_y": p, "ssim_y": s})
    rows.append({"method": model, "image": "mean", "psnr_y": float(np.mean([r["psnr_y"] for r in rows])),
                 "ssim_y": float(np.mean([r["ssim_y"] for r in rows]))})
    return rows


def model_upscaler(ckpt: Path, device: str):
    """LR uint8 HWC -> SR uint8 HWC through the product's apply_model (TorchBackend)."""
    from translate.backends.torch import TorchBackend
    from translate.images import Image, apply_model

    backend = TorchBackend.from_checkpoint(ckpt, device=device)
    return lambda lr: apply_model(backend, Image(pixels=lr, alpha=None, format=None), backend.info).pixels


def main() -> int:
    """Train, evaluate bicubic / SRResNet / SRGAN on the Set5-like photos, print and save the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="4 blocks x 32 features, 64 px crops, 400 + 20 steps (minutes on 2 CPU cores)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=["cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="extra training override")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if not DATA.is_dir():
        raise SystemExit(f"{DATA} missing: run scripts/get_bench_data.sh first")
    budget = dict(BUDGETS["quick" if args.quick else "full"])
    budget.update(dict(s.split("=", 1) for s in args.set))
    srresnet_steps = int(budget["srresnet_steps"])
    total = srresnet_steps + int(budget["gan_steps"])
    # a checkpoint at the end of the SRResNet stage; keep every checkpoint so it survives
    sets = {**budget, "ckpt_every": srresnet_steps, "keep_last": 1000, "log_every": 50,
            "sample_every": max(total, 1000), "tensorboard": "false"}
    run, seconds = trainrun.train("quality_sr" + ("-quick" if args.quick else ""), "srgan", DATA, "srgan", sets,
                                  device=args.device, threads=args.threads)
    content = _content_source(run)
    print(f"trained {total} steps in {seconds:.0f} s; GAN-stage content loss: {content}", flush=True)

    images = eval_set()
    t0 = time.time()
    rows = evaluate("bicubic", lambda lr: bicubic(lr, (lr.shape[1] * SCALE, lr.shape[0] * SCALE)), images)
    rows += evaluate("SRResNet", model_upscaler(trainrun.checkpoint(run, srresnet_steps), args.device), images)
    rows += evaluate("SRGAN", model_upscaler(trainrun.checkpoint(run, total), args.device), images)
    means = {r["method"]: r for r in rows if r["image"] == "mean"}
    summary = [{"method": m, "psnr_y": r["psnr_y"], "ssim_y": r["ssim_y"],
                "gain_over_bicubic_db": r["psnr_y"] - means["bicubic"]["psnr_y"], "paper_set5_psnr": PAPER[m],
                "paper_gain_db": PAPER[m] - PAPER["bicubic"]} for m, r in means.items()]
    print("\nper image (Set5-like, x4, Y channel, 4-px border crop):")
    print_table(_display(rows), ["method", "image", "psnr_y", "ssim_y"])
    print("\nmeans (paper columns: Set5, Ledig et al. 2017; ours: Set5-like, not comparable in absolute terms):")
    print_table(_display(summary), ["method", "psnr_y", "ssim_y", "gain_over_bicubic_db", "paper_set5_psnr",
                                    "paper_gain_db"])
    write_result("quality_sr", {"quick": args.quick, "device": args.device, "train_config": sets,
                                "train_seconds": seconds, "eval_seconds": time.time() - t0, "content_loss": content,
                                "eval_set": "Set5-like: " + ", ".join(n for n, _, _ in images),
                                "rows": rows, "summary": summary})
    return 0


def _display(rows: list[dict]) -> list[dict]:
    """Rows with dB values to 2 decimals and SSIM to 3, for the printed tables (JSON keeps full precision)."""
    return [{k: (f"{v:.3f}" if k.startswith("ssim") else f"{v:.2f}") if isinstance(v, float) else v
             for k, v in r.items()} for r in rows]


def _content_source(run: Path) -> str:
    """Which VGG weights the GAN stage's content loss used (recorded by the trainer in the checkpoint)."""
    from translate.checkpoint import load_checkpoint

    ckpts = sorted((run / "checkpoints").glob("step_*.pt"))
    prov = load_checkpoint(ckpts[-1]).get("provenance", {}) if ckpts else {}
    return str(prov.get("content_loss", "unknown"))


if __name__ == "__main__":
    sys.exit(main())
