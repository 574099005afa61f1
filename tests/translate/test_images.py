"""translate.images: decoding (formats, modes, EXIF, limits, bad bytes), encoding, arrays, prepare/finish.

All images are synthesised here with numpy/Pillow; no file comes from outside the test.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import PIL.Image
import PIL.ImageFile
import pytest

from translate.errors import ConfigError, DataError, ImageError, ImageTooLargeError, ModelError
from translate.images import (
    DEFAULT_MAX_PIXELS,
    IMAGE_SUFFIXES,
    SUPPORTED_FORMATS,
    Image,
    Prepared,
    apply_model,
    convert_channels,
    decode_image,
    encode_image,
    finish,
    from_model_array,
    list_image_files,
    pad_to_multiple,
    prepare,
    read_image,
    resize_pixels,
    resolve_format,
    rgb_to_luma,
    to_model_array,
    write_image,
)
from translate.images.arrays import crop_to
from translate.modelinfo import ModelInfo

RNG = np.random.default_rng(1234)
RGB = RNG.integers(0, 256, (23, 37, 3), dtype=np.uint8)
ALPHA = RNG.integers(0, 256, (23, 37), dtype=np.uint8)
TRANSLATOR = ModelInfo(family="pix2pix", task="translate", pad_multiple=8)


def smooth_rgb(h: int = 32, w: int = 48) -> np.ndarray:
    """A gradient image: JPEG reproduces it within a few levels, unlike noise."""
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([xx * 255 // (w - 1), yy * 255 // (h - 1), (xx + yy) * 255 // (h + w - 2)], -1).astype(np.uint8)


def pil_bytes(pil: PIL.Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    pil.save(buf, fmt, **kw)
    return buf.getvalue()


def png_bytes(width: int, height: int, depth: int, color_type: int, raw_rows: bytes | None) -> bytes:
    """Hand-made PNG (so headers can lie); ``raw_rows=None`` writes no IDAT at all."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    ihdr = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 0)
    idat = chunk(b"IDAT", zlib.compress(raw_rows)) if raw_rows is not None else b""
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + idat + chunk(b"IEND", b"")


# ----------------------------------------------------------------------------- formats
@pytest.mark.parametrize("fmt", ["png", "tiff", "webp"])
def test_lossless_round_trip_keeps_rgb_and_alpha(fmt):
    img = Image(RGB, ALPHA)
    back = decode_image(encode_image(img, fmt, lossless=True))
    assert back.format == {"png": "PNG", "tiff": "TIFF", "webp": "WEBP"}[fmt]
    np.testing.assert_array_equal(back.pixels, RGB)
    np.testing.assert_array_equal(back.alpha, ALPHA)


def test_bmp_round_trip_exact_and_grey_png():
    back = decode_image(encode_image(Image(RGB), "bmp"))
    assert back.format == "BMP" and back.alpha is None
    np.testing.assert_array_equal(back.pixels, RGB)
    grey = RGB[..., :1]
    back = decode_image(encode_image(Image(grey), "png"))
    assert back.pixels.shape == (23, 37, 1)
    np.testing.assert_array_equal(back.pixels, grey)


@pytest.mark.parametrize("fmt", ["jpg", "webp"])
def test_lossy_round_trip_is_close(fmt):
    src = smooth_rgb()
    back = decode_image(encode_image(Image(src), fmt, quality=95))
    assert back.pixels.shape == src.shape
    assert np.abs(back.pixels.astype(int) - src).mean() < 3.0


def test_jpeg_drops_alpha_by_compositing_on_white():
    px = np.full((16, 16, 3), 40, np.uint8)
    alpha = np.zeros((16, 16), np.uint8)
    alpha[:, 8:] = 255  # left half fully transparent, right half opaque
    back = decode_image(encode_image(Image(px, alpha), "jpg", quality=95))
    assert back.alpha is None
    assert back.pixels[:, :6].min() >= 250  # transparent -> white
    assert np.abs(back.pixels[:, 10:].astype(int) - 40).max() <= 3  # opaque colour kept


def test_encode_rejects_bad_options():
    with pytest.raises(ConfigError, match="unknown image format"):
        encode_image(Image(RGB), "gif")
    with pytest.raises(ConfigError, match="quality"):
        encode_image(Image(RGB), "jpg", quality=0)
    with pytest.raises(ConfigError, match="lossless"):
        encode_image(Image(RGB), "jpeg", lossless=True)


def test_resolve_format():
    assert resolve_format("same", "JPEG") == "JPEG"
    assert resolve_format("same", None) == "PNG"
    assert resolve_format(".JPG", "PNG") == "JPEG"
    assert resolve_format("tif", None) == "TIFF"


def test_animated_webp_gives_first_frame():
    frames = [PIL.Image.fromarray(np.full((8, 8, 3), v, np.uint8)) for v in (10, 200)]
    data = pil_bytes(frames[0], "WEBP", save_all=True, append_images=frames[1:], lossless=True)
    np.testing.assert_array_equal(decode_image(data).pixels, np.full((8, 8, 3), 10, np.uint8))


def test_write_image_is_atomic_and_uses_suffix(tmp_path):
    path = write_image(Image(RGB, ALPHA), tmp_path / "sub" / "out.png")
    assert os.listdir(tmp_path / "sub") == ["out.png"]  # no temp file left behind
    back = read_image(path)
    np.testing.assert_array_equal(back.alpha, ALPHA)
    write_image(Image(RGB), tmp_path / "x.bin", fmt="tiff")
    assert read_image(tmp_path / "x.bin").format == "TIFF"
    with pytest.raises(ConfigError, match="unknown image format"):
        write_image(Image(RGB), tmp_path / "x.xyz")
    with pytest.raises(ImageError, match="missing.png"):
        read_image(tmp_path / "missing.png")


# ----------------------------------------------------------------------------- modes
def test_palette_with_transparency_gives_alpha():
    pal = PIL.Image.new("P", (3, 2))
    pal.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255])
    pal.putdata([0, 1, 2, 2, 1, 0])
    img = decode_image(pil_bytes(pal, "PNG", transparency=1))
    assert img.pixels.shape == (2, 3, 3)
    np.testing.assert_array_equal(img.alpha, [[255, 0, 255], [255, 0, 255]])
    np.testing.assert_array_equal(img.pixels[0, 0], [255, 0, 0])
    np.testing.assert_array_equal(img.pixels[0, 2], [0, 0, 255])


def test_la_and_grey_transparency_keep_alpha():
    la = np.stack([RGB[..., 0], ALPHA], -1)
    img = decode_image(pil_bytes(PIL.Image.fromarray(la, "LA"), "PNG"))
    np.testing.assert_array_equal(img.pixels[..., 0], RGB[..., 0])
    np.testing.assert_array_equal(img.alpha, ALPHA)
    grey = PIL.Image.fromarray(np.array([[0, 10], [20, 10]], np.uint8))
    img = decode_image(pil_bytes(grey, "PNG", transparency=10))
    np.testing.assert_array_equal(img.alpha, [[255, 0], [255, 0]])


def test_16bit_grey_png_is_scaled_not_clipped():
    values = np.array([[65535, 32768, 0], [257 * 7, 257 * 200, 1000]], np.uint16)
    data = pil_bytes(PIL.Image.fromarray(values), "PNG")
    assert data[24] == 16  # really a 16-bit PNG (IHDR bit depth)
    img = decode_image(data)
    np.testing.assert_array_equal(img.pixels[..., 0], [[255, 128, 0], [7, 200, 4]])


def test_48bit_rgb_png_is_reduced_by_high_byte():
    rows = np.array([[[65535, 32768, 0], [257 * 9, 256 * 10 + 255, 255]]], ">u2")
    img = decode_image(png_bytes(2, 1, 16, 2, b"".join(b"\x00" + r.tobytes() for r in rows)))
    np.testing.assert_array_equal(img.pixels[0], [[255, 128, 0], [9, 10, 0]])


def test_16bit_tiff_grey():
    values = np.array([[65535, 32768]], np.uint16)
    img = decode_image(pil_bytes(PIL.Image.fromarray(values), "TIFF"))
    assert img.format == "TIFF"
    np.testing.assert_array_equal(img.pixels[..., 0], [[255, 128]])


def test_cmyk_jpeg_becomes_rgb():
    src = np.zeros((16, 16, 3), np.uint8)
    src[...] = (200, 50, 120)
    data = pil_bytes(PIL.Image.fromarray(src).convert("CMYK"), "JPEG", quality=95)
    assert PIL.Image.open(io.BytesIO(data)).mode == "CMYK"
    img = decode_image(data)
    assert img.pixels.shape == (16, 16, 3)
    assert np.abs(img.pixels.astype(int) - src).max() <= 3


def test_exif_orientation_6_rotates_clockwise():
    # 40 wide x 20 high, left half black, right half white; orientation 6 = rotate 90 deg CW to view.
    src = np.zeros((20, 40, 3), np.uint8)
    src[:, 20:] = 255
    pil = PIL.Image.fromarray(src)
    exif = pil.getexif()
    exif[0x0112] = 6
    img = decode_image(pil_bytes(pil, "JPEG", quality=95, exif=exif.tobytes()))
    assert img.pixels.shape == (40, 20, 3)  # dimensions swapped
    expected = np.rot90(src, k=-1)  # clockwise: the old right half (white) is now at the bottom
    assert np.abs(img.pixels.astype(int) - expected).mean() < 3
    assert img.pixels[35, 10].min() > 200 and img.pixels[5, 10].max() < 50


# ----------------------------------------------------------------------------- bad bytes and limits
@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty input"),
        (b"definitely not a picture", "not an image"),
        (png_bytes(0, 0, 8, 0, b""), "corrupt|no pixels"),
    ],
)
def test_non_images_raise_image_error(data, message):
    with pytest.raises(ImageError, match=message):
        decode_image(data)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_files_raise_image_error(fmt):
    noise = RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8)  # incompressible: data is mostly pixels
    data = pil_bytes(PIL.Image.fromarray(noise), fmt)
    with pytest.raises(ImageError, match="truncated|corrupt") as info:
        decode_image(data[: len(data) // 2])
    assert not isinstance(info.value, ImageTooLargeError)


def test_foreign_format_is_named_with_supported_list():
    data = pil_bytes(PIL.Image.fromarray(RGB), "GIF")
    with pytest.raises(ImageError, match=r"GIF images are not supported; supported formats: PNG, JPEG"):
        decode_image(data)


def test_too_many_pixels_detected_from_header_without_decoding(monkeypatch):
    # The header claims 9000x9000 and there is no pixel data at all: decoding would report
    # "truncated", so ImageTooLargeError proves the limit is checked on the header alone.
    data = png_bytes(9000, 9000, 8, 0, None)
    with pytest.raises(ImageTooLargeError, match=f"{DEFAULT_MAX_PIXELS:,} pixels"):
        decode_image(data)

    def no_decoding(self):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(PIL.ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(ImageTooLargeError, match="over the limit of 100 pixels"):
        decode_image(encode_image(Image(RGB), "png"), max_pixels=100)


def test_decompression_bomb_becomes_image_too_large():
    before = PIL.Image.MAX_IMAGE_PIXELS
    with pytest.raises(ImageTooLargeError, match="decompression-bomb guard") as info:
        decode_image(png_bytes(20000, 20000, 8, 0, None), max_pixels=10**9)
    assert "1,000,000,000 pixels" in str(info.value)
    assert PIL.Image.MAX_IMAGE_PIXELS == before  # Pillow's global guard is never touched


def test_concurrent_decoding_in_threads():
    # The server decodes in a thread pool: results and errors must not leak between calls.
    good = encode_image(Image(RGB, ALPHA), "png")
    big = png_bytes(9000, 9000, 8, 0, None)

    def decode(k):
        try:
            return decode_image(good if k % 2 else big, max_pixels=10**6).alpha
        except ImageTooLargeError:
            return "too large"

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(decode, range(16)))
    for k, r in enumerate(results):
        if k % 2:
            np.testing.assert_array_equal(r, ALPHA)
        else:
            assert r == "too large"


def test_image_validates_its_arrays():
    with pytest.raises(ImageError, match="uint8"):
        Image(RGB.astype(np.float32))
    with pytest.raises(ImageError, match="C in"):
        Image(np.zeros((4, 4, 4), np.uint8))
    with pytest.raises(ImageError, match="alpha"):
        Image(RGB, ALPHA[:5])


# ----------------------------------------------------------------------------- arrays
def test_float_round_trip_exact_for_all_256_values():
    values = np.arange(256, dtype=np.uint8).reshape(16, 16, 1)
    x = to_model_array(values, 1)
    assert x.dtype == np.float32 and x.shape == (1, 1, 16, 16)
    assert x.min() == -1.0 and x.max() == 1.0
    np.testing.assert_array_equal(from_model_array(x[0]), values)
    np.testing.assert_allclose(x.ravel(), np.arange(256) / 127.5 - 1, atol=1e-7)


def test_from_model_array_clips_and_rejects_nan():
    out = from_model_array(np.array([[[-3.0, 2.0, 0.0]]], np.float32))
    np.testing.assert_array_equal(out[..., 0], [[0, 255, 128]])
    with pytest.raises(ModelError, match="NaN"):
        from_model_array(np.full((1, 2, 2), np.nan, np.float32))


def test_channel_conversion_grey_and_luma():
    x = to_model_array(RGB[..., :1], 3)
    assert x.shape == (1, 3, 23, 37)
    np.testing.assert_array_equal(x[0, 0], x[0, 2])
    luma = np.asarray(PIL.Image.fromarray(RGB).convert("L"))
    np.testing.assert_array_equal(rgb_to_luma(RGB), luma)  # bit-identical to Pillow's ITU-R 601
    np.testing.assert_array_equal(from_model_array(to_model_array(RGB, 1)[0])[..., 0], luma)
    with pytest.raises(ModelError, match="4 input channels"):
        to_model_array(RGB, 4)


def test_convert_channels_is_pillow_exact():
    luma = np.asarray(PIL.Image.fromarray(RGB).convert("L"))
    grey = convert_channels(RGB, 1)
    assert grey.shape == (23, 37, 1) and grey.dtype == np.uint8
    np.testing.assert_array_equal(grey[..., 0], luma)  # the same integers as Pillow's convert("L")
    rgb = convert_channels(grey, 3)
    assert rgb.shape == (23, 37, 3)
    np.testing.assert_array_equal(rgb, np.asarray(PIL.Image.fromarray(luma).convert("RGB")))
    assert convert_channels(RGB, 3) is RGB  # nothing to convert
    with pytest.raises(ConfigError, match="1 \\(grey\\) or 3"):
        convert_channels(RGB, 4)
    with pytest.raises(ImageError, match="uint8"):
        convert_channels(RGB.astype(np.float32), 1)


def test_image_suffixes_are_exactly_what_the_decoder_reads():
    pillow = {ext for ext, fmt in PIL.Image.registered_extensions().items() if fmt in SUPPORTED_FORMATS}
    assert set(IMAGE_SUFFIXES) == pillow
    assert ".ppm" not in IMAGE_SUFFIXES and ".pgm" not in IMAGE_SUFFIXES and ".gif" not in IMAGE_SUFFIXES
    for suffix in IMAGE_SUFFIXES:  # every listed suffix really decodes, whatever its case
        fmt = PIL.Image.registered_extensions()[suffix]
        buf = io.BytesIO()
        PIL.Image.fromarray(RGB).save(buf, format=fmt)
        assert decode_image(buf.getvalue()).format == fmt, suffix


def test_list_image_files(tmp_path):
    for name in ("b.jpg", "a.PNG", "c.ppm", "notes.txt", "sub/d.webp", "sub/deeper/e.tiff"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "folder.png").mkdir()  # a folder is never an image file
    assert [p.name for p in list_image_files(tmp_path)] == ["a.PNG", "b.jpg"]
    assert [p.relative_to(tmp_path).as_posix() for p in list_image_files(tmp_path, recursive=True)] == [
        "a.PNG", "b.jpg", "sub/d.webp", "sub/deeper/e.tiff"]
    assert list_image_files(tmp_path / "sub" / "deeper") == [tmp_path / "sub" / "deeper" / "e.tiff"]
    with pytest.raises(DataError, match="not a folder"):
        list_image_files(tmp_path / "missing")


def test_resize_pixels_filters():
    small = resize_pixels(RGB, 11, 17, resample="lanczos")
    np.testing.assert_array_equal(small, np.asarray(PIL.Image.fromarray(RGB).resize((17, 11), PIL.Image.LANCZOS)))
    assert resize_pixels(RGB[..., :1], 11, 17).shape == (11, 17, 1)
    with pytest.raises(ConfigError, match="unknown resample filter"):
        resize_pixels(RGB, 11, 17, resample="nearest")


@pytest.mark.parametrize(("h", "w", "multiple"), [(23, 37, 8), (5, 3, 16), (32, 32, 4), (1, 1, 4)])
def test_pad_crop_round_trip(h, w, multiple):
    x = RNG.standard_normal((1, 2, h, w)).astype(np.float32)
    padded, size = pad_to_multiple(x, multiple)
    assert size == (h, w)
    assert padded.shape[2] % multiple == 0 and padded.shape[3] % multiple == 0
    assert padded.shape[2] - h < multiple and padded.shape[3] - w < multiple
    np.testing.assert_array_equal(crop_to(padded, size), x)


def test_reflect_padding_content_and_edge_fallback():
    x = np.arange(6, dtype=np.float32).reshape(1, 1, 1, 6)
    padded, _ = pad_to_multiple(x, 8)
    np.testing.assert_array_equal(padded[0, 0, 0], [0, 1, 2, 3, 4, 5, 4, 3])  # mirror, edge not repeated
    np.testing.assert_array_equal(padded[0, 0, :, 0], np.zeros(8))  # 1 row cannot reflect: replicate
    with pytest.raises(ConfigError, match="pad mode"):
        pad_to_multiple(x, 8, mode="wrap")


# ----------------------------------------------------------------------------- prepare / finish / apply_model
def test_rgba_through_identity_model_is_exact():
    img = decode_image(encode_image(Image(RGB, ALPHA, "PNG"), "png"))
    out = apply_model(lambda x: x.copy(), img, TRANSLATOR)
    np.testing.assert_array_equal(out.pixels, RGB)
    np.testing.assert_array_equal(out.alpha, ALPHA)
    assert out.format == "PNG"


def test_prepare_pads_and_finish_checks_shapes():
    prepared = prepare(Image(RGB), TRANSLATOR)
    assert isinstance(prepared, Prepared)
    assert prepared.array.shape == (1, 3, 24, 40) and prepared.size == (23, 37)
    with pytest.raises(ModelError, match="expected"):
        finish(prepared.array[:, :, :16], prepared, TRANSLATOR)
    dcgan = ModelInfo(family="dcgan", task="generate", in_channels=0, latent_size=8)
    with pytest.raises(ModelError, match="latents"):
        prepare(Image(RGB), dcgan)


def test_grey_model_on_rgb_input_and_rgb_out():
    info = ModelInfo(family="pix2pix", task="translate", in_channels=1, out_channels=3, pad_multiple=4)
    out = apply_model(lambda x: np.repeat(x, 3, axis=1), Image(RGB), info)
    luma = rgb_to_luma(RGB)
    assert out.pixels.shape == (23, 37, 3)
    for c in range(3):
        np.testing.assert_array_equal(out.pixels[..., c], luma)


def test_super_resolution_resizes_alpha():
    info = ModelInfo(family="srgan", task="super_resolve", scale=2)

    def upsample(x):  # nearest x2: [N, C, H, W] -> [N, C, 2H, 2W]
        return x.repeat(2, axis=2).repeat(2, axis=3)

    alpha = np.full(RGB.shape[:2], 255, np.uint8)
    alpha[:, :10] = 0
    out = apply_model(upsample, Image(RGB, alpha), info)
    assert out.pixels.shape == (46, 74, 3) and out.alpha.shape == (46, 74)
    np.testing.assert_array_equal(out.pixels[::2, ::2], RGB)
    assert (out.alpha[:, :18] == 0).all() and (out.alpha[:, 22:] == 255).all()  # bicubic only blurs the edge


def test_batched_prepare_equals_single_requests():
    # What a server does: prepare requests, stack equal padded shapes, one call, finish slices.
    imgs = [Image(RGB), Image(255 - RGB, ALPHA)]

    def fn(x):
        return -x

    prepared = [prepare(i, TRANSLATOR) for i in imgs]
    out = fn(np.concatenate([p.array for p in prepared]))
    for k, (img, p) in enumerate(zip(imgs, prepared)):
        batched = finish(out[k:k + 1], p, TRANSLATOR)
        single = apply_model(fn, img, TRANSLATOR)
        np.testing.assert_array_equal(batched.pixels, single.pixels)
        np.testing.assert_array_equal(batched.pixels, 255 - img.pixels)
