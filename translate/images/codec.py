"""Decode and encode image files: the one door through which pixels enter and leave.

Formats: PNG (ISO/IEC 15948), JPEG (ITU-T T.81, JFIF/EXIF), WebP, BMP, TIFF 6.0, all through
Pillow. Decoding is defensive because the server decodes bytes from strangers:

* the size is read from the header (``PIL.Image.open`` is lazy) and checked against
  ``max_pixels`` *before* any pixel is decompressed;
* Pillow's decompression-bomb guard (``DecompressionBombError``) becomes our
  :class:`ImageTooLargeError`; Pillow's global settings are never changed, because other
  threads decode at the same time;
* anything Pillow raises on corrupt, truncated or foreign bytes becomes :class:`ImageError`;
* EXIF orientation (tag 0x0112) is applied, so pixels are upright as a viewer shows them.

Modes are reduced to 8-bit grey or RGB plus an optional separate alpha plane (see
:func:`_split_modes`). 16-bit grey is scaled with ``round(v * 255 / 65535)``; 16-bit-per-channel
colour (48/64-bit PNG/TIFF) is reduced by Pillow itself while decoding, keeping the high byte
(``v >> 8``). Both are scalings, never clipping, and both return ``k`` for 8-bit data stored as
``k * 257``.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import PIL.Image
from PIL import ImageOps, features

from translate.atomic import atomic_write_bytes
from translate.errors import ConfigError, DataError, ImageError, ImageTooLargeError, TranslateError

DEFAULT_MAX_PIXELS = 64 * 1024 * 1024  # 64 MP: a 8192x8192 photo; ~200 MB as uint8 RGB
SUPPORTED_FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "TIFF")  # Pillow format names we decode
# Output format names (lower case, as on the command line) -> Pillow format name.
ENCODE_FORMATS = {"png": "PNG", "jpg": "JPEG", "jpeg": "JPEG", "webp": "WEBP", "bmp": "BMP", "tif": "TIFF",
                  "tiff": "TIFF"}
EXTENSIONS = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp", "BMP": ".bmp", "TIFF": ".tif"}  # what we write
# Every file suffix of the formats we decode (Pillow's own extensions for SUPPORTED_FORMATS) ->
# format. Files are decoded by content, not by name; these suffixes say which files of a folder
# are images (dataset listings) and which format "same" keeps.
SUFFIX_FORMATS = {".png": "PNG", ".apng": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".jpe": "JPEG", ".jfif": "JPEG",
                  ".webp": "WEBP", ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF"}
IMAGE_SUFFIXES = tuple(SUFFIX_FORMATS)
ALPHA_FORMATS = ("PNG", "WEBP", "TIFF")  # formats whose files keep our alpha plane
MAX_SIDE = {"JPEG": 65535, "WEBP": 16383}  # hard limits of the file formats themselves
_SUPPORTED_TEXT = "PNG, JPEG, WebP, BMP, TIFF"


@dataclass(eq=False)  # arrays have no single truth value; compare .pixels / .alpha explicitly
class Image:
    """Decoded 8-bit image: ``pixels`` uint8 [H, W, C] with C in (1, 3), ``alpha`` uint8 [H, W] or None.

    ``format`` is the Pillow name of the source format ("PNG", "JPEG", ...) or None for
    images made in memory; callers resolve an output format of "same" from it.
    """

    pixels: np.ndarray
    alpha: np.ndarray | None = None
    format: str | None = None

    def __post_init__(self) -> None:
        p = self.pixels
        if not isinstance(p, np.ndarray) or p.dtype != np.uint8 or p.ndim != 3 or p.shape[2] not in (1, 3):
            raise ImageError(
                f"Image.pixels must be uint8 [H, W, C] with C in (1, 3); got "
                f"{getattr(p, 'dtype', type(p).__name__)} {getattr(p, 'shape', '')}"
            )
        if p.shape[0] < 1 or p.shape[1] < 1:
            raise ImageError(f"Image has no pixels (shape {p.shape})")
        a = self.alpha
        if a is not None and (not isinstance(a, np.ndarray) or a.dtype != np.uint8 or a.shape != p.shape[:2]):
            raise ImageError(
                f"Image.alpha must be uint8 [H, W] = {p.shape[:2]}; got "
                f"{getattr(a, 'dtype', type(a).__name__)} {getattr(a, 'shape', '')}"
            )

    @property
    def height(self) -> int:
        """Rows."""
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        """Columns."""
        return int(self.pixels.shape[1])

    @property
    def channels(self) -> int:
        """Colour channels (1 grey, 3 RGB), alpha not counted."""
        return int(self.pixels.shape[2])


# ----------------------------------------------------------------------------- decoding
def decode_image(data: bytes, *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Image:
    """Decode PNG/JPEG/WebP/BMP/TIFF bytes into an upright 8-bit :class:`Image`.

    ``max_pixels`` (width * height) is checked on the header before decoding; None disables
    our check (Pillow's own bomb guard, about 179 MP, still applies). Raises ImageError for
    empty, foreign, corrupt or truncated data and ImageTooLargeError above the limit.
    Multi-frame files (animated WebP, multi-page TIFF) give their first frame.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ImageError(f"decode_image expects bytes, got {type(data).__name__}")
    if max_pixels is not None and max_pixels < 1:
        raise ConfigError(f"max_pixels must be >= 1 or None, got {max_pixels}")
    if len(data) == 0:
        raise ImageError(f"empty input (0 bytes) is not an image; send the bytes of a {_SUPPORTED_TEXT} file")
    try:
        pil = PIL.Image.open(io.BytesIO(data), formats=SUPPORTED_FORMATS)
    except PIL.Image.DecompressionBombError as exc:
        raise _bomb_error(exc, max_pixels) from None
    except PIL.UnidentifiedImageError:
        raise ImageError(_unidentified_message(bytes(data[:16]), data)) from None
    except Exception as exc:  # Pillow raises many types on hostile headers; none may escape raw
        raise ImageError(f"corrupt image header ({type(exc).__name__}: {exc}); re-save the file") from None
    with pil:
        fmt = pil.format
        width, height = pil.size
        if width < 1 or height < 1:
            raise ImageError(f"{fmt} image has no pixels ({width}x{height})")
        if max_pixels is not None and width * height > max_pixels:
            raise ImageTooLargeError(
                f"{fmt} image is {width}x{height} = {width * height:,} pixels, over the limit of "
                f"{max_pixels:,} pixels; downscale it, or raise max_pixels if you trust the source"
            )
        try:
            pil.load()  # the actual decompression; truncation shows up here
            _apply_orientation(pil)
            pixels, alpha = _split_modes(pil)
        except TranslateError:
            raise
        except PIL.Image.DecompressionBombError as exc:
            raise _bomb_error(exc, max_pixels) from None
        except MemoryError:
            raise ImageTooLargeError(
                f"not enough memory to decode this {width}x{height} {fmt} image; lower max_pixels or downscale it"
            ) from None
        except Exception as exc:  # see above: corrupt/truncated data must not leak Pillow internals
            raise ImageError(
                f"truncated or corrupt {fmt} data ({type(exc).__name__}: {exc}); the file is damaged or incomplete"
            ) from None
    return Image(pixels=pixels, alpha=alpha, format=fmt)


def read_image(path: str | os.PathLike, *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Image:
    """Read and decode an image file (see :func:`decode_image`); errors name the file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageError(f"cannot read image file {path}: {exc.strerror or exc}") from None
    try:
        return decode_image(data, max_pixels=max_pixels)
    except ImageError as exc:
        raise type(exc)(f"{path}: {exc}") from None


def _apply_orientation(pil: PIL.Image.Image) -> None:
    """Rotate/flip in place as EXIF tag 0x0112 says. Cameras often write damaged EXIF blocks;
    an unreadable one is treated as "no orientation" rather than rejecting good pixels."""
    try:
        orientation = pil.getexif().get(0x0112)
    except Exception:  # malformed EXIF: keep the stored orientation
        return
    if orientation in (2, 3, 4, 5, 6, 7, 8):
        ImageOps.exif_transpose(pil, in_place=True)


def _bomb_error(exc: Exception, max_pixels: int | None) -> ImageTooLargeError:
    limit = f"{max_pixels:,} pixels" if max_pixels is not None else "no limit of ours"
    return ImageTooLargeError(
        f"image is too large (limit: {limit}; Pillow's decompression-bomb guard says: {exc}); "
        "downscale it before sending"
    )


def _sniff(head: bytes) -> str | None:
    """Supported format whose signature starts ``head`` (file magic), else None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[:2] == b"BM":
        return "BMP"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    return None


def _unidentified_message(head: bytes, data: bytes) -> str:
    """Name the foreign format if Pillow knows it, so the user knows what to convert from."""
    own = _sniff(head)
    if own:  # our signature but Pillow refused the header: damaged, zero-sized or truncated early
        return f"corrupt {own} header (invalid size or fields); the file is damaged or incomplete"
    name = None
    try:  # header parse only (lazy open), never decoded
        with PIL.Image.open(io.BytesIO(data)) as other:
            name = other.format
    except Exception:  # really not an image: fall through to the generic message
        pass
    if name:
        return f"{name} images are not supported; supported formats: {_SUPPORTED_TEXT} (convert it, e.g. to PNG)"
    return f"not an image: {len(data)} bytes starting {head!r} are none of {_SUPPORTED_TEXT}"


def _scale16(values: np.ndarray) -> np.ndarray:
    """16-bit -> 8-bit by ``round(v * 255 / 65535)`` in integer arithmetic (65535->255, 32768->128)."""
    v = values.astype(np.uint32)
    return ((v * 255 + 32767) // 65535).astype(np.uint8)


def _split_modes(pil: PIL.Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """Pillow image of any supported mode -> (uint8 [H, W, 1|3], uint8 [H, W] alpha or None)."""
    mode = pil.mode
    if mode.startswith("I;16"):
        return _scale16(np.asarray(pil))[..., None], None
    if mode == "I":  # 32-bit int (some TIFFs, widened 16-bit data): accepted only in the 16-bit range
        v = np.asarray(pil)
        if v.size and (v.min() < 0 or v.max() > 65535):
            raise ImageError(
                f"32-bit integer image with values {v.min()}..{v.max()} outside 0..65535; save it as 8 or 16 bit"
            )
        return _scale16(v)[..., None], None
    if mode == "F":  # float TIFF: only the [0, 1] convention is unambiguous
        v = np.asarray(pil)
        if not np.isfinite(v).all() or (v.size and (v.min() < 0 or v.max() > 1)):
            raise ImageError("32-bit float image is accepted only with values in [0, 1]; save it as 8 or 16 bit")
        return np.rint(v * 255).astype(np.uint8)[..., None], None
    has_transparency = "transparency" in pil.info
    if mode == "1":
        pil, mode = pil.convert("L"), "L"
    if mode == "L" and has_transparency:  # grey PNG with a tRNS colour key
        pil, mode = pil.convert("LA"), "LA"
    if mode == "RGB" and has_transparency:
        pil, mode = pil.convert("RGBA"), "RGBA"
    if mode == "P":
        with_alpha = has_transparency or (pil.palette is not None and pil.palette.mode == "RGBA")
        mode = "RGBA" if with_alpha else "RGB"
        pil = pil.convert(mode)
    if mode in ("PA", "RGBa", "RGBX"):
        mode = "RGB" if mode == "RGBX" else "RGBA"
        pil = pil.convert(mode)
    if mode == "La":
        pil, mode = pil.convert("LA"), "LA"
    if mode == "L":
        return np.asarray(pil)[..., None].copy(), None
    if mode == "RGB":
        return np.asarray(pil).copy(), None
    if mode in ("LA", "RGBA"):
        a = np.asarray(pil)
        return np.ascontiguousarray(a[..., :-1]), np.ascontiguousarray(a[..., -1])
    try:  # CMYK, YCbCr, HSV ...: Pillow's colour conversion (CMYK uses Pillow's naive inverse)
        return np.asarray(pil.convert("RGB")).copy(), None
    except ValueError as exc:
        raise ImageError(f"unsupported pixel mode {mode!r} ({exc}); save the image as 8-bit RGB or grey") from None


def list_image_files(folder: str | os.PathLike, *, recursive: bool = False) -> list[Path]:
    """Files of ``folder`` (all levels with ``recursive``) whose suffix is one of IMAGE_SUFFIXES, sorted.

    Suffixes compare case-insensitively ("IMG_1.JPG" counts). An empty list when there is none;
    DataError when ``folder`` is not a folder.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder; give the folder that holds your images")
    candidates = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in candidates if p.suffix.lower() in SUFFIX_FORMATS and p.is_file())


# ----------------------------------------------------------------------------- encoding
def normalize_format(fmt: str) -> str:
    """'png', '.JPG', 'jpeg', 'tif' ... -> Pillow name ('PNG', 'JPEG', ...); ConfigError otherwise.

    "same" is not resolved here: the caller maps it to ``Image.format`` first.
    """
    key = str(fmt).strip().lower().lstrip(".")
    if key.upper() in SUPPORTED_FORMATS:
        return key.upper()
    if key not in ENCODE_FORMATS:
        raise ConfigError(f"unknown image format {fmt!r}; choose one of png, jpg, webp, bmp, tiff "
                          "('same' must be resolved first, see resolve_format)")
    return ENCODE_FORMATS[key]


def resolve_format(fmt: str, source: str | None) -> str:
    """Output format: "same" means the source format (PNG when unknown), else :func:`normalize_format`."""
    if str(fmt).strip().lower() == "same":
        return source if source in SUPPORTED_FORMATS else "PNG"
    return normalize_format(fmt)


def flatten_alpha(pixels: np.ndarray, alpha: np.ndarray, background: int = 255) -> np.ndarray:
    """Composite ``pixels`` over a flat ``background`` grey level using ``alpha`` (rounded integer maths)."""
    p = pixels.astype(np.uint32)
    a = alpha.astype(np.uint32)[..., None]
    return ((p * a + background * (255 - a) + 127) // 255).astype(np.uint8)


def encode_image(img: Image, fmt: str = "png", *, quality: int = 95, lossless: bool = False) -> bytes:
    """Encode ``img`` as png / jpg (jpeg) / webp / bmp / tiff (tif) bytes.

    Alpha is kept by PNG, WebP and TIFF. JPEG and BMP cannot keep it here, so the image is
    composited over white (what a viewer shows on a white page) rather than having the
    colour under transparent pixels revealed. ``quality`` (1-100) applies to JPEG and lossy
    WebP; JPEG at quality >= 90 uses 4:4:4 chroma (no subsampling). ``lossless`` selects
    lossless WebP; PNG, BMP and TIFF are always lossless, JPEG never is.
    """
    name = normalize_format(fmt)
    if not isinstance(img, Image):
        raise ImageError(f"encode_image expects an Image, got {type(img).__name__}")
    if not 1 <= int(quality) <= 100:
        raise ConfigError(f"quality must be in 1..100, got {quality}")
    if lossless and name == "JPEG":
        raise ConfigError("JPEG cannot be lossless; use png or webp with lossless=True")
    side = max(img.height, img.width)
    if name in MAX_SIDE and side > MAX_SIDE[name]:
        raise ImageTooLargeError(
            f"{name} cannot hold {img.width}x{img.height} (at most {MAX_SIDE[name]} px a side); use png or tiff"
        )
    pixels, alpha = img.pixels, img.alpha
    if alpha is not None and name not in ALPHA_FORMATS:
        pixels, alpha = flatten_alpha(pixels, alpha), None
    if alpha is not None:
        array, mode = np.concatenate([pixels, alpha[..., None]], axis=2), ("LA" if pixels.shape[2] == 1 else "RGBA")
    else:
        array, mode = (pixels[..., 0], "L") if pixels.shape[2] == 1 else (pixels, "RGB")
    pil = PIL.Image.fromarray(np.ascontiguousarray(array), mode=mode)
    options: dict = {}
    if name == "JPEG":
        options = {"quality": int(quality), "subsampling": 0 if quality >= 90 else 2}
    elif name == "WEBP":
        # exact=True keeps the RGB under fully transparent pixels (alpha is put back verbatim)
        options = {"quality": int(quality), "lossless": bool(lossless), "method": 4, "exact": True}
    elif name == "TIFF" and features.check("libtiff"):
        options = {"compression": "tiff_deflate"}
    buf = io.BytesIO()
    try:
        pil.save(buf, format=name, **options)
    except (OSError, ValueError) as exc:
        raise ImageError(f"cannot encode {img.width}x{img.height} {mode} image as {name}: {exc}") from None
    return buf.getvalue()


def format_from_path(path: str | os.PathLike) -> str:
    """Pillow format name from a file suffix ('.jpg' -> 'JPEG'); ConfigError for unknown suffixes."""
    suffix = Path(path).suffix
    if not suffix:
        raise ConfigError(f"cannot tell the image format of {path}: no suffix; give fmt explicitly")
    return normalize_format(suffix)


def write_image(
    img: Image, path: str | os.PathLike, fmt: str | None = None, *, quality: int = 95, lossless: bool = False
) -> Path:
    """Encode and write atomically (``translate.atomic``: temp file + fsync + rename); returns the path.

    ``fmt`` defaults to the suffix of ``path``. A crash never leaves a half-written file under
    the final name.
    """
    path = Path(path)
    data = encode_image(img, fmt or format_from_path(path), quality=quality, lossless=lossless)
    return atomic_write_bytes(path, lambda fh: fh.write(data))
