"""Which statistics a generator's batch norm uses at inference: running averages or the image's own.

The pix2pix paper (Isola et al. 2017, sec. 3.3 / 4) ran the U-Net generator with batch
statistics at test time, at batch size 1. ``"batch"`` mode reproduces that with per-image
statistics (:class:`PerImageBatchNorm2d`, exported as ONNX InstanceNormalization), so a served
image never depends on which other requests shared its batch; ``"running"`` uses the running
averages (standard eval mode). Export and the PyTorch backend both use these helpers, so a
checkpoint and its ONNX export compute the same thing.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from translate.modelinfo import ModelInfo

BATCHNORM_MODES = ("running", "batch")
# The one switch for pix2pix's default (see default_batchnorm_mode). Change it once the
# validation measurement of running vs batch statistics says which is better.
PIX2PIX_DEFAULT_BATCHNORM_MODE = "running"


class PerImageBatchNorm2d(nn.Module):
    """Batch norm that normalises with each image's own statistics (train-mode BN at batch size 1).

    Uses the BN layer's affine weights; exports as ONNX InstanceNormalization.
    """

    def __init__(self, bn: nn.modules.batchnorm._BatchNorm):
        super().__init__()
        c = bn.num_features
        weight = bn.weight.detach().clone() if bn.weight is not None else torch.ones(c)
        bias = bn.bias.detach().clone() if bn.bias is not None else torch.zeros(c)
        self.weight = nn.Parameter(weight, requires_grad=False)
        self.bias = nn.Parameter(bias, requires_grad=False)
        self.eps = bn.eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[N, C, H, W] -> same shape, statistics over H and W of each image."""
        return nn.functional.instance_norm(x, weight=self.weight, bias=self.bias, eps=self.eps)


def count_batchnorms(net: nn.Module) -> int:
    """Number of 2-d batch-norm layers in ``net``."""
    return sum(isinstance(m, nn.BatchNorm2d) for m in net.modules())


def use_batch_statistics(net: nn.Module) -> nn.Module:
    """Copy of ``net`` whose BatchNorm2d layers use per-image statistics (see PerImageBatchNorm2d)."""
    net = copy.deepcopy(net)
    for parent in list(net.modules()):
        for child_name, child in list(parent.named_children()):
            if isinstance(child, nn.BatchNorm2d):
                setattr(parent, child_name, PerImageBatchNorm2d(child))
    return net.eval()


def default_batchnorm_mode(info: ModelInfo) -> str:
    """Batch-norm mode used when the caller does not choose one.

    pix2pix: :data:`PIX2PIX_DEFAULT_BATCHNORM_MODE` unless the checkpoint's processing block
    asks for "batch"; every other family: "running" (plain eval mode).
    """
    if info.batchnorm_mode == "batch":
        return "batch"
    return PIX2PIX_DEFAULT_BATCHNORM_MODE if info.family == "pix2pix" else "running"
