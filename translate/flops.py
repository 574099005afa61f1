"""Multiply-accumulate counts of a network for given example inputs.

Counts the MACs of Conv2d, ConvTranspose2d and Linear layers (the layers that dominate these
networks) with forward hooks during one no-grad forward pass; norms, activations, biases and
additions are not counted. One MAC is two FLOPs. The count is for the whole batch given.
"""

from __future__ import annotations

import torch
from torch import nn


def _conv_macs(m: nn.Conv2d, inp: torch.Tensor, out: torch.Tensor) -> int:
    # every output element sums (in/groups) * kh * kw products
    return out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]


def _conv_t_macs(m: nn.ConvTranspose2d, inp: torch.Tensor, out: torch.Tensor) -> int:
    # every input element is scattered to (out/groups) * kh * kw output positions
    return inp.numel() * (m.out_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]


def _linear_macs(m: nn.Linear, inp: torch.Tensor, out: torch.Tensor) -> int:
    return out.numel() * m.in_features


def count_macs(net: nn.Module, *example_inputs) -> int:
    """MACs of conv / transposed-conv / linear layers for one forward pass on ``example_inputs``.

    The network runs once in eval mode without gradients (its train/eval mode is restored), so
    batch-norm statistics are not touched.
    """
    total = 0

    def hook(m: nn.Module, inputs: tuple, out: torch.Tensor) -> None:
        nonlocal total
        if isinstance(m, nn.ConvTranspose2d):
            total += _conv_t_macs(m, inputs[0], out)
        elif isinstance(m, nn.Conv2d):
            total += _conv_macs(m, inputs[0], out)
        else:
            total += _linear_macs(m, inputs[0], out)

    handles = [m.register_forward_hook(hook) for m in net.modules()
               if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]
    was_training = net.training
    try:
        net.eval()
        with torch.no_grad():
            net(*example_inputs)
    finally:
        net.train(was_training)
        for h in handles:
            h.remove()
    return total
