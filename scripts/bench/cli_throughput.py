"""Batch CLI throughput: `translate run` on a folder vs a bare ONNX Runtime loop over the same images.

The bare loop is the least a script could do: open each JPEG with Pillow, normalise, pad, one
``session.run``, denormalise, save a PNG, strictly one after the other. `translate run` adds
everything the product needs (discovery, resumability, typed failures, atomic writes, EXIF,
alpha, tiling checks) and overlaps decoding/encoding with inference in threads. Both create
their ONNX Runtime session inside the timed region (with default thread settings), run in the
same process, alternate, and the best of ``--repeats`` is kept. Target: the CLI within 10%
of the bare loop (ratio >= 0.90). A third number, the model alone on pre-decoded arrays, shows
how much of the time is inference at all.

Images are crops of the scikit-image sample photos (real JPEG content), all ``--size`` square.
The network is the CycleGAN ResNet generator (instance norm), randomly initialised: speed does
not depend on the weights.

    python scripts/bench/cli_throughput.py [--quick] [--images 32] [--size 256] [--ngf 64]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import PIL.Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import print_table, write_result  # noqa: E402

from translate.checkpoint import build_checkpoint, save_checkpoint  # noqa: E402
from translate.cli import main as translate_main  # noqa: E402
from translate.export import export_onnx  # noqa: E402
from translate.modelinfo import ModelInfo  # noqa: E402
from translate.nets import build_network  # noqa: E402


def make_images(folder: Path, count: int, size: int) -> list[Path]:
    """``count`` random ``size`` x ``size`` crops of the scikit-image photos, saved as JPEG (quality 90)."""
    from skimage import data

    photos = []
    for name in ("astronaut", "coffee", "chelsea", "rocket"):  # shipped inside the wheel (no download)
        try:
            photo = np.asarray(getattr(data, name)())
        except Exception:  # a photo that would need a download: skip it
            continue
        if photo.ndim == 3 and min(photo.shape[:2]) >= size:
            photos.append(photo)
    if not photos:
        raise SystemExit(f"no scikit-image sample photo is at least {size} px; use a smaller --size")
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(count):
        p = photos[k % len(photos)]
        y, x = rng.integers(0, p.shape[0] - size + 1), rng.integers(0, p.shape[1] - size + 1)
        path = folder / f"img{k:04d}.jpg"
        PIL.Image.fromarray(np.ascontiguousarray(p[y:y + size, x:x + size, :3])).save(path, quality=90)
        paths.append(path)
    return paths


def export_model(tmp: Path, arch: str, ngf: int) -> Path:
    """A CycleGAN generator exported with `translate export` (verification off: speed only)."""
    net = build_network(arch, ngf=ngf).eval()
    info = ModelInfo(family="cyclegan", task="translate", pad_multiple=4, direction="AtoB", image_size=256)
    ckpt = save_checkpoint(build_checkpoint("cyclegan", {"G_A": net}, {"G_A": info}), tmp / "g.pt")
    return export_onnx(ckpt, tmp / "g.onnx", verify=False).path


def bare_loop(model: Path, paths: list[Path], out: Path) -> float:
    """Seconds for session creation + decode/infer/encode of every image, one after the other."""
    import onnxruntime as ort

    t0 = time.perf_counter()
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(str(model), sess_options=opts, providers=["CPUExecutionProvider"])
    out.mkdir(parents=True, exist_ok=True)
    for p in paths:
        with PIL.Image.open(p) as im:
            x = np.asarray(im.convert("RGB"), np.float32) / 127.5 - 1.0  # [H, W, 3]
        h, w = x.shape[:2]
        x = np.pad(x.transpose(2, 0, 1)[None], ((0, 0), (0, 0), (0, -h % 4), (0, -w % 4)), mode="reflect")
        y = sess.run(["output"], {"input": x})[0][0, :, :h, :w]  # [3, H, W]
        pixels = np.clip(np.rint((y.transpose(1, 2, 0) + 1.0) * 127.5), 0, 255).astype(np.uint8)
        PIL.Image.fromarray(pixels).save(out / f"{p.stem}.png")
    return time.perf_counter() - t0


def model_only(model: Path, paths: list[Path]) -> float:
    """Seconds of ``session.run`` alone over the pre-decoded images (no I/O, no session creation)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(str(model), sess_options=opts, providers=["CPUExecutionProvider"])
    arrays = []
    for p in paths:
        with PIL.Image.open(p) as im:
            arrays.append((np.asarray(im.convert("RGB"), np.float32) / 127.5 - 1.0).transpose(2, 0, 1)[None].copy())
    sess.run(["output"], {"input": arrays[0]})  # warm-up, as the others' first image pays it too
    t0 = time.perf_counter()
    for x in arrays:
        sess.run(["output"], {"input": x})
    return time.perf_counter() - t0


def cli_run(model: Path, folder: Path, out: Path, jobs: int) -> float:
    """Seconds of `translate run` (in-process, progress bar off, --overwrite so every image is redone)."""
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        rc = translate_main(["run", "--model", str(model), "-i", str(folder), "-o", str(out), "--overwrite",
                             "--no-progress", "--device", "cpu", "--jobs", str(jobs)])
    seconds = time.perf_counter() - t0
    if rc != 0:
        raise SystemExit(f"translate run failed with exit code {rc}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="12 images, ngf 32, 2 repeats (about 3 minutes on a busy 2-core machine)")
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--arch", default="resnet_9blocks", choices=["resnet_9blocks", "resnet_6blocks"])
    parser.add_argument("--ngf", type=int, default=64)
    parser.add_argument("--jobs", type=int, default=2, help="translate run --jobs")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.quick:
        args.images, args.ngf, args.repeats = 12, 32, 2
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        paths = make_images(tmp / "in", args.images, args.size)
        print(f"exporting {args.arch} ngf={args.ngf} ...", flush=True)
        model = export_model(tmp, args.arch, args.ngf)
        bare, cli = [], []
        for r in range(args.repeats):  # alternate, so drifting machine load hits both alike
            bare.append(bare_loop(model, paths, tmp / "bare"))
            cli.append(cli_run(model, tmp / "in", tmp / "cli", args.jobs))
            print(f"  repeat {r + 1}: bare loop {bare[-1]:.2f} s, translate run {cli[-1]:.2f} s", flush=True)
        infer = model_only(model, paths)
        # the two pipelines must have computed the same pictures (rounding aside)
        a = np.asarray(PIL.Image.open(tmp / "bare" / "img0000.png"), np.int16)
        b = np.asarray(PIL.Image.open(tmp / "cli" / "img0000.png"), np.int16)
        max_diff = int(np.abs(a - b).max())
    n = args.images
    rows = [
        {"pipeline": "bare ORT loop", "seconds": min(bare), "images_per_s": n / min(bare)},
        {"pipeline": "translate run", "seconds": min(cli), "images_per_s": n / min(cli)},
        {"pipeline": "model only", "seconds": infer, "images_per_s": n / infer},
    ]
    ratio = min(bare) / min(cli)  # CLI throughput / bare-loop throughput
    print_table(rows, ["pipeline", "seconds", "images_per_s"])
    verdict = "within 10%" if ratio >= 0.9 else "MORE than 10% slower"
    print(f"translate run / bare loop throughput = {ratio:.3f} ({verdict}); outputs differ by <= {max_diff} levels")
    write_result("cli_throughput", {
        "images": n, "size": args.size, "arch": args.arch, "ngf": args.ngf, "jobs": args.jobs,
        "repeats": args.repeats, "quick": args.quick, "bare_s": bare, "cli_s": cli, "model_only_s": infer,
        "ratio_cli_over_bare": ratio, "target": 0.9, "max_pixel_diff": max_diff, "rows": rows,
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
