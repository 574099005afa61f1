"""Typed Python client of the translate.v1 gRPC API (proto/translate/v1/translate.proto).

``TranslateClient`` hides protobuf: bytes in, dataclasses out, and every ``grpc.RpcError`` turned
into a domain error below (subclassing ``translate.errors`` types where the meaning is the same,
so ``except ImageError`` catches a rejected image whether it was processed locally or remotely).
UNAVAILABLE is retried with exponential backoff and jitter (the gRPC retry guidance:
https://grpc.io/docs/guides/retry/); nothing else is retried, because the other codes do not get
better by asking again.

Example::

    with TranslateClient("127.0.0.1:50051", token="...") as client:
        out = client.translate(open("in.png", "rb").read(), model="horse2zebra")
        open("out.png", "wb").write(out.image)
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from serving import wire
from serving.engine import TranslateResult
from serving.gen import translate_pb2 as pb
from serving.gen import translate_pb2_grpc as pb_grpc
from translate.errors import ImageError, ImageTooLargeError, ModelError, TranslateError


# ----------------------------------------------------------------------------- errors
class ServerError(TranslateError):
    """A call failed on the server; ``code`` is the grpc.StatusCode, ``details`` the server's message."""

    def __init__(self, message: str, code: grpc.StatusCode | None = None, request_id: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.details = message
        self.request_id = request_id


class InvalidInputError(ServerError, ImageError):
    """INVALID_ARGUMENT: the image or the request was rejected (not an image, too many pixels, ...)."""


class MessageTooLargeError(ServerError, ImageTooLargeError):
    """RESOURCE_EXHAUSTED because a message exceeded the size limit (send a smaller image)."""


class ServerBusyError(ServerError):
    """RESOURCE_EXHAUSTED: the model's queue is full, or too many streams are open; back off and retry."""


class OverBudgetError(ServerError, ImageTooLargeError):
    """RESOURCE_EXHAUSTED: an image (or tile) is over the server's pixel budget; let it tile, or send less."""


class UnknownModelError(ServerError, ModelError):
    """NOT_FOUND: no such model or version on the server (see list_models())."""


class ServerUnavailableError(ServerError, ModelError):
    """UNAVAILABLE after every retry: server down or draining, or the model is loading or broken."""


class RequestTimeoutError(ServerError, TimeoutError):
    """DEADLINE_EXCEEDED: the call did not finish within its timeout."""


class AuthenticationError(ServerError, PermissionError):
    """UNAUTHENTICATED or PERMISSION_DENIED: missing or wrong token, or client certificate refused."""


_BY_CODE = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidInputError,
    grpc.StatusCode.NOT_FOUND: UnknownModelError,
    grpc.StatusCode.UNAVAILABLE: ServerUnavailableError,
    grpc.StatusCode.DEADLINE_EXCEEDED: RequestTimeoutError,
    grpc.StatusCode.UNAUTHENTICATED: AuthenticationError,
    grpc.StatusCode.PERMISSION_DENIED: AuthenticationError,
}


def error_from_status(code: grpc.StatusCode, details: str, request_id: str = "") -> ServerError:
    """The domain error for a status code and message."""
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        if "pixel budget" in details:
            cls = OverBudgetError
        elif "message" in details.lower() and "larger" in details.lower() or "message limit" in details:
            cls = MessageTooLargeError
        else:
            cls = ServerBusyError
    else:
        cls = _BY_CODE.get(code, ServerError)
    return cls(f"{code.name}: {details}", code, request_id)


def error_from_rpc(exc: grpc.RpcError) -> ServerError:
    """Convert a grpc.RpcError (a grpc.Call) into the matching domain error."""
    code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
    details = (exc.details() if hasattr(exc, "details") else "") or str(code)
    rid = ""
    try:
        rid = dict(exc.initial_metadata() or ()).get("x-request-id", "")
    except Exception:  # not every RpcError carries metadata
        pass
    return error_from_status(code, details, rid)


# ----------------------------------------------------------------------------- results
# TranslateResult (one translated image) is the engine's own result type, filled from the response.
@dataclass
class StreamResult:
    """One answer of translate_stream: ``result`` or ``error`` is set."""

    id: str
    result: TranslateResult | None = None
    error: ServerError | None = None


@dataclass
class GeneratedImage:
    """One generated image and its seed (None for explicit latents)."""

    image: bytes
    seed: int | None


@dataclass
class ModelSummary:
    """A model as listed by the server."""

    name: str
    version: int
    state: str
    family: str
    task: str
    error: str = ""
    class_names: list[str] = field(default_factory=list)  # class-conditional generators: name of label i


@dataclass
class ModelDetails(ModelSummary):
    """Everything the server knows about one model."""

    available_versions: list[int] = field(default_factory=list)
    in_channels: int = 0
    out_channels: int = 0
    pad_multiple: int = 1
    scale: int = 1
    latent_size: int = 0
    num_classes: int = 0
    image_size: int = 0
    direction: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    limits: dict[str, int] = field(default_factory=dict)


def _bytes_of(value: bytes | str | Path | None) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    return Path(value).read_bytes()


def _result(r: pb.TranslateResponse) -> TranslateResult:
    return TranslateResult(r.image, wire.FORMAT_NAMES.get(r.format, ""), r.width, r.height, r.model, r.version,
                           r.tiled, r.id)


# ----------------------------------------------------------------------------- client
class TranslateClient:
    """Client of one server (or a load balancer in front of replicas).

    Args:
        address: ``host:port``.
        tls_ca: PEM CA bundle (bytes or a path) to verify the server; enables TLS.
        token: bearer token sent as ``authorization: Bearer <token>``.
        tls_client_cert, tls_client_key: PEM client certificate and key for mutual TLS.
        tls_server_name: expected name in the server certificate when it differs from the host.
        timeout: default deadline per call in seconds.
        retries: extra attempts on UNAVAILABLE; backoff: first delay in seconds (doubles, with jitter).
        max_message_mb: message size limit both ways (match the server's --max-message-mb).
    """

    def __init__(self, address: str, *, tls_ca: bytes | str | Path | None = None, token: str | None = None,
                 tls_client_cert: bytes | str | Path | None = None, tls_client_key: bytes | str | Path | None = None,
                 tls_server_name: str | None = None, timeout: float | None = 60.0, retries: int = 3,
                 backoff: float = 0.1, max_backoff: float = 5.0, max_message_mb: int = 64) -> None:
        size = max_message_mb * 2**20
        options = [("grpc.max_receive_message_length", size), ("grpc.max_send_message_length", size)]
        if tls_server_name:
            options.append(("grpc.ssl_target_name_override", tls_server_name))
        if tls_ca is not None or tls_client_cert is not None:
            creds = grpc.ssl_channel_credentials(root_certificates=_bytes_of(tls_ca),
                                                 private_key=_bytes_of(tls_client_key),
                                                 certificate_chain=_bytes_of(tls_client_cert))
            self.channel = grpc.secure_channel(address, creds, options=options)
        else:
            self.channel = grpc.insecure_channel(address, options=options)
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self._stub = pb_grpc.TranslateServiceStub(self.channel)
        self._health = health_pb2_grpc.HealthStub(self.channel)
        self.timeout, self.retries, self.backoff, self.max_backoff = timeout, retries, backoff, max_backoff

    def __enter__(self) -> TranslateClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close the channel."""
        self.channel.close()

    def _call(self, method, request, timeout: float | None, request_id: str | None = None):
        """Unary call with retries on UNAVAILABLE inside one overall deadline."""
        timeout = self.timeout if timeout is None else timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        metadata = self._metadata + ((("x-request-id", request_id),) if request_id else ())
        attempt = 0
        while True:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                return method(request, timeout=remaining, metadata=metadata)
            except grpc.RpcError as exc:
                err = error_from_rpc(exc)
                delay = min(self.max_backoff, self.backoff * 2**attempt) * random.uniform(0.5, 1.5)
                out_of_time = deadline is not None and time.monotonic() + delay >= deadline
                if err.code != grpc.StatusCode.UNAVAILABLE or attempt >= self.retries or out_of_time:
                    raise err from None
                attempt += 1
                time.sleep(delay)

    # -- RPCs --
    def translate(self, image: bytes, model: str, *, version: int = 0, output_format: str = "", quality: int = 0,
                  tiling: str = "auto", tile_size: int = 0, overlap: int = 0, timeout: float | None = None,
                  request_id: str | None = None) -> TranslateResult:
        """Translate (or super-resolve) one encoded image; output_format "" keeps the input's format."""
        req = self._request(image, model, version, output_format, quality, tiling, tile_size, overlap)
        return _result(self._call(self._stub.Translate, req, timeout, request_id))

    def _request(self, image, model, version=0, output_format="", quality=0, tiling="auto", tile_size=0, overlap=0,
                 id=""):  # noqa: A002 - mirrors the proto field
        return pb.TranslateRequest(id=id, model=model, version=version, image=bytes(image),
                                   output_format=wire.format_enum(output_format), quality=quality,
                                   tiling=pb.TilingOptions(mode=wire.tiling_enum(tiling), tile_size=tile_size,
                                                           overlap=overlap))

    def translate_stream(self, images: Iterable[tuple[str, bytes]], model: str, *, version: int = 0,
                         output_format: str = "", timeout: float | None = None) -> Iterator[StreamResult]:
        """Translate many ``(id, image bytes)`` pairs over one call; answers come in input order.

        A rejected item yields a StreamResult with ``error`` set; transport failures raise.
        """
        reqs = (self._request(data, model, version, output_format, id=str(i)) for i, data in images)
        timeout = self.timeout if timeout is None else timeout
        try:
            for r in self._stub.TranslateStream(reqs, timeout=timeout, metadata=self._metadata):
                if r.HasField("error"):
                    code = next((c for c in grpc.StatusCode if c.value[0] == r.error.code), grpc.StatusCode.UNKNOWN)
                    yield StreamResult(r.id, error=error_from_status(code, r.error.message))
                else:
                    yield StreamResult(r.id, result=_result(r))
        except grpc.RpcError as exc:
            raise error_from_rpc(exc) from None

    def generate(self, model: str, *, seeds: Iterable[int] | None = None, count: int | None = None,
                 first_seed: int = 0, latents=None, truncation: float | None = None, label: int | None = None,
                 class_name: str | None = None, version: int = 0, output_format: str = "png",
                 timeout: float | None = None) -> list[GeneratedImage]:
        """Sample from a generator: ``seeds``, or ``count`` seeds from ``first_seed``, or ``latents`` [N, nz].

        Class-conditional generators take ``label`` (a class number) or ``class_name`` (one of
        ``get_model(...).class_names``, exactly).
        """
        req = pb.GenerateRequest(model=model, version=version, output_format=wire.format_enum(output_format))
        given = [x is not None for x in (seeds, count, latents)]
        if sum(given) != 1:
            raise ValueError("give exactly one of seeds, count or latents")
        if seeds is not None:
            req.seeds.seeds.extend(int(s) for s in seeds)
        elif count is not None:
            req.range.count, req.range.first_seed = int(count), int(first_seed)
        else:
            req.latents.latents.extend(pb.Latent(values=[float(v) for v in row]) for row in latents)
        if truncation is not None:
            req.truncation = truncation
        if label is not None:
            req.label = label
        if class_name is not None:
            req.class_name = class_name
        resp = self._call(self._stub.Generate, req, timeout)
        return [GeneratedImage(g.image, g.seed if g.HasField("seed") else None) for g in resp.images]

    def list_models(self, timeout: float | None = None) -> list[ModelSummary]:
        """Every model on the server with its state."""
        resp = self._call(self._stub.ListModels, pb.ListModelsRequest(), timeout)
        return [ModelSummary(m.name, m.version, wire.STATE_NAMES.get(m.state, "UNSPECIFIED"), m.family, m.task, m.error,
                             list(m.class_names)) for m in resp.models]

    def get_model(self, name: str, version: int = 0, timeout: float | None = None) -> ModelDetails:
        """Metadata, versions and limits of one model."""
        m = self._call(self._stub.GetModel, pb.GetModelRequest(name=name, version=version), timeout)
        limits = {f.name: getattr(m.limits, f.name) for f in m.limits.DESCRIPTOR.fields}
        return ModelDetails(m.name, m.version, wire.STATE_NAMES.get(m.state, "UNSPECIFIED"), m.family, m.task, m.error,
                            list(m.class_names), list(m.available_versions), m.in_channels, m.out_channels,
                            m.pad_multiple, m.scale, m.latent_size, m.num_classes, m.image_size, m.direction,
                            dict(m.metadata), limits)

    def health(self, service: str = "", timeout: float | None = 5.0) -> str:
        """grpc.health.v1 status of the server ("") or of one model: SERVING, NOT_SERVING, SERVICE_UNKNOWN."""
        try:
            resp = self._health.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return "SERVICE_UNKNOWN"
            raise error_from_rpc(exc) from None
        return health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status)
