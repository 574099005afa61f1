"""The measuring half of ``make demo``: every output against its ground truth AND its trivial baseline.

A short CPU run is only convincing if it beats what needs no training at all, so each task is
scored twice, per image:

- **colourisation** (grey -> colour): PSNR/SSIM on RGB against the colour photo, for the model's
  output and for the grey input itself (shown as RGB: what "no colour" scores);
- **super-resolution x4**: PSNR/SSIM on the Y channel after a 4-pixel border crop (the SR papers'
  protocol, Ledig et al. 2017) against the HR photo, for the model's output and for bicubic
  upsampling of the same LR image (Pillow's bicubic);
- **generator** (digits): the mean distance from each sample to its nearest real training digit
  (L2 over [0, 1] pixels: lower = more digit-like), and how many of the 10 classes those nearest
  digits cover (a mode-collapse check), for the trained generator, for the same generator
  untrained (the baseline: what the exported network would draw before training) and, as the
  reference, for as many real digits, each against the other training digits.

A task beats its baseline when its mean PSNR and mean SSIM are both higher (the generator: when
its nearest-digit distance is lower). ``contact_sheet`` draws input | output | ground truth rows
per task and a grid of generated digits. Pure functions of image arrays and folders, so
``tests/scripts/test_demo_report.py`` checks them on tiny made-up images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

SR_SCALE = 4
SR_BORDER = 4  # pixels cropped before PSNR/SSIM, as the SR papers do at x4


def _read(path: Path) -> np.ndarray:
    from translate.images import read_image

    return read_image(path).pixels


def _rgb(px: np.ndarray) -> np.ndarray:
    from translate.images import convert_channels

    return convert_channels(px, 3)


def bicubic_up(lr: np.ndarray, scale: int = SR_SCALE) -> np.ndarray:
    """The SR baseline: uint8 HWC upsampled ``scale`` x with bicubic (the project's one resize)."""
    from translate.images import resize_pixels

    return resize_pixels(lr, lr.shape[0] * scale, lr.shape[1] * scale, resample="bicubic")


def _scored(name: str, output: np.ndarray, baseline: np.ndarray, truth: np.ndarray, **metric) -> dict:
    from translate.metrics import psnr, ssim

    row = {"name": name,
           "psnr_db": psnr(output, truth, **metric), "ssim": ssim(output, truth, **metric),
           "baseline_psnr_db": psnr(baseline, truth, **metric), "baseline_ssim": ssim(baseline, truth, **metric)}
    row["gain_db"] = row["psnr_db"] - row["baseline_psnr_db"]
    row["ssim_gain"] = row["ssim"] - row["baseline_ssim"]
    return row


def colourisation_rows(outputs: Path, grey: Path, truth: Path) -> list[dict]:
    """Per image: the colourised output and the grey input (as RGB) against the colour photo (RGB)."""
    rows = []
    for out in sorted(outputs.glob("*.png")):
        rows.append(_scored(out.stem, _rgb(_read(out)), _rgb(_read(grey / out.name)), _rgb(_read(truth / out.name))))
    return rows


def super_resolution_rows(outputs: Path, lr: Path, hr: Path) -> list[dict]:
    """Per image: the model's x4 output and bicubic x4 against the HR photo (Y channel, 4-px border crop)."""
    rows = []
    for out in sorted(outputs.glob("*.png")):
        truth = _rgb(_read(hr / out.name))
        rows.append(_scored(out.stem, _rgb(_read(out)), _rgb(bicubic_up(_read(lr / out.name))), truth,
                            y_channel=True, crop_border=SR_BORDER))
    return rows


def task_summary(rows: list[dict]) -> dict:
    """Means over the images and the verdict: mean PSNR and mean SSIM both above the baseline's."""
    if not rows:
        raise ValueError("no images were scored")
    mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k != "name"}
    return {"images": rows, "mean": mean, "beats_baseline": bool(mean["gain_db"] > 0 and mean["ssim_gain"] > 0),
            "images_beating_baseline_psnr": int(sum(r["gain_db"] > 0 for r in rows))}


# --- generator ------------------------------------------------------------------------------

def nearest_digits(samples: np.ndarray, real: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distance, index) of each sample's nearest image in ``real``; uint8 [N, H, W] arrays, L2 over [0, 1] pixels."""
    import torch

    a = torch.from_numpy(samples.reshape(len(samples), -1).astype(np.float32) / 255)
    b = torch.from_numpy(real.reshape(len(real), -1).astype(np.float32) / 255)
    dist, idx = torch.cdist(a, b).min(dim=1)  # [N, M] -> nearest per sample
    return dist.numpy(), idx.numpy()


def generator_scores(samples: np.ndarray, real: np.ndarray, labels: np.ndarray) -> dict:
    """Mean nearest-digit distance and the classes of those nearest digits (count of the 10 and counts)."""
    dist, idx = nearest_digits(samples, real)
    classes = np.bincount(labels[idx], minlength=int(labels.max()) + 1)
    return {"samples": int(len(samples)), "nearest_digit_l2": float(dist.mean()),
            "classes_covered": int((classes > 0).sum()), "class_counts": classes.tolist()}


def generator_summary(trained: dict, untrained: dict, real: dict) -> dict:
    """The generator's verdict: closer to real digits than the untrained network is."""
    return {"trained": trained, "untrained_baseline": untrained, "real_reference": real,
            "beats_baseline": bool(trained["nearest_digit_l2"] < untrained["nearest_digit_l2"])}


# --- printing -------------------------------------------------------------------------------

def format_summary(summary: dict) -> str:
    """The human-readable tables printed at the end of the demo."""
    lines = []
    for key, title, protocol, baseline in (
            ("colourise", "colourisation (grey -> colour), held-out photos", "RGB", "grey input"),
            ("superres", "super-resolution x4, held-out photos", "Y channel, 4-px border crop", "bicubic")):
        task = summary["tasks"].get(key)
        if task is None:
            continue
        lines += ["", f"{title} ({protocol}): PSNR dB / SSIM against the real photo",
                  f"  {'image':<20} {'model':>16} {baseline:>16} {'gain':>14}"]
        for r in task["images"] + [{"name": "mean", **task["mean"]}]:
            lines.append(f"  {r['name']:<20} {r['psnr_db']:>7.2f} / {r['ssim']:.3f} "
                         f"{r['baseline_psnr_db']:>7.2f} / {r['baseline_ssim']:.3f} "
                         f"{r['gain_db']:>+6.2f} / {r['ssim_gain']:+.3f}")
        verdict = "beats" if task["beats_baseline"] else "does NOT beat"
        lines.append(f"  -> the model {verdict} the {baseline} on mean PSNR and SSIM "
                     f"({task['images_beating_baseline_psnr']}/{len(task['images'])} images better on PSNR)")
    gen = summary["tasks"].get("digits")
    if gen is not None:
        lines += ["", "generator (DCGAN, digits): distance to the nearest real training digit (lower = more "
                      "digit-like), classes those digits cover",
                  f"  {'':<34} {'nearest-digit L2':>17} {'classes':>8}"]
        for label, key in (("trained generator (through server)", "trained"),
                           ("untrained generator (baseline)", "untrained_baseline"),
                           ("real digits (reference)", "real_reference")):
            g = gen[key]
            lines.append(f"  {label:<34} {g['nearest_digit_l2']:>17.2f} {g['classes_covered']:>5}/10")
        verdict = "beats" if gen["beats_baseline"] else "does NOT beat"
        lines.append(f"  -> the trained generator {verdict} the untrained one")
    return "\n".join(lines)


# --- contact sheet --------------------------------------------------------------------------

def centre_crop(px: np.ndarray, side: int) -> np.ndarray:
    """The centred side x side square of an image (the whole image when it is smaller)."""
    h, w = px.shape[:2]
    side = min(side, h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return px[top:top + side, left:left + side]


def contact_sheet(sections: list[tuple[str, list[tuple[str, list[np.ndarray]]]]], grid: tuple[str, list[np.ndarray]]
                  | None, path: Path, *, cell: int = 224, columns: tuple[str, ...] = ("input", "output (server)",
                                                                                          "ground truth")) -> None:
    """Rows of images under section titles, then an optional grid of small images; saved to ``path``.

    ``sections``: (title, [(row caption, [uint8 HWC images, one per column])]). Images are resized
    to ``cell`` x ``cell`` (nearest when enlarging more than 2x, so pixels stay visible).
    ``grid``: (title, images) drawn 12 per row.
    """
    from PIL import Image as PILImage
    from PIL import ImageDraw, ImageFont

    try:
        font = ImageFont.load_default(size=14)
    except TypeError:  # Pillow < 10.1 has only the fixed bitmap font
        font = ImageFont.load_default()
    pad, head, title_h, cap_h = 6, 24, 22, 18
    width = len(columns) * (cell + pad) + pad
    gsize, gcols = 0, 12
    if grid is not None and grid[1]:
        gsize = (width - pad) // gcols - pad
    grid_rows = -(-len(grid[1]) // gcols) if grid is not None else 0
    height = head + sum(title_h + len(rows) * (cell + cap_h + pad) for _, rows in sections)
    if grid_rows:
        height += title_h + grid_rows * (gsize + pad)
    sheet = PILImage.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)
    for c, name in enumerate(columns):
        draw.text((pad + c * (cell + pad), 5), name, fill="black", font=font)
    y = head

    def paste(px: np.ndarray, x0: int, y0: int, side: int) -> None:
        img = PILImage.fromarray(px[:, :, 0] if px.shape[2] == 1 else px).convert("RGB")
        big = side > 2 * max(img.size)
        sheet.paste(img.resize((side, side), PILImage.Resampling.NEAREST if big else PILImage.Resampling.BICUBIC),
                    (x0, y0))

    for title, rows in sections:
        draw.text((pad, y + 3), title, fill=(40, 40, 140), font=font)
        y += title_h
        for caption, images in rows:
            for c, px in enumerate(images):
                paste(px, pad + c * (cell + pad), y, cell)
            draw.text((pad, y + cell + 1), caption, fill=(70, 70, 70), font=font)
            y += cell + cap_h + pad
    if grid_rows:
        draw.text((pad, y + 3), grid[0], fill=(40, 40, 140), font=font)
        y += title_h
        for i, px in enumerate(grid[1]):
            r, c = divmod(i, gcols)
            paste(px, pad + c * (gsize + pad), y + r * (gsize + pad), gsize)
    from translate.atomic import atomic_write_bytes

    options = {"format": "JPEG", "quality": 88} if path.suffix.lower() in (".jpg", ".jpeg") else {"format": "PNG"}
    atomic_write_bytes(path, lambda f: sheet.save(f, **options))
