"""The ``translate.v1`` enums and the names they stand for, for the servicer and the client alike.

proto/translate/v1/translate.proto numbers image formats, tiling modes and model states; the
rest of the code speaks names: image formats as :mod:`translate.images` normalises them (lower
case: png, jpeg, webp), tiling modes as the engine takes them, model states as the repository
reports them. Each table lives here once, and both directions are derived from it.
"""

from __future__ import annotations

from serving.errors import InvalidRequestError
from serving.gen import translate_pb2 as pb
from translate.errors import ConfigError
from translate.images import normalize_format

FORMAT_ENUMS = {"png": pb.IMAGE_FORMAT_PNG, "jpeg": pb.IMAGE_FORMAT_JPEG, "webp": pb.IMAGE_FORMAT_WEBP}
FORMAT_NAMES = {v: k for k, v in FORMAT_ENUMS.items()} | {pb.IMAGE_FORMAT_UNSPECIFIED: ""}
TILING_ENUMS = {"auto": pb.TILING_MODE_AUTO, "always": pb.TILING_MODE_ALWAYS, "never": pb.TILING_MODE_NEVER}
TILING_NAMES = {v: k for k, v in TILING_ENUMS.items()}
STATE_ENUMS = {"LOADING": pb.MODEL_STATE_LOADING, "READY": pb.MODEL_STATE_READY,
               "UNAVAILABLE": pb.MODEL_STATE_UNAVAILABLE}
STATE_NAMES = {v: k for k, v in STATE_ENUMS.items()}


def format_enum(name: str) -> int:
    """An output format name ("png", "JPG", ".jpeg", "" for the input's own) -> ``ImageFormat``."""
    if not name:
        return pb.IMAGE_FORMAT_UNSPECIFIED
    try:
        key = normalize_format(name).lower()
    except ConfigError:
        key = ""
    if key not in FORMAT_ENUMS:
        raise InvalidRequestError(f"output_format must be one of png, jpeg, webp or '' (got {name!r})")
    return FORMAT_ENUMS[key]


def format_name(value: int) -> str:
    """``ImageFormat`` -> "png" / "jpeg" / "webp" ("" for unspecified); unknown numbers are refused."""
    if value not in FORMAT_NAMES:
        raise InvalidRequestError(f"unknown format value {value}")
    return FORMAT_NAMES[value]


def tiling_enum(mode: str) -> int:
    """"auto" / "always" / "never" -> ``TilingMode``."""
    if mode not in TILING_ENUMS:
        raise InvalidRequestError(f"tiling must be auto, always or never (got {mode!r})")
    return TILING_ENUMS[mode]


def tiling_name(value: int) -> str:
    """``TilingMode`` -> "auto" / "always" / "never"; unknown numbers are refused."""
    if value not in TILING_NAMES:
        raise InvalidRequestError(f"unknown tiling mode value {value}")
    return TILING_NAMES[value]
