"""Typed errors of the translate library.

Every public entry point raises one of these (never a bare traceback from deep inside
torch or Pillow). Each message says what was wrong and what to do next. The gRPC server maps
them to status codes (see ``serving``), the CLI prints them and exits non-zero.
"""

from __future__ import annotations


class TranslateError(Exception):
    """Base class of every error this project raises on purpose."""


class ConfigError(TranslateError, ValueError):
    """A configuration value or option combination is invalid."""


class UnknownArchitectureError(ConfigError):
    """An architecture / family / method name is not in the registry."""


class ImageError(TranslateError, ValueError):
    """An input is not a decodable image, or is an image the model cannot take."""


class ImageTooLargeError(ImageError):
    """An image exceeds a pixel or byte limit (including decompression bombs)."""


class CheckpointError(TranslateError):
    """A checkpoint file is missing, truncated, corrupt, foreign or of an unknown version."""


class ModelError(TranslateError):
    """A model (checkpoint or ONNX file) cannot be loaded or does not fit the request."""


class LabelError(ConfigError, ModelError):
    """Class labels that do not fit the model (missing, extra, not integers, out of range).

    Both a usage error (the CLI exits 2, the server answers INVALID_ARGUMENT) and a request
    that does not fit the model, so callers that catch either kind see it.
    """


class ExportError(TranslateError):
    """ONNX export failed, or the exported model does not match PyTorch."""


class DataError(TranslateError):
    """A dataset is missing, unreadable or inconsistent."""


class WeightsUnavailableError(TranslateError):
    """Pretrained weights are needed but none could be found or downloaded."""
