"""Choosing the backend and precision of one exported model: explicit choices checked, ``auto`` measured.

Candidates (:func:`candidates`), each kept only with a reason when it is not possible here:

- ``onnxruntime fp32``: always (the reference, and the fallback);
- ``openvino bf16``: the ``openvino`` package imports, the CPU has native bf16 (``avx512_bf16`` /
  ``amx_bf16``) and ``model.onnx`` records a bf16 fidelity that passed its gate;
- ``openvino int8``: the ``model.int8.onnx`` beside the model belongs to it (the fp32 file's hash
  it records matches), its fidelity on OpenVINO passed, and the CPU has int8 dot products (VNNI / AMX);
- ``openvino fp32`` and ``onnxruntime int8``: only when asked for with ``--backend``, since neither
  was faster than ONNX Runtime fp32 where measured (int8 QDQ on ONNX Runtime: 0.71-1.07x).

``auto`` then measures: every candidate is loaded, called once to warm up, then
:data:`PROBE_ROUNDS` rounds of one call each, interleaved (A, B, C, A, B, C, ...) so that a change
of machine load hits all alike, at a typical input (256 px; 64 px for super-resolvers; batch 1).
The fastest median wins, except that a candidate closer to fp32 wins when it is within
:data:`TIE` of the fastest. Research on a loaded 2-core Zen 4 machine: 3 rounds picked the winner
of 30 rounds every time for ResNet-9 and 86% of the time for SRResNet, where int8 and bf16 differ
by less than that. The choice is cached (:func:`cache_path`) keyed by the files' hashes, the CPU,
the thread count and the runtime versions, so the measurement runs once per machine and model.
A CUDA GPU (``--device auto`` with a GPU, or ``cuda``) keeps ONNX Runtime fp32 on the GPU.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from translate.atomic import atomic_write_bytes
from translate.errors import ConfigError, ModelError
from translate.modelrepo import read_model_file, variant_path
from translate.precision import (
    AUTO,
    FIDELITY_RANK,
    QUANT_PREFIX,
    CpuCapabilities,
    Fidelity,
    RuntimeChoice,
    check_choice,
    fidelities,
    file_precision,
    measure_side,
    openvino_version,
    read_cpu_capabilities,
)

log = logging.getLogger(__name__)

PROBE_ROUNDS = 3
TIE = 0.10  # within 10 % of the fastest, the candidate closer to fp32 wins
CACHE_ENTRIES = 200  # the cache file keeps the newest entries only

# (backend, precision) in the order they are listed and loaded
ALL_VARIANTS = (("onnxruntime", "fp32"), ("openvino", "bf16"), ("openvino", "int8"), ("onnxruntime", "int8"),
                ("openvino", "fp32"))


@dataclass
class Candidate:
    """One (backend, precision) and whether it can run here: ``why_not`` is empty when it can."""

    backend: str
    precision: str
    path: Path
    fidelity: Fidelity | None = None
    why_not: str = ""

    @property
    def key(self) -> str:
        """``<backend>-<precision>``."""
        return f"{self.backend}-{self.precision}"


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file (read in 1 MiB blocks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _int8_file(path: Path, metadata: dict[str, str]) -> tuple[Path, dict[str, str] | None, str]:
    """(int8 file, its metadata or None, why it cannot be used) for the fp32 model at ``path``."""
    if file_precision(metadata) == "int8":
        return path, metadata, ""
    q = variant_path(path, "int8")
    if not q.is_file():
        return q, None, "no int8 variant exported (translate export --precision int8)"
    try:
        md = read_model_file(q).metadata
    except ModelError as exc:
        return q, None, f"{q.name} is unreadable: {exc}"
    if file_precision(md) != "int8":
        return q, None, f"{q.name} is not an int8 export"
    source = md.get(QUANT_PREFIX + "source_sha256", "")
    if not source:
        return q, None, f"{q.name} records no {QUANT_PREFIX}source_sha256, so nothing ties it to this {path.name} " \
                        "(re-export with --precision int8)"
    if source != file_sha256(path):
        return q, None, f"{q.name} was quantised from another {path.name} (re-export with --precision int8)"
    return q, md, ""


def candidates(path: Path, metadata: dict[str, str], *, backend: str = AUTO, precision: str = AUTO,
               device: str = "auto", capabilities: CpuCapabilities | None = None,
               openvino: str | None = None) -> list[Candidate]:
    """Every variant the request allows, in :data:`ALL_VARIANTS` order, each with ``why_not`` when impossible.

    ``openvino`` is the installed OpenVINO version (None: not importable); ``capabilities`` the CPU's.
    """
    check_choice(backend, precision)
    if (backend, precision) == ("onnxruntime", "bf16"):
        raise ConfigError("ONNX Runtime has no bf16 mode on the CPU; bf16 runs on --backend openvino")
    caps = capabilities if capabilities is not None else read_cpu_capabilities()
    own = file_precision(metadata)
    found = fidelities(metadata)
    int8_path, int8_md, int8_problem = _int8_file(path, metadata)
    int8_found = fidelities(int8_md) if int8_md is not None else {}
    gpu = device == "cuda"
    if device == "auto":
        from translate.backends.base import gpu_present

        gpu = gpu_present()
    out = []
    for b, p in ALL_VARIANTS:
        if backend not in (AUTO, b) or precision not in (AUTO, p):
            continue
        if backend == AUTO and (b, p) in (("openvino", "fp32"), ("onnxruntime", "int8")):
            # on request only: OpenVINO fp32 measured no faster than ONNX Runtime fp32, and ONNX Runtime ran the
            # int8 QDQ files slower than fp32 on two of three families (0.71-0.89x; 1.04-1.07x on SRResNet)
            continue
        c = Candidate(b, p, int8_path if p == "int8" else path)
        c.fidelity = (int8_found if p == "int8" else found).get((b, p))
        if own == "int8" and p != "int8":
            c.why_not = f"{path.name} is the int8 variant; load model.onnx for {p}"
        elif gpu and (b == "openvino" or p != "fp32"):
            c.why_not = "a CUDA GPU is in use; OpenVINO and the int8 variants run on the CPU here (--device cpu)"
        elif p == "int8" and int8_problem:
            c.why_not = int8_problem
        elif p != "fp32" and c.fidelity is None:
            c.why_not = f"no {p} fidelity measured on {b} at export (translate export --precision {p})"
        elif b == "openvino" and openvino is None:
            c.why_not = "the openvino package is not installed (pip install 'translate[openvino]')" + (
                "; ONNX Runtime runs the int8 file too, slowly: --backend onnxruntime --precision int8"
                if p == "int8" else "")
        elif p == "bf16" and not caps.bf16:
            c.why_not = f"the CPU has no native bf16 ({caps.describe()})"
        elif p == "int8" and not caps.int8:
            c.why_not = f"the CPU has no int8 dot products ({caps.describe()})"
        elif c.fidelity is not None and not c.fidelity.passed:
            c.why_not = c.fidelity.line()
        out.append(c)
    return out


# ----------------------------------------------------------------------------- loading
def load_candidate(c: Candidate, *, device: str, threads: int | None, capabilities: CpuCapabilities | None):
    """The backend object of one candidate."""
    if c.backend == "openvino":
        from translate.backends.openvino import OpenVinoBackend

        return OpenVinoBackend(c.path, precision=c.precision, intra_op_threads=threads, device=device,
                               capabilities=capabilities)
    from translate.backends.onnxruntime import OnnxBackend

    return OnnxBackend(c.path, device=device, intra_op_threads=threads)


def probe_input(backend) -> tuple[np.ndarray, ...]:
    """A typical input for timing: one 256 px image (64 px for super-resolvers), or one latent."""
    info = backend.info
    rng = np.random.default_rng(0)
    if info.task == "generate":
        z = rng.standard_normal((1, info.latent_size)).astype(np.float32)
        return (z, np.zeros(1, np.int64)) if info.num_classes else (z,)
    side = measure_side(info)
    static = [d for d in backend.inputs[0].shape[2:] if d > 0]
    h, w = (static[0], static[1]) if len(static) == 2 else (side, side)
    return (rng.uniform(-1, 1, (1, info.in_channels, h, w)).astype(np.float32),)


def _call(backend, args) -> None:
    if backend.info.task == "generate":
        backend.generate(*args)
    else:
        backend(*args)


def measure(backends: dict[str, object], rounds: int = PROBE_ROUNDS) -> dict[str, float]:
    """Median seconds per call of each backend: one warm-up call each, then ``rounds`` interleaved rounds."""
    args = probe_input(next(iter(backends.values())))
    for b in backends.values():
        _call(b, args)
    times: dict[str, list[float]] = {k: [] for k in backends}
    for _ in range(rounds):
        for k, b in backends.items():
            t0 = time.perf_counter()
            _call(b, args)
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def pick(seconds: dict[str, float], tie: float = TIE) -> str:
    """The fastest key of ``seconds``; within ``tie`` of it, the one closest to fp32 (then the fastest)."""
    fastest = min(seconds.values())
    close = [k for k, s in seconds.items() if s <= fastest * (1 + tie)]
    return min(close, key=lambda k: (FIDELITY_RANK[k.rsplit("-", 1)[1]], seconds[k]))


# ----------------------------------------------------------------------------- the cache
def cache_path() -> Path:
    """``$XDG_CACHE_HOME/translate/runtime-choices.json`` (``~/.cache/...`` without XDG_CACHE_HOME)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "translate" / "runtime-choices.json"


def _cache_key(cands: list[Candidate], caps: CpuCapabilities, threads: int | None, device: str,
               openvino: str | None) -> str:
    import onnxruntime

    files = sorted({str(c.path) for c in cands})
    parts = {"files": [file_sha256(Path(f)) for f in files], "candidates": [c.key for c in cands],
             "cpu": caps.model, "flags": caps.relevant_flags(), "threads": threads or 0, "device": device,
             "onnxruntime": onnxruntime.__version__, "openvino": openvino or ""}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _read_cache() -> dict:
    try:
        data = json.loads(cache_path().read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_cache(key: str, entry: dict) -> None:
    data = _read_cache()
    data.pop(key, None)
    data[key] = entry
    keep = dict(list(data.items())[-CACHE_ENTRIES:])
    try:
        atomic_write_bytes(cache_path(), lambda f: f.write(json.dumps(keep, indent=1).encode()))
    except OSError as exc:  # a read-only home must not stop inference; the next load measures again
        log.warning("cannot write the runtime choice cache %s: %s", cache_path(), exc)


# ----------------------------------------------------------------------------- the choice
def open_backend(path: Path, *, backend: str = AUTO, precision: str = AUTO, device: str = "auto",
                 threads: int | None = None, capabilities: CpuCapabilities | None = None,
                 use_cache: bool = True):
    """Load ``path`` on the requested (or the measured best) backend and precision; sets ``.choice``.

    Explicit choices that cannot run here raise ModelError (ConfigError for unknown names) saying
    why; ``auto`` falls back to ONNX Runtime fp32 and logs why.
    """
    check_choice(backend, precision)
    caps = capabilities if capabilities is not None else read_cpu_capabilities()
    explicit = backend != AUTO or precision != AUTO
    reference = None
    if backend in (AUTO, "onnxruntime") and precision in (AUTO, "fp32"):
        # the reference is loaded first: its session holds the metadata, so no second parse is needed
        from translate.backends.onnxruntime import OnnxBackend

        reference = OnnxBackend(path, device=device, intra_op_threads=threads)
        metadata = reference.metadata
    else:
        metadata = read_model_file(path).metadata
    if reference is not None and file_precision(metadata) == "int8":
        reference.close()  # an int8 file passed directly: no fp32 graph here
        reference = None
    # importing openvino costs about half a second: only where the model has something for it
    wanted = backend == "openvino" or bool(fidelities(metadata)) or file_precision(metadata) == "int8" \
        or variant_path(path, "int8").is_file()
    ov = openvino_version() if wanted else None
    cands = candidates(path, metadata, backend=backend, precision=precision, device=device, capabilities=caps,
                       openvino=ov)
    usable = [c for c in cands if not c.why_not]
    excluded = "; ".join(f"{c.backend} {c.precision}: {c.why_not}" for c in cands if c.why_not)
    if not usable:
        if reference is not None:
            reference.close()
        asked = " ".join(x for x in (f"--backend {backend}" if backend != AUTO else "",
                                     f"--precision {precision}" if precision != AUTO else "") if x)
        raise ModelError(f"{path}: {asked or 'no variant'} cannot run here: {excluded or 'no such variant'}")
    if len(usable) == 1:
        c = usable[0]
        if explicit and not (backend == AUTO or precision == AUTO):
            reason = "chosen explicitly"
        elif explicit:
            reason = "the only variant of the requested ones that can run here" + (f" ({excluded})" if excluded else "")
        else:
            reason = "the only variant that can run here" + (f" ({excluded})" if excluded else "")
        return _load_chosen(c, RuntimeChoice(c.backend, c.precision, reason, c.fidelity), reference,
                            explicit=explicit, device=device, threads=threads, caps=caps)

    key = _cache_key(usable, caps, threads, device, ov) if use_cache else ""
    hit = _read_cache().get(key) if use_cache else None
    by_key = {c.key: c for c in usable}
    cached = _cached_choice(hit, by_key)
    if cached is not None:
        c, probe, when = cached
        return _load_chosen(c, RuntimeChoice(c.backend, c.precision, _reason(c.key, probe, when), c.fidelity, probe,
                                             cached=True), reference, explicit=explicit, device=device,
                            threads=threads, caps=caps)

    loaded = {}
    try:
        for c in usable:
            if reference is not None and c.key == "onnxruntime-fp32":
                loaded[c.key] = reference
                continue
            try:
                loaded[c.key] = load_candidate(c, device=device, threads=threads, capabilities=caps)
            except ModelError as exc:
                if explicit:
                    raise
                log.warning("%s: %s %s does not load here, so auto leaves it out: %s", path, c.backend, c.precision,
                            exc)
        if not loaded:
            raise ModelError(f"{path}: none of the variants loads here ({', '.join(by_key)})")
        seconds = measure(loaded) if len(loaded) > 1 else {}
    except BaseException:
        for b in loaded.values():
            b.close()
        if reference is not None and reference not in loaded.values():
            reference.close()
        raise
    if len(loaded) == 1:  # the others did not load (warned above): nothing to measure, nothing to cache
        (only, chosen), = loaded.items()
        return _finish(chosen, RuntimeChoice(by_key[only].backend, by_key[only].precision,
                                             "auto: the only variant that loaded here (the others: see the log)",
                                             by_key[only].fidelity))
    winner = pick(seconds)
    for k, b in loaded.items():
        if k != winner:
            b.close()
    probe = {k: round(1000 * s, 3) for k, s in seconds.items()}
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if use_cache:
        _write_cache(key, {"choice": winner, "probe_ms": probe, "when": when, "model": str(path)})
    c = by_key[winner]
    return _finish(loaded[winner], RuntimeChoice(c.backend, c.precision, _reason(winner, probe, when),
                                                 c.fidelity, probe))


def _load_chosen(c: Candidate, choice: RuntimeChoice, reference, *, explicit: bool, device: str,
                 threads: int | None, caps: CpuCapabilities):
    """Load the chosen candidate (the already open reference for ONNX Runtime fp32) and close the reference
    when it is not the one; under ``auto``, a candidate that does not load falls back to the reference."""
    if reference is not None and c.key == "onnxruntime-fp32":
        return _finish(reference, choice)
    try:
        chosen = load_candidate(c, device=device, threads=threads, capabilities=caps)
    except ModelError as exc:
        if explicit or reference is None:
            if reference is not None:
                reference.close()
            raise
        log.warning("%s: %s %s does not load here (%s); auto falls back to onnxruntime fp32", reference.path,
                    c.backend, c.precision, exc)
        return _finish(reference, RuntimeChoice("onnxruntime", "fp32", f"auto: fell back, since {c.backend} "
                                                f"{c.precision} did not load here: {exc}", None))
    if reference is not None:
        reference.close()
    return _finish(chosen, choice)


def _cached_choice(hit, by_key: dict[str, Candidate]) -> tuple[Candidate, dict[str, float], str] | None:
    """(candidate, probe times, when) from a cache entry, or None for a miss or an entry that does not parse
    (the cache only saves a measurement: a damaged one is measured again, never an error)."""
    try:
        if not isinstance(hit, dict) or not isinstance(hit.get("choice"), str) or hit["choice"] not in by_key:
            return None
        probe = {str(k): float(v) for k, v in (hit.get("probe_ms") or {}).items()}
        return by_key[hit["choice"]], probe, str(hit.get("when", ""))
    except (TypeError, ValueError, AttributeError):
        return None


def _reason(winner: str, probe_ms: dict[str, float], when: str) -> str:
    shown = ", ".join(f"{k} {v:.1f} ms" for k, v in sorted(probe_ms.items(), key=lambda kv: kv[1]))
    ref = probe_ms.get("onnxruntime-fp32")
    speedup = f", {ref / probe_ms[winner]:.2f}x onnxruntime-fp32" \
        if ref and probe_ms.get(winner) and winner != "onnxruntime-fp32" else ""
    return f"auto: measured on this machine{' at ' + when if when else ''}: {shown}{speedup}"


def _finish(backend, choice: RuntimeChoice):
    backend.choice = choice
    log.info("%s runs on %s", backend.path, choice.describe())
    return backend


def describe_candidates(path: Path, metadata: dict[str, str], *, device: str = "auto",
                        capabilities: CpuCapabilities | None = None) -> dict:
    """What ``auto`` would consider for ``path`` on this machine (for ``translate info``); loads nothing."""
    caps = capabilities if capabilities is not None else read_cpu_capabilities()
    ov = openvino_version()
    cands = candidates(path, metadata, device=device, capabilities=caps, openvino=ov)
    usable = [c for c in cands if not c.why_not]
    cached = None
    if len(usable) > 1:
        from translate.threads import inference_threads

        key = _cache_key(usable, caps, inference_threads(None, quiet=True).threads, device, ov)  # as run/serve
        hit = _cached_choice(_read_cache().get(key), {c.key: c for c in usable})
        cached = hit[0].key if hit else None
    return {"cpu": caps.describe(), "openvino": ov,
            "candidates": [{"variant": c.key, "usable": not c.why_not, "why_not": c.why_not,
                            "fidelity": c.fidelity.to_dict() if c.fidelity else None} for c in cands],
            "auto": usable[0].key if len(usable) == 1 else cached}

