"""Image processing: the only place that decodes, validates, converts, normalises, pads, tiles and encodes.

Training, the CLI, export checks and the gRPC server all go through these functions, so the
same pixels give the same result everywhere. Submodules: ``codec`` (files <-> :class:`Image`),
``arrays`` (pixels <-> [-1, 1] NCHW, padding), ``tiling`` (overlap-blended tiles),
``pipeline`` (prepare / finish / apply_model).
"""

from translate.images.arrays import crop_to, from_model_array, pad_to_multiple, rgb_to_luma, to_model_array
from translate.images.codec import (
    ALPHA_FORMATS,
    DEFAULT_MAX_PIXELS,
    EXTENSIONS,
    SUPPORTED_FORMATS,
    Image,
    decode_image,
    encode_image,
    flatten_alpha,
    format_from_path,
    normalize_format,
    read_image,
    resolve_format,
    write_image,
)
from translate.images.pipeline import Prepared, apply_model, finish, prepare, resize_alpha, resize_pixels
from translate.images.tiling import DEFAULT_OVERLAP, DEFAULT_TILE, blend_window, choose_tile, run_tiled

__all__ = [
    "ALPHA_FORMATS",
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_OVERLAP",
    "DEFAULT_TILE",
    "EXTENSIONS",
    "SUPPORTED_FORMATS",
    "Image",
    "Prepared",
    "apply_model",
    "blend_window",
    "choose_tile",
    "crop_to",
    "decode_image",
    "encode_image",
    "finish",
    "flatten_alpha",
    "format_from_path",
    "from_model_array",
    "normalize_format",
    "pad_to_multiple",
    "prepare",
    "read_image",
    "resize_alpha",
    "resize_pixels",
    "resolve_format",
    "rgb_to_luma",
    "run_tiled",
    "to_model_array",
    "write_image",
]
