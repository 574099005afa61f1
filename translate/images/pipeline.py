"""Image -> model array -> image: the processing every caller (CLI, server, export checks) shares.

``prepare`` turns an :class:`Image` into the padded float32 array a model of ``ModelInfo``
takes; ``finish`` turns the model's output back into an :class:`Image` (crop, denormalise,
alpha put back, resized with bicubic for super-resolution). A server can ``prepare`` several
requests, concatenate those whose padded shapes are equal along N, run one batch and
``finish`` each slice. ``apply_model`` does all of it, whole or tiled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import PIL.Image

from translate.errors import ConfigError, ImageError, ModelError
from translate.images.arrays import crop_to, from_model_array, pad_to_multiple, to_model_array
from translate.images.codec import Image
from translate.images.tiling import DEFAULT_OVERLAP, TileFn, round_tile, run_tiled
from translate.modelinfo import ModelInfo


@dataclass
class Prepared:
    """A model-ready image: ``array`` float32 [1, C, Hp, Wp] in [-1, 1], padded to the model's multiple and minimum.

    ``size`` is (H, W) before padding, ``alpha`` the untouched uint8 [H, W] plane or None,
    ``format`` the source format (kept so "same" output format still resolves after finish).
    """

    array: np.ndarray
    size: tuple[int, int]
    alpha: np.ndarray | None = None
    format: str | None = None


def _check_image_model(info: ModelInfo) -> None:
    if info.task == "generate" or info.in_channels == 0:
        raise ModelError(f"{info.family} model generates from latents; it does not take an input image")
    if tuple(info.value_range) != (-1.0, 1.0):
        raise ModelError(f"value range {info.value_range} is not supported; image models here use [-1, 1]")
    if info.out_channels not in (1, 3):
        raise ModelError(f"models with {info.out_channels} output channels are not supported (1 or 3)")


def prepare(img: Image, info: ModelInfo) -> Prepared:
    """Image -> :class:`Prepared` (channels converted to ``info.in_channels``, normalised, reflect-padded).

    Padding goes up to the pad multiple and to at least ``info.min_input_size`` a side, so an image
    of any size (1x1 included) runs; :func:`finish` crops the result back.
    """
    if not isinstance(img, Image):
        raise ImageError(f"prepare expects an Image, got {type(img).__name__}")
    _check_image_model(info)
    x = to_model_array(img.pixels, info.in_channels)  # [1, C, H, W]
    xp, size = pad_to_multiple(x, info.pad_multiple, min_size=info.min_input_size)  # [1, C, Hp, Wp]
    return Prepared(array=xp, size=size, alpha=img.alpha, format=img.format)


_RESAMPLE = {"bicubic": PIL.Image.Resampling.BICUBIC, "bilinear": PIL.Image.Resampling.BILINEAR,
             "lanczos": PIL.Image.Resampling.LANCZOS}


def resize_pixels(px: np.ndarray, height: int, width: int, resample: str = "bicubic") -> np.ndarray:
    """uint8 [h, w] or [h, w, C] (C = 1 or 3) -> the same layout at (height, width).

    Pillow's antialiased filters (bicubic is close to MATLAB's imresize, which the SR papers used
    to make low-resolution inputs; lanczos is the sharper choice for export's check photos);
    values are clamped to 0..255. The one resize of the project: alpha planes, SR low-resolution
    inputs (training and ``translate data downscale``), DCGAN data, export's parity checks.
    """
    if resample not in _RESAMPLE:
        raise ConfigError(f"unknown resample filter {resample!r}; choose one of {', '.join(_RESAMPLE)}")
    if px.shape[:2] == (height, width):
        return px
    grey_hw1 = px.ndim == 3 and px.shape[2] == 1
    img = PIL.Image.fromarray(px[:, :, 0] if grey_hw1 else px)
    out = np.asarray(img.resize((width, height), _RESAMPLE[resample]))
    return out[:, :, None] if grey_hw1 else out


def resize_alpha(alpha: np.ndarray, height: int, width: int) -> np.ndarray:
    """uint8 [h, w] alpha -> uint8 [height, width] with bicubic (Pillow clamps to 0..255)."""
    return resize_pixels(alpha, height, width)


def finish(out: np.ndarray, prepared: Prepared, info: ModelInfo) -> Image:
    """Model output [1, C', Hp*s, Wp*s] -> :class:`Image` of (H*s, W*s) with the alpha put back."""
    out = np.asarray(out)
    s = info.scale
    _, _, hp, wp = prepared.array.shape
    expected = (1, info.out_channels, hp * s, wp * s)
    if out.shape != expected:
        raise ModelError(f"model output has shape {out.shape}, expected {expected} for input "
                         f"{prepared.array.shape} (out_channels {info.out_channels}, scale {s})")
    pixels = from_model_array(crop_to(out, prepared.size, s)[0])  # [H*s, W*s, C']
    alpha = prepared.alpha
    if alpha is not None:
        alpha = resize_alpha(alpha, pixels.shape[0], pixels.shape[1])
    return Image(pixels=pixels, alpha=alpha, format=prepared.format)


def apply_model(
    fn: TileFn,
    img: Image,
    info: ModelInfo,
    *,
    tile: int | None = None,
    overlap: int = DEFAULT_OVERLAP,
    batch_size: int = 4,
) -> Image:
    """Run ``fn`` (float32 NCHW -> NCHW) on ``img``: prepare, whole or tiled, finish.

    The whole padded image goes through ``fn`` at once when ``tile`` is None or the image fits
    in one tile; otherwise :func:`run_tiled` with ``overlap`` and ``batch_size`` tiles per call.
    """
    prepared = prepare(img, info)
    _, _, hp, wp = prepared.array.shape
    if tile is not None and tile < 1:
        raise ConfigError(f"tile must be >= 1 or None, got {tile}")
    side = None if tile is None else round_tile(tile, info.pad_multiple, info.min_input_size)
    if side is None or (hp <= side and wp <= side):
        out = np.asarray(fn(prepared.array), dtype=np.float32)
    else:
        out = run_tiled(fn, prepared.array, tile=tile, overlap=overlap, scale=info.scale,
                        multiple=info.pad_multiple, batch_size=batch_size, min_size=info.min_input_size)
    return finish(out, prepared, info)
