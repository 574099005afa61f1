"""Pixels <-> model arrays: channel conversion, [-1, 1] normalisation, padding and cropping.

The GANs here (pix2pix, CycleGAN: Isola et al. 2017, Zhu et al. 2017; SRGAN: Ledig et al.
2017) take float32 NCHW in [-1, 1] (``x / 127.5 - 1``, a tanh output range) and give the same
range back. Grey -> RGB replicates the channel; RGB -> grey is ITU-R BT.601 luma with the same
integer weights and rounding as Pillow's ``convert("L")`` (19595, 38470, 7471 / 65536), so
a model sees identical grey values whether the grey came from Pillow or from here.
"""

from __future__ import annotations

import numpy as np

from translate.errors import ConfigError, ImageError, ModelError

PAD_MODES = {"reflect": "reflect", "replicate": "edge", "edge": "edge", "zeros": "constant", "constant": "constant"}


def rgb_to_luma(rgb: np.ndarray) -> np.ndarray:
    """uint8 [H, W, 3] -> uint8 [H, W] ITU-R 601 luma, bit-identical to Pillow's ``convert("L")``."""
    c = rgb.astype(np.uint32)
    return ((c[..., 0] * 19595 + c[..., 1] * 38470 + c[..., 2] * 7471 + 0x8000) >> 16).astype(np.uint8)


def convert_channels(pixels: np.ndarray, channels: int) -> np.ndarray:
    """uint8 [H, W, C] (C 1 or 3) -> uint8 [H, W, channels]: grey is replicated, RGB becomes luma.

    The luma is :func:`rgb_to_luma`'s, bit-identical to Pillow's ``convert("L")``. Returns
    ``pixels`` itself when it already has ``channels`` channels.
    """
    ok = isinstance(pixels, np.ndarray) and pixels.dtype == np.uint8 and pixels.ndim == 3 and pixels.shape[2] in (1, 3)
    if not ok:
        raise ImageError(f"pixels must be uint8 [H, W, C] with C in (1, 3), got "
                         f"{getattr(pixels, 'dtype', type(pixels))} {getattr(pixels, 'shape', '')}")
    if channels not in (1, 3):
        raise ConfigError(f"channels must be 1 (grey) or 3 (RGB), got {channels}")
    if pixels.shape[2] == channels:
        return pixels
    if channels == 1:
        return rgb_to_luma(pixels)[..., None]
    return np.repeat(pixels, 3, axis=2)


def to_model_array(pixels: np.ndarray, channels: int) -> np.ndarray:
    """uint8 [H, W, C] (C 1 or 3) -> float32 [1, channels, H, W] in [-1, 1] (``x / 127.5 - 1``)."""
    if not isinstance(pixels, np.ndarray) or pixels.dtype != np.uint8 or pixels.ndim != 3:
        raise ImageError(f"pixels must be uint8 [H, W, C], got {getattr(pixels, 'dtype', type(pixels))} "
                         f"{getattr(pixels, 'shape', '')}")
    if channels not in (1, 3):
        raise ModelError(f"models with {channels} input channels are not supported; image models take 1 or 3")
    c = pixels.shape[2]
    if c not in (1, 3):
        raise ImageError(f"pixels must have 1 or 3 channels, got {c}")
    if c == 3 and channels == 1:
        pixels = rgb_to_luma(pixels)[..., None]
    x = pixels.astype(np.float32) / np.float32(127.5) - np.float32(1.0)  # [H, W, c]
    x = np.ascontiguousarray(x.transpose(2, 0, 1)[None])  # [1, c, H, W]
    if x.shape[1] == 1 and channels == 3:
        x = np.repeat(x, 3, axis=1)  # normalise once, then replicate the grey plane
    return x


def from_model_array(arr: np.ndarray) -> np.ndarray:
    """float [C, H, W] (or [1, C, H, W]) in [-1, 1] -> uint8 [H, W, C]: ``round((y + 1) * 127.5)`` clipped.

    NaN in the output is a broken model, not a colour: it raises ModelError.
    """
    a = np.asarray(arr)
    if a.ndim == 4 and a.shape[0] == 1:
        a = a[0]
    if a.ndim != 3 or a.shape[0] not in (1, 3):
        raise ModelError(f"model output must be [C, H, W] with C in (1, 3), got shape {a.shape}")
    a = a.astype(np.float32, copy=False)
    if np.isnan(a).any():
        raise ModelError("model output contains NaN; the weights are broken (check the checkpoint / export)")
    y = np.rint((a + np.float32(1.0)) * np.float32(127.5))
    np.clip(y, 0, 255, out=y)
    return np.ascontiguousarray(y.astype(np.uint8).transpose(1, 2, 0))


def _check_nchw(x: np.ndarray, what: str) -> None:
    if not isinstance(x, np.ndarray) or x.ndim != 4:
        raise ImageError(f"{what} must be a numpy array [N, C, H, W], got {getattr(x, 'shape', type(x).__name__)}")


def padded_size(height: int, width: int, multiple: int, min_size: int = 1) -> tuple[int, int]:
    """(H', W'): each side rounded up to ``multiple`` and to at least ``min_size`` (itself rounded up)."""
    if multiple < 1:
        raise ConfigError(f"pad multiple must be >= 1, got {multiple}")
    low = max(1, min_size)
    return (-(-max(height, low) // multiple) * multiple, -(-max(width, low) // multiple) * multiple)


def pad_to_multiple(x: np.ndarray, multiple: int, mode: str = "reflect",
                    min_size: int = 1) -> tuple[np.ndarray, tuple[int, int]]:
    """Pad [N, C, H, W] at the bottom/right to a multiple of ``multiple``; returns (padded, (H, W)).

    ``min_size``: pad each side to at least this much too (a network's smallest input, see
    ``ModelInfo.min_input_size``), so tiny images run instead of failing inside the model.
    ``mode``: "reflect" (mirror without repeating the edge, as the ResNet generator's own
    padding), "replicate"/"edge" or "zeros". Reflection needs the pad to be smaller than the
    side; where it is not (tiny images), that axis falls back to edge replication.
    """
    _check_nchw(x, "pad_to_multiple input")
    if mode not in PAD_MODES:
        raise ConfigError(f"unknown pad mode {mode!r}; choose one of {', '.join(PAD_MODES)}")
    h, w = x.shape[2], x.shape[3]
    hp, wp = padded_size(h, w, multiple, min_size)
    ph, pw = hp - h, wp - w
    for axis, pad in ((2, ph), (3, pw)):
        if pad == 0:
            continue
        np_mode = PAD_MODES[mode]
        if np_mode == "reflect" and pad >= x.shape[axis]:
            np_mode = "edge"
        widths = [(0, 0)] * 4
        widths[axis] = (0, pad)
        x = np.pad(x, widths, mode=np_mode)
    return x, (h, w)


def crop_to(x: np.ndarray, size: tuple[int, int], scale: int = 1) -> np.ndarray:
    """Undo :func:`pad_to_multiple` on a (possibly ``scale``-times larger) [N, C, H', W'] output."""
    _check_nchw(x, "crop_to input")
    h, w = size[0] * scale, size[1] * scale
    if x.shape[2] < h or x.shape[3] < w:
        raise ModelError(f"output {x.shape[2]}x{x.shape[3]} is smaller than the expected {h}x{w}")
    return x[:, :, :h, :w]
