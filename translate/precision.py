"""Lower-precision inference that checks itself: variants, their fidelity gates, and what this CPU runs natively.

Vocabulary (used by export, the backends, ``translate info`` and the server):

- **backend**: the runtime that executes an exported ONNX file, ``onnxruntime`` or ``openvino``.
- **precision**: ``fp32`` (the exported file as it is), ``bf16`` (the same file on OpenVINO with
  ``INFERENCE_PRECISION_HINT=bf16``: a runtime hint, not a file) or ``int8`` (``model.int8.onnx``
  beside ``model.onnx``: an ONNX QDQ model from NNCF post-training quantisation, calibrated on
  real images; :func:`translate.modelrepo.variant_path` names it).
- **variant**: a (backend, precision) pair. ``onnxruntime``/``fp32`` is the reference every other
  variant is measured against.
- **fidelity**: what ``translate export --precision`` measured for a variant on held-out real
  images against the reference: PSNR of the pooled squared error (peak = the value range, 2 for
  [-1, 1]), PSNR of the worst single image, and the largest absolute error. A variant whose
  figures are under its :class:`Gate` is never written (ONNX Runtime int8, which ``auto`` never
  picks, is the exception: its figures are recorded whatever they are, and an explicit request
  below the gate is refused at load); the figures travel in the ONNX ``metadata_props`` (bf16 in
  ``model.onnx``, int8 in ``model.int8.onnx``) under the keys this module owns
  (:data:`FIDELITY_PREFIX`, :data:`PRECISION_KEY`, :data:`QUANT_PREFIX`).

Why these gates (measured on trained pix2pix U-Net-256, CycleGAN ResNet-9 and SRResNet x4 exports
on a Zen 4 CPU): bf16 on OpenVINO gave 57-71 dB, good int8 exports 39.6-52 dB (worst image
38-50 dB), while broken int8 exports (every op quantised, calibrated on noise) fell to 17-31.5 dB.
The max abs error is recorded but not gated: int8 reaches 0.04-0.6 on one pixel even when the
image as a whole is faithful.

CPU capabilities come from ``/proc/cpuinfo`` flags (:func:`read_cpu_capabilities`), not from
OpenVINO's ``OPTIMIZATION_CAPABILITIES``, which lists ``BF16`` on every AVX-512 CPU although only
CPUs with ``avx512_bf16`` or AMX run it natively (the others emulate it, slower than fp32).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from translate.errors import ConfigError

BACKENDS = ("onnxruntime", "openvino")
CALIBRATION_IMAGES = 16  # images int8 calibrates on by default (research: 16 were enough; fewer clip outliers)
MEASURE_SIDE = 256  # translators are measured and timed on 256 px squares (the papers' test size)
MEASURE_SIDE_SR = 64  # super-resolvers on 64 px LR squares (64 -> 256 at x4)
PRECISIONS = ("fp32", "bf16", "int8")
AUTO = "auto"
REFERENCE = ("onnxruntime", "fp32")

# metadata keys (ONNX metadata_props) owned here
PRECISION_KEY = "precision"  # the precision of the file's own graph: "fp32" (absent in older files) or "int8"
FIDELITY_PREFIX = "fidelity."  # fidelity.<backend>-<precision>.<field>
QUANT_PREFIX = "quantization."  # quantization.tool, .calibration_images, .ignored, .source_sha256

# the order of fidelity when two variants are equally fast: the closer to fp32 wins
FIDELITY_RANK = {"fp32": 0, "bf16": 1, "int8": 2}

# CPU flags (Linux /proc/cpuinfo names) that mean native bf16 / int8 dot products
BF16_FLAGS = ("avx512_bf16", "amx_bf16")
INT8_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")


@dataclass(frozen=True)
class Gate:
    """The least fidelity a variant must show: pooled PSNR and worst-image PSNR, in dB."""

    min_psnr_db: float
    min_worst_psnr_db: float

    def __post_init__(self) -> None:
        for name in ("min_psnr_db", "min_worst_psnr_db"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or math.isnan(value) or value < 0:
                raise ConfigError(f"fidelity gate {name} must be a number of dB >= 0, got {value!r}")


MIN_WORST_PSNR_DB = 33.0
DEFAULT_GATES = {"bf16": Gate(40.0, MIN_WORST_PSNR_DB), "int8": Gate(35.0, MIN_WORST_PSNR_DB)}


def check_choice(backend: str, precision: str) -> None:
    """ConfigError for a backend or precision name that does not exist."""
    if backend not in (AUTO, *BACKENDS):
        raise ConfigError(f"unknown backend {backend!r}; choose one of {', '.join((AUTO, *BACKENDS))}")
    if precision not in (AUTO, *PRECISIONS):
        raise ConfigError(f"unknown precision {precision!r}; choose one of {', '.join((AUTO, *PRECISIONS))}")


def parse_precisions(text: str | list[str] | tuple[str, ...]) -> list[str]:
    """``"fp32,bf16"`` (or a list) -> ``["fp32", "bf16"]`` in canonical order; fp32 is always included."""
    items = text.split(",") if isinstance(text, str) else list(text)
    wanted = {s.strip().lower() for s in items if s.strip()}
    unknown = sorted(wanted - set(PRECISIONS))
    if unknown:
        raise ConfigError(f"unknown precision {', '.join(unknown)}; choose from {', '.join(PRECISIONS)} "
                          "(several at once: fp32,bf16,int8)")
    return [p for p in PRECISIONS if p in wanted or p == "fp32"]


# ----------------------------------------------------------------------------- fidelity
def _fmt_db(value: float) -> str:
    return "inf" if math.isinf(value) else f"{value:.2f}"


def _parse_float(text: str) -> float:
    return math.inf if text == "inf" else float(text)


@dataclass(frozen=True)
class Fidelity:
    """How closely one variant reproduced the fp32 reference on held-out real images.

    ``float_precision`` is what OpenVINO ran the ops left in float in (int8 variants: bf16 where
    the CPU has it natively, else f32); empty for other variants.
    """

    backend: str
    precision: str
    psnr_db: float
    worst_psnr_db: float
    max_abs_err: float
    images: int
    gate: Gate
    float_precision: str = ""

    @property
    def variant(self) -> str:
        """``<backend>-<precision>``, the key of this variant in the metadata."""
        return f"{self.backend}-{self.precision}"

    @property
    def passed(self) -> bool:
        """True when both PSNR figures reach the gate."""
        return self.psnr_db >= self.gate.min_psnr_db and self.worst_psnr_db >= self.gate.min_worst_psnr_db

    def line(self) -> str:
        """One human-readable line with the verdict."""
        verdict = "PASS" if self.passed else "BELOW GATE"
        extra = f", float ops in {self.float_precision}" if self.float_precision else ""
        return (f"{self.precision} on {self.backend}: PSNR {_fmt_db(self.psnr_db)} dB over {self.images} images, "
                f"worst image {_fmt_db(self.worst_psnr_db)} dB, max abs err {self.max_abs_err:.3g}{extra} "
                f"(gate {self.gate.min_psnr_db:g} dB, worst image {self.gate.min_worst_psnr_db:g} dB): {verdict}")

    def to_metadata(self) -> dict[str, str]:
        """The ``fidelity.<backend>-<precision>.*`` keys."""
        p = f"{FIDELITY_PREFIX}{self.variant}."
        md = {p + "psnr_db": _fmt_db(self.psnr_db), p + "worst_psnr_db": _fmt_db(self.worst_psnr_db),
              p + "max_abs_err": f"{self.max_abs_err:.6g}", p + "images": str(self.images),
              p + "gate_db": f"{self.gate.min_psnr_db:g}", p + "worst_gate_db": f"{self.gate.min_worst_psnr_db:g}"}
        if self.float_precision:
            md[p + "float_precision"] = self.float_precision
        return md

    def to_dict(self) -> dict:
        """Plain-dict form (JSON, ``translate info --json``, the server's model description)."""
        return {"backend": self.backend, "precision": self.precision, "psnr_db": self.psnr_db,
                "worst_psnr_db": self.worst_psnr_db, "max_abs_err": self.max_abs_err, "images": self.images,
                "gate_db": self.gate.min_psnr_db, "worst_gate_db": self.gate.min_worst_psnr_db,
                "float_precision": self.float_precision, "passed": self.passed}


def fidelities(metadata: dict[str, str]) -> dict[tuple[str, str], Fidelity]:
    """Every fidelity recorded in ``metadata``, keyed by (backend, precision); malformed entries are skipped."""
    found: dict[tuple[str, str], Fidelity] = {}
    for backend in BACKENDS:
        for precision in PRECISIONS:
            p = f"{FIDELITY_PREFIX}{backend}-{precision}."
            if p + "psnr_db" not in metadata:
                continue
            try:
                found[(backend, precision)] = Fidelity(
                    backend, precision, _parse_float(metadata[p + "psnr_db"]),
                    _parse_float(metadata[p + "worst_psnr_db"]), float(metadata[p + "max_abs_err"]),
                    int(metadata[p + "images"]),
                    Gate(float(metadata[p + "gate_db"]), float(metadata[p + "worst_gate_db"])),
                    metadata.get(p + "float_precision", ""))
            except (KeyError, ValueError, ConfigError):
                continue
    return found


def file_precision(metadata: dict[str, str]) -> str:
    """The precision of a file's own graph: ``int8`` for a quantised variant, else ``fp32``."""
    return "int8" if metadata.get(PRECISION_KEY) == "int8" else "fp32"


def without_fidelity(metadata: dict[str, str]) -> dict[str, str]:
    """``metadata`` without the keys of this module (the model description a variant file starts from)."""
    return {k: v for k, v in metadata.items()
            if not k.startswith((FIDELITY_PREFIX, QUANT_PREFIX)) and k != PRECISION_KEY}


# ----------------------------------------------------------------------------- the CPU
@dataclass(frozen=True)
class CpuCapabilities:
    """The CPU model and the instruction-set flags that decide whether bf16 / int8 run natively."""

    model: str = ""
    flags: frozenset[str] = field(default_factory=frozenset)

    @property
    def bf16(self) -> bool:
        """Native bf16 dot products (AVX512-BF16 or AMX-BF16)."""
        return any(f in self.flags for f in BF16_FLAGS)

    @property
    def int8(self) -> bool:
        """Native int8 dot products (VNNI or AMX-INT8)."""
        return any(f in self.flags for f in INT8_FLAGS)

    def relevant_flags(self) -> list[str]:
        """The flags of :data:`BF16_FLAGS` and :data:`INT8_FLAGS` this CPU has (for logs and cache keys)."""
        return sorted(f for f in (*BF16_FLAGS, *INT8_FLAGS) if f in self.flags)

    def describe(self) -> str:
        """``"AMD EPYC ... (avx512_bf16, avx512_vnni)"``."""
        return f"{self.model or 'unknown CPU'} ({', '.join(self.relevant_flags()) or 'no bf16/int8 flags'})"


def read_cpu_capabilities(path: str | os.PathLike = "/proc/cpuinfo") -> CpuCapabilities:
    """The first processor's model name and flags from ``/proc/cpuinfo``; no flags where the file is missing.

    Without the file (macOS, Windows) nothing counts as native, so ``auto`` keeps fp32 on ONNX
    Runtime there; explicit ``--precision`` choices are refused the same way.
    """
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return CpuCapabilities()
    model, flags = "", frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not model:
            model = value.strip()
        elif key in ("flags", "Features") and not flags:
            flags = frozenset(value.split())
        if model and flags:
            break
    return CpuCapabilities(model, flags)


def openvino_version() -> str | None:
    """The installed OpenVINO runtime's version, or None when the ``openvino`` package cannot be imported."""
    try:
        import openvino
    except Exception:  # ImportError, or a broken install (missing shared libraries)
        return None
    return str(openvino.get_version()).split("-")[0]


# ----------------------------------------------------------------------------- what was chosen
@dataclass(frozen=True)
class RuntimeChoice:
    """The backend and precision a model runs on, and why (set by :func:`translate.backends.load_backend`).

    ``probe_ms``: median milliseconds per call of each candidate (``<backend>-<precision>``) when
    ``auto`` measured them (on this machine, now or earlier: ``cached``); empty otherwise.
    """

    backend: str
    precision: str
    reason: str
    fidelity: Fidelity | None = None
    probe_ms: dict[str, float] = field(default_factory=dict)
    cached: bool = False

    def describe(self) -> str:
        """``"openvino bf16 (auto: ...)"``, the line the CLI and the server log."""
        return f"{self.backend} {self.precision} ({self.reason})"

    def to_dict(self) -> dict:
        """Plain-dict form for JSON output."""
        return {"backend": self.backend, "precision": self.precision, "reason": self.reason,
                "fidelity": self.fidelity.to_dict() if self.fidelity else None, "probe_ms": dict(self.probe_ms),
                "cached": self.cached}


def measure_side(info) -> int:
    """Side of the square inputs variants are measured and timed on (:data:`MEASURE_SIDE`, or
    :data:`MEASURE_SIDE_SR` for super-resolvers), never under the network's minimum input, rounded
    up to its pad multiple. ``info``: the model's :class:`~translate.modelinfo.ModelInfo`."""
    side = MEASURE_SIDE_SR if info.task == "super_resolve" else MEASURE_SIDE
    side = max(side, getattr(info, "min_input_size", 0) or 0)
    m = info.pad_multiple
    return m * -(-side // m)
