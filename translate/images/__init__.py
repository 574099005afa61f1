"""Image processing: the only place that decodes, validates, converts, normalises, pads, tiles and encodes.

Training, the CLI, export checks and the gRPC server all go through these functions, so the
same pixels give the same result everywhere. Submodules: ``codec`` (files <-> :class:`Image`;
the format names, suffixes and image-file listing), ``arrays`` (grey/RGB conversion, pixels <->
[-1, 1] NCHW, padding), ``tiling`` (overlap-blended tiles and the default tile sizes),
``pipeline`` (prepare / finish / apply_model, and the one resize).
"""

from translate.images.arrays import (
    convert_channels,
    crop_to,
    from_model_array,
    pad_to_multiple,
    padded_size,
    rgb_to_luma,
    to_model_array,
)
from translate.images.codec import (
    ALPHA_FORMATS,
    DEFAULT_MAX_PIXELS,
    EXTENSIONS,
    IMAGE_SUFFIXES,
    SUFFIX_FORMATS,
    SUPPORTED_FORMATS,
    Image,
    decode_image,
    encode_image,
    flatten_alpha,
    format_from_path,
    list_image_files,
    normalize_format,
    read_image,
    resolve_format,
    write_image,
)
from translate.images.pipeline import Prepared, apply_model, finish, prepare, resize_alpha, resize_pixels
from translate.images.tiling import (
    DEFAULT_OVERLAP,
    DEFAULT_TILE,
    blend_window,
    choose_tile,
    default_tiling,
    round_tile,
    run_tiled,
)

__all__ = [
    "ALPHA_FORMATS",
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_OVERLAP",
    "DEFAULT_TILE",
    "EXTENSIONS",
    "IMAGE_SUFFIXES",
    "SUFFIX_FORMATS",
    "SUPPORTED_FORMATS",
    "Image",
    "Prepared",
    "apply_model",
    "blend_window",
    "choose_tile",
    "convert_channels",
    "crop_to",
    "default_tiling",
    "decode_image",
    "encode_image",
    "finish",
    "flatten_alpha",
    "format_from_path",
    "from_model_array",
    "list_image_files",
    "normalize_format",
    "pad_to_multiple",
    "padded_size",
    "prepare",
    "read_image",
    "resize_alpha",
    "resize_pixels",
    "resolve_format",
    "rgb_to_luma",
    "round_tile",
    "run_tiled",
    "to_model_array",
    "write_image",
]
