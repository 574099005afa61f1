"""`translate ui` without a browser: the page's callbacks over a repository and over a server.

The callbacks are what the page's buttons call (uploads and seeds in, PNG files and cards out).
Their results are compared with what ``translate run`` / ``translate generate`` write for the
same input, and every failure must reach the person as a readable ``gr.Error`` message.
The real page in a real browser is tested in test_ui_browser.py.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import PIL.Image
import pytest

gr = pytest.importorskip("gradio", reason="the ui extra is not installed: pip install 'translate[ui]'")

from server_fixtures import make_repo, png_bytes, start_server, tiny_generator, tiny_translator  # noqa: E402

from serving.ui.callbacks import Callbacks, PageLimits  # noqa: E402
from serving.ui.card import model_card  # noqa: E402
from serving.ui.sources import ModelEntry, RepositorySource, ServerSource, open_source  # noqa: E402
from translate.cli import main  # noqa: E402
from translate.errors import ConfigError  # noqa: E402
from translate.modelinfo import ModelInfo  # noqa: E402


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """photo2art (conv3x3+tanh), grey (1 channel), sr (x2 pixel shuffle), faces / digits (3 classes), broken."""
    root = make_repo(tmp_path_factory.mktemp("models"))
    tiny_translator(root / "photo2art" / "2" / "model.onnx", seed=11)  # a second, different version
    tiny_generator(root / "shoes" / "1" / "model.onnx", seed=6, num_classes=3,
                   class_names=["sneaker", "boot", "t shirt"])
    return root


@pytest.fixture
def uploads(tmp_path, monkeypatch):
    """Gradio's upload folder for this test; returns a function that 'uploads' bytes under a name."""
    folder = tmp_path / "gradio-uploads"
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(folder))

    def upload(name: str, data: bytes) -> str:
        path = folder / f"{len(list(folder.glob('*'))) if folder.exists() else 0:04d}" / name
        path.parent.mkdir(parents=True)
        path.write_bytes(data)
        return str(path)

    return upload


@pytest.fixture
def cb(repo, tmp_path):
    source = RepositorySource(repo, device="cpu")
    yield Callbacks(source, PageLimits.server_defaults(), tmp_path / "work")
    source.close()


def _pixels(path) -> np.ndarray:
    with PIL.Image.open(path) as im:
        return np.asarray(im)


def _cli_run(model: Path, image: Path, out: Path, *extra) -> np.ndarray:
    """What `translate run` writes for ``image``."""
    assert main(["run", "-m", str(model), "-i", str(image), "-o", str(out), "--no-progress", *map(str, extra)]) == 0
    return _pixels(out / (image.stem + ".png"))


def _message(excinfo) -> str:
    msg = excinfo.value.message
    assert "Traceback" not in msg and 'File "' not in msg
    return msg


# ----------------------------------------------------------------------------- translate
def test_translation_equals_translate_run(cb, repo, uploads, tmp_path):
    data = png_bytes(37, 45, seed=3)
    src = tmp_path / "photo.png"
    src.write_bytes(data)
    shown_in, shown_out, slider, gallery, downloads, status, pairs = cb.translate(
        "photo2art", "newest", [uploads("photo.png", data)])
    want = _cli_run(repo / "photo2art", src, tmp_path / "cli")  # the newest version, like the page's default
    assert np.array_equal(_pixels(shown_out), want)
    assert [Path(p).name for p in downloads] == ["photo.png"] and np.array_equal(_pixels(downloads[0]), want)
    assert np.array_equal(_pixels(shown_in), _pixels(src))  # the input as the model saw it
    assert slider == (shown_in, shown_out) and pairs == [(shown_in, shown_out)] and len(gallery) == 1
    assert "1 image" in status and "photo2art version 2" in status and "tiles of 512 px" in status


def test_versions_are_really_chosen(cb, repo, uploads, tmp_path):
    data = png_bytes(20, 24, seed=5)
    src = tmp_path / "a.png"
    src.write_bytes(data)
    v1 = _pixels(cb.translate("photo2art", "1", [uploads("a.png", data)])[1])
    v2 = _pixels(cb.translate("photo2art", "2", [uploads("a.png", data)])[1])
    assert not np.array_equal(v1, v2)
    assert np.array_equal(v1, _cli_run(repo / "photo2art" / "1", src, tmp_path / "cli1"))
    assert np.array_equal(v2, _cli_run(repo / "photo2art" / "2", src, tmp_path / "cli2"))


def test_super_resolution_slider_compares_with_bicubic(cb, repo, uploads, tmp_path):
    from translate.images import resize_pixels

    data = png_bytes(16, 20, seed=7)
    src = tmp_path / "small.png"
    src.write_bytes(data)
    before, after, slider, *_ = cb.translate("sr", None, [uploads("small.png", data)])
    out = _pixels(after)
    assert out.shape == (32, 40, 3)
    assert np.array_equal(out, _cli_run(repo / "sr", src, tmp_path / "cli"))
    assert np.array_equal(_pixels(before), resize_pixels(_pixels(src), 32, 40, "bicubic"))
    assert slider == (before, after)


def test_tiling_defaults_and_choices_equal_translate_run(cb, repo, uploads, tmp_path):
    data = png_bytes(150, 130, seed=9)
    src = tmp_path / "big.png"
    src.write_bytes(data)
    tiled = cb.translate("photo2art", None, [uploads("big.png", data)], 64, 8)
    assert np.array_equal(_pixels(tiled[1]), _cli_run(repo / "photo2art", src, tmp_path / "t", "--tile", 64,
                                                      "--tile-overlap", 8))
    assert "tiles of 64 px, overlap 8" in tiled[5]
    whole = cb.translate("photo2art", None, [uploads("big.png", data)], 0, None)
    assert "whole images" in whole[5]
    assert np.array_equal(_pixels(whole[1]), _cli_run(repo / "photo2art", src, tmp_path / "w", "--tile", 0))


def test_several_images_with_one_name_get_separate_outputs(cb, uploads):
    files = [uploads("x.png", png_bytes(12, 12, seed=1)), uploads("x.png", png_bytes(12, 12, seed=2)),
             uploads("grey.png", png_bytes(8, 8, seed=3, channels=1))]
    *_, gallery, downloads, status, pairs = cb.translate("photo2art", None, files)
    assert [Path(p).name for p in downloads] == ["x.png", "x-2.png", "grey.png"]
    assert len(gallery) == len(pairs) == 3 and "3 images" in status
    assert not np.array_equal(_pixels(downloads[0]), _pixels(downloads[1]))
    before, after, slider = cb.show_pair(pairs, 1)
    assert after == downloads[1] and slider == (before, after)


def test_translate_errors_are_messages(cb, uploads, tmp_path):
    with pytest.raises(gr.Error) as e:
        cb.translate("photo2art", None, [])
    assert "drop one or more images" in _message(e)
    with pytest.raises(gr.Error) as e:
        cb.translate("photo2art", None, [uploads("notes.png", b"hello, not an image")])
    assert "notes.png" in _message(e)
    outside = tmp_path / "secret.png"  # a path that did not come through Gradio's upload
    outside.write_bytes(png_bytes())
    with pytest.raises(gr.Error) as e:
        cb.translate("photo2art", None, [str(outside)])
    assert "was not uploaded through this page" in _message(e)
    with pytest.raises(gr.Error) as e:
        cb.translate("../photo2art", None, [uploads("a.png", png_bytes())])
    assert "no model '../photo2art'" in _message(e)
    with pytest.raises(gr.Error) as e:
        cb.translate("photo2art", "7", [uploads("a.png", png_bytes())])
    assert "no version 7" in _message(e)
    with pytest.raises(gr.Error) as e:
        cb.translate("faces", None, [uploads("a.png", png_bytes())])
    assert "Generate panel" in _message(e)
    with pytest.raises(gr.Error) as e:
        cb.translate("photo2art", None, [uploads("a.png", png_bytes())], 64, 40)
    assert "less than half of the tile" in _message(e)


def test_limits_are_the_servers_and_are_enforced(repo, uploads, tmp_path):
    from serving.engine import Limits

    lim = PageLimits.server_defaults()
    server = Limits()
    assert (lim.max_image_pixels, lim.max_upload_bytes, lim.max_generate_count, lim.max_untiled_pixels) == (
        server.max_image_pixels, server.max_message_bytes, server.max_generate_count, server.tile_above_pixels)
    small = Callbacks(RepositorySource(repo), PageLimits.server_defaults(
        max_image_pixels=100, max_upload_bytes=10_000, max_generate_count=4, max_untiled_pixels=400, max_files=2),
        tmp_path / "work")
    small.translate("photo2art", None, [uploads("fits.png", png_bytes(10, 10))])
    with pytest.raises(gr.Error) as e:
        small.translate("photo2art", None, [uploads("big.png", png_bytes(11, 10))])
    assert "big.png: PNG image is 10x11 = 110 pixels, over the limit of 100 pixels" in _message(e)
    with pytest.raises(gr.Error) as e:
        small.translate("photo2art", None, [uploads("noise.png", png_bytes(200, 200))])
    assert "the limit is 10000" in _message(e)
    wide = Callbacks(RepositorySource(repo), PageLimits.server_defaults(max_untiled_pixels=400), tmp_path / "w")
    wide.translate("photo2art", None, [uploads("a.png", png_bytes(20, 20))], 0)  # 400 px: runs whole
    with pytest.raises(gr.Error) as e:
        wide.translate("photo2art", None, [uploads("b.png", png_bytes(21, 20))], 0)
    assert "a whole-image run takes at most 400" in _message(e)
    wide.translate("photo2art", None, [uploads("c.png", png_bytes(60, 60))], 20, 4)  # 20 x 20 tiles
    with pytest.raises(gr.Error) as e:
        wide.translate("photo2art", None, [uploads("d.png", png_bytes(60, 60))], 24, 4)
    assert "tiles of 24 px are more than 400 pixels" in _message(e)
    with pytest.raises(gr.Error) as e:
        small.translate("photo2art", None, [uploads(f"{k}.png", png_bytes(4, 4)) for k in range(3)])
    assert "at most 2 per run" in _message(e)
    with pytest.raises(gr.Error) as e:
        small.generate("faces", None, "list", "0-4", None, None)
    assert "at most 4 images per click" in _message(e)
    with pytest.raises(gr.Error) as e:
        small.walk("faces", None, 0, 1, 5)
    assert "steps must be 2..4" in _message(e)
    with pytest.raises(ConfigError, match="must be >= 1"):
        PageLimits.server_defaults(max_image_pixels=0)


def test_unexpected_errors_are_logged_not_shown(cb, uploads, monkeypatch, caplog):
    def boom(*a, **k):
        raise RuntimeError("details for the log only: /srv/secret")

    monkeypatch.setattr(cb.source, "translator", boom)
    with pytest.raises(gr.Error) as e:
        cb.translate("photo2art", None, [uploads("a.png", png_bytes())])
    msg = _message(e)
    assert "internal error (RuntimeError)" in msg and "secret" not in msg
    assert "details for the log only" in caplog.text


# ----------------------------------------------------------------------------- generate
def test_generation_equals_translate_generate(cb, repo, tmp_path):
    samples, grid, downloads, status = cb.generate("digits", None, "list", "3,5-6", None, None, "2", 0.8)
    assert main(["generate", "-m", str(repo / "digits"), "--seeds", "3,5-6", "--class", "2", "--truncation", "0.8",
                 "-o", str(tmp_path / "cli"), "--grid", str(tmp_path / "grid.png")]) == 0
    assert [c for _, c in samples] == ["seed 3", "seed 5", "seed 6"]
    assert [Path(p).name for p in downloads] == ["seed000003-class2.png", "seed000005-class2.png",
                                                 "seed000006-class2.png", "grid-class2.png"]
    for path in downloads[:-1]:
        assert np.array_equal(_pixels(path), _pixels(tmp_path / "cli" / Path(path).name))
    assert np.array_equal(_pixels(grid), _pixels(tmp_path / "grid.png"))
    assert "3 images" in status and "truncation 0.8" in status
    by_count = cb.generate("digits", None, "count", "ignored", 2, 5, "2", 0.8)[2]
    assert np.array_equal(_pixels(by_count[0]), _pixels(downloads[1]))  # --count 2 --seed 5 = seeds 5, 6


def test_classes_are_chosen_by_name_as_translate_generate_does(cb, repo, tmp_path):
    downloads = cb.generate("shoes", None, "list", "1-2", None, None, "t shirt")[2]
    assert main(["generate", "-m", str(repo / "shoes"), "--seeds", "1-2", "--class", "t shirt",
                 "-o", str(tmp_path / "cli")]) == 0
    assert [Path(p).name for p in downloads[:2]] == ["seed000001-classt_shirt.png", "seed000002-classt_shirt.png"]
    for path in downloads[:2]:
        assert np.array_equal(_pixels(path), _pixels(tmp_path / "cli" / Path(path).name))
    boot = cb.generate("shoes", None, "list", "1-2", None, None, "boot")[2]
    assert not np.array_equal(_pixels(boot[0]), _pixels(downloads[0]))  # the class really changes the image
    frames = cb.walk("shoes", None, 1, 2, 3, "boot")[2]
    assert Path(frames[-1]).name == "interp-1-2-classboot.png"
    with pytest.raises(gr.Error) as e:
        cb.generate("shoes", None, "list", "1", None, None, "2")  # a label number is not a name here
    assert "unknown class '2'" in _message(e) and "sneaker" in _message(e)
    *_, classes, _, _, _ = cb.select("shoes")
    assert [v for _, v in classes.choices] == ["sneaker", "boot", "t shirt"] and classes.value == "sneaker"


def test_latent_walk_equals_translate_generate(cb, repo, tmp_path):
    frames, strip, downloads, status = cb.walk("faces", None, 4, 9, 5)
    assert main(["generate", "-m", str(repo / "faces"), "--interpolate", "4,9", "--steps", "5",
                 "-o", str(tmp_path / "cli")]) == 0
    assert len(frames) == 5 and Path(strip).name == "interp-4-9.png"
    for path in downloads:
        assert np.array_equal(_pixels(path), _pixels(tmp_path / "cli" / Path(path).name))
    assert "5 frames from seed 4 to seed 9" in status


def test_generate_errors_are_messages(cb):
    cases = [
        (lambda: cb.generate("faces", None, "list", "9-3", None, None), "reversed range"),
        (lambda: cb.generate("faces", None, "list", "", None, None), "is empty"),
        (lambda: cb.generate("faces", None, "count", "", None, 0), "give a count"),
        (lambda: cb.generate("digits", None, "list", "0", None, None, None), "choose a class"),
        (lambda: cb.generate("digits", None, "list", "0", None, None, "3"), "unknown class '3'"),
        (lambda: cb.generate("faces", None, "list", "0", None, None, "1"), "unconditional"),
        (lambda: cb.generate("faces", None, "list", "0", None, None, None, 0.001), "truncation psi must be"),
        (lambda: cb.generate("photo2art", None, "list", "0", None, None), "drop images in the Translate panel"),
        (lambda: cb.walk("faces", None, 0, 1, 1), "steps must be 2.."),
        (lambda: cb.walk("faces", None, -1, 1, 3), "non-negative"),
    ]
    for call, words in cases:
        with pytest.raises(gr.Error) as e:
            call()
        assert words in _message(e), words


# ----------------------------------------------------------------------------- models and cards
def test_select_shows_the_right_panel_card_and_classes(cb):
    versions, card, translate_panel, generate_panel, classes, tiling_hint, _, slider = cb.select("sr")
    assert versions.choices == [("1", "1")] and versions.value == "1"
    assert translate_panel.visible and not generate_panel.visible and slider.visible and not classes.visible
    assert "| scale | x2 |" in card and "super-resolution" in card
    assert "256 px tiles with 16 px overlap" in tiling_hint  # translate run's default for a x2 model
    versions, card, translate_panel, generate_panel, classes, *_ = cb.select("digits")
    assert generate_panel.visible and not translate_panel.visible
    assert classes.visible and [v for _, v in classes.choices] == ["0", "1", "2"] and classes.value == "0"
    assert "| latent size | 8 |" in card and "| classes | 3: 0, 1, 2 |" in card
    versions, card, *_ = cb.select("photo2art", "1")
    assert [v for v, _ in versions.choices] == ["2", "1"] and versions.value == "1" and "version 1" in card
    versions, card, translate_panel, generate_panel, *_ = cb.select("broken")
    assert "cannot be used" in card and not translate_panel.visible and not generate_panel.visible
    assert cb.model_names() == ["broken", "digits", "faces", "grey", "photo2art", "shoes", "sr"]
    assert cb.refresh("gone").value == "broken" and cb.refresh("sr").value == "sr"


def test_card_shows_class_names_parity_and_escapes_metadata():
    info = ModelInfo(family="dcgan", task="generate", in_channels=0, latent_size=4, num_classes=2, image_size=8,
                     class_names=["sneaker", "boot"],
                     provenance={"run_name": "<script>alert(1)</script>", "dataset": "a|b",
                                 "parity_max_abs_err": "3.1e-06", "parity_psnr_db": "98.2",
                                 "parity_tolerance": "1e-03"})
    card = model_card(ModelEntry("shoes", 3, [1, 3], info))
    assert "| classes | 2: sneaker, boot |" in card
    assert "max abs error 3.1e-06 (tolerance 1e-03), PSNR 98.2 dB" in card
    assert "<script>" not in card and "&lt;script&gt;" in card and "a\\|b" in card
    assert "version 3" in card and "versions available: 1, 3" in card
    plain = model_card(ModelEntry("x", 1, [1], ModelInfo(family="cyclegan", task="translate")))
    assert "not recorded in this file" in plain


def test_export_records_parity_figures_for_the_card(tmp_path):
    from tiny_models import make_tiny_checkpoint

    from translate.export import export_onnx
    from translate.modelrepo import read_onnx_info

    ckpt = make_tiny_checkpoint("srgan", tmp_path / "sr.pt")
    report = export_onnx(ckpt, tmp_path / "sr.onnx", exporter="torchscript")
    prov = read_onnx_info(tmp_path / "sr.onnx").provenance
    assert float(prov["parity_max_abs_err"]) == pytest.approx(report.max_abs_err, rel=1e-2)
    assert prov["parity_tolerance"] == "1e-03"
    assert "export parity | ONNX Runtime vs PyTorch" in model_card(
        ModelEntry("sr", 1, [1], read_onnx_info(tmp_path / "sr.onnx")))
    export_onnx(ckpt, tmp_path / "raw.onnx", exporter="torchscript", verify=False)
    assert "parity_max_abs_err" not in read_onnx_info(tmp_path / "raw.onnx").provenance


# ----------------------------------------------------------------------------- sources
def test_open_source_usage_errors(repo, tmp_path):
    with pytest.raises(ConfigError, match="exactly one of"):
        open_source()
    with pytest.raises(ConfigError, match="no such folder"):
        open_source(models=str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="only apply with --server"):
        open_source(models=str(repo), token_file="t")
    with pytest.raises(ConfigError, match="no such file"):
        open_source(server="127.0.0.1:1", tls_ca=str(tmp_path / "ca.pem"))
    with pytest.raises(ConfigError, match="--device applies to --models"):
        open_source(server="127.0.0.1:1", device="cpu")


def test_a_new_export_shows_up_without_restart(tmp_path):
    root = tmp_path / "models"
    tiny_translator(root / "a" / "1" / "model.onnx")
    source = RepositorySource(root)
    assert source.models() == {"a": [1]}
    tiny_translator(root / "b" / "1" / "model.onnx")
    tiny_translator(root / "a" / "2" / "model.onnx", seed=3)
    assert source.models() == {"a": [1, 2], "b": [1]}
    source.close()


def test_server_source_gives_the_same_pixels_as_the_repository(repo, uploads, tmp_path):
    running = start_server(repo)
    try:
        source = ServerSource(running.address)
        remote = Callbacks(source, PageLimits.server_defaults(), tmp_path / "remote")
        local = Callbacks(RepositorySource(repo), PageLimits.server_defaults(), tmp_path / "local")
        data = png_bytes(70, 90, seed=4)
        for version in (None, "2"):
            r = remote.translate("photo2art", version, [uploads("p.png", data)], 32, 8)
            lo = local.translate("photo2art", version, [uploads("p.png", data)], 32, 8)
            assert np.array_equal(_pixels(r[1]), _pixels(lo[1])), version
            assert "photo2art version 2" in r[5] and "server 127.0.0.1" in r[5]
        sr_r, sr_l = (c.translate("sr", None, [uploads("s.png", data)])[1] for c in (remote, local))
        assert np.array_equal(_pixels(sr_r), _pixels(sr_l))
        for args in (("digits", None, "list", "0-2", None, None, "1", 1.5), ("shoes", None, "list", "4", None, None,
                                                                            "boot", None)):
            assert all(np.array_equal(_pixels(a), _pixels(b)) for a, b in
                       zip(remote.generate(*args)[2], local.generate(*args)[2]))
        assert all(np.array_equal(_pixels(a), _pixels(b)) for a, b in
                   zip(remote.walk("faces", None, 1, 2, 4)[2], local.walk("faces", None, 1, 2, 4)[2]))
        versions, card, *_ = remote.select("photo2art")
        assert versions.choices == [("2", "2")] and "version 2" in card  # the server serves its newest only
        with pytest.raises(gr.Error) as e:
            remote.translate("photo2art", "1", [uploads("p.png", data)])
        assert "serves only the newest version" in _message(e)
        with pytest.raises(gr.Error) as e:
            remote.translate("photo2art", None, [uploads("p.png", data)], 32, 0)
        assert "overlap of 0 cannot be sent to a server" in _message(e)
        with pytest.raises(gr.Error) as e:
            remote.translate("nope", None, [uploads("p.png", data)])
        assert "NOT_FOUND" in _message(e)
        source.close()
    finally:
        running.server.drain(1)
    shutil.rmtree(tmp_path / "remote", ignore_errors=True)
