"""Server-side errors and their gRPC status codes (one mapping, used by every servicer).

Status codes follow https://grpc.github.io/grpc/core/md_doc_statuscodes.html. Library errors
from ``translate.errors`` map by type: a bad or too large image is the caller's fault
(INVALID_ARGUMENT); anything else the library raises is reported as INTERNAL with its message.
"""

from __future__ import annotations

import grpc

from translate.errors import ConfigError, ImageError, ModelError, TranslateError


class ServingError(TranslateError):
    """Base of errors the server raises on purpose; ``code`` is the gRPC status to answer with."""

    code = grpc.StatusCode.INTERNAL


class InvalidRequestError(ServingError, ValueError):
    """The request itself is malformed (missing field, wrong latent length, bad tiling option)."""

    code = grpc.StatusCode.INVALID_ARGUMENT


class ModelNotFoundError(ServingError, ModelError):
    """No model (or no such version) of that name in the repository."""

    code = grpc.StatusCode.NOT_FOUND


class ModelUnavailableError(ServingError, ModelError):
    """The model exists but is loading, broken or being unloaded; retry later or fix the file."""

    code = grpc.StatusCode.UNAVAILABLE


class QueueFullError(ServingError):
    """The model's bounded queue is full: back off and retry (or add replicas)."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class PixelBudgetError(ServingError):
    """One piece of the work (a whole image, or a tile) is over the server's pixel budget per model call."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class ResultTooLargeError(ServingError):
    """The encoded result exceeds the server's message size limit."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class DeadlineExpiredError(ServingError):
    """The caller's deadline passed while the request waited in the queue; it was not computed."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED


class CancelledError(ServingError):
    """The caller cancelled the request before it was computed."""

    code = grpc.StatusCode.CANCELLED


class ShuttingDownError(ServingError):
    """The server is draining and accepts no new work."""

    code = grpc.StatusCode.UNAVAILABLE


def status_for(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """The (status code, message) to answer a failed request with."""
    if isinstance(exc, ServingError):
        return exc.code, str(exc)
    if isinstance(exc, (ImageError, ConfigError)):  # ImageTooLargeError (pixels) included
        return grpc.StatusCode.INVALID_ARGUMENT, str(exc)
    if isinstance(exc, ModelError):
        return grpc.StatusCode.FAILED_PRECONDITION, str(exc)
    if isinstance(exc, TranslateError):
        return grpc.StatusCode.INTERNAL, str(exc)
    return grpc.StatusCode.INTERNAL, f"internal error ({type(exc).__name__}); see the server log"


# ----------------------------------------------------------------------------- HTTP
# HTTP adapters (serving/http.py) answer the same errors, with the status that gRPC gateways give
# each google.rpc.Code (https://github.com/googleapis/googleapis/blob/master/google/rpc/code.proto);
# 499 is "client closed request".
HTTP_STATUS = {
    grpc.StatusCode.OK: 200, grpc.StatusCode.CANCELLED: 499, grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400, grpc.StatusCode.DEADLINE_EXCEEDED: 504, grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409, grpc.StatusCode.PERMISSION_DENIED: 403, grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429, grpc.StatusCode.FAILED_PRECONDITION: 400, grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400, grpc.StatusCode.UNIMPLEMENTED: 501, grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503, grpc.StatusCode.DATA_LOSS: 500,
}


class RequestTooLargeError(ServingError):
    """The request body exceeds the server's message size limit (HTTP; gRPC's transport refuses it itself)."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class UnauthenticatedError(ServingError):
    """No valid bearer token (HTTP; on gRPC the auth interceptor answers UNAUTHENTICATED itself)."""

    code = grpc.StatusCode.UNAUTHENTICATED


# RESOURCE_EXHAUSTED for a size, not a rate: 413, since retrying the same request cannot help.
TOO_LARGE = (RequestTooLargeError, ResultTooLargeError, PixelBudgetError)


def http_status_for(exc: BaseException) -> tuple[int, grpc.StatusCode, str]:
    """The (HTTP status, gRPC status code, message) to answer a failed HTTP request with."""
    code, message = status_for(exc)
    return 413 if isinstance(exc, TOO_LARGE) else HTTP_STATUS[code], code, message
