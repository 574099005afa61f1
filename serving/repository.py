"""The model repository: ``MODELS/<name>/<version>/model.onnx``, loaded, warmed up and hot-reloaded.

Layout and version policy follow Triton's model repository (https://docs.nvidia.com/deeplearning/
triton-inference-server/user-guide/docs/user_guide/model_repository.html) with its default
"latest" policy: the highest numeric version directory of each model is served. The layout is
read through :mod:`translate.modelrepo`, its one owner. Everything the server needs (channels,
padding multiple, scale, latent size) comes from the ONNX metadata written by ``translate export``
(:class:`translate.modelinfo.ModelInfo`), never from flags; it is read from the file the backend
loaded (``--backend/--precision auto`` may load and time several variants of a version before it
keeps the fastest; that measurement runs beside the serving version, under live traffic, and is
cached per machine: see docs/precision.md).

Hot reload (polling): a new version directory is loaded and warmed up *beside* the serving one,
then swapped in under a lock, so no request ever sees a half-loaded model; the old version is
closed once its in-flight requests (leases) are released. A file that fails to load is logged and
the model is marked unavailable (or keeps its previous version), while other models keep serving;
it is retried when the file changes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from serving.errors import InvalidRequestError, ModelNotFoundError, ModelUnavailableError
from translate.errors import ModelError
from translate.modelinfo import ModelInfo
from translate.modelrepo import MODEL_FILE, TensorSpec, list_models, model_path, version_of

log = logging.getLogger(__name__)

LOADING, READY, UNAVAILABLE = "LOADING", "READY", "UNAVAILABLE"
MAX_NAME_BYTES = 256  # longest model name a request may carry (a directory name; most file systems stop at 255)
NAME_CHARS = 64  # how much of a name messages quote

# path -> backend: ``__call__(x)`` / ``generate(z, labels)`` plus ``info``, ``metadata``, ``inputs``
# and ``outputs`` read from the file it loaded (:func:`translate.backends.load_backend`: ONNX Runtime or OpenVINO)
BackendFactory = Callable[[Path], object]


@dataclass(eq=False)
class ModelVersion:
    """One loaded version: its backend, metadata and in-flight lease count."""

    name: str
    version: int
    path: Path
    info: ModelInfo
    backend: object
    metadata: dict[str, str]
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    inflight: int = 0
    retired: bool = False
    closed: bool = False
    runtime: object = None  # translate.precision.RuntimeChoice: the backend and precision chosen, and why

    def close(self) -> None:
        """Close the backend (its runtime's memory is freed when the last reference goes)."""
        self.closed = True
        close = getattr(self.backend, "close", None)
        if close is not None:
            close()
        self.backend = None
        log.info("unloaded %s version %d", self.name, self.version)


@dataclass
class ModelRecord:
    """What the repository knows about one model name."""

    name: str
    state: str = LOADING
    current: ModelVersion | None = None
    error: str = ""
    versions: list[int] = field(default_factory=list)  # on disk
    failed: dict[int, tuple[float, int]] = field(default_factory=dict)  # version -> (mtime, size) that failed


def clip_name(name: str, limit: int = NAME_CHARS) -> str:
    """``repr(name)`` for a message, cut to ``limit`` characters (a client chose it; it may be huge)."""
    if len(name) <= limit:
        return repr(name)
    return f"{name[:limit]!r}...({len(name)} chars)"


def check_model_name(name: str) -> None:
    """INVALID_ARGUMENT for a name no repository can hold (too long, empty); the name is not echoed."""
    size = len(name.encode("utf-8", "surrogatepass"))
    if size > MAX_NAME_BYTES:
        raise InvalidRequestError(f"the model name is {size} bytes long, over the limit of {MAX_NAME_BYTES} bytes; "
                                  "model names are directory names of the repository (see ListModels)")
    if not name:
        raise InvalidRequestError("the request names no model; set the model name (see ListModels)")


def describe_layout(root: Path) -> str:
    """What a folder with no servable model holds, and the layout it should have (for the start-up error)."""
    expected = (f"expected {MODEL_FILE} files at <name>/<version>/{MODEL_FILE} under it, as "
                "`translate export --repo MODELS` writes them")
    try:
        entries = sorted(p for p in root.iterdir() if not p.name.startswith("."))
    except OSError as exc:
        return f"cannot list it ({exc.strerror or exc}); {expected}"
    if not entries:
        return f"it is empty; {expected}"
    names = [p.name for p in entries]
    versions = [p for p in entries if p.is_dir() and version_of(p.name) is not None]
    if any((v / MODEL_FILE).is_file() for v in versions):
        return (f"it looks like one model's folder (version folders {', '.join(v.name for v in versions[:5])}); "
                f"serve its parent folder instead: --models {root.parent}")
    if (root / MODEL_FILE).is_file():
        return f"it looks like one version folder (it holds {MODEL_FILE}); serve the folder two levels up instead"
    checkpoints = [n for n in names if n.endswith((".pt", ".pth", ".ckpt"))] or \
        [n for n in names if n == "checkpoints" and (root / n).is_dir()]
    if checkpoints:
        return (f"it looks like a training run or checkpoint folder ({', '.join(checkpoints[:3])}); export "
                "the checkpoint first: translate export CHECKPOINT --repo MODELS --name NAME")
    onnx = [n for n in names if n.endswith(".onnx")]
    if onnx:
        return (f"it holds bare ONNX files ({', '.join(onnx[:3])}) instead of <name>/<version>/{MODEL_FILE}; "
                "export with `translate export --repo` (or move each file to <name>/1/model.onnx)")
    shown = ", ".join(names[:5]) + (f", ... ({len(names)} entries)" if len(names) > 5 else "")
    return f"none of its entries ({shown}) holds <version>/{MODEL_FILE}; {expected}"


def default_backend_factory(intra_op_threads: int | None = None, backend: str = "auto",
                            precision: str = "auto") -> BackendFactory:
    """Backends from :func:`translate.backends.load_backend` (same choice as the local CLI: ONNX Runtime or
    OpenVINO, fp32, bf16 or int8; ``auto`` measures each model's variants)."""

    def factory(path: Path):
        from translate.backends import load_backend

        return load_backend(path, device="auto", intra_op_threads=intra_op_threads, backend=backend,
                            precision=precision)

    return factory


def warm_up(backend, info: ModelInfo) -> None:
    """Run one small input through a fresh session so the first real request is not slow."""
    if info.task == "generate":
        z = np.zeros((1, info.latent_size), np.float32)
        labels = np.zeros((1,), np.int64) if info.num_classes > 0 else None
        out = backend.generate(z, labels)
    else:
        m = info.pad_multiple
        side = m * max(1, -(-max(32, info.min_input_size) // m))  # smallest valid side >= 32
        out = backend(np.zeros((1, info.in_channels, side, side), np.float32))
    if not np.all(np.isfinite(out)):
        raise ModelError("warm-up produced NaN/inf outputs; the exported weights are broken")


class ModelRepository:
    """Loads every model under ``root`` and serves leases on the current version of each.

    Args:
        root: the repository directory.
        backend_factory: path -> backend; default :func:`default_backend_factory`.
        on_change: called as ``on_change(name, serving: bool)`` when a model's readiness changes
            (the server updates per-model health from it).
    """

    def __init__(self, root: str | Path, backend_factory: BackendFactory | None = None,
                 on_change: Callable[[str, bool], None] | None = None, metrics=None) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            from translate.errors import ConfigError

            raise ConfigError(f"model repository {self.root} is not a directory; export models into "
                              "MODELS/<name>/<version>/model.onnx with `translate export --repo`")
        self._factory = backend_factory or default_backend_factory()
        self._on_change = on_change or (lambda name, serving: None)
        self._metrics = metrics
        self._lock = threading.Lock()
        self._scan_lock = threading.Lock()  # one scan at a time (poller vs. explicit poll())
        self._records: dict[str, ModelRecord] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- disk scanning and loading --
    def _disk(self) -> dict[str, dict[int, Path]]:
        return {name: {v: model_path(self.root / name, v) for v in versions}
                for name, versions in list_models(self.root).items()}

    def _load(self, name: str, version: int, path: Path) -> ModelVersion:
        backend = self._factory(path)  # the description comes from the file the backend loaded
        try:
            warm_up(backend, backend.info)
        except BaseException:
            close = getattr(backend, "close", None)
            if close is not None:
                close()
            raise
        return ModelVersion(name, version, path, backend.info, backend, backend.metadata, backend.inputs,
                            backend.outputs, runtime=getattr(backend, "choice", None))

    def poll(self) -> None:
        """Scan the directory once: load new models/versions, unload removed ones."""
        with self._scan_lock:
            disk = self._disk()
            for name in sorted(set(self._records) - set(disk)):
                log.warning("model %s disappeared from %s; unloading it", name, self.root)
                with self._lock:
                    rec = self._records.pop(name)
                    old = rec.current
                    if old is not None:
                        self._retire(old)
                self._changed(name, False)
            for name, versions in disk.items():
                self._poll_model(name, versions)

    def _poll_model(self, name: str, versions: dict[int, Path]) -> None:
        with self._lock:
            rec = self._records.setdefault(name, ModelRecord(name))
            rec.versions = sorted(versions)
        cur = rec.current
        # The newest version that loads wins; older ones are tried only while nothing serves yet
        # (a broken new file never replaces a working version).
        for version in sorted(versions, reverse=True):
            if cur is not None and version <= cur.version:
                return
            if self._try_version(rec, version, versions[version]):
                return
        if rec.current is None and rec.state != UNAVAILABLE:
            with self._lock:
                rec.state = UNAVAILABLE
            self._changed(name, False)

    def _try_version(self, rec: ModelRecord, version: int, path: Path) -> bool:
        """Load ``version`` and switch to it; False (and the error recorded) if it does not load."""
        try:
            stamp = (path.stat().st_mtime, path.stat().st_size)
        except OSError:
            return False
        if rec.failed.get(version) == stamp:
            return False  # already failed on this exact file; retried when it changes
        try:
            loaded = self._load(rec.name, version, path)
        except Exception as exc:  # any failure marks this model, never the server
            rec.failed[version] = stamp
            log.error("model %s version %d failed to load from %s: %s", rec.name, version, path, exc)
            rel = str(path.relative_to(self.root))  # clients see repository-relative paths only
            with self._lock:
                rec.error = f"version {version} failed to load from {rel}: {str(exc).replace(str(path), rel)}"
            return False
        with self._lock:  # the atomic switch
            old, rec.current = rec.current, loaded
            rec.state = READY
            if version == max(rec.versions):
                rec.error = ""  # older failures no longer matter
            if old is not None:
                self._retire(old)
        log.info("model %s version %d is serving (%s, %s) on %s", rec.name, version, loaded.info.family,
                 loaded.info.task, loaded.runtime.describe() if loaded.runtime else "its backend")
        self._changed(rec.name, True)
        return True

    def _retire(self, old: ModelVersion) -> None:
        """Mark ``old`` for unloading; close now if idle (caller holds the lock)."""
        old.retired = True
        if old.inflight == 0:
            old.close()

    def _changed(self, name: str, serving: bool) -> None:
        if self._metrics is not None:
            self._metrics.model_ready.labels(name).set(1 if serving else 0)
            self._metrics.models_loaded.set(sum(r.state == READY for r in self.records()))
        self._on_change(name, serving)

    def start_polling(self, interval: float = 2.0) -> None:
        """Re-scan the directory every ``interval`` seconds in a daemon thread."""

        def loop():
            while not self._stop.wait(interval):
                try:
                    self.poll()
                except Exception:  # a scan error (e.g. permissions) must not kill the poller
                    log.exception("model repository scan failed")

        self._thread = threading.Thread(target=loop, name="repo-poll", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop polling and unload every model."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            for rec in self._records.values():
                if rec.current is not None:
                    self._retire(rec.current)

    # -- request side --
    def records(self) -> list[ModelRecord]:
        """Snapshot of every model, sorted by name."""
        with self._lock:
            return [self._records[k] for k in sorted(self._records)]

    def has_model(self, name: str) -> bool:
        """True if ``name`` is a model directory of the repository (loaded or not)."""
        with self._lock:
            return name in self._records

    def record(self, name: str) -> ModelRecord:
        """The record of ``name``; NOT_FOUND lists the models there are (INVALID_ARGUMENT for absurd names)."""
        check_model_name(name)
        with self._lock:
            rec = self._records.get(name)
            if rec is None:
                names = sorted(self._records)
                known = ", ".join(names[:20]) + (f", ... ({len(names)} in all)" if len(names) > 20 else "")
                raise ModelNotFoundError(f"no model named {clip_name(name)} in the repository "
                                         f"(models: {known or 'none'})")
            return rec

    @contextmanager
    def lease(self, name: str, version: int = 0) -> Iterator[ModelVersion]:
        """Hold the serving version of ``name`` for one request (it is not unloaded meanwhile)."""
        rec = self.record(name)
        with self._lock:
            cur = rec.current
            if version and version not in rec.versions:
                shown = rec.versions[-20:]
                raise ModelNotFoundError(f"model {name!r} has no version {version} "
                                         f"(versions on disk: {shown}; use 0 for the served one)")
            if cur is None:
                raise ModelUnavailableError(f"model {name!r} is not available: {rec.error or 'still loading'}")
            if version and version != cur.version:
                raise ModelNotFoundError(f"version {version} of model {name!r} is not loaded; the server serves "
                                         f"only the newest version ({cur.version}); ask for 0 or {cur.version}")
            cur.inflight += 1
        try:
            yield cur
        finally:
            with self._lock:
                cur.inflight -= 1
                if cur.retired and cur.inflight == 0 and not cur.closed:
                    cur.close()
