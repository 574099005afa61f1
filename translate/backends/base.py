"""The interface every inference backend implements, and the device choice they share.

``Backend`` turns float32 NCHW arrays into float32 NCHW arrays (``__call__`` for image models,
``generate`` for latent generators) and carries the model's :class:`ModelInfo`. The checks on
its inputs live here, once, so every backend (ONNX Runtime, OpenVINO, PyTorch) refuses the same
inputs with the same message. ``runtime`` and ``precision`` say what really runs the model, and
``choice`` (set by :func:`translate.backends.load_backend`) why it was chosen.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

from translate.errors import ImageError, ModelError
from translate.modelinfo import ModelInfo
from translate.precision import RuntimeChoice

DEVICES = ("auto", "cpu", "cuda")


class Backend(ABC):
    """A loaded generator: ``info`` plus array-in/array-out calls."""

    info: ModelInfo
    runtime: str = ""  # "onnxruntime", "openvino" or "torch"
    precision: str = "fp32"  # what the runtime computes in: "fp32", "bf16" or "int8"
    choice: RuntimeChoice | None = None  # how load_backend picked runtime and precision

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
                             "translate.images.pad_to_multiple (translate.images.apply_model does this)")
        return self._run_image(np.ascontiguousarray(x, dtype=np.float32))

    def generate(self, z: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
        """float32 z [N, nz] (+ int64 labels [N] for class-conditional models) -> [N, C, S, S]."""
        info = self.info
        if info.task != "generate":
            raise ModelError(f"this is a {info.task} model; it takes images, not latents")
        z = np.asarray(z, dtype=np.float32)
        if z.ndim != 2 or z.shape[1] != info.latent_size:
            raise ModelError(f"z must have shape [N, {info.latent_size}], got {z.shape}")
        labels = info.check_labels(labels, z.shape[0])
        return self._run_latent(np.ascontiguousarray(z), labels)

    def close(self) -> None:
        """Release resources (sessions, GPU memory); the backend is unusable afterwards."""
        return None


class GraphBackend(Backend):
    """A backend over an exported ONNX graph (ONNX Runtime, OpenVINO): subclasses give ``_run(feeds)``.

    The graph's inputs are named ``input`` (image models) or ``z`` and ``label`` (generators), as
    ``translate export`` writes them; a file exported with ``--static-shape`` takes one size only,
    which :meth:`_set_static_size` reads from its input description.
    """

    _static_hw: tuple[int, ...] | None = None

    @abstractmethod
    def _run(self, feeds: dict[str, np.ndarray]) -> np.ndarray: ...

    def _describe_inputs(self, path: Path, inputs) -> None:
        """Check the graph's input names (ModelError: a file this project did not export) and its fixed size."""
        self.input_names = [i.name for i in inputs]
        expected = (["z", "label"] if self.info.num_classes else ["z"]) if self.info.task == "generate" else ["input"]
        if self.input_names != expected:
            raise ModelError(f"{path} has inputs {self.input_names}, expected {expected}; re-export it")
        self._set_static_size(inputs)

    def _set_static_size(self, inputs) -> None:
        """Record the fixed height/width of an image model's input, if the file has one."""
        self._static_hw = None
        if self.info.task != "generate":
            shape = inputs[0].shape
            if all(d > 0 for d in shape[2:]):
                self._static_hw = tuple(shape[2:])

    def _run_image(self, x: np.ndarray) -> np.ndarray:
        if self._static_hw and x.shape[2:] != self._static_hw:
            raise ImageError(f"this model was exported with a static size {self._static_hw[0]}x{self._static_hw[1]}; "
                             f"got {x.shape[2]}x{x.shape[3]} (resize first, or re-export without --static-shape)")
        return self._run({"input": x})

    def _run_latent(self, z: np.ndarray, labels: np.ndarray | None) -> np.ndarray:
        feeds = {"z": z}
        if labels is not None:
            feeds["label"] = labels
        return self._run(feeds)


def gpu_present() -> bool:
    """True only when a CUDA GPU is really usable (device files exist and torch sees one)."""
    if not any(Path("/dev").glob("nvidia[0-9]*")) and not Path("/dev/dxg").exists():  # dxg: WSL2
        return False  # no GPU device node: do not even initialise CUDA
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:  # a broken CUDA install must not break CPU inference
        return False
