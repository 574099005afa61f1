"""``translate generate``: sample images from an unconditional or class-conditional generator.

Seeds name latent vectors (``translate.inference.Sampler.seed_latents``), so a seed gives the
same image on every run, locally and through the server. ``--interpolate A,B`` walks the latent
space from seed A to seed B by spherical interpolation, as in the latent walks of the DCGAN
paper (Radford et al. 2016, sec. 6.1; slerp as recommended by White 2016, "Sampling
Generative Networks"), and writes the frames plus one strip image.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

CHUNK = 64  # latents per model call: memory stays bounded however many seeds are asked for
GRID_MAX = 1024  # a contact grid is held in memory as one image: keep it to a size a viewer opens


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``translate generate`` (argparse only)."""
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
    p.add_argument("--class", dest="class_label", type=int, metavar="C", help="class for class-conditional models")
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.add_argument("--grid", metavar="FILE.png", help="also write all images as one contact grid")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="local device (default auto)")


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


def check_label(class_label: int | None, num_classes: int) -> None:
    """ConfigError unless ``class_label`` fits the model: required iff ``num_classes`` > 0, in [0, num_classes)."""
    from translate.errors import ConfigError

    if num_classes == 0 and class_label is not None:
        raise ConfigError("--class was given but this model is unconditional (num_classes = 0); drop --class")
    if num_classes > 0 and class_label is None:
        raise ConfigError(f"this model is class-conditional: pass --class C with C in 0..{num_classes - 1}")
    if num_classes > 0 and not 0 <= class_label < num_classes:
        raise ConfigError(f"--class {class_label} is out of range: this model has classes 0..{num_classes - 1}")


def contact_grid(images: list, columns: int | None = None, gap: int = 2):
    """One image holding ``images`` (same size) in rows of ``columns`` (default: a near-square grid), white gaps."""
    import numpy as np

    from translate.images import Image

    if not images:
        raise ValueError("contact_grid needs at least one image")
    h, w, c = images[0].pixels.shape  # [H, W, C]
    columns = columns or math.ceil(math.sqrt(len(images)))
    rows = math.ceil(len(images) / columns)
    grid = np.full((rows * h + (rows - 1) * gap, columns * w + (columns - 1) * gap, c), 255, np.uint8)
    for k, img in enumerate(images):
        assert img.pixels.shape == (h, w, c), "contact_grid: images differ in size"
        r, col = divmod(k, columns)
        grid[r * (h + gap):r * (h + gap) + h, col * (w + gap):col * (w + gap) + w] = img.pixels
    return Image(pixels=grid, alpha=None, format=None)


def main(args: argparse.Namespace) -> int:
    """Generate, write one PNG per image (plus the strip / grid), print what was written."""
    from translate.errors import ConfigError
    from translate.images import write_image
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
        if source.task != "generate":
            raise ConfigError(f"{args.model} is a {source.task} model; `translate generate` needs a generator "
                              "(use `translate run` for translators)")
        check_label(args.class_label, source.num_classes)
        out = Path(args.output)
        out.mkdir(parents=True, exist_ok=True)
        suffix = "" if args.class_label is None else f"-class{args.class_label}"
        written: list = []
        if pair is not None:
            frames = source.interpolate(pair[0], pair[1], args.steps, label=args.class_label,
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
                images = source.generate(chunk, label=args.class_label, truncation=args.truncation)
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


def _open_source(args: argparse.Namespace):
    if args.server is not None:
        return RemoteGenerator.connect(args.server, args.model, tls_ca=args.tls_ca, token_file=args.token_file)
    return LocalGenerator(args.model, device=args.device)


class LocalGenerator:
    """Generator source backed by a local model (``translate.inference.Sampler``)."""

    def __init__(self, model: str, device: str = "auto") -> None:
        from translate.inference import Sampler, load_backend

        self.backend = load_backend(model, device=device)
        info = self.backend.info
        self.task, self.num_classes, self.latent_size = info.task, info.num_classes, info.latent_size
        self.chunk = CHUNK
        self.sampler = Sampler(self.backend) if self.task == "generate" else None

    def generate(self, seeds: list[int], *, label: int | None, truncation: float | None) -> list:
        """One image per seed."""
        return self.sampler.generate(seeds=seeds, labels=label, truncation=truncation)

    def interpolate(self, seed_a: int, seed_b: int, steps: int, *, label: int | None,
                    truncation: float | None) -> list:
        """``steps`` images along the great circle from seed A's latent to seed B's."""
        z = latent_walk(seed_a, seed_b, steps, self.latent_size, truncation)
        return self.sampler.generate(z=z, labels=label)

    def close(self) -> None:
        """Release the model."""
        self.backend.close()


class RemoteGenerator:
    """Generator source backed by a server's Generate RPC (same seed rule, so the same pixels)."""

    def __init__(self, client, model: str, description) -> None:
        self.client, self.model = client, model
        self.task, self.num_classes = description.task, description.num_classes
        self.latent_size = description.latent_size
        self.chunk = min(CHUNK, int(description.limits.get("max_generate_count") or CHUNK))

    @classmethod
    def connect(cls, address: str, model: str, *, tls_ca: str | None, token_file: str | None) -> RemoteGenerator:
        """Connect (``serving.client`` is imported here only) and read the model's description."""
        from serving.client import TranslateClient
        from translate.commands.run import read_token

        client = TranslateClient(address, tls_ca=tls_ca, token=read_token(token_file))
        try:
            return cls(client, model, client.get_model(model))
        except BaseException:
            client.close()
            raise

    def generate(self, seeds: list[int], *, label: int | None, truncation: float | None) -> list:
        """One image per seed, computed by the server (lossless PNG)."""
        from translate.images import decode_image

        out = self.client.generate(self.model, seeds=seeds, label=label, truncation=truncation, output_format="png")
        return [decode_image(g.image, max_pixels=None) for g in out]

    def interpolate(self, seed_a: int, seed_b: int, steps: int, *, label: int | None,
                    truncation: float | None) -> list:
        """The walk's latents are computed here (the server's seed rule) and sent as explicit latents."""
        from translate.images import decode_image

        z = latent_walk(seed_a, seed_b, steps, self.latent_size, truncation)
        images = []
        for i in range(0, steps, self.chunk):
            out = self.client.generate(self.model, latents=z[i:i + self.chunk], label=label, output_format="png")
            images += [decode_image(g.image, max_pixels=None) for g in out]
        return images

    def close(self) -> None:
        """Close the channel."""
        self.client.close()


def latent_walk(seed_a: int, seed_b: int, steps: int, nz: int, truncation: float | None):
    """float32 latents [steps, nz] from seed A's to seed B's by slerp, both ends included."""
    import numpy as np

    from translate.inference import seed_latents, slerp

    za, zb = seed_latents([seed_a, seed_b], nz, truncation)
    return slerp(za, zb, np.linspace(0.0, 1.0, steps))  # [steps, nz]
