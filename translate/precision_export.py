"""Building and gating the bf16 and int8 variants of an export (``translate export --precision``).

Each variant is measured against the fp32 model on ONNX Runtime, on held-out real images, on the
runtime that will serve it (OpenVINO): pooled PSNR, worst-image PSNR and max abs error
(:class:`translate.precision.Fidelity`). A variant under its gate stops the export with the figures
and nothing is written. The figures of the variants that passed go into the metadata: bf16 into
``model.onnx`` (bf16 is a runtime hint on that file), int8 into ``model.int8.onnx``.

int8 is NNCF post-training quantisation of the ONNX model (https://github.com/openvinotoolkit/nncf):
an ONNX QDQ file both runtimes read. Chosen by measurement on trained pix2pix U-Net-256, CycleGAN
ResNet-9 and SRResNet x4 exports (PSNR vs fp32 when run on OpenVINO): NNCF-on-ONNX 52.0 / 39.6 /
43.3 dB at 2.1-3.5x the speed of fp32; ONNX Runtime's ``quantize_static`` QDQ only 38.7 / 28.8 /
44.4 dB (it quantises the inputs of instance norm, which then amplifies the error); an OpenVINO IR
from NNCF 45.6 / 33.9 / 44.9 dB and a second file format. The first and the last convolution stay
in float (+8.6 dB on the U-Net, the layers that touch pixels), and 16 calibration images were
enough (with 1-4 the ranges clipped outliers: max error 0.6; 32 changed nothing).
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from translate.errors import ConfigError, DataError, ExportError, ModelError
from translate.modelinfo import ModelInfo
from translate.precision import (
    CALIBRATION_IMAGES,
    DEFAULT_GATES,
    PRECISION_KEY,
    QUANT_PREFIX,
    Fidelity,
    Gate,
    measure_side,
    parse_precisions,
    read_cpu_capabilities,
    without_fidelity,
)

log = logging.getLogger(__name__)

MIN_CALIBRATION_IMAGES = 8  # fewer draws a warning
FIDELITY_IMAGES = 16  # held-out images each variant is measured on


@dataclass
class VariantSet:
    """What :func:`build_variants` made: the final fp32 bytes, the variant files' bytes and every figure."""

    fp32: bytes
    files: dict[str, bytes] = field(default_factory=dict)  # precision -> bytes of its own file ("int8")
    fidelity: list[Fidelity] = field(default_factory=list)
    calibration_images: int = 0
    fidelity_images: int = 0
    seconds: float = 0.0

    def lines(self) -> list[str]:
        """One line per measured variant."""
        head = f"precision variants measured on {self.fidelity_images} held-out images"
        if self.calibration_images:
            head += f", int8 calibrated on {self.calibration_images}"
        return [head + f" ({self.seconds:.0f} s):"] + ["  " + f.line() for f in self.fidelity]


# ----------------------------------------------------------------------------- images
def model_inputs(files: list[Path], info: ModelInfo) -> list[np.ndarray]:
    """Real images -> model inputs [1, C, S, S]: centre crops of one side S for all (resized up when smaller).

    S is :func:`translate.precision.measure_side` (256 px for translators, 64 px for super-resolvers),
    or the smallest image's short side when that is less, rounded down to the model's pad multiple;
    never under the network's minimum input (smaller images are resized up to it).
    """
    from translate.images import convert_channels, read_image, resize_pixels, to_model_array

    m = info.pad_multiple
    pixels = [convert_channels(read_image(f).pixels, info.in_channels) for f in files]
    short = min(min(p.shape[:2]) for p in pixels)
    least = m * -(-max(1, getattr(info, "min_input_size", 0) or 0) // m)  # the network's minimum, padded
    side = max(least, (min(measure_side(info), short) // m) * m)
    out = []
    for px in pixels:
        h, w = px.shape[:2]
        if min(h, w) < side:  # smaller than the network's minimum: scale the short side up to it
            k = side / min(h, w)
            h, w = max(side, round(h * k)), max(side, round(w * k))
            px = resize_pixels(px, h, w)
        top, left = (h - side) // 2, (w - side) // 2
        out.append(to_model_array(np.ascontiguousarray(px[top:top + side, left:left + side]), info.in_channels))
    return out


def image_sets(calibration: str | os.PathLike | None, fidelity: str | os.PathLike | None, *, need_calibration: bool,
               calibration_count: int = CALIBRATION_IMAGES) -> tuple[list[Path], list[Path]]:
    """(calibration files, held-out files), never the same file in both.

    Without a separate ``fidelity`` folder the ``calibration`` folder is split: alternate files
    go to calibration (up to ``calibration_count``) and to the held-out set (up to
    :data:`FIDELITY_IMAGES`); with bf16 alone every file is held out.
    """
    from translate.images import list_image_files

    if calibration_count < 1:
        raise ConfigError(f"--calibration-count must be >= 1, got {calibration_count}")
    if calibration is None and fidelity is None:
        raise ConfigError("bf16 and int8 variants are measured on real images: pass --calibration DIR (images like "
                          "the ones the model will translate, e.g. the run's validation inputs)")
    if need_calibration and calibration is None:
        raise ConfigError("--precision int8 needs --calibration DIR: real images like the model's inputs")

    def files(folder, flag):
        found = list_image_files(folder)
        if not found:
            raise DataError(f"{flag} {folder} holds no images")
        return found

    if fidelity is not None:
        held = files(fidelity, "--fidelity-images")[:FIDELITY_IMAGES]
        calib = files(calibration, "--calibration")[:calibration_count] if need_calibration else []
        overlap = {p.resolve() for p in held} & {p.resolve() for p in calib}
        if overlap:
            raise ConfigError(f"--fidelity-images and --calibration share {len(overlap)} files; the fidelity "
                              "must be measured on images the calibration did not see")
        return calib, held
    found = files(calibration, "--calibration")
    if not need_calibration:
        return [], found[:FIDELITY_IMAGES]
    if len(found) < 2:
        raise DataError(f"--calibration {calibration} holds {len(found)} image; int8 needs some to calibrate and "
                        "others to measure on (or pass --fidelity-images DIR)")
    return found[0::2][:calibration_count], found[1::2][:FIDELITY_IMAGES]


# ----------------------------------------------------------------------------- measuring
def _psnr(mse: float, peak: float) -> float:
    return math.inf if mse == 0 else 10 * math.log10(peak * peak / mse)


def compare(outputs: list[np.ndarray], references: list[np.ndarray], peak: float, *, backend: str, precision: str,
            gate: Gate, float_precision: str = "") -> Fidelity:
    """Pooled PSNR (mean of the per-image MSEs), worst-image PSNR and max abs error of ``outputs``."""
    mses = [float(np.mean((o.astype(np.float64) - r.astype(np.float64)) ** 2)) for o, r in zip(outputs, references)]
    err = max(float(np.max(np.abs(o - r))) for o, r in zip(outputs, references))
    return Fidelity(backend, precision, _psnr(float(np.mean(mses)), peak), _psnr(max(mses), peak), err,
                    len(outputs), gate, float_precision)


def _run_all(backend, inputs: list[np.ndarray]) -> list[np.ndarray]:
    return [backend(x) for x in inputs]


def _end_convs(model) -> list[str]:
    """Names of the first and the last Conv/ConvTranspose node: kept in float."""
    convs = [n.name for n in model.graph.node if n.op_type in ("Conv", "ConvTranspose")]
    return sorted({convs[0], convs[-1]}) if convs else []


def quantize_int8(model, calibration: list[np.ndarray]):
    """NNCF post-training quantisation of an ONNX ``ModelProto`` -> a QDQ ``ModelProto`` (first/last conv in float)."""
    # importing nncf imports torch's cpp_extension, which warns "No CUDA runtime is found" on CPU machines
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    try:
        import nncf
    except Exception as exc:  # ImportError, or a broken install
        raise ExportError(f"int8 needs NNCF ({exc}); install the extra: pip install 'translate[openvino]'") from exc
    logging.getLogger("nncf").setLevel(logging.WARNING)  # it logs every statistics pass at INFO
    ignored = _end_convs(model)
    kwargs = {"ignored_scope": nncf.IgnoredScope(names=ignored)} if ignored else {}
    log.info("quantising to int8 on %d calibration images (about a minute for a paper-size network)",
             len(calibration))
    with contextlib.redirect_stdout(io.StringIO()):  # NNCF draws progress bars on stdout
        quantized = nncf.quantize(model, nncf.Dataset([{"input": x} for x in calibration]),
                                  preset=nncf.QuantizationPreset.PERFORMANCE, target_device=nncf.TargetDevice.CPU,
                                  subset_size=len(calibration), **kwargs)
    return quantized, ignored


def _set_metadata(model, metadata: dict[str, str]) -> None:
    del model.metadata_props[:]
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value


def _refuse(fid: Fidelity, hint: str) -> ExportError:
    return ExportError(f"the {fid.precision} variant is not faithful enough; nothing was written.\n  {fid.line()}\n"
                       f"  {hint}")


# ----------------------------------------------------------------------------- the variants
def build_variants(fp32: bytes, info: ModelInfo, precisions, *, calibration=None, fidelity_images=None,
                   calibration_count: int = CALIBRATION_IMAGES, gates: dict[str, Gate] | None = None,
                   threads: int | None = None) -> VariantSet:
    """Measure (and for int8 build) every requested variant of the verified fp32 export ``fp32``.

    Returns the fp32 bytes with the bf16 figures in their metadata, the int8 file's bytes and all
    figures; raises ExportError, with the figures and what to try, when a variant is under its gate.
    """
    import onnx

    from translate.backends.onnxruntime import OnnxBackend
    from translate.backends.openvino import OpenVinoBackend

    started = time.perf_counter()
    if threads is None:  # every usable core, as `translate run` would (a CPU quota counts, not the host's cores)
        from translate.threads import inference_threads

        threads = inference_threads(None, quiet=True).threads
    wanted = [p for p in parse_precisions(precisions) if p != "fp32"]
    if not wanted:
        return VariantSet(fp32)
    if info.task == "generate":
        raise ConfigError("bf16 and int8 variants are for image models (translators and super-resolvers); "
                          "a generator exports in fp32 only")
    gates = {**DEFAULT_GATES, **(gates or {})}
    calib_files, held_files = image_sets(calibration, fidelity_images, need_calibration="int8" in wanted,
                                         calibration_count=calibration_count)
    if "int8" in wanted and len(calib_files) < MIN_CALIBRATION_IMAGES:
        log.warning("int8 calibrated on %d images only; %d or more avoid clipped ranges (%d by default)",
                    len(calib_files), MIN_CALIBRATION_IMAGES, CALIBRATION_IMAGES)
    held = model_inputs(held_files, info)
    peak = info.value_range[1] - info.value_range[0]
    caps = read_cpu_capabilities()
    result = VariantSet(fp32, calibration_images=len(calib_files), fidelity_images=len(held))
    with tempfile.TemporaryDirectory(prefix="translate-precision-") as tmp:
        ref_path = Path(tmp) / "model.onnx"
        ref_path.write_bytes(fp32)
        ref_backend = OnnxBackend(ref_path, device="cpu", intra_op_threads=threads)
        references = _run_all(ref_backend, held)
        ref_backend.close()
        model = onnx.load_from_string(fp32)
        metadata = {p.key: p.value for p in model.metadata_props}

        def measure_openvino(path: Path, precision: str) -> Fidelity:
            """The variant on OpenVINO against the references (ExportError when OpenVINO cannot load it here)."""
            try:
                ov = OpenVinoBackend(path, precision=precision, intra_op_threads=threads, device="cpu",
                                     capabilities=caps)
            except ModelError as exc:
                raise ExportError(f"cannot measure the {precision} variant here: {exc}") from exc
            try:  # int8 records the precision its unquantised layers ran in
                return compare(_run_all(ov, held), references, peak, backend="openvino", precision=precision,
                               gate=gates[precision], float_precision=ov.float_precision if precision == "int8" else "")
            finally:
                ov.close()

        if "bf16" in wanted:
            fid = measure_openvino(ref_path, "bf16")
            result.fidelity.append(fid)
            if not fid.passed:
                raise _refuse(fid, "export without bf16 (--precision fp32 or fp32,int8), or lower the gate with "
                                   "--min-psnr-bf16 if you accept this error")
            metadata.update(fid.to_metadata())
            _set_metadata(model, metadata)
            result.fp32 = model.SerializeToString()
        if "int8" in wanted:
            import hashlib

            q, ignored = quantize_int8(model, model_inputs(calib_files, info))
            q_md = without_fidelity(metadata)
            q_md.update({PRECISION_KEY: "int8", QUANT_PREFIX + "tool": f"nncf {_nncf_version()}",
                         QUANT_PREFIX + "calibration_images": str(len(calib_files)),
                         QUANT_PREFIX + "ignored": ",".join(ignored),
                         QUANT_PREFIX + "source_sha256": hashlib.sha256(result.fp32).hexdigest()})
            _set_metadata(q, q_md)
            q_path = Path(tmp) / "model.int8.onnx"
            q_path.write_bytes(q.SerializeToString())
            fid = measure_openvino(q_path, "int8")
            result.fidelity.append(fid)
            if not fid.passed:
                raise _refuse(fid, "calibrate on more images like the model's real inputs (--calibration DIR, "
                                   f"--calibration-count, {CALIBRATION_IMAGES} by default), export without int8, or "
                                   "lower the gate with --min-psnr-int8 / --min-worst-psnr")
            # ONNX Runtime reads the same file (slower than fp32 on most of our nets, but valid): recorded too
            ort = OnnxBackend(q_path, device="cpu", intra_op_threads=threads)
            ort_fid = compare(_run_all(ort, held), references, peak, backend="onnxruntime", precision="int8",
                              gate=gates["int8"])
            ort.close()
            result.fidelity.append(ort_fid)
            q_md.update(fid.to_metadata())
            q_md.update(ort_fid.to_metadata())
            _set_metadata(q, q_md)
            result.files["int8"] = q.SerializeToString()
    result.seconds = time.perf_counter() - started
    return result


def _nncf_version() -> str:
    import nncf

    return str(getattr(nncf, "__version__", "?"))
