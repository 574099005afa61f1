"""Files and folders for the dataset tools: listing images, reading them, guarding destinations.

Decoding, encoding, the list of image suffixes and grey conversion all come from
``translate.images``, so the tools accept exactly what training and serving accept. Outputs are
PNG (lossless, and Pillow's PNG encoder is deterministic, so the same seed gives byte-identical
files).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from translate.errors import ConfigError, DataError, ImageError
from translate.images import IMAGE_SUFFIXES, convert_channels, list_image_files, read_image, rgb_to_luma


def list_images(folder: str | Path, *, recursive: bool = False) -> list[Path]:
    """Image files in ``folder`` sorted by relative path; DataError if it is missing or has none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder; give the folder that holds your images")
    files = list_image_files(folder, recursive=recursive)
    if not files:
        raise DataError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    return files


def prepare_destination(dst: str | Path, *, force: bool) -> Path:
    """Create ``dst``; refuse a non-empty one unless ``force`` (then files with the same names are replaced)."""
    dst = Path(dst)
    if dst.exists() and not dst.is_dir():
        raise ConfigError(f"destination {dst} exists and is not a folder")
    if dst.is_dir() and any(dst.iterdir()) and not force:
        raise ConfigError(
            f"destination {dst} is not empty; choose another folder or pass --force to write into it "
            "(files with the same names are replaced, others are kept)"
        )
    dst.mkdir(parents=True, exist_ok=True)
    return dst


def read_rgb(path: str | Path) -> np.ndarray:
    """Decode an image file to uint8 RGB [H, W, 3] (grey is repeated, alpha dropped).

    Raises DataError naming the file when it cannot be read or decoded.
    """
    try:
        img = read_image(path)
    except (ImageError, OSError) as exc:
        raise DataError(f"cannot read {path}: {exc}; remove or replace that file") from exc
    return np.ascontiguousarray(convert_channels(img.pixels, 3))


def read_gray(path: str | Path) -> np.ndarray:
    """Decode an image file to uint8 grey [H, W] (ITU-R BT.601 luma, bit-identical to Pillow's "L")."""
    return rgb_to_luma(read_rgb(path))


def write_png(pixels: np.ndarray, path: str | Path) -> None:
    """Write uint8 [H, W] or [H, W, C] (C in 1, 3) to ``path`` as PNG, atomically."""
    from translate.images import Image, write_image

    px = np.asarray(pixels)
    if px.ndim == 2:
        px = px[:, :, None]
    assert px.dtype == np.uint8 and px.shape[2] in (1, 3), f"expected uint8 HWC with 1 or 3 channels, got {px.shape}"
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_image(Image(pixels=np.ascontiguousarray(px), alpha=None, format="PNG"), path, fmt="png")


def side_by_side(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The pix2pix "A|B" layout: A on the left half, B on the right, both [H, W, 3] of one size."""
    if a.shape != b.shape:
        raise DataError(f"A and B must have the same size to be combined, got {a.shape} and {b.shape}")
    return np.concatenate([a, b], axis=1)


def as_rgb(x: np.ndarray) -> np.ndarray:
    """[H, W] or [H, W, 1] -> [H, W, 3] by repeating the grey channel."""
    return convert_channels(x[:, :, None] if x.ndim == 2 else x, 3)


def file_rng(seed: int, name: str) -> np.random.Generator:
    """A generator seeded by (seed, file name): each file's randomness does not depend on the others."""
    return np.random.default_rng([int(seed), zlib.crc32(name.encode("utf-8"))])


def stems_unique(files: Iterable[Path]) -> None:
    """Raise DataError if two source files share a stem (``a.jpg`` and ``a.png`` would write one ``a.png``)."""
    seen: dict[str, Path] = {}
    for f in files:
        if f.stem in seen:
            raise DataError(f"{seen[f.stem]} and {f} have the same name stem and would overwrite each other; "
                            "rename one")
        seen[f.stem] = f
