"""Batch translation: find inputs, skip finished work, run a small decode/infer/encode pipeline.

This is the library side of ``translate run`` (``translate/commands/run.py`` is the thin shell);
the work on each file is done by a processor (:mod:`translate.processors`: a local model, or a
server through ``serving.remote``). It fixes the failure modes of the reference ``test.py`` of
pytorch-CycleGAN-and-pix2pix: no cap on the number of images, any size (padding and tiling
happen in ``translate.images``), one bad file never stops the batch, outputs are written
atomically so an interrupted run can simply be started again and skips what is finished.

Pipeline (threads + bounded queues, so memory stays bounded however many files there are)::

    jobs --> [load: J threads] --q--> [infer: 1 thread local / J remote] --q--> [write: J threads] --> results

Loading (read + decode) and writing (encode + atomic rename) run while the model works on the
next image; Pillow, zlib and ONNX Runtime release the GIL, so the threads really overlap.
"""

from __future__ import annotations

import glob
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from translate.errors import ConfigError, TranslateError
from translate.images.codec import ALPHA_FORMATS, EXTENSIONS, SUFFIX_FORMATS, normalize_format
from translate.processors import Processor

log = logging.getLogger(__name__)

OUTPUT_FORMATS = ("png", "jpg", "webp", "same")  # what `translate run --format` offers
_GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class Job:
    """One input file and where its result goes. ``rel`` is the path below INPUT, kept under OUT_DIR.

    ``alpha_out`` is where the result goes instead when it has alpha and ``fmt`` cannot store
    alpha (JPEG): alpha is never dropped silently.
    """

    src: Path
    rel: Path
    out: Path
    fmt: str  # png | jpg | webp (| bmp | tif with --format same)
    alpha_out: Path | None = None

    def finished(self) -> bool | None:
        """True when a previous run wrote this output (writes are atomic: it is complete), False when not.

        None when only the alpha fallback exists: it is this job's result only if the input has
        alpha (else another run, e.g. with ``--format png``, wrote it), which decoding tells.
        """
        if self.out.exists():
            return True
        if self.alpha_out is not None and self.alpha_out.exists():
            return None
        return False


@dataclass
class Failure:
    """A file that could not be translated and why."""

    path: Path
    reason: str


@dataclass
class BatchResult:
    """What a batch did; :meth:`summary` is the final line the CLI prints."""

    done: int = 0
    skipped: int = 0
    failed: list[Failure] = field(default_factory=list)
    cancelled: int = 0  # not attempted because --fail-fast stopped the batch
    seconds: float = 0.0

    @property
    def exit_code(self) -> int:
        """0 when nothing failed, 1 otherwise (usage errors never get this far: they exit 2)."""
        return 1 if self.failed else 0

    def summary(self) -> str:
        """``done 10, skipped 2, failed 1 in 3.2 s (3.1 img/s)``."""
        rate = self.done / self.seconds if self.seconds > 0 else 0.0
        text = f"done {self.done}, skipped {self.skipped}, failed {len(self.failed)}"
        if self.cancelled:
            text += f", not attempted {self.cancelled} (--fail-fast)"
        return text + f" in {self.seconds:.1f} s ({rate:.2f} img/s)"


# ---------------------------------------------------------------- input discovery and planning
def _is_hidden(rel: Path) -> bool:
    # Dotfiles include the temp files of our own atomic writes and OS litter (.DS_Store).
    return any(part.startswith(".") for part in rel.parts)


def _glob_base(pattern: str) -> Path:
    """The longest leading directory of ``pattern`` without glob characters (rel paths start there)."""
    parts = Path(pattern).parts
    base: list[str] = []
    for part in parts[:-1]:
        if _GLOB_CHARS & set(part):
            break
        base.append(part)
    return Path(*base) if base else Path(".")


def discover_inputs(spec: str | os.PathLike, *, recursive: bool = False,
                    exclude: Path | None = None) -> list[tuple[Path, Path]]:
    """Every input file named by ``spec`` (a file, a folder or a glob) as sorted ``(path, rel)`` pairs.

    A folder yields all its non-hidden files (all levels with ``recursive``); whether a file is
    an image is decided by decoding it, so a stray text file is reported as a failure instead of
    being ignored silently. A glob is expanded with ``**`` support when ``recursive``. ``rel`` is
    the path below the folder (or below the glob's fixed leading directories) and is kept under
    OUT_DIR. Files under ``exclude`` (the output folder) are never inputs. Raises ConfigError when
    nothing matches.
    """
    spec_str = os.fspath(spec)
    path = Path(spec_str)
    exclude = exclude.resolve() if exclude is not None else None
    if path.is_file():
        return [(path, Path(path.name))]
    if path.is_dir():
        base = path
        candidates = path.rglob("*") if recursive else path.iterdir()
    elif _GLOB_CHARS & set(spec_str):
        base = _glob_base(spec_str)
        candidates = (Path(p) for p in glob.iglob(spec_str, recursive=recursive))
    else:
        raise ConfigError(f"input {spec_str!r} does not exist; "
                          "give a file, a folder or a quoted glob like 'photos/*.jpg'")
    found: list[tuple[Path, Path]] = []
    for p in candidates:
        if not p.is_file():
            continue
        rel = p.relative_to(base)
        if _is_hidden(rel):
            continue
        if exclude is not None and p.resolve().is_relative_to(exclude):
            continue
        found.append((p, rel))
    if not found:
        hint = "" if recursive or not path.is_dir() else " (add --recursive to search sub-folders)"
        raise ConfigError(f"no input files found in {spec_str!r}{hint}")
    found.sort(key=lambda pr: pr[1].as_posix())
    return found


def _short_name(pillow_format: str) -> str:
    """'JPEG' -> 'jpg': the name of a format by the suffix we write it with (translate.images.EXTENSIONS)."""
    return EXTENSIONS[pillow_format].lstrip(".")


def output_format(rel: Path, fmt: str) -> str:
    """The format written for input ``rel`` under ``--format fmt`` (``same``: by the input's suffix, else png).

    ``same`` is judged by the suffix because the output name must be known before decoding, to
    skip finished work; every format the decoder reads is one we write.
    """
    if fmt == "same":
        source = SUFFIX_FORMATS.get(rel.suffix.lower())
        return _short_name(source) if source else "png"
    try:
        return _short_name(normalize_format(fmt))
    except ConfigError:
        raise ConfigError(f"unknown output format {fmt!r}; choose one of {', '.join(OUTPUT_FORMATS)}") from None


def plan_jobs(inputs: Iterable[tuple[Path, Path]], out_dir: Path, fmt: str) -> list[Job]:
    """Map inputs to outputs: ``a/b.jpg`` -> ``OUT_DIR/a/b.<fmt>``.

    When two inputs would land on the same output (``x.jpg`` and ``x.png`` with ``--format png``),
    each of them keeps its input suffix in the name instead (``x.jpg.png``, ``x.png.png``), so no
    result overwrites another and the mapping does not depend on processing order. Names are
    compared case-insensitively (``x.JPG`` and ``x.jpg`` collide on macOS and Windows).
    """
    items = [(src, rel, output_format(rel, fmt)) for src, rel in inputs]

    def key(p: Path) -> str:
        return p.as_posix().lower()

    def suffix(rel: Path, f: str) -> str:  # --format same keeps the input's own suffix (.jpeg, .TIFF)
        return rel.suffix if fmt == "same" and rel.suffix.lower() in SUFFIX_FORMATS else EXTENSIONS[normalize_format(f)]

    counts: dict[str, int] = {}
    for _, rel, f in items:
        k = key(rel.with_suffix(suffix(rel, f)))
        counts[k] = counts.get(k, 0) + 1
    outs = []
    for _, rel, f in items:
        plain = rel.with_suffix(suffix(rel, f))
        outs.append(plain if counts[key(plain)] == 1 else rel.with_name(rel.name + suffix(rel, f)))
    taken = {key(o) for o in outs}
    jobs = []
    for (src, rel, f), out in zip(items, outs):
        alpha_out = None
        if normalize_format(f) not in ALPHA_FORMATS:  # alpha is kept in a PNG, never dropped or flattened
            alpha_out = out.with_suffix(".png")
            if key(alpha_out) in taken:  # x.jpg's alpha fallback must not replace the result of x.png
                alpha_out = out.with_name(out.name + ".png")
        jobs.append(Job(src=src, rel=rel, out=out_dir / out, fmt=f,
                        alpha_out=None if alpha_out is None else out_dir / alpha_out))
    return jobs


# ---------------------------------------------------------------- the pipeline
_DONE = object()  # end-of-stream marker between stages


@dataclass
class _Item:
    job: Job
    payload: Any = None


@dataclass
class _Outcome:
    job: Job
    error: str | None = None
    cancelled: bool = False
    skipped: bool = False


class _Skip(Exception):
    """Raised in the load stage when a job turns out to be finished already."""


def _reason(exc: BaseException, path: Path | None = None) -> str:
    # Our typed errors already say what to do; anything else is unexpected: keep its type name.
    if isinstance(exc, TranslateError):
        text = str(exc)
        prefix = f"{path}: "
        return text[len(prefix):] if path is not None and text.startswith(prefix) else text
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc}" + (f" ({exc.filename})" if exc.filename else "")
    return f"{type(exc).__name__}: {exc}"


class _Stage:
    """``workers`` threads that take items from ``inbox``, apply ``fn``, put results in ``outbox``.

    The last worker to finish forwards one end marker per downstream worker. Errors never
    escape a worker: they become an outcome for that one file.
    """

    def __init__(self, name: str, fn: Callable[[_Item], _Item | None], inbox: queue.Queue, outbox: queue.Queue,
                 results: queue.Queue, workers: int, downstream_workers: int, stop: threading.Event,
                 fail_fast: bool) -> None:
        self.fn, self.inbox, self.outbox, self.results, self.stop = fn, inbox, outbox, results, stop
        self.fail_fast = fail_fast
        self.downstream_workers = downstream_workers
        self._alive = workers
        self._lock = threading.Lock()
        self.threads = [threading.Thread(target=self._work, name=f"batch-{name}-{i}", daemon=True)
                        for i in range(workers)]

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def _work(self) -> None:
        while True:
            item = self.inbox.get()
            if item is _DONE:
                break
            if self.stop.is_set():
                self.results.put(_Outcome(item.job, cancelled=True))
                continue
            try:
                out = self.fn(item)
            except _Skip:
                self.results.put(_Outcome(item.job, skipped=True))
                continue
            except Exception as exc:  # one bad file must not stop the batch (the CLI decides on --fail-fast)
                log.debug("failed on %s", item.job.src, exc_info=True)
                if self.fail_fast:  # set here, not by the consumer, so no later file starts after it
                    self.stop.set()
                self.results.put(_Outcome(item.job, error=_reason(exc, item.job.src)))
                continue
            if out is not None:
                self.outbox.put(out)
        with self._lock:
            self._alive -= 1
            last = self._alive == 0
        if last:
            for _ in range(self.downstream_workers):
                self.outbox.put(_DONE)


def run_pipeline(jobs: list[Job], processor: Processor, write: Callable[[Any, Job], None], *, jobs_n: int = 2,
                 fail_fast: bool = False, on_outcome: Callable[[_Outcome], None] | None = None,
                 skip_if: Callable[[Job], bool] | None = None) -> BatchResult:
    """Run load -> infer -> write over ``jobs`` with bounded queues; collect failures, never raise for one file.

    ``write(result, job)`` encodes and writes atomically. With ``fail_fast`` the first failure
    stops the batch: no file starts a stage after it; work already queued is dropped and
    counted as not attempted (with ``jobs_n=1`` files run strictly in order, so nothing after
    the failing file is written). ``skip_if(job)``, when given, runs in the loader threads and
    turns a job into a skip.
    """
    jobs_n = max(1, int(jobs_n))
    infer_n = max(1, int(getattr(processor, "concurrency", 1)))
    stop = threading.Event()
    # Bounds: each queue holds about two items per consumer, enough to keep every stage busy.
    q_jobs: queue.Queue = queue.Queue(maxsize=2 * jobs_n)
    q_loaded: queue.Queue = queue.Queue(maxsize=2 * infer_n)
    q_inferred: queue.Queue = queue.Queue(maxsize=2 * jobs_n)
    q_written: queue.Queue = queue.Queue()  # end markers of the writer stage
    results: queue.Queue = queue.Queue()  # small outcome records, consumed by this thread

    def load(item: _Item) -> _Item:
        if skip_if is not None and skip_if(item.job):
            raise _Skip
        item.payload = processor.load(item.job.src)
        return item

    def infer(item: _Item) -> _Item:
        item.payload = processor(item.payload)
        return item

    def store(item: _Item) -> None:
        write(item.payload, item.job)
        results.put(_Outcome(item.job))

    stages = [
        _Stage("load", load, q_jobs, q_loaded, results, jobs_n, infer_n, stop, fail_fast),
        _Stage("infer", infer, q_loaded, q_inferred, results, infer_n, jobs_n, stop, fail_fast),
        _Stage("write", store, q_inferred, q_written, results, jobs_n, 1, stop, fail_fast),
    ]
    for s in stages:
        s.start()

    def feed() -> None:
        for job in jobs:
            if stop.is_set():
                results.put(_Outcome(job, cancelled=True))
                continue
            q_jobs.put(_Item(job))
        for _ in range(jobs_n):
            q_jobs.put(_DONE)

    feeder = threading.Thread(target=feed, name="batch-feed", daemon=True)
    feeder.start()
    result = BatchResult()
    try:
        for _ in range(len(jobs)):
            outcome: _Outcome = results.get()
            if outcome.cancelled:
                result.cancelled += 1
            elif outcome.skipped:
                result.skipped += 1
            elif outcome.error is not None:
                result.failed.append(Failure(outcome.job.src, outcome.error))
            else:
                result.done += 1
            if on_outcome is not None:
                on_outcome(outcome)
    except BaseException:
        # Ctrl-C: queued files are dropped, and the file each worker holds is finished (or its
        # write never renamed into place) before we return; a process that exits while a worker
        # is inside ONNX Runtime / torch would abort instead of exiting cleanly.
        stop.set()
        q_written.get()  # a second Ctrl-C here interrupts the wait itself
        raise
    q_written.get()  # every stage has exited: no thread touches the output folder any more
    return result


# ---------------------------------------------------------------- the whole batch
@dataclass
class BatchPlan:
    """Every job of a batch and whether its output is already there (see :meth:`Job.finished`)."""

    jobs: list[Job]
    state: dict[Job, bool | None]

    @property
    def todo(self) -> list[Job]:
        """Jobs still to run (including those whose alpha fallback file must be checked)."""
        return [j for j in self.jobs if self.state[j] is not True]


def plan_batch(input_spec: str | os.PathLike, out_dir: str | os.PathLike, *, fmt: str = "png",
               recursive: bool = False, overwrite: bool = False) -> BatchPlan:
    """Discover inputs, map them to outputs and look for finished ones; no model is needed yet.

    Raises ConfigError (a usage error) for a missing input, an input without files, or an
    output path that is a file.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"output {out_dir} exists and is not a folder; -o takes a folder")
    jobs = plan_jobs(discover_inputs(input_spec, recursive=recursive, exclude=out_dir), out_dir, fmt)
    return BatchPlan(jobs, {j: (False if overwrite else j.finished()) for j in jobs})


def output_target(job: Job, has_alpha: bool) -> tuple[Any, str]:
    """Where and in which format a result goes: ``job.out``, or its PNG fallback when alpha must be kept.

    ``job`` is a :class:`Job` (or anything with its ``out``, ``fmt`` and ``alpha_out``, such as the
    URI rows of the Ray engine).
    """
    if has_alpha and job.alpha_out is not None:
        return job.alpha_out, "png"  # JPEG cannot store alpha: keep it, in a PNG
    return job.out, job.fmt


def write_result(img, job: Job) -> None:
    """Encode a translated ``translate.images.Image`` and write it atomically where ``job`` says."""
    from translate.images import write_image

    target, f = output_target(job, img.alpha is not None)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_image(img, target, fmt=f)


def run_plan(plan: BatchPlan, processor: Processor, *, fail_fast: bool = False, jobs: int = 2,
             progress: bool | None = None) -> BatchResult:
    """Run the unfinished jobs of ``plan`` through ``processor`` and write their results atomically.

    ``processor`` turns a file into a translated ``translate.images.Image`` (local model or
    server). ``progress=None`` shows the bar only on a terminal.
    """
    from tqdm import tqdm

    from translate.images import read_image

    todo = plan.todo

    def alpha_result_exists(job: Job) -> bool:  # only for jobs whose alpha fallback file exists
        return plan.state[job] is None and read_image(job.src).alpha is not None

    start = time.perf_counter()
    # tqdm shows images/s and the ETA; the failure count rides along so a bad run shows early
    bar = tqdm(total=len(todo), unit="img", disable=(None if progress is None else not progress), dynamic_ncols=True)
    failures = 0

    def tick(outcome: _Outcome) -> None:
        nonlocal failures
        if outcome.error is not None:
            failures += 1
            bar.set_postfix(failed=failures, refresh=False)
        bar.update(1)

    try:
        result = run_pipeline(todo, processor, write_result, jobs_n=jobs, fail_fast=fail_fast, on_outcome=tick,
                              skip_if=alpha_result_exists)
    finally:
        bar.close()
    result.skipped += len(plan.jobs) - len(todo)
    result.seconds = time.perf_counter() - start
    return result

