"""``translate export``: a checkpoint's generator(s) -> verified ONNX file or model-repository entry.

    translate export RUN/checkpoint.pt -o model.onnx
    translate export RUN/checkpoint.pt --repo MODELS --name horse2zebra --direction both
    translate export RUN/checkpoint.pt --repo MODELS --name edges2photo --precision fp32,bf16,int8 --calibration IMAGES
"""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``translate export``."""
    from translate.precision import CALIBRATION_IMAGES, DEFAULT_GATES, MIN_WORST_PSNR_DB

    p.add_argument("checkpoint", help="training checkpoint (.pt) written by `translate train`")
    dest = p.add_mutually_exclusive_group(required=True)
    dest.add_argument("-o", "--output", metavar="OUT.onnx", help="write one ONNX file")
    dest.add_argument("--repo", metavar="MODELS", help="model repository root (MODELS/NAME/VERSION/model.onnx)")
    p.add_argument("--name", help="model name in the repository (with --repo)")
    p.add_argument("--version", type=int, default=None, help="version number (default: next free one)")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset (default 18)")
    p.add_argument("--direction", choices=["AtoB", "BtoA", "both"], default=None,
                   help="CycleGAN generator to export (default: both)")
    ema = p.add_mutually_exclusive_group()
    ema.add_argument("--ema", dest="ema", action="store_true", default=True,
                     help="use the EMA weights when the checkpoint has them (default)")
    ema.add_argument("--no-ema", dest="ema", action="store_false", help="use the raw training weights")
    p.add_argument("--static-shape", nargs=2, type=int, metavar=("H", "W"), default=None,
                   help="fix the input height/width (batch stays dynamic), for runtimes that need static shapes")
    p.add_argument("--no-verify", dest="verify", action="store_false",
                   help="skip the ONNX Runtime vs PyTorch check (not recommended)")
    p.add_argument("--batchnorm", choices=["running", "batch"], default=None,
                   help="batch-norm statistics at inference: running averages, or each image's own "
                        "(as the pix2pix paper ran its generator at test time); default from the checkpoint")
    p.add_argument("--exporter", choices=["auto", "dynamo", "torchscript"], default="auto",
                   help="torch.onnx exporter: auto tries the torch.export-based one, then TorchScript")
    p.add_argument("--max-batch-size", type=int, default=8, help="Triton config.pbtxt max_batch_size (with --repo)")
    p.add_argument("--verify-image", metavar="PATH", default=None,
                   help="photo for the real-image check (default: scikit-image's astronaut)")
    p.add_argument("--force", action="store_true", help="overwrite an existing file or repository version")
    low = p.add_argument_group("lower precision (needs the extra: pip install 'translate[openvino]')")
    low.add_argument("--precision", default="fp32", metavar="LIST",
                     help="variants to export, comma-separated: fp32 (always), bf16 (a runtime hint on the same "
                          "file, for CPUs with native bf16), int8 (model.int8.onnx, calibrated on real images); "
                          "each is measured against fp32 and refused under its gate (default fp32)")
    low.add_argument("--calibration", metavar="DIR",
                     help="real images like the model's inputs (e.g. the run's validation inputs): int8 calibrates "
                          "on half of them and every variant is measured on the other half")
    low.add_argument("--fidelity-images", metavar="DIR",
                     help="held-out images to measure the variants on (default: the half of --calibration that "
                          "int8 does not calibrate on)")
    low.add_argument("--calibration-count", type=int, default=CALIBRATION_IMAGES, metavar="N",
                     help=f"images int8 calibrates on (default {CALIBRATION_IMAGES})")
    for precision in ("bf16", "int8"):
        gate = DEFAULT_GATES[precision].min_psnr_db
        low.add_argument(f"--min-psnr-{precision}", type=float, default=gate, metavar="DB",
                         help=f"least PSNR of {precision} against fp32, pooled over the held-out images "
                              f"(default {gate:g})")
    low.add_argument("--min-worst-psnr", type=float, default=MIN_WORST_PSNR_DB, metavar="DB",
                     help=f"least PSNR of any single held-out image, for bf16 and int8 (default {MIN_WORST_PSNR_DB:g})")


def main(args: argparse.Namespace) -> int:
    """Run the export and print the verification report; 0 on success."""
    from pathlib import Path

    from translate.errors import ConfigError
    from translate.export import DEFAULT_OPSET, check_variant_request, export_onnx, export_to_repository
    from translate.precision import Gate, parse_precisions

    if args.repo and not args.name:
        raise ConfigError("--repo needs --name (the model's name in the repository)")
    if args.output and (args.name or args.version is not None):
        raise ConfigError("--name/--version go with --repo, not with -o")
    photo = None
    if args.verify_image:
        from translate.images import read_image

        photo = read_image(args.verify_image).pixels
        if photo.shape[-1] == 1:
            photo = photo.repeat(3, axis=-1)
    common = dict(opset=args.opset or DEFAULT_OPSET, ema=args.ema, verify=args.verify,
                  static_shape=tuple(args.static_shape) if args.static_shape else None,
                  batchnorm_mode=args.batchnorm, exporter=args.exporter, photo=photo)
    precisions = parse_precisions(args.precision)
    if precisions != ["fp32"]:
        common.update(precisions=precisions, calibration=args.calibration, fidelity_images=args.fidelity_images,
                      calibration_count=args.calibration_count,
                      gates={"bf16": Gate(args.min_psnr_bf16, args.min_worst_psnr),
                             "int8": Gate(args.min_psnr_int8, args.min_worst_psnr)})
    elif args.calibration or args.fidelity_images:
        raise ConfigError("--calibration and --fidelity-images measure bf16/int8 variants; add --precision "
                          "fp32,bf16,int8 (or the ones you want)")
    if args.repo:
        reports = export_to_repository(args.checkpoint, args.repo, args.name, version=args.version,
                                       direction=args.direction, force=args.force,
                                       max_batch_size=args.max_batch_size, **common)
    else:
        out = Path(args.output)
        directions = [args.direction]
        if args.direction == "both" or args.direction is None:
            from translate.checkpoint import load_checkpoint

            stored = [p.get("direction", "") for p in load_checkpoint(args.checkpoint)["processing"].values()]
            if len(stored) > 1:
                directions = stored
            elif args.direction == "both":
                raise ConfigError("--direction both needs a checkpoint with two generators (CycleGAN)")
        check_variant_request(common, directions)
        reports = []
        for d in directions:
            path = out if len(directions) == 1 else out.with_name(f"{out.stem}-{d}{out.suffix}")
            reports.append(export_onnx(args.checkpoint, path, direction=d, force=args.force, **common))
    for r in reports:
        print(r.summary())
        print(f"wrote {r.path}" + "".join(f" and {p}" for p in r.variant_paths.values()))
    return 0
