"""``translate import-checkpoint``: a pytorch-CycleGAN-and-pix2pix generator -> our checkpoint.

That project saves bare state_dicts (``latest_net_G.pth``, ``latest_net_G_A.pth`` ...) whose
architecture has to be re-typed as flags at test time. This command asks for those flags once,
checks the weights fit them strictly, and writes a self-describing translate checkpoint that
``translate export`` / ``translate run`` use without further flags.

    translate import-checkpoint horse2zebra.pth --family cyclegan --arch resnet_9blocks -o h2z.ckpt
"""

from __future__ import annotations

import argparse

GENERATOR_ARCHS = ("resnet_9blocks", "resnet_6blocks", "unet_128", "unet_256")
DEFAULT_NORM = {"cyclegan": "instance", "pix2pix": "batch"}  # the reference's --norm defaults


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags mirror the reference project's --netG / --norm / --no_dropout / --direction options."""
    parser.add_argument("ref", metavar="REF.pth", help="bare generator state_dict from pytorch-CycleGAN-and-pix2pix")
    parser.add_argument("--family", required=True, choices=("cyclegan", "pix2pix"),
                        help="model family it was trained as")
    parser.add_argument("--arch", required=True, choices=GENERATOR_ARCHS, help="the reference's --netG")
    parser.add_argument("--in-channels", type=int, default=3, help="the reference's --input_nc (default 3)")
    parser.add_argument("--out-channels", type=int, default=3, help="the reference's --output_nc (default 3)")
    parser.add_argument("--ngf", type=int, default=64, help="generator width (default 64)")
    parser.add_argument("--norm", choices=("instance", "batch"), default=None,
                        help="normalisation (default: instance for cyclegan, batch for pix2pix, as in the reference)")
    parser.add_argument("--no-dropout", action="store_true",
                        help="the model was trained with --no_dropout (default for cyclegan; pix2pix uses dropout)")
    parser.add_argument("--direction", choices=("AtoB", "BtoA"), default="AtoB",
                        help="what the generator maps; a CycleGAN G_B file is BtoA (default AtoB)")
    parser.add_argument("--batchnorm-mode", choices=("running", "batch"), default=None,
                        help="batch-norm statistics at inference; default 'batch' for pix2pix with batch norm, "
                             "as its authors tested (train-mode statistics), else 'running'")
    parser.add_argument("-o", "--output", required=True, help="path of the translate checkpoint to write")
    parser.add_argument("--force", action="store_true", help="overwrite OUTPUT if it exists")


def main(args: argparse.Namespace) -> int:
    """Convert, verify (strict load) and write the checkpoint; returns the exit code."""
    import hashlib
    import logging
    from pathlib import Path

    import torch

    from translate.checkpoint import FORMAT_NAME, build_checkpoint, save_checkpoint
    from translate.errors import CheckpointError, ConfigError
    from translate.modelinfo import ModelInfo
    from translate.nets import build_network
    from translate.nets.reference import load_reference_state_dict, reference_generator_kwargs

    log = logging.getLogger("translate.import_checkpoint")
    src, out = Path(args.ref), Path(args.output)
    if not src.is_file():
        raise ConfigError(f"{src} does not exist or is not a file")
    if out.exists() and not args.force:
        raise ConfigError(f"{out} already exists; pass --force to overwrite it")
    if min(args.in_channels, args.out_channels, args.ngf) < 1:
        raise ConfigError("--in-channels, --out-channels and --ngf must be positive")

    try:
        state = torch.load(src, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for non-torch, truncated or pickled-code files
        first_line = str(exc).splitlines()[0] if str(exc) else ""
        raise CheckpointError(
            f"cannot read {src} as a PyTorch state_dict ({type(exc).__name__}: {first_line}); "
            "is it a complete .pth file from pytorch-CycleGAN-and-pix2pix?"
        ) from exc
    if isinstance(state, dict) and state.get("format") == FORMAT_NAME:
        raise CheckpointError(f"{src} is already a translate checkpoint; use it directly")
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{src} is not a bare state_dict (a dict of tensors), so it is not a reference generator")

    norm = args.norm or DEFAULT_NORM[args.family]
    use_dropout = args.family == "pix2pix" and not args.no_dropout
    kwargs = reference_generator_kwargs(args.arch, in_channels=args.in_channels, out_channels=args.out_channels,
                                        ngf=args.ngf, norm=norm, use_dropout=use_dropout)
    net = build_network(args.arch, **kwargs)
    dropped = load_reference_state_dict(net, state, source=str(src), arch=args.arch, ngf=args.ngf,
                                        in_channels=args.in_channels, out_channels=args.out_channels)
    if dropped:
        log.info("note: dropped %d InstanceNorm running-stat keys (e.g. %s); old reference checkpoints carry them, "
                 "instance norm here always uses per-image statistics", len(dropped), dropped[0])
    net.eval()

    bn_mode = args.batchnorm_mode or ("batch" if args.family == "pix2pix" and norm == "batch" else "running")
    sha256 = hashlib.sha256(src.read_bytes()).hexdigest()
    provenance = {"source": "pytorch-CycleGAN-and-pix2pix", "imported_from": src.name, "sha256": sha256}
    info = ModelInfo(family=args.family, task="translate", in_channels=args.in_channels,
                     out_channels=args.out_channels, pad_multiple=net.pad_multiple, direction=args.direction,
                     batchnorm_mode=bn_mode, provenance=provenance)
    # contract names: pix2pix G; CycleGAN G_A maps A->B, G_B maps B->A
    name = "G" if args.family == "pix2pix" else ("G_A" if args.direction == "AtoB" else "G_B")
    reference_options = {"netG": args.arch, "norm": norm, "no_dropout": not use_dropout, "input_nc": args.in_channels,
                         "output_nc": args.out_channels, "ngf": args.ngf, "direction": args.direction}
    ckpt = build_checkpoint(args.family, {name: net}, {name: info},
                            config={"imported": reference_options}, provenance=provenance)
    save_checkpoint(ckpt, out)
    n_params = sum(p.numel() for p in net.parameters())
    print(f"wrote {out}: {args.family} {name} = {args.arch} ({n_params:,} parameters, norm {norm}, "
          f"{args.direction}, pad to multiple of {net.pad_multiple})")
    return 0
