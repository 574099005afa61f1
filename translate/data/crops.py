"""Fixed-size square crops of photos, at their own resolution (nothing is resized).

Training reads random crops of every image anyway, but it decodes the whole file for each
crop: from a folder of large photos most of that work is thrown away, and with a few photos
every step is a new epoch. Cutting each photo into many crops once (as the SR benchmark's data
script does: 192 px crops, LR made on the fly) keeps the pixels' scale, which is what
super-resolution and colourisation learn from, and makes a training step cost what its network
costs. The crops then go through the other builders (``translate data gray``) or straight into
training (the sr layout).

Crop positions are seeded per file (:func:`translate.data.folders.file_rng`), so adding or
removing a photo does not move the crops of the others; one crop per image is the centred one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from translate.data.folders import file_rng, list_images, prepare_destination, read_rgb, stems_unique, write_png
from translate.errors import ConfigError, DataError


def crop_positions(height: int, width: int, size: int, count: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """``count`` (top, left) corners of size x size squares inside height x width; 1 = the centred one."""
    if count == 1:
        return [((height - size) // 2, (width - size) // 2)]
    return [(int(rng.integers(0, height - size + 1)), int(rng.integers(0, width - size + 1))) for _ in range(count)]


def make_crops(src: str | Path, dst: str | Path, *, size: int = 192, crops_per_image: int = 16, seed: int = 0,
               force: bool = False, progress: bool = True) -> dict:
    """Write ``crops_per_image`` random size x size RGB crops of every photo in ``src`` to ``dst``.

    Files are ``dst/<stem>_<k>.png``. A photo smaller than ``size`` on either side raises
    DataError naming it (resizing it up would invent the detail the crops are for).
    """
    from tqdm import tqdm

    if size < 1:
        raise ConfigError(f"--size must be >= 1 (got {size})")
    if crops_per_image < 1:
        raise ConfigError(f"--crops-per-image must be >= 1 (got {crops_per_image})")
    files = list_images(src)
    stems_unique(files)
    small = [f"{path.name} ({w}x{h})" for path, (w, h) in ((p, _header_size(p)) for p in files)
             if w is not None and min(w, h) < size]
    if small:  # all of them, before anything is written (a rerun would need --force otherwise)
        raise DataError(f"{len(small)} photo(s) in {src} are smaller than --size {size}: {', '.join(small[:10])}"
                        f"{' ...' if len(small) > 10 else ''}; remove them or choose a smaller size")
    dst = prepare_destination(dst, force=force)
    width = max(3, len(str(crops_per_image - 1)))
    written = 0
    for path in tqdm(files, desc=f"crops {size}px", unit="photo", disable=not progress):
        rgb = read_rgb(path)
        h, w = rgb.shape[:2]
        if min(h, w) < size:
            raise DataError(f"{path} is {w}x{h}, smaller than --size {size}; remove it or choose a smaller size")
        for k, (top, left) in enumerate(crop_positions(h, w, size, crops_per_image, file_rng(seed, path.name))):
            crop = np.ascontiguousarray(rgb[top:top + size, left:left + size])
            write_png(crop, dst / f"{path.stem}_{k:0{width}d}.png")
            written += 1
    return {"photos": len(files), "crops": written, "size": size}


def _header_size(path: Path) -> tuple[int | None, int | None]:
    """(width, height) from the image header without decoding the pixels; (None, None) when Pillow cannot
    tell (the decoder then reports the file with its own message)."""
    import PIL.Image

    try:
        with PIL.Image.open(path) as im:
            return im.size
    except (OSError, ValueError, PIL.Image.DecompressionBombError):
        return None, None
