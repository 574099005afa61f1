"""Normalisation layers and input checks shared by the networks.

Normalisation follows pytorch-CycleGAN-and-pix2pix (Isola et al. 2017, Zhu et al. 2017) so that
its checkpoints load: batch norm is affine with running statistics; instance norm (Ulyanov et
al. 2016) has no affine parameters and no running statistics (always per-image statistics);
"none" is an identity. A conv followed by a norm layer carries a bias only with instance norm,
because batch norm's own shift makes a bias redundant. The reference also leaves the bias off
with ``norm="none"``; we keep that quirk on purpose so its state_dicts stay interchangeable.
"""

from __future__ import annotations

import torch
from torch import nn

from translate.errors import ConfigError, ImageError

NORMS = ("batch", "instance", "none")


def check_norm(norm: str) -> str:
    """Return ``norm`` if it is a known normalisation name, else raise ConfigError."""
    if norm not in NORMS:
        raise ConfigError(f"unknown norm {norm!r}; choose one of {', '.join(NORMS)}")
    return norm


def norm_layer(norm: str, channels: int) -> nn.Module:
    """A 2-d normalisation layer for ``channels`` feature maps."""
    check_norm(norm)
    if norm == "batch":
        return nn.BatchNorm2d(channels, affine=True, track_running_stats=True)
    if norm == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    return nn.Identity()


def conv_bias(norm: str) -> bool:
    """Whether a conv that feeds a norm layer gets a bias (reference layout: instance norm only)."""
    return check_norm(norm) == "instance"


def _exporting() -> bool:
    # Shape checks are Python control flow on sizes; under tracing/torch.export they would freeze
    # or constrain the dynamic height/width, so they are skipped there (the export caller pads).
    return torch.jit.is_tracing() or torch.compiler.is_compiling() or torch.onnx.is_in_onnx_export()


def check_image_input(x: torch.Tensor, channels: int, multiple: int, net_name: str) -> None:
    """Raise ImageError unless ``x`` is [N, channels, H, W] with H and W multiples of ``multiple``."""
    if _exporting():
        return
    if x.dim() != 4:
        raise ImageError(f"{net_name} expects a batch [N, C, H, W], got a tensor of shape {tuple(x.shape)}")
    if x.shape[1] != channels:
        raise ImageError(
            f"{net_name} expects {channels} input channels, got {x.shape[1]}; convert the image "
            f"(grey <-> RGB) or use a model trained for {x.shape[1]} channels"
        )
    h, w = x.shape[-2:]
    if h % multiple or w % multiple:
        raise ImageError(
            f"{net_name} input is {h}x{w}, which is not a multiple of {multiple}; pad to a multiple of "
            f"{multiple} first (translate.images.pad_to_multiple) and crop the output back"
        )
