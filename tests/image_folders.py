"""Folders of real image files for the `translate run` tests (local and through the server).

GOOD holds one file per decodable format, with odd sizes that are not multiples of a ResNet's
pad multiple 4, grey and alpha among them; BAD is a truncated JPEG and a text file.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import PIL.Image

# name -> (size (w, h), PIL mode, save format). Odd sizes that are not multiples of the net's 4.
GOOD = {
    "rgb_odd.png": ((37, 29), "RGB", "PNG"),
    "grey.jpg": ((40, 33), "L", "JPEG"),
    "alpha.webp": ((31, 27), "RGBA", "WEBP"),
    "photo.bmp": ((25, 19), "RGB", "BMP"),
    "scan.tiff": ((23, 41), "RGB", "TIFF"),
    "sub/deep.png": ((20, 22), "RGBA", "PNG"),
}
BAD = ("corrupt.jpg", "notes.txt")


def pil_image(size, mode, seed=0):
    """A smooth-ish PIL image of ``size`` (w, h) and ``mode`` (L, RGB, RGBA)."""
    rng = np.random.default_rng(seed)
    w, h = size
    channels = {"L": 1, "RGB": 3, "RGBA": 4}[mode]
    # smooth-ish content (a gradient plus noise) so JPEG / WebP behave like on photos
    base = np.linspace(0, 200, w)[None, :, None] + np.linspace(0, 50, h)[:, None, None]
    arr = np.clip(base + rng.integers(0, 40, (h, w, channels)), 0, 255).astype(np.uint8)
    return PIL.Image.fromarray(arr[..., 0] if channels == 1 else arr, mode)


def make_folder(root: Path, bad_first: bool = False) -> Path:
    """A folder of the GOOD images plus a truncated JPEG and a text file."""
    root.mkdir(parents=True, exist_ok=True)
    for k, (name, (size, mode, fmt)) in enumerate(GOOD.items()):
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        pil_image(size, mode, seed=k).save(p, format=fmt, **({"lossless": True} if fmt == "WEBP" else {}))
    buf = io.BytesIO()
    pil_image((64, 48), "RGB").save(buf, format="JPEG")
    corrupt = ("0_" if bad_first else "") + BAD[0]
    (root / corrupt).write_bytes(buf.getvalue()[: len(buf.getvalue()) // 3])  # truncated mid-scan
    (root / BAD[1]).write_text("these are my holiday notes, not a picture\n")
    return root


def output_files(out: Path) -> list[str]:
    """Every file under ``out``, as sorted relative POSIX paths."""
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())


def read_pixels(path: Path) -> np.ndarray:
    """The pixels of an image file as Pillow decodes them."""
    with PIL.Image.open(path) as im:
        return np.asarray(im)
