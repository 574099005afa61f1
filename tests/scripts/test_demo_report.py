"""The demo's summary logic on tiny made-up images (the full ``make demo`` is not run here).

Spec: scripts/demo_report.py (scores against ground truth and the trivial baseline, verdicts,
printed tables, contact sheet) and the pieces of scripts/demo.py that compute baselines.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import demo  # noqa: E402
import demo_report  # noqa: E402

from translate.images import Image, write_image  # noqa: E402


def _save(px: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_image(Image(pixels=np.ascontiguousarray(px), alpha=None, format="PNG"), path, fmt="png")


def _photo(seed: int, h: int = 32, w: int = 40) -> np.ndarray:
    """A smooth colour image (so bicubic and grey are imperfect but sensible baselines)."""
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    rng = np.random.default_rng(seed)
    a, b, c = rng.uniform(2, 6, 3)
    rgb = np.stack([np.sin(a * x + y), np.cos(b * y), np.sin(c * (x + y))], -1)
    return ((rgb + 1) * 127.5).round().astype(np.uint8)


@pytest.fixture
def colour_case(tmp_path):
    """Two photos: their grey versions (baseline), a perfect output for one and a wrong-colour one for the other."""
    from translate.images import rgb_to_luma

    for i, name in enumerate(("a", "b")):
        rgb = _photo(i)
        _save(rgb_to_luma(rgb)[:, :, None], tmp_path / "grey" / f"{name}.png")
        _save(rgb, tmp_path / "truth" / f"{name}.png")
        _save(rgb if name == "a" else 255 - rgb, tmp_path / "out" / f"{name}.png")
    return tmp_path


def test_colourisation_rows_score_output_and_grey_baseline_per_image(colour_case):
    rows = demo_report.colourisation_rows(colour_case / "out", colour_case / "grey", colour_case / "truth")
    assert [r["name"] for r in rows] == ["a", "b"]
    a, b = rows
    assert a["psnr_db"] == float("inf") and a["ssim"] == pytest.approx(1.0)  # the perfect one
    assert a["baseline_psnr_db"] < 40 and a["gain_db"] > 0 and a["ssim_gain"] > 0
    assert b["gain_db"] < 0  # inverted colours are worse than no colour at all
    summary = demo_report.task_summary(rows[1:])
    assert summary["beats_baseline"] is False and summary["images_beating_baseline_psnr"] == 0
    text = demo_report.format_summary({"tasks": {"colourise": summary}})
    assert "does NOT beat the grey input" in text and "b " in text


def test_super_resolution_rows_use_bicubic_baseline_y_channel_and_border(tmp_path):
    hr = _photo(3, 48, 64)
    from translate.images import resize_pixels

    lr = resize_pixels(hr, 12, 16)
    _save(hr, tmp_path / "HR" / "x.png")
    _save(lr, tmp_path / "LR" / "x.png")
    bicubic = demo_report.bicubic_up(lr)
    assert bicubic.shape == hr.shape
    better = (bicubic.astype(np.float64) * 0.5 + hr * 0.5).round().astype(np.uint8)  # halfway to the truth
    _save(better, tmp_path / "out" / "x.png")
    (row,) = demo_report.super_resolution_rows(tmp_path / "out", tmp_path / "LR", tmp_path / "HR")
    from translate.metrics import psnr

    assert row["baseline_psnr_db"] == pytest.approx(psnr(bicubic, hr, y_channel=True, crop_border=4))
    assert row["psnr_db"] == pytest.approx(psnr(better, hr, y_channel=True, crop_border=4))
    assert row["psnr_db"] != pytest.approx(psnr(better, hr))  # Y channel with a border crop, not RGB
    assert 3 < row["gain_db"] < 6.5  # half the error: up to +6 dB (less after rounding to 8 bits)
    summary = demo_report.task_summary([row])
    assert summary["beats_baseline"] and summary["mean"]["gain_db"] == pytest.approx(row["gain_db"])
    assert "the model beats the bicubic" in demo_report.format_summary({"tasks": {"superres": summary}})


def test_generator_scores_and_verdict():
    rng = np.random.default_rng(0)
    real = rng.integers(0, 256, (30, 8, 8), dtype=np.uint8)
    labels = np.arange(30) % 3
    near = np.clip(real[:6].astype(int) + 3, 0, 255).astype(np.uint8)  # close to real digits of classes 0, 1, 2
    flat = np.full((6, 8, 8), 128, np.uint8)  # what an untrained generator draws: mid grey
    trained = demo_report.generator_scores(near, real, labels)
    untrained = demo_report.generator_scores(flat, real, labels)
    assert trained["nearest_digit_l2"] == pytest.approx(np.sqrt(64 * (3 / 255) ** 2), rel=0.2)
    assert trained["classes_covered"] == 3 and trained["class_counts"] == [2, 2, 2]
    assert untrained["classes_covered"] == 1 and untrained["nearest_digit_l2"] > trained["nearest_digit_l2"]
    verdict = demo_report.generator_summary(trained, untrained, trained)
    assert verdict["beats_baseline"] is True
    assert demo_report.generator_summary(untrained, trained, trained)["beats_baseline"] is False
    text = demo_report.format_summary({"tasks": {"digits": verdict}})
    assert "trained generator beats the untrained one" in text and "3/10" in text


def test_contact_sheet_has_a_row_per_image_and_the_grid(tmp_path):
    rows = [(f"row {i}", [_photo(i, 16, 16), _photo(i + 1, 64, 64), _photo(i + 2, 64, 64)]) for i in range(2)]
    digits = [np.full((8, 8, 1), v, np.uint8) for v in range(0, 250, 10)]  # 25 -> 3 grid rows of 12
    demo_report.contact_sheet([("section", rows)], ("grid", digits), tmp_path / "sheet.jpg", cell=64)
    from PIL import Image as PILImage

    sheet = PILImage.open(tmp_path / "sheet.jpg")
    pad, gsize = 6, (3 * 70 + 6 - 6) // 12 - 6
    assert sheet.size == (3 * (64 + pad) + pad, 24 + 22 + 2 * (64 + 18 + pad) + 22 + 3 * (gsize + pad))


def test_untrained_samples_are_the_trainers_step_zero_generator(tmp_path):
    """The generator baseline must be the exported network before training: same init, same latents."""
    from training.registry import METHODS
    from translate.checkpoint import build_checkpoint, save_checkpoint
    from translate.latents import seed_latents
    from translate.metrics import tensor_to_uint8

    cfg = METHODS["dcgan"].config_class(nz=8, image_size=32, in_channels=1, out_channels=1, seed=5,
                                        netG_kwargs={"ngf": 4}, netD_kwargs={"ndf": 4}, max_steps=1)
    cfg.check()
    torch.manual_seed(cfg.seed)  # what training.loop.Trainer does right before it builds the method's nets
    method = METHODS["dcgan"](cfg, "cpu")
    import dataclasses

    ckpt = build_checkpoint("dcgan", method.nets, method.processing(), config=dataclasses.asdict(cfg),
                            provenance={})
    path = save_checkpoint(ckpt, tmp_path / "step0.pt")
    got = demo.untrained_samples(path, range(5))
    g = method.nets["G"].eval()
    with torch.no_grad():
        want = np.stack([tensor_to_uint8(o)[:, :, 0] for o in g(torch.from_numpy(seed_latents(range(5), 8)))])
    assert got.shape == (5, 32, 32) and np.array_equal(got, want)
