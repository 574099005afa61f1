"""ONNX export of trained generators, verified against PyTorch on the spot.

Spec: ONNX (opset 18 by default; https://onnx.ai/onnx/operators/) with the model's
:class:`~translate.modelinfo.ModelInfo` written as ``metadata_props``. The exported graph is
the eval-mode, unwrapped generator (EMA weights when the checkpoint has them): the reference
pix2pix/CycleGAN code's users got ONNX files that differed from PyTorch because dropout and
batch norm stayed in training mode and shapes were frozen; here the mode is explicit and every
export is checked (ONNX checker, then ONNX Runtime vs PyTorch on random inputs and on a real
photo at two sizes, one of them padded through :mod:`translate.images`). Nothing is written
unless the check passes, and files are written atomically.

Graph interface: image models ``input`` float32 [N, C, H, W] in [-1, 1] -> ``output``
[N, C', H*scale, W*scale]; batch, height and width are dynamic (height/width as multiples of
``pad_multiple``). Generators ``z`` float32 [N, nz] (+ ``label`` int64 [N]) -> ``output``
[N, C, S, S]; batch is dynamic.

Batch norm (pix2pix U-Net, Isola et al. 2017, sec. 3.3 / 4): the paper ran the generator with
batch statistics at test time (batch size 1). ``batchnorm_mode="batch"`` reproduces that with
per-image statistics, so a served image never depends on which other requests shared its
batch; ``"running"`` uses the running averages (standard eval mode); see
:mod:`translate.nets.batchnorm`. Dropout is always off.

Repository exports (:func:`export_to_repository`) are installed through :mod:`translate.modelrepo`,
the one owner of the ``MODELS/<name>/<version>/model.onnx`` layout.

Lower precision (``precisions``): bf16 and int8 variants are measured against the fp32 model on
held-out real images and refused under their fidelity gate (:mod:`translate.precision_export`);
the int8 file is written beside the fp32 one (``model.int8.onnx``): into a repository in the same
atomic step as the version folder; with ``export_onnx`` by two atomic writes, the int8 file first,
so that a complete ``model.onnx`` never lacks the variant it was exported with.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import io
import logging
import math
import os
import re
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from translate.atomic import atomic_write_bytes
from translate.checkpoint import generator_name, load_checkpoint, load_generator, unwrap
from translate.errors import ConfigError, ExportError, ModelError
from translate.modelinfo import ModelInfo
from translate.modelrepo import CONFIG_FILE, install_version, next_version, variant_path
from translate.nets import network_requirements
from translate.nets.batchnorm import BATCHNORM_MODES, count_batchnorms, default_batchnorm_mode, use_batch_statistics

log = logging.getLogger(__name__)

DEFAULT_OPSET = 18  # the torch.export-based exporter implements opset >= 18
EXPORTERS = ("auto", "dynamo", "torchscript")
TOLERANCE = 1e-3  # max abs error (outputs in [-1, 1]) above which an export fails
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


# ----------------------------------------------------------------------------- reports
@dataclass
class CheckResult:
    """One ORT-vs-PyTorch comparison: what was fed, max abs error and PSNR (peak = value range)."""

    name: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    max_abs_err: float
    psnr: float

    def line(self) -> str:
        """One human-readable line."""
        psnr = "inf" if math.isinf(self.psnr) else f"{self.psnr:.1f}"
        return (f"{self.name:<44s} in {str(list(self.input_shape)):<18s} out {str(list(self.output_shape)):<18s} "
                f"max abs err {self.max_abs_err:.2e}  PSNR {psnr} dB")


@dataclass
class ExportReport:
    """What one export wrote and how well ONNX Runtime matched PyTorch."""

    path: Path | None
    info: ModelInfo
    exporter: str
    opset: int
    tolerance: float = TOLERANCE
    checks: list[CheckResult] = field(default_factory=list)
    verified: bool = False
    seconds: float = 0.0
    variants: Any = None  # translate.precision_export.VariantSet when bf16/int8 were asked for
    variant_paths: dict[str, Path] = field(default_factory=dict)  # precision -> file written beside ``path``

    @property
    def max_abs_err(self) -> float:
        """Worst max abs error over all checks (0.0 when not verified)."""
        return max((c.max_abs_err for c in self.checks), default=0.0)

    @property
    def psnr(self) -> float:
        """Worst PSNR over all checks (inf when not verified)."""
        return min((c.psnr for c in self.checks), default=math.inf)

    @property
    def passed(self) -> bool:
        """True when every check is within ``tolerance``."""
        return all(c.max_abs_err <= self.tolerance for c in self.checks)

    def summary(self) -> str:
        """Multi-line report: destination, exporter, and one line per check."""
        head = (f"{self.path or '(in memory)'}: {self.info.family} {self.info.task}"
                f"{' ' + self.info.direction if self.info.direction else ''}, exporter {self.exporter}, "
                f"opset {self.opset}, batchnorm {self.info.batchnorm_mode}")
        if not self.verified:
            return head + "\n  not verified (--no-verify)"
        lines = [head] + ["  " + c.line() for c in self.checks]
        verdict = "PASS" if self.passed else "FAIL"
        lines.append(f"  {verdict}: worst max abs err {self.max_abs_err:.2e} (tolerance {self.tolerance:.0e}), "
                     f"worst PSNR {self.psnr:.1f} dB")
        if self.variants is not None and self.variants.fidelity:
            lines += ["  " + line for line in self.variants.lines()]
        return "\n".join(lines)


# ----------------------------------------------------------------------------- batch norm reference
def _batch_mode_reference(net: nn.Module):
    """Independent torch reference for "batch" mode: BN layers in train mode, one image at a time.

    Works on a deep copy, so the running statistics of ``net`` are not touched.
    """
    ref = copy.deepcopy(net).eval()
    for m in ref.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.train()

    def forward(*args: torch.Tensor) -> torch.Tensor:
        n = args[0].shape[0]
        return torch.cat([ref(*(a[i : i + 1] for a in args)) for i in range(n)])

    return forward


# ----------------------------------------------------------------------------- graph wrappers
class _ImageModel(nn.Module):
    """input [N, C, H, W] -> output; fixes the graph's argument names."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, input: torch.Tensor) -> torch.Tensor:  # noqa: A002 - the ONNX input name
        return self.net(input)


class _LatentModel(nn.Module):
    """z [N, nz] -> output."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class _ConditionalModel(nn.Module):
    """z [N, nz], label [N] int64 -> output."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, z: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        return self.net(z, label)


def _example_args(info: ModelInfo, static_shape: tuple[int, int] | None, batch: int) -> tuple[torch.Tensor, ...]:
    """Example inputs: ``batch`` items of at least 32 px (a multiple of the pad multiple).

    torch.export needs batch 2 (a size-1 example would specialise the dimension to 1); the
    TorchScript tracer really runs the network, so it gets batch 1. 32 px keeps every
    instance-norm layer of a ResNet generator above 1x1 (instance norm cannot normalise 1 pixel).
    """
    if info.task == "generate":
        z = torch.zeros(batch, info.latent_size)
        return (z, torch.zeros(batch, dtype=torch.long)) if info.num_classes > 0 else (z,)
    m = info.pad_multiple
    side = m * max(batch, math.ceil(32 / m))  # torch.export also needs >= 2 units per side
    h, w = static_shape if static_shape else (side, side)
    return (torch.zeros(batch, info.in_channels, h, w),)


def _graph_io(info: ModelInfo, net: nn.Module) -> tuple[nn.Module, list[str]]:
    """(wrapper module, input names) for the model's task."""
    if info.task == "generate":
        if info.num_classes > 0:
            return _ConditionalModel(net), ["z", "label"]
        return _LatentModel(net), ["z"]
    return _ImageModel(net), ["input"]


def _dynamo_shapes(info: ModelInfo, static_shape):
    from torch.export import Dim

    batch = Dim("batch", min=1, max=4096)
    if info.task == "generate":
        shapes = [{0: batch}]
        if info.num_classes > 0:
            shapes.append({0: batch})
        return tuple(shapes)
    if static_shape:
        return ({0: batch},)
    m = info.pad_multiple
    if m == 1:
        return ({0: batch, 2: Dim("height", min=1), 3: Dim("width", min=1)},)
    return ({0: batch, 2: m * Dim(f"height_div{m}", min=1), 3: m * Dim(f"width_div{m}", min=1)},)


def _torchscript_axes(info: ModelInfo, input_names: list[str], static_shape) -> dict[str, dict[int, str]]:
    axes = {name: {0: "batch"} for name in input_names}
    axes["output"] = {0: "batch"}
    if info.task != "generate" and not static_shape:
        axes["input"].update({2: "height", 3: "width"})
        axes["output"].update({2: "out_height", 3: "out_width"})
    return axes


class _QuietExporterLogs:
    """Raise the exporters' chatty loggers (onnxscript passes log every rewrite at INFO) to WARNING."""

    NAMES = ("onnxscript", "onnx_ir", "torch.onnx", "torch.export", "torch._dynamo", "torch.fx")

    def __enter__(self):
        self.saved = {n: logging.getLogger(n).level for n in self.NAMES}
        for n in self.NAMES:
            logging.getLogger(n).setLevel(logging.WARNING)

    def __exit__(self, *exc):
        for n, level in self.saved.items():
            logging.getLogger(n).setLevel(level)


def _export_graph(wrapper, input_names, info, static_shape, opset, exporter):
    """Run torch.onnx.export; returns (ModelProto, exporter actually used)."""
    import onnx

    if exporter not in EXPORTERS:
        raise ConfigError(f"unknown exporter {exporter!r}; choose one of {', '.join(EXPORTERS)}")
    if exporter == "dynamo" and opset < 18:
        raise ConfigError(f"the dynamo exporter needs opset >= 18 (got {opset}); use --exporter torchscript")
    order = ["dynamo", "torchscript"] if exporter == "auto" else [exporter]
    if exporter == "auto" and opset < 18:
        order = ["torchscript"]
    errors = []
    for name in order:
        try:
            with warnings.catch_warnings(), _QuietExporterLogs():
                # the exporters warn about deprecations and tracer internals we handle on purpose
                warnings.simplefilter("ignore")
                if name == "dynamo":
                    program = torch.onnx.export(
                        wrapper, _example_args(info, static_shape, 2), None, dynamo=True,
                        input_names=input_names, output_names=["output"],
                        opset_version=opset, dynamic_shapes=_dynamo_shapes(info, static_shape),
                        external_data=False, optimize=True, verbose=False,
                    )
                    return program.model_proto, name
                buf = io.BytesIO()
                torch.onnx.export(
                    wrapper, _example_args(info, static_shape, 1), buf, dynamo=False,
                    input_names=input_names, output_names=["output"],
                    opset_version=opset, dynamic_axes=_torchscript_axes(info, input_names, static_shape),
                    do_constant_folding=True,
                )
                return onnx.load_from_string(buf.getvalue()), name
        except Exception as exc:  # exporter failures come as many types; report them all together
            errors.append(f"{name}: {type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc) else ''}")
            if len(order) > 1:
                log.warning("ONNX exporter %s failed (%s); trying the next one", name, errors[-1])
    raise ExportError("torch.onnx.export failed: " + "; ".join(errors))


# ----------------------------------------------------------------------------- verification
def _psnr(a: np.ndarray, b: np.ndarray, peak: float) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(peak**2 / mse)


def sample_photo() -> tuple[np.ndarray, str]:
    """A real RGB photo (uint8 HWC) for parity checks, and its name.

    scikit-image's astronaut photo when scikit-image is installed (a dev extra); otherwise a
    deterministic synthetic scene (gradients, edges, texture), named as such in the report.
    """
    try:
        from skimage import data

        return np.ascontiguousarray(data.astronaut()), "photo astronaut"
    except ImportError:
        y, x = np.mgrid[0:256, 0:256].astype(np.float32) / 255
        rng = np.random.default_rng(0)
        img = np.stack([x, y, 0.5 + 0.5 * np.sin(12 * x * y)], -1)
        img[64:160, 96:200] = (0.9, 0.2, 0.1)  # a hard-edged block
        img += 0.05 * rng.standard_normal(img.shape)
        return (np.clip(img, 0, 1) * 255).astype(np.uint8), "synthetic scene"


def check_sizes(info: ModelInfo, static_shape: tuple[int, int] | None) -> list[tuple[int, int]]:
    """Image sizes for the real-photo checks: one on the pad multiple, one off it (padded)."""
    if static_shape:
        return [tuple(static_shape)]
    if info.task == "super_resolve":
        return [(48, 48), (37, 45)]
    m = info.pad_multiple
    # the training crop size when known (what the network saw), at least 64 px, at most 512
    base = min(max(64, info.image_size or 0), 512)
    a = m * max(1, math.ceil(base / m))
    return [(a, a), (a + m // 2 + 1, a + 3)]


def verify_onnx(
    model_bytes: bytes,
    reference,
    info: ModelInfo,
    *,
    static_shape: tuple[int, int] | None = None,
    photo: np.ndarray | None = None,
    photo_name: str = "photo",
) -> list[CheckResult]:
    """Compare ONNX Runtime with the torch ``reference`` callable; returns one CheckResult per check."""
    import onnxruntime as ort

    from translate.backends.onnxruntime import session_options
    from translate.latents import seed_latents

    session = ort.InferenceSession(model_bytes, sess_options=session_options(), providers=["CPUExecutionProvider"])
    peak = info.value_range[1] - info.value_range[0]
    rng = np.random.default_rng(0)
    results: list[CheckResult] = []

    def compare(name: str, feeds: dict[str, np.ndarray]) -> np.ndarray:
        got = session.run(["output"], feeds)[0]
        with torch.inference_mode():
            want = reference(*(torch.from_numpy(v) for v in feeds.values())).numpy()
        if got.shape != want.shape:
            raise ExportError(f"{name}: ONNX output shape {got.shape} != PyTorch {want.shape}")
        first = next(iter(feeds.values()))
        results.append(CheckResult(name, tuple(first.shape), tuple(got.shape),
                                   float(np.max(np.abs(got - want))), _psnr(got, want, peak)))
        return got

    if info.task == "generate":
        n = 4
        feeds = {"z": rng.standard_normal((n, info.latent_size)).astype(np.float32)}
        if info.num_classes > 0:
            feeds["label"] = rng.integers(0, info.num_classes, n).astype(np.int64)
        compare("random z", feeds)
        feeds = {"z": seed_latents(range(n), info.latent_size, truncation=0.7)}
        if info.num_classes > 0:
            feeds["label"] = (np.arange(n) % info.num_classes).astype(np.int64)
        compare("seeds 0-3, truncation 0.7", feeds)
        return results

    from translate import images

    sizes = check_sizes(info, static_shape)
    h0, w0 = sizes[0] if static_shape else (sizes[0][0], sizes[0][0] + info.pad_multiple)
    compare("random uniform", {"input": rng.uniform(-1, 1, (2, info.in_channels, h0, w0)).astype(np.float32)})
    if photo is None:
        photo, photo_name = sample_photo()
    for h, w in sizes:
        img = images.Image(pixels=images.resize_pixels(photo, h, w, resample="lanczos"), alpha=None, format=None)
        prepared = images.prepare(img, info)  # pads to the multiple exactly as every caller does
        padded = "" if prepared.array.shape[-2:] == (h, w) else f" (padded to {prepared.array.shape[-2]}x" \
                                                                 f"{prepared.array.shape[-1]})"
        compare(f"{photo_name} {h}x{w}{padded}", {"input": np.ascontiguousarray(prepared.array, np.float32)})
    return results


# ----------------------------------------------------------------------------- export
def _sha256_short(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:12]


def _check_writable(directory: Path) -> None:
    """Fail early (before minutes of export) if ``directory`` cannot be created or written."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=directory)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ExportError(f"cannot write to {directory}: {exc.strerror or exc}; choose a writable destination") from exc


def _net_consistent_info(net: nn.Module, info: ModelInfo) -> ModelInfo:
    """Make the processing block agree with the network (pad multiple, channels, scale)."""
    changes: dict[str, Any] = {}
    net_multiple = int(getattr(net, "pad_multiple", 1) or 1)
    if info.task != "generate" and info.pad_multiple % net_multiple:
        changes["pad_multiple"] = math.lcm(info.pad_multiple, net_multiple)
        log.warning("checkpoint says pad_multiple %d but %s needs %d; exporting with %d",
                    info.pad_multiple, type(net).__name__, net_multiple, changes["pad_multiple"])
    in_ch = getattr(net, "in_channels", None)
    if info.task != "generate" and in_ch and in_ch != info.in_channels:
        raise ModelError(f"processing block says {info.in_channels} input channels but the network takes {in_ch}")
    scale = getattr(net, "scale", None)
    if info.task == "super_resolve" and scale and scale != info.scale:
        raise ModelError(f"processing block says scale {info.scale} but the network upscales by {scale}")
    arch = getattr(net, "arch", None)
    if info.task != "generate" and arch:  # the network's own minimum input travels in the metadata
        multiple = changes.get("pad_multiple", info.pad_multiple)
        low = network_requirements(arch, getattr(net, "arch_kwargs", {})).min_input_size
        changes["min_input_size"] = -(-max(low, 1) // multiple) * multiple
    return dataclasses.replace(info, **changes) if changes else info


def build_onnx(
    net: nn.Module,
    info: ModelInfo,
    *,
    opset: int = DEFAULT_OPSET,
    static_shape: tuple[int, int] | None = None,
    verify: bool = True,
    batchnorm_mode: str | None = None,
    exporter: str = "auto",
    tolerance: float = TOLERANCE,
    provenance: dict[str, str] | None = None,
    photo: np.ndarray | None = None,
) -> tuple[bytes, ExportReport]:
    """Export ``net`` (any generator built by translate.nets) to ONNX bytes and verify them.

    Raises ExportError, with the full report, when ONNX Runtime and PyTorch differ by more
    than ``tolerance``. Nothing is written to disk here.
    """
    import onnx

    started = time.perf_counter()
    net = copy.deepcopy(unwrap(net)).cpu().eval()  # eval: dropout off, BN as chosen below
    info = _net_consistent_info(net, info)
    mode = batchnorm_mode or default_batchnorm_mode(info)
    if mode not in BATCHNORM_MODES:
        raise ConfigError(f"unknown batchnorm mode {mode!r}; choose one of {', '.join(BATCHNORM_MODES)}")
    if mode == "batch" and not count_batchnorms(net):
        raise ConfigError(f"--batchnorm batch: {type(net).__name__} has no batch-norm layers; leave the option out")
    if static_shape is not None:
        h, w = (int(v) for v in static_shape)
        if info.task == "generate":
            raise ConfigError("--static-shape applies to image models; generators already have a fixed output size")
        if h < 1 or w < 1 or h % info.pad_multiple or w % info.pad_multiple:
            raise ConfigError(f"--static-shape {h} {w} must be positive multiples of the pad multiple "
                              f"{info.pad_multiple}")
        static_shape = (h, w)
    graph_net = use_batch_statistics(net) if mode == "batch" else net
    # The reference is a separate copy: the TorchScript exporter restores the *wrapper's* training
    # flag after export, which would silently flip a shared network back into train mode.
    reference = _batch_mode_reference(net) if mode == "batch" else copy.deepcopy(net).eval()

    wrapper, input_names = _graph_io(info, graph_net)
    wrapper.eval()
    model, used = _export_graph(wrapper, input_names, info, static_shape, opset, exporter)
    actual_opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), opset)

    prov = dict(info.provenance)
    prov.update(provenance or {})
    prov.update(exported=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), exporter=used,
                opset=str(actual_opset), torch_version=torch.__version__)
    info = dataclasses.replace(info, batchnorm_mode=mode, provenance={k: str(v) for k, v in prov.items()})
    del model.metadata_props[:]
    for key, value in info.to_metadata().items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    model.doc_string = f"translate {info.family} {info.task} generator; see metadata_props"
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as exc:  # onnx raises ValidationError / InferenceError
        raise ExportError(f"the exported graph fails the ONNX checker: {exc}") from exc
    data = model.SerializeToString()

    report = ExportReport(path=None, info=info, exporter=used, opset=actual_opset, tolerance=tolerance)
    if verify:
        report.checks = verify_onnx(data, reference, info, static_shape=static_shape, photo=photo)
        report.verified = True
    report.seconds = time.perf_counter() - started
    if verify and not report.passed:
        raise ExportError("ONNX Runtime output differs from PyTorch beyond tolerance; nothing was written.\n"
                          + report.summary())
    if verify:  # the parity figures travel with the file, so a model card can show them (the graph is unchanged)
        info.provenance.update(parity_max_abs_err=f"{report.max_abs_err:.3g}", parity_psnr_db=f"{report.psnr:.1f}",
                               parity_tolerance=f"{report.tolerance:.0e}")
        del model.metadata_props[:]
        for key, value in info.to_metadata().items():
            entry = model.metadata_props.add()
            entry.key, entry.value = key, value
        data = model.SerializeToString()
    return data, report


def _load(checkpoint) -> tuple[dict, dict[str, str]]:
    """(checkpoint dict, provenance from the file: sha256 and name)."""
    if isinstance(checkpoint, dict):
        return checkpoint, {}
    path = Path(checkpoint)
    ckpt = load_checkpoint(path)
    return ckpt, {"source_file": path.name, "source_sha256": _sha256_short(path)}


_VARIANT_KWARGS = ("precisions", "calibration", "fidelity_images", "calibration_count", "gates", "threads")


def _export_one(ckpt: dict, source: dict[str, str], direction: str | None, ema: bool, **kwargs):
    variant_kwargs = {k: kwargs.pop(k) for k in _VARIANT_KWARGS if k in kwargs}
    name = generator_name(ckpt, direction)
    net, info = load_generator(ckpt, direction, ema=ema)
    used_ema = bool(ema and ckpt.get("ema", {}).get(name))
    prov = {k: str(v) for k, v in (ckpt.get("provenance") or {}).items()
            if isinstance(v, (str, int, float, bool)) and v != ""}
    prov.update(source)
    prov.update(generator=name, ema=str(used_ema).lower())
    data, report = build_onnx(net, info, provenance=prov, **kwargs)
    precisions = variant_kwargs.pop("precisions", None)
    if precisions and any(p != "fp32" for p in precisions):
        from translate.precision_export import build_variants

        report.variants = build_variants(data, report.info, precisions, **variant_kwargs)
        data = report.variants.fp32
    return data, report


def _normalise_precisions(kwargs: dict) -> None:
    """``precisions`` as the canonical list (a string such as ``"fp32,int8"`` is accepted too)."""
    if kwargs.get("precisions"):
        from translate.precision import parse_precisions

        kwargs["precisions"] = parse_precisions(kwargs["precisions"])


def _refuse_existing(targets: list[Path], force: bool) -> None:
    """ExportError for the first of ``targets`` that exists, unless ``force``."""
    for target in targets:
        if target.exists() and not force:
            raise ExportError(f"{target} already exists; pass --force to overwrite it or choose another path")


def check_variant_request(kwargs: dict, directions: list) -> None:
    """ConfigError for precision variants that cannot be measured as asked (before any export work)."""
    if not any(p != "fp32" for p in kwargs.get("precisions") or ()):
        return
    if len(directions) > 1:
        raise ConfigError("bf16/int8 variants are calibrated and measured on images of one direction's inputs; "
                          "export each direction on its own (--direction AtoB, then BtoA) with its own --calibration")
    if kwargs.get("static_shape"):
        raise ConfigError("--static-shape cannot be combined with bf16/int8 variants yet; export them without it")
    from translate.precision import openvino_version, parse_precisions
    from translate.precision_export import CALIBRATION_IMAGES, image_sets

    precisions = parse_precisions(kwargs["precisions"])
    image_sets(kwargs.get("calibration"), kwargs.get("fidelity_images"), need_calibration="int8" in precisions,
               calibration_count=kwargs.get("calibration_count", CALIBRATION_IMAGES))
    if openvino_version() is None:
        raise ExportError("bf16/int8 variants are measured on OpenVINO, which is not installed; "
                          "install the extra: pip install 'translate[openvino]'")


def _variant_files(report: ExportReport) -> dict[str, bytes]:
    return dict(report.variants.files) if report.variants is not None else {}


def _directions(ckpt: dict, direction: str | None) -> list[str | None]:
    """``both`` (or no choice on a two-generator checkpoint) -> every stored direction."""
    stored = [p.get("direction", "") for p in ckpt["processing"].values()]
    if direction == "both" or (direction in (None, "") and len(stored) > 1):
        if len(stored) < 2:
            raise ConfigError(f"--direction both needs a checkpoint with two generators; this {ckpt['family']} "
                              "checkpoint has one")
        return stored
    return [direction]


def export_onnx(
    checkpoint: str | os.PathLike | dict,
    out_path: str | os.PathLike,
    *,
    direction: str | None = None,
    opset: int = DEFAULT_OPSET,
    ema: bool = True,
    static_shape: tuple[int, int] | None = None,
    verify: bool = True,
    batchnorm_mode: str | None = None,
    exporter: str = "auto",
    tolerance: float = TOLERANCE,
    force: bool = False,
    photo: np.ndarray | None = None,
    **variant_kwargs,
) -> ExportReport:
    """Export one generator of ``checkpoint`` to ``out_path`` (atomic; verified unless ``verify=False``).

    ``direction`` picks one of CycleGAN's generators ("AtoB"/"BtoA"); for both use
    :func:`export_to_repository` or call this twice. An existing file is replaced only with
    ``force=True``. ``variant_kwargs``: ``precisions`` (e.g. ``("fp32", "bf16", "int8")``),
    ``calibration`` and ``fidelity_images`` (folders of real images), ``calibration_count``,
    ``gates`` ({precision: Gate}) and ``threads``, see
    :func:`translate.precision_export.build_variants`; the int8 file goes to
    ``translate.modelrepo.variant_path(out_path, "int8")``.
    """
    if direction == "both":
        raise ConfigError("export_onnx writes one file; pass direction 'AtoB' or 'BtoA' (or use a model repository)")
    out_path = Path(out_path)
    if out_path.suffix != ".onnx":
        raise ConfigError(f"output {out_path} should end in .onnx")
    unknown = sorted(set(variant_kwargs) - set(_VARIANT_KWARGS))
    if unknown:
        raise TypeError(f"export_onnx() got unexpected keyword arguments {', '.join(unknown)}")
    _normalise_precisions(variant_kwargs)
    wanted = [p for p in variant_kwargs.get("precisions") or () if p != "fp32"]
    check_variant_request({**variant_kwargs, "static_shape": static_shape}, [direction])
    targets = [out_path] + [variant_path(out_path, p) for p in wanted if variant_path(out_path, p) != out_path]
    _refuse_existing(targets, force)
    _check_writable(out_path.parent)
    ckpt, source = _load(checkpoint)
    data, report = _export_one(ckpt, source, direction, ema, opset=opset, static_shape=static_shape, verify=verify,
                               batchnorm_mode=batchnorm_mode, exporter=exporter, tolerance=tolerance, photo=photo,
                               **variant_kwargs)
    files = _variant_files(report)
    _refuse_existing(targets, force)  # again: an int8 export takes minutes, and a file may have appeared since
    try:
        for precision, blob in files.items():  # variants first: model.onnx appears last, complete with them
            report.variant_paths[precision] = atomic_write_bytes(variant_path(out_path, precision),
                                                                 lambda f, b=blob: f.write(b))
        atomic_write_bytes(out_path, lambda f: f.write(data))
        stale = variant_path(out_path, "int8")
        if force and "int8" not in files and stale.exists():  # it was quantised from the file just replaced
            stale.unlink()
            log.warning("removed %s: it was quantised from the model this export replaced", stale)
    except OSError as exc:
        raise ExportError(f"cannot write {out_path}: {exc.strerror or exc}; choose a writable destination") from exc
    report.path = out_path
    return report


def export_to_repository(
    checkpoint: str | os.PathLike | dict,
    repo: str | os.PathLike,
    name: str,
    version: int | None = None,
    direction: str | None = None,
    force: bool = False,
    *,
    max_batch_size: int = 8,
    **export_kwargs,
) -> list[ExportReport]:
    """Export into a model repository: ``REPO/NAME/VERSION/model.onnx`` + ``REPO/NAME/config.pbtxt``.

    CycleGAN with ``direction="both"`` (the default for a two-generator checkpoint) writes
    ``NAME-AtoB`` and ``NAME-BtoA``. ``version=None`` takes the next free number per model.
    An existing version is replaced only with ``force=True``. Every model is verified before
    anything is written, so a failing direction (or a precision variant under its fidelity gate)
    leaves the repository untouched. ``export_kwargs`` go to :func:`build_onnx` (opset, ema,
    static_shape, verify, ...) and to the precision variants (see :func:`export_onnx`).
    """
    from translate.triton import model_config

    if not _NAME_RE.match(name or ""):
        raise ConfigError(f"model name {name!r} must be letters, digits, '_', '-' or '.', not starting with '.' or '-'")
    if version is not None and (not isinstance(version, int) or version < 1):
        raise ConfigError(f"--version must be a positive integer (got {version!r})")
    repo = Path(repo)
    ckpt, source = _load(checkpoint)
    directions = _directions(ckpt, direction)
    _normalise_precisions(export_kwargs)
    check_variant_request(export_kwargs, directions)
    names = [f"{name}-{d}" if len(directions) > 1 else name for d in directions]
    targets = []
    for model_name in names:
        model_dir = repo / model_name
        v = version if version is not None else next_version(model_dir)
        if (model_dir / str(v)).exists() and not force:
            raise ExportError(f"{model_dir / str(v)} already exists; pass --force to overwrite it or choose a new "
                              "--version")
        _check_writable(model_dir)
        targets.append((model_dir, v))

    ema = export_kwargs.pop("ema", True)
    built = [_export_one(ckpt, source, d, ema, **export_kwargs) for d in directions]
    reports = []
    for (model_dir, v), model_name, (data, report) in zip(targets, names, built):
        try:
            config = model_config(model_name, report.info, max_batch_size=max_batch_size,
                                  static_shape=export_kwargs.get("static_shape"))
            atomic_write_bytes(model_dir / CONFIG_FILE, lambda f, c=config: f.write(c.encode()))
            report.path = install_version(model_dir, v, data, force, variants=_variant_files(report))
            report.variant_paths = {p: variant_path(report.path, p) for p in _variant_files(report)}
        except OSError as exc:
            raise ExportError(f"cannot write into {model_dir}: {exc.strerror or exc}; choose a writable "
                              "repository") from exc
        reports.append(report)
    return reports

