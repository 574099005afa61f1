"""``translate generate``: sample images from an unconditional or class-conditional generator.

Seeds name latent vectors (:func:`translate.latents.seed_latents`), so a seed gives the
same image on every run, locally (:class:`translate.processors.LocalGenerator`) and through the
server (the remote processor of ``serving.remote``, found through
:func:`translate.plugins.remote`). ``--interpolate A,B`` walks the latent space from seed A to
seed B by spherical interpolation, as in the latent walks of the DCGAN paper (Radford et al.
2016, sec. 6.1; slerp as recommended by White 2016, "Sampling Generative Networks"), and writes
the frames plus one strip image.

Class-conditional models take ``--class NAME``: the name of a class as the model records it
(``ModelInfo.class_names``: the training data's class folder or IDX label, e.g. ``--class 7`` for
the folder ``7/``). Names match exactly, as strings, so ``7`` is never read as "label number 7"
of a model whose classes are named otherwise; models exported before names were recorded are
named by their label numbers. ``translate info MODEL`` lists the names.
"""

from __future__ import annotations

import argparse
from pathlib import Path

GRID_MAX = 1024  # a contact grid is held in memory as one image: keep it to a size a viewer opens


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``translate generate`` (no torch, ONNX Runtime or grpc at parser time)."""
    from translate.backends import DEVICES

    p.add_argument("--model", "-m", required=True,
                   help="an exported .onnx generator, a dcgan checkpoint, or with --server a model name")
    p.add_argument("--server", metavar="ADDR", help="generate on a running server (host:port)")
    p.add_argument("--tls-ca", metavar="FILE", help="with --server: CA certificate (PEM) to trust; enables TLS")
    p.add_argument("--token-file", metavar="FILE", help="with --server: file holding the bearer token")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--seeds", help="seeds like '0-99,120' (ranges inclusive)")
    src.add_argument("--count", type=int, help="N images from seeds S, S+1, ..., S+N-1 (with --seed S)")
    src.add_argument("--interpolate", metavar="SEED_A,SEED_B", help="walk from seed A's latent to seed B's")
    p.add_argument("--seed", type=int, default=0, help="first seed for --count (default 0)")
    p.add_argument("--steps", type=int, default=8, help="frames of --interpolate, both ends included (default 8)")
    p.add_argument("--truncation", type=float, metavar="PSI",
                   help="resample latent entries with |z| > PSI (the truncation trick); smaller = safer, less varied")
    p.add_argument("--class", dest="class_name", metavar="NAME",
                   help="class-conditional models: the class to draw, by name (`translate info MODEL` lists them)")
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.add_argument("--grid", metavar="FILE.png", help="also write all images as one contact grid")
    p.add_argument("--device", choices=DEVICES, default="auto", help="local device (default auto)")


def _parse_pair(text: str) -> tuple[int, int]:
    from translate.errors import ConfigError
    from translate.seeds import parse_seeds

    parts = text.split(",")
    if len(parts) != 2:
        raise ConfigError(f"--interpolate takes two seeds like '3,17', got {text!r}")
    a, b = (parse_seeds(s) for s in parts)
    if len(a) != 1 or len(b) != 1:
        raise ConfigError(f"--interpolate takes two single seeds like '3,17', got {text!r}")
    return a[0], b[0]


def main(args: argparse.Namespace) -> int:
    """Generate, write one PNG per image (plus the strip / grid), print what was written."""
    from translate.errors import ConfigError
    from translate.images import contact_grid, write_image
    from translate.processors import class_suffix
    from translate.seeds import parse_seeds, seeds_from_count

    if args.server is None and (args.tls_ca or args.token_file):
        raise ConfigError("--tls-ca and --token-file only apply with --server ADDR")
    if args.server is not None and args.device != "auto":
        raise ConfigError("--device applies to local models; the server picks its own device")
    if args.truncation is not None and not args.truncation > 0:
        raise ConfigError(f"--truncation must be > 0, got {args.truncation}")
    if args.grid is not None and Path(args.grid).suffix.lower() != ".png":
        raise ConfigError(f"--grid writes a PNG; give a file name ending in .png (got {args.grid})")
    if args.interpolate is not None:
        pair = _parse_pair(args.interpolate)
        if args.steps < 2:
            raise ConfigError(f"--steps must be >= 2 (both ends are frames), got {args.steps}")
        seeds = list(pair)
    else:
        pair = None
        seeds = parse_seeds(args.seeds) if args.seeds is not None else seeds_from_count(args.count, args.seed)
    if args.grid is not None and len(seeds) > GRID_MAX:
        raise ConfigError(f"--grid takes at most {GRID_MAX} images (asked for {len(seeds)}); "
                          "generate the grid from a shorter --seeds list")
    if args.server is None and not Path(args.model).exists():
        raise ConfigError(f"model {args.model!r} not found; give an .onnx file or a checkpoint "
                          "(or a model name together with --server ADDR)")

    source = _open_source(args)
    try:
        if source.info.task != "generate":
            raise ConfigError(f"{args.model} is a {source.info.task} model; `translate generate` needs a generator "
                              "(use `translate run` for translators)")
        label = _class_label(source.info, args.class_name)
        out = Path(args.output)
        out.mkdir(parents=True, exist_ok=True)
        suffix = class_suffix(args.class_name)
        written: list = []
        if pair is not None:
            frames = source.interpolate(pair[0], pair[1], args.steps, label=label,
                                        truncation=args.truncation)
            stem = f"interp-{pair[0]}-{pair[1]}{suffix}"
            for k, img in enumerate(frames):
                write_image(img, out / f"{stem}-{k:03d}.png", fmt="png")
            write_image(contact_grid(frames, columns=len(frames)), out / f"{stem}.png", fmt="png")
            written = frames
            print(f"wrote {len(frames)} frames and the strip {out / (stem + '.png')}")
        else:
            for start in range(0, len(seeds), source.chunk):
                chunk = seeds[start:start + source.chunk]
                images = source.generate(chunk, label=label, truncation=args.truncation)
                for seed, img in zip(chunk, images):
                    write_image(img, out / f"seed{seed:06d}{suffix}.png", fmt="png")
                if args.grid is not None:
                    written.extend(images)
            print(f"wrote {len(seeds)} images to {out}")
        if args.grid is not None:
            write_image(contact_grid(written), Path(args.grid), fmt="png")
            print(f"wrote grid {args.grid}")
    finally:
        source.close()
    return 0


def _class_label(info, name: str | None) -> int | None:
    """The label number for ``--class NAME`` (None for an unconditional model); LabelError says what fits."""
    from translate.errors import LabelError

    if name is None:
        if info.num_classes:
            shown = ", ".join(info.class_names[:20]) + (" ..." if info.num_classes > 20 else "")
            raise LabelError(f"this model is class-conditional ({info.num_classes} classes): pass --class NAME "
                             f"with one of: {shown}")
        return None
    return info.label_of(name, what="--class")


def _open_source(args: argparse.Namespace):
    """The GenerateProcessor for ``args``: the server's (``--server``) or a local model's."""
    if args.server is not None:
        from translate.plugins import remote

        return remote("generate").connect(args.server, args.model, tls_ca=args.tls_ca, token_file=args.token_file)
    from translate.processors import LocalGenerator

    return LocalGenerator(args.model, device=args.device)
