"""``translate run``: translate a file, a folder or a glob of images, locally or through the server.

Thin shell over :mod:`translate.batch` (pipeline, skipping, failures) and
:mod:`translate.inference` (local models). With ``--server`` the images go to the gRPC server
(proto/translate/v1), which decodes, pads and tiles them with the same ``translate.images``
code, so both modes give the same pixels. ``serving`` is imported only in that case.
Exit codes: 0 every file done (or skipped), 1 some failed, 2 usage error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DEFAULT_TILE = 512  # output-side pixels per tile: bounds memory whatever the input size
DEFAULT_OVERLAP = 32


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``translate run`` (argparse only: heavy imports wait for :func:`main`)."""
    p.add_argument("--model", "-m", required=True,
                   help="an exported .onnx file, a training checkpoint, or with --server a model name")
    p.add_argument("-i", "--input", required=True, help="an image file, a folder, or a quoted glob ('in/*.jpg')")
    p.add_argument("-o", "--output", required=True, help="output folder (sub-folders of INPUT are kept)")
    p.add_argument("--server", metavar="ADDR", help="translate through a running server (host:port)")
    p.add_argument("--tls-ca", metavar="FILE", help="with --server: CA certificate (PEM) to trust; enables TLS")
    p.add_argument("--token-file", metavar="FILE", help="with --server: file holding the bearer token")
    p.add_argument("--recursive", "-r", action="store_true", help="also take images in sub-folders (and ** globs)")
    p.add_argument("--direction", choices=("AtoB", "BtoA"),
                   help="which generator of a CycleGAN checkpoint (required there); with an .onnx file or "
                        "--server it is checked against the model's direction")
    p.add_argument("--format", default="png", choices=("png", "jpg", "webp", "same"),
                   help="output format (default png). 'same' keeps the input's format (by its suffix: PNG, JPEG, "
                        "WebP, BMP, TIFF; PNG for others); a result with alpha is written as PNG when the format "
                        "cannot hold alpha (JPEG, BMP)")
    p.add_argument("--tile", type=int, default=None,
                   help=f"process images larger than N pixels (a side) in N x N tiles with blended overlaps; "
                        f"default {DEFAULT_TILE} for translators and {DEFAULT_TILE}/scale (at least 64) for "
                        "super-resolvers, so memory stays bounded; 0 = never tile")
    p.add_argument("--tile-overlap", type=int, default=None, metavar="M",
                   help=f"overlap between tiles in input pixels (default {DEFAULT_OVERLAP}, /scale for SR)")
    p.add_argument("--batch-size", type=int, default=4, metavar="B", help="tiles per model call (default 4)")
    p.add_argument("--jobs", "-j", type=int, default=2, metavar="J",
                   help="threads that decode and encode while the model runs; with --server also the "
                        "number of requests in flight (default 2)")
    p.add_argument("--overwrite", action="store_true", help="redo outputs that already exist (default: skip them)")
    p.add_argument("--fail-fast", action="store_true", help="stop at the first file that fails")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="local inference device (default auto: CUDA when a GPU is present)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (it is shown on terminals)")


def _check_usage(args: argparse.Namespace) -> None:
    from translate.errors import ConfigError

    if args.server is None and (args.tls_ca or args.token_file):
        raise ConfigError("--tls-ca and --token-file only apply with --server ADDR")
    for flag, value in (("--tls-ca", args.tls_ca), ("--token-file", args.token_file)):
        if value is not None and not Path(value).is_file():
            raise ConfigError(f"{flag} {value}: no such file")
    if args.tile is not None and args.tile < 0:
        raise ConfigError(f"--tile must be >= 0 (0 = never tile), got {args.tile}")
    if args.tile_overlap is not None and args.tile_overlap < 0:
        raise ConfigError(f"--tile-overlap must be >= 0, got {args.tile_overlap}")
    if args.tile and args.tile_overlap is not None and 2 * args.tile_overlap >= args.tile:
        raise ConfigError(f"--tile-overlap {args.tile_overlap} must be less than half of --tile {args.tile}")
    if args.batch_size < 1 or args.jobs < 1:
        raise ConfigError("--batch-size and --jobs must be >= 1")
    if args.server is not None and args.device != "auto":
        raise ConfigError("--device applies to local models; the server picks its own device")
    if args.server is None and not Path(args.model).exists():
        raise ConfigError(f"model {args.model!r} not found; give an .onnx file or a checkpoint "
                          "(or a model name together with --server ADDR)")


def read_token(path: str | None) -> str | None:
    """The bearer token in ``path``: its first line that is neither empty nor a ``#`` comment."""
    from translate.errors import ConfigError

    if path is None:
        return None
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read --token-file {path}: {exc.strerror or exc}") from exc
    for line in lines:
        if line.strip() and not line.strip().startswith("#"):
            return line.strip()
    raise ConfigError(f"--token-file {path} holds no token (put the token on the first line)")


def tiling_for(scale: int, tile: int | None, overlap: int | None) -> tuple[int | None, int]:
    """Tile side and overlap in input pixels; defaults keep tiles near 512 output pixels; ``tile=0`` = never tile."""
    if tile is None:
        tile = max(64, DEFAULT_TILE // max(1, scale))
    if overlap is None:
        overlap = max(8, DEFAULT_OVERLAP // max(1, scale))
        if tile and 2 * overlap >= tile:
            overlap = tile // 4
    return (tile or None), overlap


def main(args: argparse.Namespace) -> int:
    """Run the batch and print failures and the summary line; returns the exit code."""
    from translate.batch import BatchResult, plan_batch, run_plan

    _check_usage(args)
    # Inputs first: a typo in -i is reported at once, and a finished batch needs no model at all.
    plan = plan_batch(args.input, args.output, fmt=args.format, recursive=args.recursive, overwrite=args.overwrite)
    if not plan.todo:
        result = BatchResult(skipped=len(plan.jobs))
        print(result.summary())
        return result.exit_code
    if args.server is not None:
        processor = RemoteTranslate.connect(args.server, args.model, tls_ca=args.tls_ca, token_file=args.token_file,
                                            direction=args.direction, tile=args.tile, overlap=args.tile_overlap,
                                            jobs=args.jobs)
    else:
        processor = LocalTranslate.load_model(args.model, direction=args.direction, device=args.device,
                                              tile=args.tile, overlap=args.tile_overlap, batch_size=args.batch_size)
    try:
        result = run_plan(plan, processor, fail_fast=args.fail_fast, jobs=args.jobs,
                          progress=False if args.no_progress else None)
    except KeyboardInterrupt:
        print("stopped: every output written so far is complete (atomic writes); run the same command again "
              "to continue where it stopped", file=sys.stderr)
        raise
    finally:
        processor.close()
    for failure in result.failed:
        print(f"FAILED {failure.path}: {failure.reason}")
    print(result.summary())
    return result.exit_code


class LocalTranslate:
    """Processor for :func:`translate.batch.run_batch` on a local model: decode in loaders, translate in one thread.

    The translation is ``translate.images.apply_model`` (prepare, whole or tiled, finish): the
    same function ``Translator`` and the server call.
    """

    concurrency = 1  # ONNX Runtime / torch already use every core for one call

    def __init__(self, backend, *, tile: int | None, overlap: int, batch_size: int = 4) -> None:
        from translate.errors import ConfigError

        if backend.info.task == "generate":
            raise ConfigError("this model generates images from latents; use `translate generate`, not `run`")
        self.backend, self.tile, self.overlap, self.batch_size = backend, tile, overlap, batch_size

    @classmethod
    def load_model(cls, model: str, *, direction: str | None, device: str, tile: int | None, overlap: int | None,
                   batch_size: int) -> LocalTranslate:
        """Load an .onnx file (ONNX Runtime) or a checkpoint (PyTorch) and pick the tiling for its scale."""
        from translate.inference import load_backend

        backend = load_backend(model, direction=direction, device=device)
        tile, overlap = tiling_for(backend.info.scale, tile, overlap)
        return cls(backend, tile=tile, overlap=overlap, batch_size=batch_size)

    def load(self, path: Path):
        """Read and decode (EXIF orientation, grey/RGBA, size limits: all in translate.images)."""
        from translate.images import read_image

        return read_image(path)

    def __call__(self, img):
        """Translate one decoded image (padding and tiling inside)."""
        from translate.images import apply_model

        return apply_model(self.backend, img, self.backend.info, tile=self.tile, overlap=self.overlap,
                           batch_size=self.batch_size)

    def close(self) -> None:
        """Release the model."""
        self.backend.close()


class RemoteTranslate:
    """Processor that sends each file's original bytes to the server and decodes the PNG it returns.

    The server decodes with the same ``translate.images`` code as :class:`LocalTranslate`, is
    told the same tiling (``always`` with our tile size: a tile larger than the image runs it
    whole, exactly like ``apply_model``), and answers in lossless PNG; the output format is then
    applied here by the same ``write_image`` as locally. So both modes write the same pixels.
    """

    def __init__(self, client, model: str, *, tile: int | None, overlap: int, jobs: int) -> None:
        self.client, self.model, self.tile, self.overlap = client, model, tile, overlap
        self.concurrency = jobs  # requests in flight: the server's batcher groups them

    @classmethod
    def connect(cls, address: str, model: str, *, tls_ca: str | None, token_file: str | None, direction: str | None,
                tile: int | None, overlap: int | None, jobs: int) -> RemoteTranslate:
        """Connect (``serving.client`` is imported here only) and check that ``model`` is a translator."""
        from serving.client import TranslateClient
        from translate.errors import ConfigError, ModelError

        client = TranslateClient(address, tls_ca=tls_ca, token=read_token(token_file))
        try:
            desc = client.get_model(model)
            if desc.task == "generate":
                raise ConfigError(f"server model {model!r} generates images from latents; use `translate generate`")
            if direction and desc.direction and desc.direction != direction:
                raise ModelError(f"server model {model!r} translates {desc.direction}, not {direction}; "
                                 "pick the model of the other direction (see `translate serve` model list)")
        except BaseException:
            client.close()
            raise
        tile, overlap = tiling_for(desc.scale or 1, tile, overlap)
        if tile and overlap == 0:  # on the wire 0 means "the server's default"
            client.close()
            raise ConfigError("--tile-overlap 0 cannot be sent to a server (0 means its default there); use >= 1")
        return cls(client, model, tile=tile, overlap=overlap, jobs=jobs)

    def load(self, path: Path) -> bytes:
        """The file's bytes, unchanged (EXIF orientation is applied by the server's decoder)."""
        try:
            return path.read_bytes()
        except OSError as exc:
            from translate.errors import ImageError

            raise ImageError(f"cannot read image file {path}: {exc.strerror or exc}") from None

    def __call__(self, data: bytes):
        """Translate remotely; returns a decoded ``translate.images.Image``."""
        from translate.images import decode_image

        if self.tile is None:
            res = self.client.translate(data, self.model, output_format="png", tiling="never")
        else:
            res = self.client.translate(data, self.model, output_format="png", tiling="always",
                                        tile_size=self.tile, overlap=self.overlap)
        return decode_image(res.image, max_pixels=None)  # our server's own output: no bomb check needed

    def close(self) -> None:
        """Close the channel."""
        self.client.close()
