"""Tiny synthetic datasets in every training layout, for tests and smoke runs (no downloads).

Each image is smooth random colour fields (low-frequency noise, bicubically upsampled), so a
network can learn the mapping within a few dozen CPU steps:
- paired: B = the colour-inverted A (A|B side by side, or A/ + B/ folders);
- unpaired: trainA = dark images, trainB = bright (inverted) images, unpaired;
- sr: smooth HR images;
- unconditional: mostly dark grey images with one bright square; label = square's quadrant.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image as PILImage

from translate.images import resize_pixels


def smooth_image(rng: np.random.Generator, size: int, channels: int = 3) -> np.ndarray:
    """uint8 [size, size, channels] of smooth colour fields (a 4x4 random image, bicubically upsampled)."""
    low = rng.integers(0, 256, (4, 4, channels), dtype=np.uint8)
    return resize_pixels(low, size, size)


def _save(px: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.fromarray(px[:, :, 0] if px.shape[2] == 1 else px).save(path)


def make_paired(root, n: int = 8, size: int = 32, side_by_side: bool = True, seed: int = 0) -> Path:
    """pix2pix data: B = 255 - A."""
    rng, root = np.random.default_rng(seed), Path(root)
    for i in range(n):
        a = smooth_image(rng, size)
        b = 255 - a
        if side_by_side:
            _save(np.concatenate([a, b], axis=1), root / f"{i:03d}.png")
        else:
            _save(a, root / "A" / f"{i:03d}.png")
            _save(b, root / "B" / f"{i:03d}.png")
    return root


def make_unpaired(root, n_a: int = 8, n_b: int = 6, size: int = 32, seed: int = 0) -> Path:
    """CycleGAN data: trainA dark, trainB bright (independent draws, so unpaired)."""
    rng, root = np.random.default_rng(seed), Path(root)
    for i in range(n_a):
        _save((smooth_image(rng, size) // 2), root / "trainA" / f"a{i:03d}.png")
    for i in range(n_b):
        _save(255 - smooth_image(rng, size) // 2, root / "trainB" / f"b{i:03d}.png")
    return root


def make_sr(root, n: int = 6, size: int = 64, seed: int = 0) -> Path:
    """SR data: smooth HR images (LR is made on the fly by the loader)."""
    rng, root = np.random.default_rng(seed), Path(root)
    for i in range(n):
        _save(smooth_image(rng, size), root / f"{i:03d}.png")
    return root


def make_unconditional(root, n: int = 64, size: int = 32, seed: int = 0, class_folders: bool = False) -> Path:
    """DCGAN data: dark grey images with one bright square; with class_folders, quadrant = class."""
    rng, root = np.random.default_rng(seed), Path(root)
    for i in range(n):
        img = np.full((size, size, 1), 30, np.uint8)
        k = int(rng.integers(4))
        y0, x0 = (k // 2) * size // 2, (k % 2) * size // 2
        s = size // 4
        oy, ox = rng.integers(0, size // 2 - s + 1, 2)
        img[y0 + oy : y0 + oy + s, x0 + ox : x0 + ox + s] = 230
        _save(img, root / (f"class{k}" if class_folders else "") / f"{i:03d}.png")
    return root
