"""Tiny nets and real image folders for the precision (bf16 / int8 / OpenVINO) tests.

Freshly initialised tiny U-Nets and SRResNets answer almost 0 whatever the input (output std
~0.007), which would make every precision look perfect; their last convolution is scaled up here so
that outputs span a real part of [-1, 1] (std 0.1-0.2) and an error shows. A random tiny ResNet
with instance norm is the opposite: int8 ruins it (30 dB even when well calibrated, 17 dB when
calibrated on blank images), which makes it the deliberately broken int8 export.

Images are crops of scikit-image's sample photos (real photographs), never the same crop for
calibration and for measuring.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import PIL.Image
import torch

from translate.checkpoint import build_checkpoint, save_checkpoint
from translate.modelinfo import ModelInfo
from translate.nets import build_network

CALIBRATION_PHOTOS = ("astronaut", "rocket", "coffee", "chelsea")
HELD_OUT_PHOTOS = ("cat", "immunohistochemistry", "coffee", "hubble_deep_field")


def photo_crops(folder: Path, photos=CALIBRATION_PHOTOS, per_photo: int = 2, size: int = 64, seed: int = 0) -> Path:
    """``per_photo`` random ``size`` px crops of each scikit-image sample photo, as PNG files in ``folder``."""
    from skimage import data

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for name in photos:
        px = getattr(data, name)()
        if px.ndim == 2:
            px = np.stack([px] * 3, -1)
        for k in range(per_photo):
            y = int(rng.integers(0, px.shape[0] - size))
            x = int(rng.integers(0, px.shape[1] - size))
            PIL.Image.fromarray(px[y:y + size, x:x + size]).save(folder / f"{name}-{k}.png")
    return folder


def image_folders(root: Path) -> tuple[Path, Path]:
    """(calibration folder, held-out folder): 8 crops each, from different photos (one photo shared, other crops)."""
    return (photo_crops(root / "calibration", CALIBRATION_PHOTOS, seed=0),
            photo_crops(root / "held-out", HELD_OUT_PHOTOS, seed=1))


def blank_folder(folder: Path, count: int = 4, size: int = 64) -> Path:
    """Uniform grey images: what calibrating on the wrong folder looks like."""
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(count):
        PIL.Image.fromarray(np.full((size, size, 3), 128, np.uint8)).save(folder / f"grey-{k}.png")
    return folder


def _amplify_last_conv(net: torch.nn.Module, factor: float) -> None:
    last = [m for m in net.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))][-1]
    with torch.no_grad():
        last.weight.mul_(factor)


def translator_checkpoint(path: Path) -> Path:
    """pix2pix U-Net-128 (ngf 4) whose outputs span [-0.6, 0.7] on photos; bf16 and int8 pass their gates."""
    torch.manual_seed(0)
    g = build_network("unet_128", ngf=4)
    _amplify_last_conv(g, 30.0)
    info = ModelInfo(family="pix2pix", task="translate", pad_multiple=g.pad_multiple, image_size=128,
                     direction="AtoB")
    return save_checkpoint(build_checkpoint("pix2pix", {"G": g}, {"G": info}), path)


def super_resolver_checkpoint(path: Path) -> Path:
    """SRResNet x2 (8 features, 2 blocks) whose outputs span [-0.6, 0.6]; bf16 and int8 pass their gates."""
    torch.manual_seed(0)
    g = build_network("srresnet", num_feat=8, num_blocks=2, scale=2)
    _amplify_last_conv(g, 20.0)
    info = ModelInfo(family="srgan", task="super_resolve", scale=2, image_size=64)
    return save_checkpoint(build_checkpoint("srgan", {"G": g}, {"G": info}), path)


def fragile_translator_checkpoint(path: Path) -> Path:
    """A random CycleGAN ResNet (6 blocks, ngf 8): int8 breaks it (instance norm amplifies the rounding)."""
    torch.manual_seed(0)
    g = build_network("resnet_6blocks", ngf=8)
    info = ModelInfo(family="cyclegan", task="translate", pad_multiple=g.pad_multiple, image_size=64,
                     direction="AtoB")
    return save_checkpoint(build_checkpoint("cyclegan", {"G": g}, {"G": info}), path)
