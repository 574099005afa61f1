"""Paired data sets made from one folder of photos: grey -> colour, LR -> HR, and A|B combining.

- ``make_gray_dataset``: colourisation pairs (pix2pix paper, sec. 4: "BW -> color"), A = luma
  (ITU-R BT.601, bit-identical to Pillow's ``convert("L")``), B = the photo.
- ``make_downscale_dataset``: super-resolution pairs as in SRGAN (Ledig et al. 2017): HR cropped
  to a multiple of the scale, LR = bicubic downscale by ``scale``. Pillow's bicubic (antialiased)
  is close to, not identical with, MATLAB's ``imresize`` that the SR papers used.
- ``combine_folders``: ``A/name`` + ``B/name`` -> one ``name.png`` with A on the left and B on
  the right, the layout pix2pix reads (the reference project's ``combine_A_and_B.py``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from translate.data import WRITE_LAYOUTS
from translate.data.folders import (
    as_rgb,
    list_images,
    prepare_destination,
    read_gray,
    read_rgb,
    side_by_side,
    stems_unique,
    write_png,
)
from translate.errors import ConfigError, DataError
from translate.images import resize_pixels


def make_gray_dataset(src: str | Path, dst: str | Path, *, layout: str = "ab", force: bool = False,
                      progress: bool = True) -> dict:
    """Grey -> colour pairs from the photos in ``src`` (A|B PNGs, or ``A/`` grey + ``B/`` colour folders)."""
    from tqdm import tqdm

    if layout not in WRITE_LAYOUTS:
        raise ConfigError(f"unknown layout {layout!r}; choose one of {', '.join(WRITE_LAYOUTS)}")
    files = list_images(src)
    stems_unique(files)
    dst = prepare_destination(dst, force=force)
    for path in tqdm(files, desc="gray", unit="photo", disable=not progress):
        rgb = read_rgb(path)
        grey = read_gray(path)
        name = f"{path.stem}.png"
        if layout == "ab":
            write_png(side_by_side(as_rgb(grey), rgb), dst / name)
        else:
            write_png(grey, dst / "A" / name)
            write_png(rgb, dst / "B" / name)
    return {"photos": len(files), "pairs": len(files), "layout": layout}


def bicubic_downscale(rgb: np.ndarray, scale: int) -> np.ndarray:
    """[H, W, 3] with H, W divisible by ``scale`` -> [H/scale, W/scale, 3], bicubic with antialiasing."""
    h, w = rgb.shape[:2]
    assert h % scale == 0 and w % scale == 0, f"{w}x{h} is not a multiple of the scale {scale}"
    return resize_pixels(rgb, h // scale, w // scale)  # the same filter training uses on the fly


def make_downscale_dataset(src: str | Path, dst: str | Path, *, scale: int = 4, force: bool = False,
                           progress: bool = True) -> dict:
    """Super-resolution pairs: ``dst/HR/name.png`` (cropped to a multiple of ``scale``) and ``dst/LR/name.png``."""
    from tqdm import tqdm

    if scale < 2:
        raise ConfigError(f"--scale must be 2 or more, got {scale}")
    files = list_images(src)
    stems_unique(files)
    dst = prepare_destination(dst, force=force)
    for path in tqdm(files, desc=f"downscale x{scale}", unit="photo", disable=not progress):
        rgb = read_rgb(path)
        h, w = (rgb.shape[0] // scale) * scale, (rgb.shape[1] // scale) * scale
        if h == 0 or w == 0:
            raise DataError(f"{path} ({rgb.shape[1]}x{rgb.shape[0]}) is smaller than the scale {scale}")
        hr = np.ascontiguousarray(rgb[:h, :w])  # crop bottom/right so LR pixels map to whole HR blocks
        write_png(hr, dst / "HR" / f"{path.stem}.png")
        write_png(bicubic_downscale(hr, scale), dst / "LR" / f"{path.stem}.png")
    return {"photos": len(files), "scale": scale}


def combine_folders(folder_a: str | Path, folder_b: str | Path, dst: str | Path, *, force: bool = False,
                    progress: bool = True) -> dict:
    """Write ``dst/<stem>.png`` = A|B for every stem present in both folders.

    A stem present in only one folder, or a pair of different sizes, raises DataError naming the
    files: silently dropping half a data set is how misaligned training sets happen.
    """
    from tqdm import tqdm

    files_a, files_b = list_images(folder_a), list_images(folder_b)
    stems_unique(files_a)
    stems_unique(files_b)
    by_stem_a = {p.stem: p for p in files_a}
    by_stem_b = {p.stem: p for p in files_b}
    only_a = sorted(set(by_stem_a) - set(by_stem_b))
    only_b = sorted(set(by_stem_b) - set(by_stem_a))
    if only_a or only_b:
        lines = [f"{by_stem_a[s]} has no partner in {folder_b}" for s in only_a[:5]]
        lines += [f"{by_stem_b[s]} has no partner in {folder_a}" for s in only_b[:5]]
        more = len(only_a) + len(only_b) - len(lines)
        raise DataError("A and B folders do not match:\n  " + "\n  ".join(lines)
                        + (f"\n  ... and {more} more" if more > 0 else ""))
    dst = prepare_destination(dst, force=force)
    for stem in tqdm(sorted(by_stem_a), desc="combine", unit="pair", disable=not progress):
        a, b = read_rgb(by_stem_a[stem]), read_rgb(by_stem_b[stem])
        if a.shape != b.shape:
            raise DataError(f"{by_stem_a[stem]} is {a.shape[1]}x{a.shape[0]} but {by_stem_b[stem]} is "
                            f"{b.shape[1]}x{b.shape[0]}; pairs must have the same size")
        write_png(side_by_side(a, b), dst / f"{stem}.png")
    return {"pairs": len(by_stem_a)}
