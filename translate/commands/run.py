"""``translate run``: translate a file, a folder or a glob of images, locally or through the server.

Thin shell: :mod:`translate.batch` plans the work and runs the pipeline (skipping, failures),
a processor does each file: :class:`translate.processors.LocalTranslate` on a local model, or
with ``--server`` the remote processor registered by the server package (``serving.remote``,
found through :func:`translate.plugins.remote`), whose server decodes, pads and tiles with the
same ``translate.images`` code, so both modes give the same pixels.
Exit codes: 0 every file done (or skipped), 1 some failed, 2 usage error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

_STOPPED = ("stopped: every output written so far is complete (atomic writes); run the same command again "
            "to continue where it stopped")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``translate run`` (no torch, ONNX Runtime or grpc at parser time: they wait for :func:`main`)."""
    from translate.backends import BACKENDS, DEVICES, PRECISIONS
    from translate.batch import OUTPUT_FORMATS
    from translate.images.tiling import DEFAULT_OVERLAP, DEFAULT_TILE

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
    p.add_argument("--format", default="png", choices=OUTPUT_FORMATS,
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
                        "number of requests in flight (default 2); --engine ray sizes its own read and write tasks")
    p.add_argument("--overwrite", action="store_true", help="redo outputs that already exist (default: skip them)")
    p.add_argument("--fail-fast", action="store_true", help="stop at the first file that fails")
    p.add_argument("--device", choices=DEVICES, default="auto",
                   help="local inference device (default auto: CUDA when a GPU is present)")
    p.add_argument("--backend", choices=("auto", *BACKENDS), default="auto",
                   help="runtime of an exported model: auto (default) takes the fastest variant measured on this "
                        "machine among those that passed their fidelity gate at export, else onnxruntime")
    p.add_argument("--precision", choices=("auto", *PRECISIONS), default="auto",
                   help="fp32, bf16 or int8 (the variants `translate export --precision` measured); auto: see "
                        "--backend. An explicit choice this machine or model cannot run is an error")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (it is shown on terminals)")
    from translate.threads import THREADS_HELP, parse_threads

    p.add_argument("--threads", type=parse_threads, metavar="N|auto",
                   help=f"local model: {THREADS_HELP} (auto: every usable core for an .onnx file; for a checkpoint, "
                        "as many as the 1-minute load average leaves free)")
    ray = p.add_argument_group("on a Ray cluster (--engine ray; needs the extra: pip install 'translate[ray]')")
    ray.add_argument("--engine", choices=("local", "ray"), default="local",
                     help="local: threads in this process (default); ray: Ray Data reads, an actor pool runs the "
                          "model and tasks write, on a local or remote Ray cluster; INPUT and OUTPUT may then also "
                          "be object-store URIs (s3://, gs://, ...)")
    ray.add_argument("--address", metavar="ADDR",
                     help="Ray cluster to join (host:port, ray://host:10001, auto; default: RAY_ADDRESS, else a new "
                          "local cluster)")
    ray.add_argument("--ray-actors", type=int, metavar="N",
                     help="model actors (default: the cluster's CPUs minus a quarter kept for reading and writing; "
                          "one per GPU with --device cuda)")
    ray.add_argument("--ray-actor-cpus", type=int, metavar="C",
                     help="CPUs each model actor reserves and the threads its runtime uses (default 1)")


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
    if args.threads is not None and (args.server is not None or args.engine == "ray"):
        raise ConfigError("--threads applies to local models: the server has its own --threads, and with "
                          "--engine ray each model actor uses --ray-actor-cpus threads")
    chosen = [f for f, v in (("--backend", args.backend), ("--precision", args.precision)) if v != "auto"]
    if chosen and args.server is not None:
        raise ConfigError(f"{' and '.join(chosen)} apply to local models; the server chooses its own "
                          "(translate serve --backend/--precision)")
    if chosen and args.engine == "ray":
        raise ConfigError(f"{' and '.join(chosen)} apply to --engine local; Ray's model actors choose automatically")
    ray_flags = [f for f, v in (("--address", args.address), ("--ray-actors", args.ray_actors),
                                ("--ray-actor-cpus", args.ray_actor_cpus)) if v is not None]
    if args.engine != "ray" and ray_flags:
        raise ConfigError(f"{', '.join(ray_flags)} only apply with --engine ray")
    if args.engine == "ray" and args.server is not None:
        raise ConfigError("--engine ray runs the model on the Ray cluster; it cannot be combined with --server")
    if args.server is None and not Path(args.model).exists():
        raise ConfigError(f"model {args.model!r} not found; give an .onnx file or a checkpoint "
                          "(or a model name together with --server ADDR)")


def main(args: argparse.Namespace) -> int:
    """Run the batch and print failures and the summary line; returns the exit code."""
    from translate.batch import BatchResult, plan_batch, run_plan

    _check_usage(args)
    if args.engine == "ray":
        try:
            return _report(_run_on_ray(args))
        except KeyboardInterrupt:
            print(_STOPPED, file=sys.stderr)
            raise
    # Inputs first: a typo in -i is reported at once, and a finished batch needs no model at all.
    plan = plan_batch(args.input, args.output, fmt=args.format, recursive=args.recursive, overwrite=args.overwrite)
    if not plan.todo:
        result = BatchResult(skipped=len(plan.jobs))
        print(result.summary())
        return result.exit_code
    if args.server is not None:
        from translate.plugins import remote

        processor = remote("translate").connect(args.server, args.model, tls_ca=args.tls_ca,
                                                token_file=args.token_file, direction=args.direction, tile=args.tile,
                                                overlap=args.tile_overlap, jobs=args.jobs)
    else:
        from translate.processors import LocalTranslate

        processor = LocalTranslate.load_model(args.model, direction=args.direction, device=args.device,
                                              tile=args.tile, overlap=args.tile_overlap, batch_size=args.batch_size,
                                              threads=_local_threads(args), backend=args.backend,
                                              precision=args.precision)
    try:
        result = run_plan(plan, processor, fail_fast=args.fail_fast, jobs=args.jobs,
                          progress=False if args.no_progress else None)
    except KeyboardInterrupt:
        print(_STOPPED, file=sys.stderr)
        raise
    finally:
        processor.close()
    return _report(result)


def _local_threads(args: argparse.Namespace) -> int:
    """``--threads`` for a local model, logged: ONNX Runtime's session threads for an .onnx file; for a
    checkpoint, PyTorch's threads (set here)."""
    from translate.modelrepo import resolve_model_path
    from translate.threads import inference_threads, set_torch_threads

    if resolve_model_path(args.model).suffix == ".onnx":
        return inference_threads(args.threads).threads
    return set_torch_threads(args.threads).threads


def _run_on_ray(args: argparse.Namespace):
    """``--engine ray``: the same plan and outputs, computed on a Ray cluster (:mod:`translate.batch_ray`)."""
    from translate.batch import BatchResult
    from translate.batch_ray import RayOptions, plan_rows, require_ray, run_rows

    require_ray()  # before any listing: a missing extra is the first thing to hear about
    rows, finished = plan_rows(args.input, args.output, fmt=args.format, recursive=args.recursive,
                               overwrite=args.overwrite)
    if not rows:
        return BatchResult(skipped=finished)
    options = RayOptions(address=args.address, actors=args.ray_actors,
                         actor_cpus=1 if args.ray_actor_cpus is None else args.ray_actor_cpus)
    result = run_rows(rows, args.model, direction=args.direction, device=args.device, tile=args.tile,
                      overlap=args.tile_overlap, batch_size=args.batch_size, fail_fast=args.fail_fast,
                      progress=False if args.no_progress else None, options=options)
    result.skipped += finished
    return result


def _report(result) -> int:
    """Print one FAILED line per failure and the summary line; returns the exit code."""
    for failure in result.failed:
        print(f"FAILED {failure.path}: {failure.reason}")
    print(result.summary())
    return result.exit_code

