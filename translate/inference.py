"""Inference behind one interface: PyTorch checkpoints and exported ONNX models.

``Backend`` turns float32 NCHW arrays into float32 NCHW arrays (``__call__`` for image models,
``generate`` for latent generators) and carries the model's :class:`ModelInfo`.
``TorchBackend`` runs a checkpoint's generator; ``OnnxBackend`` runs an exported model on ONNX
Runtime (https://onnxruntime.ai). ``Translator`` (image -> image) and ``Sampler`` (seeds or
latents -> images) sit on top and are what the CLI, the server and the demo call, so the same
input gives the same pixels everywhere.

Seeds: seed ``s`` names the latent ``np.random.default_rng(s).standard_normal(nz)`` (float32).
Truncation (the "truncation trick" of Brock et al. 2019, BigGAN, sec. 3.1): with ``psi`` set,
every component with ``|z_i| > psi`` is redrawn from the same per-seed generator until all lie
within ``[-psi, psi]``, trading variety for fidelity; the result is still a pure function of
``(seed, nz, psi)``.
"""

from __future__ import annotations

import logging
import os
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from translate.errors import ConfigError, ImageError, ModelError
from translate.modelinfo import ModelInfo

log = logging.getLogger(__name__)

MIN_TRUNCATION = 0.01  # below this nearly every draw is rejected and all images look alike
DEVICES = ("auto", "cpu", "cuda")


# ----------------------------------------------------------------------------- latents
def seed_latents(seeds: Iterable[int], nz: int, truncation: float | None = None) -> np.ndarray:
    """float32 [N, nz]: one latent per seed (see the module docstring for the truncation rule)."""
    if truncation is not None and not truncation >= MIN_TRUNCATION:
        raise ConfigError(f"truncation psi must be >= {MIN_TRUNCATION} (got {truncation}); leave it out for none")
    rows = []
    for seed in seeds:
        if int(seed) < 0:
            raise ConfigError(f"seeds are non-negative integers (got {seed})")
        rng = np.random.default_rng(int(seed))
        z = rng.standard_normal(nz)
        if truncation is not None:
            out = np.abs(z) > truncation
            while out.any():  # redraw only the outliers, from the same per-seed stream
                z[out] = rng.standard_normal(int(out.sum()))
                out = np.abs(z) > truncation
        rows.append(z.astype(np.float32))
    return np.stack(rows) if rows else np.zeros((0, nz), np.float32)


def slerp(a: np.ndarray, b: np.ndarray, t: float | np.ndarray) -> np.ndarray:
    """Spherical interpolation between latents ``a`` and ``b`` ([nz] or [N, nz]) at ``t`` in [0, 1].

    Gaussian latents live near a sphere, so walking along the great circle keeps the norm
    typical (White 2016, "Sampling Generative Networks"); nearly parallel vectors fall back to
    linear interpolation. ``t`` may be an array of K values: the result is then [K, nz].
    """
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    t = np.asarray(t, np.float64)
    if t.ndim == 1:
        return np.stack([slerp(a, b, float(ti)) for ti in t]).astype(np.float32)
    an = a / np.linalg.norm(a, axis=-1, keepdims=True)
    bn = b / np.linalg.norm(b, axis=-1, keepdims=True)
    dot = np.clip(np.sum(an * bn, axis=-1, keepdims=True), -1.0, 1.0)
    omega = np.arccos(dot)
    so = np.sin(omega)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(
            so > 1e-6,
            (np.sin((1 - t) * omega) / so) * a + (np.sin(t * omega) / so) * b,
            (1 - t) * a + t * b,
        )
    return out.astype(np.float32)


# ----------------------------------------------------------------------------- backends
class Backend(ABC):
    """A loaded generator: ``info`` plus array-in/array-out calls."""

    info: ModelInfo

    @abstractmethod
    def _run_image(self, x: np.ndarray) -> np.ndarray: ...

    @abstractmethod
    def _run_latent(self, z: np.ndarray, labels: np.ndarray | None) -> np.ndarray: ...

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """float32 [N, C, H, W] in [-1, 1] (H, W multiples of ``info.pad_multiple``) -> [N, C', H*s, W*s]."""
        if self.info.task == "generate":
            raise ModelError("this is a generator (z -> image); call generate() or use Sampler, not an image call")
        x = np.asarray(x)
        if x.ndim != 4:
            raise ImageError(f"expected a batch [N, C, H, W], got an array of shape {x.shape}")
        if x.shape[1] != self.info.in_channels:
            raise ImageError(
                f"the model takes {self.info.in_channels}-channel images, got {x.shape[1]} channels; convert the "
                f"image (grey <-> RGB) first (translate.images.prepare does this)"
            )
        m = self.info.pad_multiple
        if x.shape[2] % m or x.shape[3] % m:
            raise ImageError(f"input is {x.shape[2]}x{x.shape[3]}, not a multiple of {m}; pad it with "
                             "translate.images.pad_to_multiple (Translator does this)")
        return self._run_image(np.ascontiguousarray(x, dtype=np.float32))

    def generate(self, z: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
        """float32 z [N, nz] (+ int64 labels [N] for class-conditional models) -> [N, C, S, S]."""
        info = self.info
        if info.task != "generate":
            raise ModelError(f"this is a {info.task} model; it takes images, not latents")
        z = np.asarray(z, dtype=np.float32)
        if z.ndim != 2 or z.shape[1] != info.latent_size:
            raise ModelError(f"z must have shape [N, {info.latent_size}], got {z.shape}")
        if info.num_classes > 0:
            if labels is None:
                raise ModelError(f"this model is class-conditional ({info.num_classes} classes); pass labels")
            labels = np.asarray(labels, dtype=np.int64).reshape(-1)
            if labels.shape != (z.shape[0],):
                raise ModelError(f"need one label per latent ({z.shape[0]}), got {labels.shape[0]}")
            if labels.size and (labels.min() < 0 or labels.max() >= info.num_classes):
                raise ModelError(f"labels must lie in 0..{info.num_classes - 1}")
        elif labels is not None:
            raise ModelError("this model is unconditional; do not pass labels")
        return self._run_latent(np.ascontiguousarray(z), labels)

    def close(self) -> None:
        """Release resources (sessions, GPU memory); the backend is unusable afterwards."""
        return None


def gpu_present() -> bool:
    """True only when a CUDA GPU is really usable (device files exist and torch sees one)."""
    if not any(Path("/dev").glob("nvidia[0-9]*")) and not Path("/dev/dxg").exists():  # dxg: WSL2
        return False  # no GPU device node: do not even initialise CUDA
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:  # a broken CUDA install must not break CPU inference
        return False


def session_options(intra_op_threads: int | None = None, inter_op_threads: int | None = None):
    """ORT SessionOptions: all graph optimisations, quiet logs, optional thread counts."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3  # errors only: provider fallbacks are chosen on purpose here
    if intra_op_threads:
        opts.intra_op_num_threads = int(intra_op_threads)
    if inter_op_threads:
        opts.inter_op_num_threads = int(inter_op_threads)
    return opts


def choose_providers(device: str = "auto") -> list[str]:
    """ORT providers for ``device``: CUDA (then CPU) only where a GPU exists, else CPU alone.

    Asking ORT for CUDA on a machine without a GPU prints a long error before falling back,
    so the provider list is decided here instead of left to ORT.
    """
    import onnxruntime as ort

    if device not in DEVICES:
        raise ConfigError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")
    if device == "cpu":
        return ["CPUExecutionProvider"]
    cuda_ok = "CUDAExecutionProvider" in ort.get_available_providers() and gpu_present()
    if device == "cuda" and not cuda_ok:
        raise ModelError("device 'cuda' requested but no CUDA GPU (or no CUDA-enabled onnxruntime) is available; "
                         "use --device cpu")
    return ["CUDAExecutionProvider", "CPUExecutionProvider"] if cuda_ok else ["CPUExecutionProvider"]


class OnnxBackend(Backend):
    """An exported model on ONNX Runtime; ``info`` comes from the file's metadata."""

    def __init__(self, path: str | os.PathLike, device: str = "auto", intra_op_threads: int | None = None,
                 inter_op_threads: int | None = None):
        import onnxruntime as ort

        ort.set_default_logger_severity(3)
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelError(f"ONNX model {self.path} does not exist or is not a file")
        providers = choose_providers(device)
        if "CUDAExecutionProvider" in providers and hasattr(ort, "preload_dlls"):
            try:  # CUDA/cuDNN from the nvidia-* wheels (onnxruntime-gpu >= 1.21)
                ort.preload_dlls()
            except Exception as exc:  # the session below then reports what is missing
                log.debug("onnxruntime.preload_dlls failed: %s", exc)
        try:
            self.session = ort.InferenceSession(
                str(self.path), sess_options=session_options(intra_op_threads, inter_op_threads), providers=providers
            )
        except Exception as exc:  # ORT raises its own Fail/InvalidProtobuf types
            raise ModelError(f"ONNX Runtime cannot load {self.path}: {str(exc).strip().splitlines()[0]}") from exc
        self.info = ModelInfo.from_metadata(self.session.get_modelmeta().custom_metadata_map)
        self.input_names = [i.name for i in self.session.get_inputs()]
        expected = (["z", "label"] if self.info.num_classes else ["z"]) if self.info.task == "generate" else ["input"]
        if self.input_names != expected:
            raise ModelError(f"{self.path} has inputs {self.input_names}, expected {expected}; re-export it")
        self._static_hw = None
        if self.info.task != "generate":
            shape = self.session.get_inputs()[0].shape
            if all(isinstance(d, int) for d in shape[2:]):
                self._static_hw = tuple(shape[2:])

    @property
    def providers(self) -> list[str]:
        """Execution providers the session actually uses."""
        return self.session.get_providers()

    def _run_image(self, x: np.ndarray) -> np.ndarray:
        if self._static_hw and x.shape[2:] != self._static_hw:
            raise ImageError(f"this model was exported with a static size {self._static_hw[0]}x{self._static_hw[1]}; "
                             f"got {x.shape[2]}x{x.shape[3]} (resize first, or re-export without --static-shape)")
        return self._run({"input": x})

    def _run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        try:
            return self.session.run(["output"], feeds)[0]
        except Exception as exc:  # ORT raises its own types (InvalidArgument, RuntimeException, ...)
            shapes = ", ".join(f"{k} {list(v.shape)}" for k, v in feeds.items())
            msg = str(exc).split("Status Message:")[-1].strip().splitlines()[0] if str(exc) else type(exc).__name__
            raise ModelError(f"ONNX Runtime failed on an input of shape {shapes}: {msg}") from exc

    def _run_latent(self, z: np.ndarray, labels: np.ndarray | None) -> np.ndarray:
        feeds = {"z": z}
        if labels is not None:
            feeds["label"] = labels
        return self._run(feeds)

    def close(self) -> None:
        """Drop the session."""
        self.session = None


class TorchBackend(Backend):
    """A checkpoint's generator in PyTorch (eval mode, ``torch.inference_mode``)."""

    def __init__(self, net, info: ModelInfo, device: str = "auto"):
        import torch

        if device not in DEVICES:
            raise ConfigError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")
        if device == "cuda" and not torch.cuda.is_available():
            raise ModelError("device 'cuda' requested but torch sees no CUDA GPU; use --device cpu")
        if device == "auto":
            device = "cuda" if gpu_present() else "cpu"
        self.device = torch.device(device)
        self.net = net.to(self.device).eval()
        self.info = info

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike | dict, direction: str | None = None, ema: bool = True,
                        device: str = "auto", batchnorm_mode: str | None = None) -> TorchBackend:
        """Load the generator of ``path`` (EMA weights when present and ``ema``).

        ``batchnorm_mode`` ("running"/"batch", default as for export) makes PyTorch compute
        exactly what the exported ONNX model computes.
        """
        import dataclasses

        from translate.checkpoint import load_generator
        from translate.export import count_batchnorms, default_batchnorm_mode, use_batch_statistics

        net, info = load_generator(path, direction, ema=ema)
        mode = batchnorm_mode or default_batchnorm_mode(info)
        if mode == "batch" and count_batchnorms(net):
            net = use_batch_statistics(net)
        elif mode not in ("running", "batch"):
            raise ConfigError(f"unknown batchnorm mode {mode!r}; choose running or batch")
        return cls(net, dataclasses.replace(info, batchnorm_mode=mode), device=device)

    def _run_image(self, x: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            return self.net(torch.from_numpy(x).to(self.device)).float().cpu().numpy()

    def _run_latent(self, z: np.ndarray, labels: np.ndarray | None) -> np.ndarray:
        import torch

        with torch.inference_mode():
            zt = torch.from_numpy(z).to(self.device)
            lt = None if labels is None else torch.from_numpy(labels).to(self.device)
            out = self.net(zt, lt) if lt is not None else self.net(zt)
            return out.float().cpu().numpy()

    def close(self) -> None:
        """Drop the network."""
        self.net = None


def load_backend(model_path: str | os.PathLike, direction: str | None = None, device: str = "auto",
                 intra_op_threads: int | None = None) -> Backend:
    """``.onnx`` file -> OnnxBackend; else a checkpoint -> TorchBackend.

    Repository directories work too: ``MODELS/NAME/VERSION`` (its ``model.onnx``) and
    ``MODELS/NAME`` (the highest version).
    """
    path = Path(model_path)
    if path.is_dir() and not (path / "model.onnx").is_file():
        versions = sorted(int(p.name) for p in path.iterdir() if p.name.isdigit() and (p / "model.onnx").is_file())
        if not versions:
            raise ModelError(f"{path} is a directory without model.onnx or numbered versions holding one")
        path = path / str(versions[-1])
    if path.is_dir():
        path = path / "model.onnx"
    if path.suffix == ".onnx":
        backend = OnnxBackend(path, device=device, intra_op_threads=intra_op_threads)
        if direction and backend.info.direction and backend.info.direction != direction:
            raise ModelError(f"{path} translates {backend.info.direction}, not {direction}; load the other export")
        return backend
    return TorchBackend.from_checkpoint(path, direction=direction, device=device)


# ----------------------------------------------------------------------------- high level
class Translator:
    """Image -> image for translation and super-resolution models (padding, tiling, alpha handled)."""

    def __init__(self, backend: Backend, tile: int | None = None, overlap: int = 32):
        if backend.info.task == "generate":
            raise ModelError("this model generates images from latents; use Sampler (translate generate)")
        self.backend, self.tile, self.overlap = backend, tile, overlap

    @property
    def info(self) -> ModelInfo:
        """The backend's model description."""
        return self.backend.info

    def translate(self, img):
        """translate.images.Image -> translated Image (same size; ``scale`` times larger for SR)."""
        from translate.images import apply_model

        return apply_model(self.backend, img, self.backend.info, tile=self.tile, overlap=self.overlap)


class Sampler:
    """Seeds or latents -> images for generate models (DCGAN)."""

    def __init__(self, backend: Backend, batch_size: int = 16):
        if backend.info.task != "generate":
            raise ModelError(f"this is a {backend.info.task} model, not a generate model; use Translator "
                             "(translate run)")
        self.backend, self.batch_size = backend, max(1, int(batch_size))

    @property
    def info(self) -> ModelInfo:
        """The backend's model description."""
        return self.backend.info

    def seed_latents(self, seeds: Iterable[int], truncation: float | None = None) -> np.ndarray:
        """float32 [N, nz]; the same function the server uses (see :func:`seed_latents`)."""
        return seed_latents(seeds, self.info.latent_size, truncation)

    slerp = staticmethod(slerp)

    def generate_arrays(self, seeds: Sequence[int] | None = None, z: np.ndarray | None = None,
                        labels: int | Sequence[int] | np.ndarray | None = None,
                        truncation: float | None = None) -> np.ndarray:
        """Like :meth:`generate` but returns the raw float32 [N, C, S, S] output in [-1, 1]."""
        if (seeds is None) == (z is None):
            raise ConfigError("pass either seeds or z")
        if z is None:
            z = self.seed_latents(seeds, truncation)
        elif truncation is not None:
            raise ConfigError("truncation applies to seeds; clip your own z before passing it")
        z = np.asarray(z, np.float32)
        if z.ndim == 1:
            z = z[None]
        lab = None
        if labels is not None:
            lab = np.asarray(labels, np.int64).reshape(-1)
            if lab.size == 1 and len(z) != 1:
                lab = np.full(len(z), int(lab[0]), np.int64)  # one class for every sample
        elif self.info.num_classes > 0:
            raise ModelError(f"this model is class-conditional ({self.info.num_classes} classes); pass labels "
                             f"(0..{self.info.num_classes - 1})")
        outs = []
        for i in range(0, len(z), self.batch_size):
            outs.append(self.backend.generate(z[i : i + self.batch_size],
                                              None if lab is None else lab[i : i + self.batch_size]))
        return np.concatenate(outs) if outs else np.zeros((0, self.info.out_channels, 1, 1), np.float32)

    def generate(self, seeds: Sequence[int] | None = None, z: np.ndarray | None = None,
                 labels: int | Sequence[int] | np.ndarray | None = None,
                 truncation: float | None = None) -> list:
        """Images (translate.images.Image, uint8) for ``seeds`` or explicit latents ``z`` [N, nz].

        ``labels``: one class for all samples or one per sample (class-conditional models only).
        """
        from translate.images import Image, from_model_array

        arrays = self.generate_arrays(seeds=seeds, z=z, labels=labels, truncation=truncation)
        return [Image(pixels=from_model_array(a), alpha=None, format=None) for a in arrays]
