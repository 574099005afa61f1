"""Validation metrics the methods share (each method's ``validate`` picks what fits it).

- :func:`psnr_ssim`: PSNR and SSIM of a generator's outputs against the targets
  (``translate.metrics``); super-resolution passes ``y_channel=True`` and a ``scale``-pixel border
  crop, as the SR papers report. Higher is better.
- :func:`fd_pixels8`: a Frechet distance between generated and real images computed on 8x8
  average-pooled pixels. A cheap, always-available sanity signal, NOT FID (no Inception network is
  involved); lower is better, compare it only within a run.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from training.data import collate
from translate.metrics import frechet_distance, psnr, ssim, tensor_to_uint8


@torch.no_grad()
def psnr_ssim(generator: nn.Module, items: list[dict], to_device, *, batch_size: int = 8,
              **metric_kwargs) -> dict[str, float]:
    """Mean PSNR and SSIM of ``generator(item["A"])`` against ``item["B"]`` ({"val/psnr", "val/ssim"})."""
    ps, ss = [], []
    for i in range(0, len(items), batch_size):
        b = to_device(collate(items[i : i + batch_size]))
        for o, y in zip(generator(b["A"]), b["B"]):
            o8, y8 = tensor_to_uint8(o), tensor_to_uint8(y)
            ps.append(psnr(o8, y8, **metric_kwargs))
            ss.append(ssim(o8, y8, **metric_kwargs))
    return {"val/psnr": float(np.mean(ps)), "val/ssim": float(np.mean(ss))}


def pooled_features(x: torch.Tensor) -> np.ndarray:
    """[N, C, H, W] -> [N, C*64] features: 8x8 average-pooled pixels, grey as 3 channels."""
    x = x.float()
    if x.shape[1] == 1:
        x = x.repeat(1, 3, 1, 1)
    return F.adaptive_avg_pool2d(x, 8).flatten(1).cpu().double().numpy()


def fd_pixels8(fake: torch.Tensor, real: torch.Tensor) -> dict[str, float]:
    """{"val/fd_pixels8": Frechet distance of 8x8-pooled pixels} between two image batches [N, C, H, W]."""
    with warnings.catch_warnings():  # few validation images: biased, but comparable within a run
        warnings.simplefilter("ignore", UserWarning)
        return {"val/fd_pixels8": float(frechet_distance(pooled_features(fake), pooled_features(real)))}
