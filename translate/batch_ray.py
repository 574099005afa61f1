"""Batch translation on a Ray cluster (https://docs.ray.io): ``translate run --engine ray``.

The same batch as the local engine (:mod:`translate.batch`), spread over a cluster with Ray
Data. The driver plans it exactly as the local run does (:func:`translate.batch.plan_batch`:
output names, sub-folders, ``--format``, skip-finished; or the same rules over object-store
URIs, :mod:`translate.uris`), then streams the unfinished jobs through::

    jobs --> [read + decode: tasks] --> [model: actor pool] --> [encode + atomic write: tasks] --> outcomes

Each model actor loads the model once (:class:`translate.processors.LocalTranslate`, the same
``translate.images.apply_model`` and tiling defaults as the local run, so the pixels are the
same) with one ONNX Runtime thread per reserved CPU. Reading and writing are tasks of their own
so that they overlap with the model, and the pool is sized to leave CPUs for them: a pool that
holds every CPU starves the read tasks and the dataset never finishes. A bad file becomes an
outcome row (a ``FAILED`` line), never a failed Ray task, so one corrupt image cannot stop the
batch; reading is done by our tasks rather than ``ray.data.read_binary_files`` for that reason.

The model file is shipped through Ray's object store, so workers need no access to the
driver's disk for it; inputs and outputs must be reachable from every node: a shared
filesystem, or object-store URIs (``s3://...``, ``gs://...``).
"""

from __future__ import annotations

import logging
import os
import pickle
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

from translate.batch import BatchResult, Failure, _reason, discover_inputs, output_target, plan_batch, plan_jobs
from translate.errors import ConfigError
from translate.uris import is_uri

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'translate[ray]'"
IO_TASK_CPUS = 0.5  # read and write tasks mostly wait on storage and the codecs; two share a CPU
BATCH_ROWS = 4  # images per stage call: decoded images in flight stay few, and the work spreads out
MAX_BLOCKS = 2000  # input blocks (units of parallelism); more costs the driver time to create them
_PLAN_COLUMNS = ("name", "src", "out", "alpha_out", "fmt", "check_alpha")


@dataclass(frozen=True)
class RayOptions:
    """How to run on Ray: ``address`` of the cluster (None: ``RAY_ADDRESS`` or a new local one),
    ``actors`` model actors (None: sized from the cluster), ``actor_cpus`` CPUs each actor
    reserves, which is also its ONNX Runtime (or torch) thread count."""

    address: str | None = None
    actors: int | None = None
    actor_cpus: int = 1


def require_ray():
    """Import Ray Data, or say how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise ConfigError(f"--engine ray needs Ray Data, which is not installed ({exc.name}); "
                          f"install the extra: {INSTALL_HINT}") from None
    return ray


# ---------------------------------------------------------------- planning (on the driver)
def plan_rows(input_spec: str, output: str, *, fmt: str, recursive: bool, overwrite: bool) -> tuple[list[dict], int]:
    """The unfinished jobs as plain rows for Ray Data, and how many jobs are finished already.

    Local paths are planned by :func:`translate.batch.plan_batch` itself; URIs (input, output
    or both) by the same :func:`translate.batch.plan_jobs` on relative names, with the listing
    done by :mod:`translate.uris`. Paths in the rows are absolute (Ray workers may run in
    another folder); ``name`` is the input as the local engine names it in ``FAILED`` lines.
    """
    input_spec, output = os.fspath(input_spec), os.fspath(output)
    if not is_uri(input_spec) and not is_uri(output):
        plan = plan_batch(input_spec, output, fmt=fmt, recursive=recursive, overwrite=overwrite)
        rows = [_row(str(j.src), os.path.abspath(j.src), os.path.abspath(j.out),
                     None if j.alpha_out is None else os.path.abspath(j.alpha_out), j.fmt, plan.state[j] is None)
                for j in plan.todo]
        return rows, len(plan.jobs) - len(rows)

    from translate import uris

    if is_uri(input_spec):
        inputs = [(src, Path(rel)) for src, rel in uris.discover(input_spec, recursive=recursive, exclude=output)]
    else:
        out_local = None if is_uri(output) else Path(output)
        inputs = [(str(p), rel) for p, rel in discover_inputs(input_spec, recursive=recursive, exclude=out_local)]
    if is_uri(output):
        existing = set() if overwrite else uris.existing_files(output)
        jobs = plan_jobs([(Path(rel), rel) for _, rel in inputs], Path("."), fmt)  # output names relative to OUT

        def place(rel: Path | None) -> str | None:
            return None if rel is None else uris.join(output, rel.as_posix())

        def state(job) -> bool | None:  # Job.finished(), asked of the listing
            if job.out.as_posix() in existing:
                return True
            return None if job.alpha_out is not None and job.alpha_out.as_posix() in existing else False
    else:
        out_dir = Path(output)
        if out_dir.exists() and not out_dir.is_dir():
            raise ConfigError(f"output {out_dir} exists and is not a folder; -o takes a folder")
        jobs = plan_jobs([(Path(rel), rel) for _, rel in inputs], out_dir, fmt)

        def place(path: Path | None) -> str | None:
            return None if path is None else os.path.abspath(path)

        def state(job) -> bool | None:
            return False if overwrite else job.finished()

    rows = []
    for (src, _rel), job in zip(inputs, jobs):
        finished = state(job)
        if finished is not True:
            location = src if is_uri(src) else os.path.abspath(src)
            rows.append(_row(src, location, place(job.out), place(job.alpha_out), job.fmt, finished is None))
    return rows, len(jobs) - len(rows)


def _row(name: str, src: str, out: str, alpha_out: str | None, fmt: str, check_alpha: bool) -> dict:
    return {"name": name, "src": src, "out": out, "alpha_out": alpha_out or "", "fmt": fmt,
            "check_alpha": bool(check_alpha)}


# ---------------------------------------------------------------- the stages (in Ray workers)
def _schema():
    import pyarrow as pa

    return pa.schema([("name", pa.string()), ("src", pa.string()), ("out", pa.string()), ("alpha_out", pa.string()),
                      ("fmt", pa.string()), ("check_alpha", pa.bool_()), ("error", pa.string()),
                      ("skipped", pa.bool_()), ("payload", pa.large_binary())])


def _table(rows: list[dict]):
    import pyarrow as pa

    return pa.Table.from_pylist(rows, schema=_schema())


def _failure(exc: BaseException, row: dict) -> str:
    """The reason the local engine would print: the same text, naming the input as the user gave it."""
    reason = _reason(exc, Path(row["src"]))
    return reason.replace(row["src"], row["name"]) if row["src"] != row["name"] else reason


def _read(src: str):
    """Read and decode one input (a path or a URI) the way ``LocalTranslate.load`` does."""
    from translate.errors import ImageError
    from translate.images import decode_image, read_image

    if not is_uri(src):
        return read_image(Path(src))
    from translate.uris import read_bytes

    try:
        data = read_bytes(src)
    except OSError as exc:
        raise ImageError(f"cannot read image file {src}: {exc}") from None
    try:
        return decode_image(data)
    except ImageError as exc:
        raise type(exc)(f"{src}: {exc}") from None


def read_stage(batch):
    """Ray Data task: plan rows -> rows with the decoded image (pickled) or the reason it failed."""
    rows = batch.to_pylist()
    for row in rows:
        row.update(error="", skipped=False, payload=b"")
        try:
            img = _read(row["src"])
        except Exception as exc:  # one bad file is one outcome, never a failed task
            row["error"] = _failure(exc, row)
            continue
        if row["check_alpha"] and img.alpha is not None:  # its PNG fallback holds this very result
            row["skipped"] = True
            continue
        row["payload"] = pickle.dumps(img, protocol=pickle.HIGHEST_PROTOCOL)
    return _table(rows)


class ModelActor:
    """Ray Data actor: loads the model once, then translates every row given to it."""

    def __init__(self, model: list, model_name: str, *, direction: str | None, device: str, tile: int | None,
                 overlap: int | None, batch_size: int, threads: int) -> None:
        import ray

        from translate.processors import LocalTranslate

        data = ray.get(model[0])  # the file's bytes, from the object store (wrapped so Ray passes the ref)
        with tempfile.TemporaryDirectory(prefix="translate-model-") as tmp:
            path = Path(tmp) / model_name  # the file's own name, so messages name it
            path.write_bytes(data)
            if path.suffix != ".onnx":  # a checkpoint runs in torch: same thread budget as ONNX Runtime
                import torch

                torch.set_num_threads(threads)
            self.processor = LocalTranslate.load_model(str(path), direction=direction, device=device, tile=tile,
                                                       overlap=overlap, batch_size=batch_size, threads=threads)

    def __call__(self, batch):
        rows = batch.to_pylist()
        for row in rows:
            if row["error"] or row["skipped"]:
                continue
            try:
                result = self.processor(pickle.loads(row["payload"]))
                row["payload"] = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
            except Exception as exc:
                row["error"], row["payload"] = _failure(exc, row), b""
        return _table(rows)


def write_stage(batch):
    """Ray Data task: encode and write each result atomically; rows -> outcomes (name, error, skipped)."""
    import pyarrow as pa

    from translate.images import encode_image, write_image

    rows = batch.to_pylist()
    for row in rows:
        if row["error"] or row["skipped"]:
            continue
        try:
            img = pickle.loads(row["payload"])
            where = SimpleNamespace(out=row["out"], fmt=row["fmt"], alpha_out=row["alpha_out"] or None)
            target, fmt = output_target(where, img.alpha is not None)
            if is_uri(target):
                from translate.uris import write_bytes

                write_bytes(target, encode_image(img, fmt))
            else:
                Path(target).parent.mkdir(parents=True, exist_ok=True)
                write_image(img, Path(target), fmt=fmt)
        except Exception as exc:
            row["error"] = _failure(exc, row)
    return pa.table({"name": [r["name"] for r in rows], "error": [r["error"] for r in rows],
                     "skipped": [r["skipped"] for r in rows]})


# ---------------------------------------------------------------- the driver
def _connect(ray, address: str | None) -> bool:
    """Join (or start) a cluster unless this process already has one; True when this call did."""
    if ray.is_initialized():
        return False
    try:
        ray.init(address=address, logging_level=logging.WARNING)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        where = f"at {address!r}" if address else "(RAY_ADDRESS or a new local one)"
        raise ConfigError(f"cannot start or join a Ray cluster {where}: {exc}; start one with `ray start --head` "
                          "and pass its address, or leave out --address for a local one") from None
    return True


def _pool(ray, options: RayOptions, device: str) -> tuple[int, float, str]:
    """(actors, GPUs per actor, device) for this cluster, leaving at least one CPU for reading and writing."""
    resources = ray.cluster_resources()
    cpus, gpus = float(resources.get("CPU", 0)), float(resources.get("GPU", 0))
    if device == "auto":
        device = "cuda" if gpus >= 1 else "cpu"
    if device == "cuda" and gpus < 1:
        raise ConfigError("--device cuda: the Ray cluster has no GPU; use --device cpu (or auto)")
    per_gpu = 1.0 if device == "cuda" else 0.0
    spare = max(1, int(cpus) // 4)  # CPUs kept for the read and write tasks
    default = int(gpus) if device == "cuda" else int((cpus - spare) // options.actor_cpus)
    actors = options.actors if options.actors is not None else max(1, default)
    if actors * options.actor_cpus > cpus - 1:
        raise ConfigError(
            f"{actors} model actor(s) x {options.actor_cpus} CPU(s) leave no CPU for reading and writing on this "
            f"Ray cluster of {cpus:g} CPUs, and the batch would never finish; use --ray-actors "
            f"{max(1, int((cpus - 1) // options.actor_cpus))} or fewer (or a bigger cluster)")
    if device == "cuda" and actors > gpus:
        raise ConfigError(f"--ray-actors {actors} with --device cuda needs {actors} GPUs; the cluster has {gpus:g}")
    return actors, per_gpu, device


def _quiet_ray_data(ray):
    """Our own progress bar and FAILED lines replace Ray Data's bars and plan logs; returns an undo function.

    The settings changed here and in :func:`run_rows` live in the process-wide ``DataContext``;
    the undo puts them back for a program that uses Ray Data itself.
    """
    ctx = ray.data.DataContext.get_current()
    saved = {k: getattr(ctx, k) for k in ("enable_progress_bars", "print_on_execution_start")}
    order = ctx.execution_options.preserve_order
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    data_log = logging.getLogger("ray.data")
    level = data_log.level
    data_log.setLevel(logging.ERROR)

    def undo() -> None:
        for k, v in saved.items():
            setattr(ctx, k, v)
        ctx.execution_options.preserve_order = order
        data_log.setLevel(level)

    return undo


def run_rows(rows: list[dict], model: str, *, direction: str | None = None, device: str = "auto",
             tile: int | None = None, overlap: int | None = None, batch_size: int = 4, fail_fast: bool = False,
             progress: bool | None = None, options: RayOptions = RayOptions()) -> BatchResult:
    """Translate ``rows`` (from :func:`plan_rows`) on Ray; failures are collected, never raised per file.

    The model is checked on the driver first (so a wrong path, a generator or a wrong
    ``direction`` is a clear error before any cluster work), then shipped to the actors.
    With ``fail_fast`` the driver stops the dataset at the first failure it hears of; jobs
    it had not heard of are counted as not attempted (files already in flight may still be
    written: they are complete, and the next run skips them).
    """
    from tqdm import tqdm

    from translate.modelrepo import resolve_model_path
    from translate.processors import LocalTranslate

    ray = require_ray()
    if options.actor_cpus < 1 or (options.actors is not None and options.actors < 1):
        raise ConfigError("--ray-actors and --ray-actor-cpus must be >= 1")
    path = resolve_model_path(model)
    LocalTranslate.load_model(str(path), direction=direction, device="cpu", tile=tile, overlap=overlap,
                              batch_size=batch_size, threads=1).close()
    result = BatchResult()
    start = time.perf_counter()
    started = _connect(ray, options.address)
    undo = _quiet_ray_data(ray)
    try:
        actors, gpus_per_actor, device = _pool(ray, options, device)
        log.info("Ray: %d model actor(s) x %d CPU(s) on %s", actors, options.actor_cpus, device)
        model_ref = ray.put(path.read_bytes())
        blocks = min(MAX_BLOCKS, max(1, -(-len(rows) // BATCH_ROWS)))
        # --fail-fast keeps the input order, so the first failure stops everything after it (as a local run
        # does); otherwise Ray Data hands on whatever block is ready first.
        ray.data.DataContext.get_current().execution_options.preserve_order = fail_fast
        ds = ray.data.from_items(rows, override_num_blocks=blocks)
        ds = ds.map_batches(read_stage, batch_format="pyarrow", batch_size=BATCH_ROWS, num_cpus=IO_TASK_CPUS)
        ds = ds.map_batches(
            ModelActor, batch_format="pyarrow", batch_size=BATCH_ROWS, compute=ray.data.ActorPoolStrategy(size=actors),
            num_cpus=options.actor_cpus, num_gpus=gpus_per_actor,
            fn_constructor_kwargs=dict(model=[model_ref], model_name=path.name, direction=direction, device=device,
                                       tile=tile, overlap=overlap, batch_size=batch_size, threads=options.actor_cpus))
        ds = ds.map_batches(write_stage, batch_format="pyarrow", batch_size=BATCH_ROWS, num_cpus=IO_TASK_CPUS)

        bar = tqdm(total=len(rows), unit="img", disable=(None if progress is None else not progress),
                   dynamic_ncols=True)
        outcomes = ds.iter_batches(batch_size=None, batch_format="pyarrow")
        try:
            for batch in outcomes:
                for row in batch.to_pylist():
                    if row["error"]:
                        name = row["name"]  # a URI stays a string: Path() would fold its '//'
                        result.failed.append(Failure(name if is_uri(name) else Path(name), row["error"]))
                        bar.set_postfix(failed=len(result.failed), refresh=False)
                    elif row["skipped"]:
                        result.skipped += 1
                    else:
                        result.done += 1
                    bar.update(1)
                if fail_fast and result.failed:
                    break
        finally:
            bar.close()
            close = getattr(outcomes, "close", None)
            if close is not None:  # stops the streaming executor when we leave early
                close()
    finally:
        undo()
        if started:
            ray.shutdown()
    result.cancelled = len(rows) - result.done - result.skipped - len(result.failed)
    result.seconds = time.perf_counter() - start
    return result
