"""A checkpoint's generator in PyTorch (eval mode, ``torch.inference_mode``).

Batch norm runs in the mode export would use (:mod:`translate.nets.batchnorm`), so a checkpoint
computes exactly what its ONNX export computes.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from translate.backends.base import DEVICES, Backend, gpu_present
from translate.errors import ConfigError, ModelError
from translate.modelinfo import ModelInfo


class TorchBackend(Backend):
    """A checkpoint's generator in PyTorch (eval mode, ``torch.inference_mode``)."""

    runtime = "torch"

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
        from translate.checkpoint import load_generator
        from translate.nets.batchnorm import (
            BATCHNORM_MODES,
            count_batchnorms,
            default_batchnorm_mode,
            use_batch_statistics,
        )

        net, info = load_generator(path, direction, ema=ema)
        mode = batchnorm_mode or default_batchnorm_mode(info)
        if mode not in BATCHNORM_MODES:
            raise ConfigError(f"unknown batchnorm mode {mode!r}; choose one of {', '.join(BATCHNORM_MODES)}")
        if mode == "batch" and count_batchnorms(net):
            net = use_batch_statistics(net)
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
