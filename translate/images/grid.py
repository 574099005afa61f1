"""Contact sheets: several same-size images in one, for sample grids, latent walks and the server's grid answer."""

from __future__ import annotations

import math

import numpy as np

from translate.images.codec import Image


def contact_grid(images: list[Image], columns: int | None = None, gap: int = 2) -> Image:
    """One image holding ``images`` (same size) in rows of ``columns`` (default: a near-square grid), white gaps."""
    if not images:
        raise ValueError("contact_grid needs at least one image")
    h, w, c = images[0].pixels.shape  # [H, W, C]
    columns = columns or math.ceil(math.sqrt(len(images)))
    rows = math.ceil(len(images) / columns)
    grid = np.full((rows * h + (rows - 1) * gap, columns * w + (columns - 1) * gap, c), 255, np.uint8)
    for k, img in enumerate(images):
        if img.pixels.shape != (h, w, c):
            raise ValueError(f"contact_grid: image {k} is {img.pixels.shape}, the first is {(h, w, c)}")
        r, col = divmod(k, columns)
        grid[r * (h + gap):r * (h + gap) + h, col * (w + gap):col * (w + gap) + w] = img.pixels
    return Image(pixels=grid, alpha=None, format=None)
