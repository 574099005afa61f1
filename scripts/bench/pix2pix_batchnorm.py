"""pix2pix batch norm at inference: running statistics vs per-image ("batch") statistics, measured.

Isola et al. 2017 (sec. 3.3 and the pytorch/torch code) ran the U-Net generator at test time with
batch norm in training mode, i.e. normalised by the statistics of the test batch, and with
dropout on; at their test batch size of 1 that is instance normalisation of each image. The usual
alternative is eval mode: the running averages collected during training. Which of the two is
better for networks trained by OUR pipeline is an empirical question, so this script:

1. task ``edges2photos`` (default) reuses ``bench/data/edges2photos`` (HED edges -> photo crops,
   held-out photos in ``test/``, built by ``scripts/get_bench_data.sh --quick``) or, when that is
   missing, builds a small stand-in from the photos that ship inside scikit-image / scikit-learn /
   matplotlib with ``translate data edges --detector hed`` (``bench/data/bn_edges2photos``);
   task ``edges2items`` uses ``bench/data/fmnist/edges2items`` (HED edges -> Fashion-MNIST items,
   64 px, resized to 143 and cropped to 128 by the loader): an easier task that a small net
   learns in minutes;
2. trains pix2pix with ``translate train pix2pix --preset pix2pix`` (unet_128 at 128 px, small
   ngf/ndf, dropout on as in the paper) for a fixed number of steps, at batch size 1 (the paper)
   and, unless ``--batch-sizes`` says otherwise, batch size 4;
3. exports the SAME checkpoint to ONNX twice with :func:`translate.export.export_onnx`
   (``batchnorm_mode="running"`` and ``"batch"``; each export is verified against PyTorch), and
   scores both on the held-out pairs (one image per call) with PSNR / SSIM (RGB, no border crop)
   and a Frechet distance on HED-VGG16 features ("FD (hed-vgg16 relu5_3)", not FID; with a few
   dozen images it is only a coarse signal). A third, torch-only row runs the paper's exact
   test-time mode (batch statistics AND dropout on, fixed seed); our exports keep dropout off.

Images are scored at the training size (128 px: test pairs resized, bicubic) and at 256 px (twice
that: the native 256 px photo crops, or items upsampled 4x), because served images rarely come at
the training size, and per-image statistics adapt to the size while running ones do not. The
verdict compares the two exportable modes per image (paired differences, mean +- 2 standard
errors) and calls a mode better only when PSNR and SSIM agree beyond that noise.

    python scripts/bench/pix2pix_batchnorm.py [--quick] [--task edges2photos|edges2items] [--steps N]
        [--batch-sizes 1 4] [--sizes 128 256] [--seed S] [--no-fd]
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image as PILImage

sys.path.insert(0, str(Path(__file__).resolve().parent))
import trainrun  # noqa: E402
from common import ROOT, print_table, write_result  # noqa: E402

DATA = ROOT / "bench" / "data"
SHARED_SET = DATA / "edges2photos"  # scripts/get_bench_data.sh
OWN_SET = DATA / "bn_edges2photos"  # stand-in built here from package sample photos
ITEMS_SET = DATA / "fmnist" / "edges2items"  # scripts/get_bench_data.sh (RGB PNGs of grey items)
MODES = ("running", "batch")
PAPER_MODE = "batch+dropout (paper, torch)"
BUDGET = {  # on top of the pix2pix paper preset (batch norm, dropout, 70x70 PatchGAN, lambda_L1 100)
    "quick": {"netG": "unet_128", "load_size": 143, "crop_size": 128, "netG_kwargs.ngf": 16,
              "netD_kwargs.ndf": 16, "max_steps": 400},
    "full": {"netG": "unet_128", "load_size": 143, "crop_size": 128, "netG_kwargs.ngf": 32,
             "netD_kwargs.ndf": 32, "max_steps": 4000},
}


# ----------------------------------------------------------------------------- data
def _package_photos(dst: Path) -> None:
    """Write the colour sample photos of scikit-image, scikit-learn (matplotlib if installed) to dst/{train,test}."""
    import importlib.util

    import skimage.data
    from sklearn.datasets import load_sample_images

    photos = {name: getattr(skimage.data, name)() for name in
              ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry", "retina")}
    photos["motorcycle_left"], photos["motorcycle_right"], _ = skimage.data.stereo_motorcycle()
    sk = load_sample_images()
    for fname, px in zip(sk.filenames, sk.images):
        photos[Path(fname).stem] = px
    mpl = importlib.util.find_spec("matplotlib")  # located, not imported: only its sample photo is wanted
    if mpl and mpl.origin:
        hopper = Path(mpl.origin).parent / "mpl-data" / "sample_data" / "grace_hopper.jpg"
        if hopper.is_file():
            photos["grace_hopper"] = np.asarray(PILImage.open(hopper).convert("RGB"))
    heldout = {"astronaut", "coffee", "china"}  # a person, an object, a scene
    for name, px in photos.items():
        folder = dst / ("test" if name in heldout else "train")
        folder.mkdir(parents=True, exist_ok=True)
        PILImage.fromarray(np.ascontiguousarray(px[..., :3])).save(folder / f"{name}.png")


def dataset(task: str) -> Path:
    """The pair folder (``train/`` + ``test/`` of A|B PNGs) of ``task``; edges2photos falls back to a small own set."""
    if task == "edges2items":
        if not any((ITEMS_SET / "test").glob("*.png")):
            raise SystemExit(f"no pairs in {ITEMS_SET}/test: run scripts/get_bench_data.sh --quick first")
        return ITEMS_SET
    if (SHARED_SET / "train").is_dir() and any((SHARED_SET / "test").glob("*.png")):
        return SHARED_SET
    if any((OWN_SET / "test").glob("*.png")):
        return OWN_SET
    print(f"{SHARED_SET} missing: building {OWN_SET} from package sample photos (HED edges)", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        _package_photos(Path(tmp))
        for split, crops in (("train", 16), ("test", 6)):
            subprocess.run([sys.executable, "-m", "translate.cli", "data", "edges", str(Path(tmp) / split),
                            str(OWN_SET / split), "--detector", "hed", "--size", "256", "--crops-per-image",
                            str(crops), "--seed", "0" if split == "train" else "1", "--force", "--no-progress"],
                           check=True, cwd=ROOT)
    return OWN_SET


def test_pairs(data: Path, size: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(A, B) uint8 HWC of every held-out A|B pair, resized (bicubic) to ``size`` unless already that size."""
    from translate.images import read_image

    pairs = []
    for path in sorted((data / "test").glob("*.png")):
        ab = read_image(path).pixels
        w = ab.shape[1] // 2
        halves = (ab[:, :w], ab[:, w:2 * w])
        if halves[0].shape[:2] != (size, size):
            halves = tuple(np.asarray(PILImage.fromarray(x).resize((size, size), PILImage.Resampling.BICUBIC))
                           for x in halves)
        pairs.append(halves)
    return pairs


# ----------------------------------------------------------------------------- evaluation
def paper_mode_fn(checkpoint: Path, seed: int):
    """The paper's test-time generator in torch: every BN and dropout layer in training mode, one image per call.

    Works on a copy; returns (fn for ``images.apply_model``, ModelInfo). Dropout draws from a fixed seed.
    """
    from translate.checkpoint import load_generator

    net, info = load_generator(checkpoint, None, ema=True)
    net.train()  # BN: statistics of this image; dropout: active (the copy's running stats may change, unused)
    gen = torch.Generator().manual_seed(seed)

    def fn(x: np.ndarray) -> np.ndarray:  # [1, C, H, W] float32 in [-1, 1]
        torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
        with torch.no_grad():
            return net(torch.from_numpy(x)).numpy()

    return fn, info


def translate_all(translate_fn, pairs) -> list[np.ndarray]:
    """Outputs (uint8 HWC) for the A side of every pair."""
    from translate.images import Image

    return [translate_fn(Image(pixels=a, alpha=None, format=None)).pixels for a, _ in pairs]


def evaluate(checkpoint: Path, pairs_by_size: dict, workdir: Path, feats, seed: int) -> tuple[list[dict], dict]:
    """Per-mode, per-size scores of one checkpoint; also the per-image PSNR/SSIM lists for paired tests."""
    from translate.backends.onnxruntime import OnnxBackend
    from translate.export import export_onnx
    from translate.images import apply_model
    from translate.metrics import frechet_distance, psnr, ssim

    translators, exports = {}, {}
    for mode in MODES:
        report = export_onnx(checkpoint, workdir / f"{mode}.onnx", batchnorm_mode=mode, force=True)
        exports[mode] = {"max_abs_err_vs_torch": report.max_abs_err, "passed": report.passed}
        backend = OnnxBackend(workdir / f"{mode}.onnx", device="cpu", intra_op_threads=2)
        translators[mode] = lambda img, b=backend: apply_model(b, img, b.info)
    fn, info = paper_mode_fn(checkpoint, seed)
    translators[PAPER_MODE] = lambda img: apply_model(fn, img, info)
    rows, per_image = [], {}
    for size, pairs in pairs_by_size.items():
        real = [b for _, b in pairs]
        real_feats = feats(real) if feats else None
        for mode, tr in translators.items():
            fakes = translate_all(tr, pairs)
            p = [psnr(f, b) for f, b in zip(fakes, real)]
            s = [ssim(f, b) for f, b in zip(fakes, real)]
            per_image[(size, mode)] = (np.array(p), np.array(s))
            rows.append({"eval_px": size, "mode": mode, "psnr": float(np.mean(p)), "ssim": float(np.mean(s)),
                         "fd": frechet_distance(feats(fakes), real_feats) if feats else None,
                         "images": len(pairs)})
    return rows, {"exports": exports, "per_image": per_image}


def paired(a: np.ndarray, b: np.ndarray) -> tuple[float, float, int]:
    """(mean of b - a, its standard error, number of images where b > a)."""
    d = b - a
    se = float(d.std(ddof=1) / math.sqrt(len(d))) if len(d) > 1 else float("inf")
    return float(d.mean()), se, int((d > 0).sum())


def verdict(per_image: dict, size: int) -> tuple[str, dict]:
    """Which exportable mode wins at ``size``: 'batch', 'running' or 'tie' (PSNR and SSIM beyond 2 SE, same sign)."""
    (pr, sr), (pb, sb) = per_image[(size, "running")], per_image[(size, "batch")]
    dp, sep, wins_p = paired(pr, pb)
    ds, ses, wins_s = paired(sr, sb)
    stats = {"d_psnr_batch_minus_running": dp, "se_psnr": sep, "batch_wins_psnr": wins_p,
             "d_ssim_batch_minus_running": ds, "se_ssim": ses, "batch_wins_ssim": wins_s, "images": len(pr)}
    clear_p, clear_s = abs(dp) > 2 * sep, abs(ds) > 2 * ses
    if clear_p and clear_s and (dp > 0) == (ds > 0):
        return ("batch" if dp > 0 else "running"), stats
    return "tie", stats


# ----------------------------------------------------------------------------- main
def main() -> int:
    """Train, export both ways, score, print the tables, write bench/results/pix2pix_batchnorm-*.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="ngf/ndf 16, 400 steps per run (minutes on 2 cores)")
    parser.add_argument("--task", choices=("edges2photos", "edges2items"), default="edges2photos")
    parser.add_argument("--steps", type=int, default=None, help="override the training steps of the budget")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4], help="training batch sizes (1 = paper)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256], help="evaluation sizes (multiples of 128)")
    parser.add_argument("--seed", type=int, default=0, help="training seed (also the paper row's dropout seed)")
    parser.add_argument("--no-fd", dest="fd", action="store_false", help="skip the HED-VGG16 Frechet distance")
    parser.add_argument("--reuse", action="store_true", help="reuse a finished run of the same name (no training)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.time()
    budget = dict(BUDGET["quick" if args.quick else "full"])
    if args.steps:
        budget["max_steps"] = args.steps
    steps = int(budget["max_steps"])
    data = dataset(args.task)
    pairs_by_size = {s: test_pairs(data, s) for s in args.sizes}
    feats = None
    if args.fd:
        from translate.metrics import vgg_feature_extractor

        feats = vgg_feature_extractor("hed")
    rows, stats, exports, runs = [], [], {}, {}
    for bs in args.batch_sizes:
        sets = {**budget, "batch_size": bs, "ckpt_every": steps, "log_every": 50, "sample_every": max(steps, 1000),
                "tensorboard": "false"}
        name = f"pix2pix_batchnorm-{args.task}-b{bs}-s{args.seed}" + ("-quick" if args.quick else "")
        run = trainrun.RUNS / name
        if args.reuse and (run / "checkpoints" / f"step_{steps:08d}.pt").is_file():
            seconds = None
        else:
            run, seconds = trainrun.train(name, "pix2pix", data, "pix2pix", sets, threads=args.threads, seed=args.seed)
        runs[bs] = {"run": str(run.relative_to(ROOT)), "train_s": seconds, "config": sets}
        with tempfile.TemporaryDirectory() as tmp:
            r, extra = evaluate(trainrun.checkpoint(run, steps), pairs_by_size, Path(tmp), feats, args.seed)
        exports[bs] = extra["exports"]
        for row in r:
            rows.append({"train_batch": bs, "steps": steps, **row})
        for size in args.sizes:
            winner, st = verdict(extra["per_image"], size)
            stats.append({"train_batch": bs, "eval_px": size, "better": winner, **st})
        print(f"  batch {bs}: trained in {seconds or 0:.0f} s; exports {exports[bs]}", flush=True)
    print(f"\nheld-out pairs: {data.relative_to(ROOT)}/test, {len(pairs_by_size[args.sizes[0]])} images; "
          f"PSNR dB / SSIM higher = better, FD lower = better")
    shown = [{**r, "psnr": f"{r['psnr']:.2f}", "ssim": f"{r['ssim']:.3f}",
              "fd": None if r["fd"] is None else f"{r['fd']:.0f}"} for r in rows]
    print_table(shown, ["train_batch", "steps", "eval_px", "mode", "psnr", "ssim", "fd", "images"])
    print("\npaired per-image differences, batch minus running (better = beyond 2 SE on PSNR and SSIM, same sign):")
    for st in stats:
        st["d_psnr"] = f"{st['d_psnr_batch_minus_running']:+.2f} +- {st['se_psnr']:.2f}"
        st["d_ssim"] = f"{st['d_ssim_batch_minus_running']:+.3f} +- {st['se_ssim']:.3f}"
        st["batch_wins"] = f"{st['batch_wins_psnr']}/{st['images']} psnr, {st['batch_wins_ssim']}/{st['images']} ssim"
    print_table(stats, ["train_batch", "eval_px", "d_psnr", "d_ssim", "batch_wins", "better"])
    write_result("pix2pix_batchnorm", {
        "quick": args.quick, "task": args.task, "data": str(data.relative_to(ROOT)), "runs": runs,
        "exports": exports, "rows": rows,
        "paired": [{k: v for k, v in st.items() if k not in ("d_psnr", "d_ssim", "batch_wins")} for st in stats],
        "fd_metric": feats.metric_name if feats else None, "seconds": time.time() - t0,
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
