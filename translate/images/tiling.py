"""Tiled inference with overlap blending, so memory stays bounded on large images.

The image is cut into equal tiles (side rounded to the network's pad multiple, starts on that
multiple too, so a strided network sees the same pixel grid as on the whole image) that
overlap by at least ``overlap`` input pixels. Each tile's output is weighted by a separable
window and the weighted sum is divided by the summed weights (the usual overlap-add scheme,
as in SwinIR / Real-ESRGAN style tiling, but with soft rather than hard seams).

Along an edge shared with a neighbouring tile the window is 0 for the first ``overlap // 4``
pixels (where a convolution sees the tile border instead of the true neighbours), then a
raised-cosine ramp up to 1 over the middle of the overlap. Image borders get weight 1 up to
the edge. Hence, for a translation-equivariant function whose output depends on inputs
within radius ``r <= overlap // 4`` (and a stride that divides the pad multiple), the tiled
result equals the whole-image result up to float rounding; for networks with global context
(instance norm, U-Net bottleneck) it differs, and the ramp keeps the seams invisible.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from translate.errors import ConfigError, ModelError
from translate.images.arrays import _check_nchw, crop_to, pad_to_multiple, padded_size

DEFAULT_TILE = 512  # input pixels a side; a ResNet-9 at 512^2 needs about 1.5 GB of activations
DEFAULT_OVERLAP = 32

TileFn = Callable[[np.ndarray], np.ndarray]  # float32 [B, C, h, w] -> float32 [B, C', h*s, w*s]


def default_tiling(scale: int, tile: int | None, overlap: int | None) -> tuple[int | None, int]:
    """Tile side and overlap in input pixels for a model that upscales by ``scale``.

    ``tile=None`` picks :data:`DEFAULT_TILE` / scale (at least 64), so tiles stay near
    DEFAULT_TILE output pixels and memory stays bounded; ``tile=0`` means never tile (None is
    returned). ``overlap=None`` picks :data:`DEFAULT_OVERLAP` / scale (at least 8, and under half
    the tile). The CLI and the remote processor both ask this, so both tile alike.
    """
    if tile is None:
        tile = max(64, DEFAULT_TILE // max(1, scale))
    if overlap is None:
        overlap = max(8, DEFAULT_OVERLAP // max(1, scale))
        if tile and 2 * overlap >= tile:
            overlap = tile // 4
    return (tile or None), overlap


def round_tile(tile: int, multiple: int, min_size: int = 1) -> int:
    """Tile side rounded down to ``multiple``, never below one multiple nor below ``min_size`` (rounded up).

    ``min_size`` is the network's smallest input (``ModelInfo.min_input_size``): a tile smaller
    than that would fail inside the model, so a tiny requested tile grows to it.
    """
    if tile < 1:
        raise ConfigError(f"tile must be >= 1, got {tile}")
    low = -(-max(1, min_size) // multiple) * multiple
    return max(multiple, low, tile // multiple * multiple)


def choose_tile(height: int, width: int, *, multiple: int = 1, tile: int = DEFAULT_TILE,
                min_size: int = 1) -> int | None:
    """Tile side for an image of ``height`` x ``width``: None when it fits in one tile (run it whole).

    Callers that want bounded memory pass the result to ``apply_model(tile=...)``.
    """
    t = round_tile(tile, multiple, min_size)
    hp, wp = padded_size(height, width, multiple, min_size)
    return None if hp <= t and wp <= t else t


def tile_starts(length: int, tile: int, stride: int) -> list[int]:
    """Start offsets covering [0, length) with tiles of ``tile`` every ``stride``; the last ends at ``length``."""
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, stride))
    starts.append(length - tile)
    return starts


def blend_window(n: int, lead: bool, trail: bool, margin: int, ramp: int) -> np.ndarray:
    """1-D float32 weights of length ``n``: 0 for ``margin``, raised-cosine over ``ramp``, then 1.

    ``lead`` / ``trail`` say whether the start / end of the tile borders another tile; sides
    at the image border keep weight 1 to the edge.
    """
    i = np.arange(n, dtype=np.float64)
    w = np.ones(n)
    ramp_shape = 0.5 - 0.5 * np.cos(np.pi * (i - margin + 0.5) / max(ramp, 1))  # valid on [margin, margin+ramp)
    up = np.where(i < margin, 0.0, np.where(i < margin + ramp, ramp_shape, 1.0))
    if lead:
        w *= up
    if trail:
        w *= up[::-1]
    return w.astype(np.float32)


def run_tiled(
    fn: TileFn,
    x: np.ndarray,
    *,
    tile: int,
    overlap: int,
    scale: int = 1,
    multiple: int = 1,
    batch_size: int = 4,
    min_size: int = 1,
) -> np.ndarray:
    """Apply ``fn`` to ``x`` [1, C, H, W] tile by tile; returns float32 [1, C', H*scale, W*scale].

    ``fn`` maps float32 [B, C, h, w] -> [B, C', h*scale, w*scale] and is called with up to
    ``batch_size`` tiles at once (all tiles have the same shape, so a server can batch them).
    ``x`` need not be a multiple of ``multiple``: it is padded (reflect) and the result cropped.
    ``min_size``: the network's smallest input side; tiles (and a smaller image) are padded up to it.
    """
    _check_nchw(x, "run_tiled input")
    if x.shape[0] != 1:
        raise ConfigError(f"run_tiled takes one image [1, C, H, W], got batch {x.shape[0]}")
    if overlap < 0 or scale < 1 or multiple < 1 or batch_size < 1:
        raise ConfigError(f"bad tiling parameters overlap={overlap} scale={scale} multiple={multiple} "
                          f"batch_size={batch_size}")
    tile = round_tile(tile, multiple, min_size)
    if overlap >= tile:
        raise ConfigError(f"overlap {overlap} must be smaller than the tile {tile}; use a larger tile")
    xp, size = pad_to_multiple(x.astype(np.float32, copy=False), multiple, min_size=min_size)
    hp, wp = xp.shape[2], xp.shape[3]
    th, tw = min(tile, hp), min(tile, wp)
    stride = max(multiple, (tile - overlap) // multiple * multiple)
    ys, xs = tile_starts(hp, th, stride), tile_starts(wp, tw, stride)
    # Tiles overlap by `tile - stride` >= overlap, except when the pad multiple forces a coarser
    # stride; the zero margins must stay within half the real overlap so every pixel keeps weight.
    margin = min(overlap // 4, (tile - stride) // 2)
    ramp = max(0, min(overlap, tile - stride) - 2 * margin)
    wy = {y: blend_window(th * scale, y > 0, y + th < hp, margin * scale, ramp * scale) for y in ys}
    wx = {x0: blend_window(tw * scale, x0 > 0, x0 + tw < wp, margin * scale, ramp * scale) for x0 in xs}
    # The tile grid is a product of row and column positions, so the summed weight is separable.
    sum_y = np.zeros(hp * scale, np.float32)
    sum_x = np.zeros(wp * scale, np.float32)
    for y in ys:
        sum_y[y * scale:(y + th) * scale] += wy[y]
    for x0 in xs:
        sum_x[x0 * scale:(x0 + tw) * scale] += wx[x0]
    boxes = [(y, x0) for y in ys for x0 in xs]
    out: np.ndarray | None = None
    for b in range(0, len(boxes), batch_size):
        batch = boxes[b:b + batch_size]
        tiles = np.stack([xp[0, :, y:y + th, x0:x0 + tw] for y, x0 in batch])  # [B, C, th, tw]
        res = np.asarray(fn(tiles), dtype=np.float32)
        if res.ndim != 4 or res.shape[0] != len(batch) or res.shape[2:] != (th * scale, tw * scale):
            raise ModelError(f"tile function returned {res.shape} for input {tiles.shape}; expected "
                             f"[{len(batch)}, C', {th * scale}, {tw * scale}] (scale {scale})")
        if out is None:
            out = np.zeros((res.shape[1], hp * scale, wp * scale), np.float32)  # [C', Hp*s, Wp*s]
        elif res.shape[1] != out.shape[0]:
            raise ModelError(f"tile function changed its channel count ({out.shape[0]} -> {res.shape[1]})")
        for k, (y, x0) in enumerate(batch):
            weight = wy[y][:, None] * wx[x0][None, :]
            out[:, y * scale:(y + th) * scale, x0 * scale:(x0 + tw) * scale] += res[k] * weight
    assert out is not None  # at least one tile always exists
    out /= sum_y[:, None] * sum_x[None, :]
    return crop_to(out[None], size, scale)
