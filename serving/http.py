"""HTTP on the same engine: the Open Inference Protocol over REST, plain image endpoints, health.

An ASGI app (Starlette) served by uvicorn beside the gRPC server, over the same
:class:`serving.engine.InferenceEngine` (repository, batcher, limits), bearer tokens
(:class:`serving.auth.TokenAuthInterceptor`), error table (:func:`serving.errors.http_status_for`),
metrics and JSON request log (:class:`serving.observe.RequestObserver`). Like the gRPC adapters it only
converts: HTTP in, engine call, HTTP out. Endpoints:

- **Open Inference Protocol REST** (https://kserve.github.io/website/docs/reference/oip/rest-api, with
  Triton's binary tensor data extension, https://github.com/triton-inference-server/server/blob/main/docs/
  protocol/extension_binary_data.md, and its model-configuration and repository-index extensions), so
  ``tritonclient.http`` works unchanged: ``GET /v2``, ``/v2/health/live``, ``/v2/health/ready``,
  ``/v2/models/{name}[/versions/{v}]``, ``.../ready``, ``.../config``, ``POST .../infer``,
  ``POST /v2/repository/index``. The tensor conventions are those of serving/kserve.py (FP32/FP16
  ``[N, C, H, W]``, UINT8 pixels ``[N, H, W, C]``, generators ``z`` + ``label``). Errors are
  ``{"error": "..."}`` with the status of :data:`serving.errors.HTTP_STATUS`.
- **Images**: ``POST /v1/models/{name}:translate`` (image bytes in, image bytes out; query ``version``,
  ``format``, ``quality``, ``tiling``, ``tile_size``, ``overlap``) and ``POST|GET /v1/models/{name}:generate``
  (``seeds``, ``count``, ``first_seed``, ``truncation``, ``label``, ``grid``, ``format``, ``quality``,
  ``version`` in the query or a JSON body; one image, or a contact grid of several).
- **Health**: ``GET /healthz`` (200 while the server's grpc.health.v1 status is SERVING, else 503).

Health and readiness endpoints are open, like grpc.health.v1 on the gRPC port; everything else needs
``Authorization: Bearer <token>`` when the server has tokens. Deadlines: ``X-Request-Timeout: SECONDS``
on any request (and Triton's ``timeout`` parameter, microseconds, on ``infer``); a request whose
deadline passes while queued is dropped with 504. A client that disconnects cancels its queued work.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import numpy as np
import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from serving import v2
from serving.engine import Call, InferenceEngine
from serving.errors import (
    InvalidRequestError,
    RequestTooLargeError,
    ResultTooLargeError,
    UnauthenticatedError,
    http_status_for,
)
from serving.observe import RequestObserver, RequestScope, clip, sane_request_id
from translate.errors import ConfigError
from translate.seeds import MAX_SEED, parse_seeds

log = logging.getLogger(__name__)
HEADER_LENGTH = "Inference-Header-Content-Length"  # Triton's binary data extension
TIMEOUT_HEADER = "X-Request-Timeout"  # seconds, any endpoint
IMAGE_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
TRANSLATE_PARAMS = ("version", "format", "quality", "tiling", "tile_size", "overlap")
GENERATE_PARAMS = ("seeds", "count", "first_seed", "truncation", "label", "grid", "format", "quality", "version")
MAX_CONNECTIONS = 1000  # open connections + running requests before uvicorn answers 503
KEEP_ALIVE_SECONDS = 5  # idle keep-alive connections are closed after this


def _peer(request: Request) -> str:
    """The client address as gRPC writes peers (``ipv4:127.0.0.1:5000``), so log lines read alike."""
    if request.client is None:
        return "unknown"
    host, port = request.client
    return f"ipv6:[{host}]:{port}" if ":" in host else f"ipv4:{host}:{port}"


def _error_response(status: int, code: grpc.StatusCode, message: str, headers: dict[str, str] | None = None
                     ) -> JSONResponse:
    headers = dict(headers or {})
    if code == grpc.StatusCode.UNAUTHENTICATED:  # RFC 6750 section 3
        headers["WWW-Authenticate"] = ('Bearer realm="translate"' if message.startswith("missing")
                                       else 'Bearer realm="translate", error="invalid_token"')
    if status in (429, 503):
        headers["Retry-After"] = "1"
    return JSONResponse({"error": message}, status_code=status, headers=headers)


async def _not_found(request: Request, exc: HTTPException) -> JSONResponse:
    """Starlette's own 404/405 as protocol errors: ``{"error": ...}``."""
    what = "no such endpoint" if exc.status_code == 404 else f"{request.method} is not allowed here"
    message = f"{what}: {request.method} {request.url.path} (see /v2 and /v1/models/NAME:translate)"
    return JSONResponse({"error": message}, status_code=exc.status_code, headers=getattr(exc, "headers", None))


# ----------------------------------------------------------------------------- small parsers
def _int(value: Any, key: str, *, minimum: int = 0) -> int:
    """A non-negative integer parameter from a query string or JSON (bools and floats refused)."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise InvalidRequestError(f"parameter {key!r} must be an integer >= {minimum} (got {value!r})")
    return value


def _version(value: Any) -> int:
    """``version`` of the image endpoints: a number, or empty/0 for the served version."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise InvalidRequestError(f"parameter 'version' must be a version number such as 1 (got {value!r})")
    return v2.parse_version(value)


def _float(value: Any, key: str) -> float:
    try:
        out = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        out = math.nan
    if not math.isfinite(out):
        raise InvalidRequestError(f"parameter {key!r} must be a number (got {value!r})")
    return out


def _label(value: Any) -> int:
    """A class label: an integer (the engine checks it against the model's classes)."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise InvalidRequestError(f"label must be a class number such as 2 (got {value!r})")


def _params(sources: list[Mapping[str, Any]], known: tuple[str, ...]) -> dict[str, Any]:
    """Merge query parameters and JSON fields; unknown or repeated names are refused, naming the known ones."""
    out: dict[str, Any] = {}
    for source in sources:
        for key, value in source.items():
            if key not in known:
                raise InvalidRequestError(f"unknown parameter {key!r}; this endpoint takes {', '.join(known)}")
            if key in out:
                raise InvalidRequestError(f"parameter {key!r} is given twice (query and body?); give it once")
            out[key] = value
    return out


def _seeds(params: Mapping[str, Any]) -> list[int] | range | None:
    """``seeds`` ("0-3,9" or a JSON list) or ``count`` (+ ``first_seed``) -> seeds; None when neither is given."""
    if "seeds" in params and ("count" in params or "first_seed" in params):
        raise InvalidRequestError("give seeds, or count (+ first_seed), not both")
    if "seeds" in params:
        seeds = params["seeds"]
        if isinstance(seeds, str):
            return parse_seeds(seeds)  # the library's seed syntax and bounds
        if not isinstance(seeds, list):
            raise InvalidRequestError(f"seeds must be a list of integers or a string like '0-3,9' (got {seeds!r})")
        return [_seed(s) for s in seeds]
    if "count" not in params:
        if "first_seed" in params:
            raise InvalidRequestError("first_seed needs count")
        return None
    count, first = _int(params["count"], "count", minimum=1), _seed(params.get("first_seed", 0))
    if first + count - 1 > MAX_SEED:
        raise InvalidRequestError(f"seeds first_seed..first_seed+count-1 must lie in 0..{MAX_SEED}")
    return range(first, first + count)  # the engine checks len() before a single latent is drawn


def _seed(value: Any) -> int:
    seed = _int(value, "seed")
    if seed > MAX_SEED:
        raise InvalidRequestError(f"seeds are integers in 0..{MAX_SEED} (got {seed})")
    return seed


def _json_shape(name: str, shape: Any) -> list[int]:
    if not isinstance(shape, list) or any(not isinstance(d, int) or isinstance(d, bool) for d in shape):
        raise InvalidRequestError(f"input {name!r}: shape must be a list of integers (got {shape!r})")
    return shape


def _json_values(name: str, data: Any) -> np.ndarray:
    """The ``data`` of a JSON tensor (flat or nested lists, row-major) as a flat numeric array."""
    try:
        arr = np.asarray(data)
    except ValueError:  # ragged nesting
        arr = np.asarray([], dtype=object)
    if not isinstance(data, list) or (arr.size and arr.dtype.kind not in "iuf"):
        raise InvalidRequestError(f"input {name!r}: data must be a list of numbers, flat or nested row-major")
    return arr.ravel()


def _decompress(body: bytes, encoding: str, limit: int) -> bytes:
    """Undo ``Content-Encoding`` gzip/deflate (tritonclient's request compression) without exceeding ``limit``."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "deflate"):
        raise InvalidRequestError(f"Content-Encoding {encoding!r} is not supported; send gzip, deflate or identity")
    d = zlib.decompressobj(16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS)
    try:
        out = d.decompress(body, limit + 1)
    except zlib.error as exc:
        raise InvalidRequestError(f"the {encoding} request body is corrupt: {exc}") from exc
    if len(out) > limit:
        raise RequestTooLargeError(f"the request body decompresses to more than the {limit / 2**20:.0f} MB message "
                                   "limit (--max-message-mb); send less data per request")
    return out


# ----------------------------------------------------------------------------- the app
class HttpApi:
    """The ASGI app over an engine. Adapter only: every check and computation is the engine's.

    Args:
        engine: the server's engine (repository, batcher, limits).
        is_serving: ``is_serving(service)`` -> grpc.health.v1 reports SERVING (``""``: the server).
        observer: metrics and the JSON request log, shared with the gRPC adapters.
        auth: the server's token check (None: no tokens).
        workers: threads that run engine calls (they block while the batcher computes).
    """

    def __init__(self, engine: InferenceEngine, is_serving: Callable[[str], bool], observer: RequestObserver, *,
                 auth=None, workers: int = 64) -> None:
        self.engine = engine
        self.is_serving = is_serving
        self.observer = observer
        self.auth = auth
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="http")
        m = "/v2/models/{name}"
        v = "/v2/models/{name}/versions/{version}"
        routes = health_routes(is_serving) + [
            Route("/v2", self.server_metadata, methods=["GET"]),
            Route("/v2/repository/index", self.repository_index, methods=["POST"]),
            *[Route(p + "/ready", self.model_ready, methods=["GET"]) for p in (m, v)],
            *[Route(p + "/config", self.model_config, methods=["GET"]) for p in (m, v)],
            *[Route(p + "/infer", self.infer, methods=["POST"]) for p in (m, v)],
            *[Route(p, self.model_metadata, methods=["GET"]) for p in (m, v)],
            Route("/v1/models/{name}:translate", self.translate, methods=["POST"]),
            Route("/v1/models/{name}:generate", self.generate, methods=["GET", "POST"]),
        ]
        self.app = Starlette(routes=routes, exception_handlers={HTTPException: _not_found})

    def close(self) -> None:
        """Stop the worker threads (after the HTTP server stopped taking requests)."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- plumbing shared by every endpoint --
    async def _observed(self, request: Request, method: str, body) -> Response:
        """Run ``body(scope)`` with auth, request id, deadline, the error table, metrics and the log line."""
        start = time.monotonic()
        rid = sane_request_id(request.headers.get("x-request-id"))
        scope = RequestScope(method, rid, Call(), clip(_peer(request)), clip(request.headers.get("user-agent", "")))
        scope.model = request.path_params.get("name", "")
        try:
            self._authorize(request)
            scope.call = Call.from_timeout(self._timeout(request.headers.get(TIMEOUT_HEADER)))
            response = await body(scope)
            code, message = grpc.StatusCode.OK, ""
        except Exception as exc:
            status, code, message = http_status_for(exc)
            if code == grpc.StatusCode.INTERNAL:
                log.exception("%s %s failed", method, rid)
            response = _error_response(status, code, message)
        scope.fields["http_status"] = response.status_code
        self.observer.finish(scope, code, start, message)
        response.headers["x-request-id"] = rid
        return response

    def _authorize(self, request: Request) -> None:
        if self.auth is not None:
            message = self.auth.refusal(request.headers.get("authorization"), carrier="header")
            if message is not None:
                raise UnauthenticatedError(message)

    @staticmethod
    def _timeout(text: str | None) -> float | None:
        if text is None:
            return None
        seconds = _float(text, TIMEOUT_HEADER)
        if seconds <= 0:
            raise InvalidRequestError(f"{TIMEOUT_HEADER} is a number of seconds > 0 (got {text!r})")
        return seconds

    async def _body(self, request: Request) -> bytes:
        """The request body, refused with 413 as soon as it passes the message limit (--max-message-mb)."""
        limit = self.engine.limits.max_message_bytes

        def too_large(n: int) -> RequestTooLargeError:
            return RequestTooLargeError(f"the request body is {n / 2**20:.1f} MB or more, over the "
                                        f"{limit / 2**20:.0f} MB message limit (--max-message-mb); send a smaller "
                                        "image or fewer tensors per request")

        length = request.headers.get("content-length")
        if length is not None and length.isascii() and length.isdigit() and int(length) > limit:
            raise too_large(int(length))
        chunks, n = [], 0
        async for chunk in request.stream():
            n += len(chunk)
            if n > limit:
                raise too_large(n)
            chunks.append(chunk)
        return _decompress(b"".join(chunks), request.headers.get("content-encoding", ""), limit)

    async def _run(self, request: Request, call: Call, fn: Callable[[], Any]) -> Any:
        """Run a blocking engine call on a worker thread; a client that disconnects cancels it."""
        work = asyncio.get_running_loop().run_in_executor(self._pool, fn)
        watch = asyncio.ensure_future(self._disconnected(request))
        try:
            done, _ = await asyncio.wait({work, watch}, return_when=asyncio.FIRST_COMPLETED)
            if work not in done:
                call.cancel()  # queued batches of this call are dropped; the engine raises CancelledError
            return await work
        finally:
            watch.cancel()

    @staticmethod
    async def _disconnected(request: Request) -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    # -- Open Inference Protocol: metadata --
    async def server_metadata(self, request: Request) -> Response:
        """``GET /v2``: server name, version and extensions."""
        async def body(scope):
            return JSONResponse(v2.server_metadata())

        return await self._observed(request, "http/ServerMetadata", body)

    async def model_metadata(self, request: Request) -> Response:
        """``GET /v2/models/{name}[/versions/{v}]``: served version, platform and tensors."""
        async def body(scope):
            return JSONResponse(self._leased(request, v2.model_metadata))

        return await self._observed(request, "http/ModelMetadata", body)

    async def model_config(self, request: Request) -> Response:
        """``GET .../config``: Triton's model configuration, as the exported config.pbtxt states it."""
        def config(mv):
            return v2.model_config(mv, max_batch_size=self.engine.max_batch_for(mv),
                                   queue_delay_us=self.engine.queue_delay_us)

        async def body(scope):
            return JSONResponse(self._leased(request, config))

        return await self._observed(request, "http/ModelConfig", body)

    def _leased(self, request: Request, document: Callable) -> dict:
        name, version = request.path_params["name"], v2.parse_version(request.path_params.get("version", ""))
        with self.engine.repository.lease(name, version) as mv:
            return document(mv)

    async def repository_index(self, request: Request) -> Response:
        """``POST /v2/repository/index`` (body ``{"ready": true}`` optional): every model and its state."""
        async def body(scope):
            raw = await self._body(request)
            doc = self._json(raw) if raw.strip() else {}
            return JSONResponse(v2.repository_index(self.engine.repository, bool(doc.get("ready", False))))

        return await self._observed(request, "http/RepositoryIndex", body)

    async def model_ready(self, request: Request) -> Response:
        """``GET .../ready`` (open, like ModelReady on gRPC): 200 ready, 503 not ready, 404 unknown model."""
        name, version = request.path_params["name"], request.path_params.get("version", "")
        try:
            v2.parse_version(version)
            self.engine.repository.record(name)
        except Exception as exc:
            status, code, message = http_status_for(exc)
            return _error_response(status, code, message)
        ready = v2.model_ready(self.engine.repository, self.is_serving, name, version)
        return JSONResponse({"name": name, "ready": ready}, status_code=200 if ready else 503)

    # -- Open Inference Protocol: inference --
    @staticmethod
    def _json(raw: bytes) -> dict:
        try:
            doc = json.loads(raw)
        except (UnicodeDecodeError, ValueError) as exc:
            raise InvalidRequestError(f"the request is not valid JSON: {exc}") from exc
        if not isinstance(doc, dict):
            raise InvalidRequestError("the request must be a JSON object")
        return doc

    async def infer(self, request: Request) -> Response:
        """``POST .../infer``: JSON tensors and/or the binary data extension, answered in kind."""
        async def body(scope):
            raw = await self._body(request)
            scope.fields["bytes_in"] = len(raw)
            doc, binary = self._split(raw, request.headers.get(HEADER_LENGTH))
            params = doc.get("parameters") or {}
            if not isinstance(params, dict):
                raise InvalidRequestError("parameters must be a JSON object")
            microseconds = _int(params.get("timeout", 0), "timeout")  # Triton's per-request timeout
            if microseconds:
                deadline = time.monotonic() + microseconds / 1e6
                scope.call.deadline = min(deadline, scope.call.deadline or deadline)
            inputs = self._inputs(doc, binary)
            wanted, binary_out = self._outputs(doc)
            binary_default = params.get("binary_data_output", False) is True
            version = v2.parse_version(request.path_params.get("version", ""))
            call = scope.call
            result = await self._run(request, call, lambda: self.engine.infer_tensors(
                request.path_params["name"], version, inputs, call, outputs=list(wanted)))
            return self._infer_response(result, doc.get("id"), lambda name: binary_out.get(name, binary_default))

        return await self._observed(request, "http/ModelInfer", body)

    def _split(self, raw: bytes, header_length: str | None) -> tuple[dict, memoryview]:
        """The JSON inference header and the binary tensor data after it."""
        if header_length is None:
            return self._json(raw), memoryview(b"")
        if not (header_length.isascii() and header_length.isdigit()) or int(header_length) > len(raw):
            raise InvalidRequestError(f"{HEADER_LENGTH} must be the byte length of the JSON header, at most the "
                                      f"body's {len(raw)} bytes (got {header_length!r})")
        n = int(header_length)
        return self._json(raw[:n]), memoryview(raw)[n:]

    @staticmethod
    def _inputs(doc: dict, binary: memoryview) -> dict[str, np.ndarray]:
        tensors = doc.get("inputs")
        if not isinstance(tensors, list) or not tensors or not all(isinstance(t, dict) for t in tensors):
            raise InvalidRequestError("inputs must be a non-empty list of tensors {name, shape, datatype, data}")
        offset, out = 0, []
        for t in tensors:
            name, datatype = t.get("name"), t.get("datatype")
            if not isinstance(name, str) or not isinstance(datatype, str):
                raise InvalidRequestError(f"every input needs a name and a datatype (got {t.get('name')!r})")
            shape = _json_shape(name, t.get("shape"))
            params = t.get("parameters") or {}
            if not isinstance(params, dict):
                raise InvalidRequestError(f"input {name!r}: parameters must be a JSON object")
            if "shared_memory_region" in params:
                raise InvalidRequestError("shared-memory tensors are not supported by this server; send the data "
                                          "in the request (JSON data or binary_data_size)")
            if "binary_data_size" in params:
                if "data" in t:
                    raise InvalidRequestError(f"input {name!r} has both data and binary_data_size; send one")
                size = _int(params["binary_data_size"], "binary_data_size")
                if offset + size > len(binary):
                    raise InvalidRequestError(f"input {name!r}: binary_data_size {size} runs past the "
                                              f"{len(binary)} bytes of binary data after the JSON header")
                arr = v2.tensor_from_bytes(name, datatype, shape, bytes(binary[offset:offset + size]),
                                           where="binary data")
                offset += size
            elif "data" in t:
                arr = v2.tensor_from_values(name, datatype, shape, _json_values(name, t["data"]), where="data")
            else:
                raise InvalidRequestError(f"input {name!r} has no data: send JSON data or binary_data_size")
            out.append((name, arr))
        if offset != len(binary):
            raise InvalidRequestError(f"{len(binary) - offset} bytes of binary data are not claimed by any input's "
                                      "binary_data_size")
        return v2.named_tensors(out)

    @staticmethod
    def _outputs(doc: dict) -> tuple[list[str], dict[str, bool]]:
        """Requested output names (empty: all) and the ``binary_data`` choice of those that make one."""
        outputs = doc.get("outputs") or []
        if not isinstance(outputs, list) or not all(isinstance(o, dict) and isinstance(o.get("name"), str)
                                                    for o in outputs):
            raise InvalidRequestError("outputs must be a list of {name, parameters}")
        params = [(o["name"], o.get("parameters") or {}) for o in outputs]
        wanted = v2.requested_outputs(params)
        return wanted, {name: p["binary_data"] is True for name, p in params if "binary_data" in p}

    def _infer_response(self, result, request_id: Any, binary: Callable[[str], bool]) -> Response:
        """The response document, with the outputs asked for in binary after it (Inference-Header-Content-Length)."""
        doc: dict[str, Any] = {"model_name": result.model, "model_version": str(result.version), "outputs": []}
        if isinstance(request_id, str) and request_id:
            doc["id"] = request_id
        chunks = []
        for name, arr in result.outputs.items():
            entry: dict[str, Any] = {"name": name, "datatype": v2.datatype_of(arr.dtype), "shape": list(arr.shape)}
            if binary(name):
                data = v2.tensor_bytes(arr)
                entry["parameters"] = {"binary_data_size": len(data)}
                chunks.append(data)
            else:
                entry["data"] = arr.ravel().tolist()
            doc["outputs"].append(entry)
        header = json.dumps(doc, separators=(",", ":")).encode()
        size = len(header) + sum(map(len, chunks))
        limit = self.engine.limits.max_message_bytes
        if size > limit:
            raise ResultTooLargeError(f"the response would be {size / 2**20:.1f} MB, over the {limit / 2**20:.0f} MB "
                                      "message limit; ask for binary outputs (binary_data), or send fewer images")
        if not chunks:
            return Response(header, media_type="application/json")
        return Response(header + b"".join(chunks), media_type="application/octet-stream",
                        headers={HEADER_LENGTH: str(len(header))})

    # -- images --
    async def translate(self, request: Request) -> Response:
        """``POST /v1/models/{name}:translate``: image bytes in, image bytes out."""
        async def body(scope):
            p = _params([request.query_params], TRANSLATE_PARAMS)
            kwargs = {"version": _version(p.get("version", "")), "output_format": p.get("format", ""),
                      "quality": _int(p.get("quality", 0), "quality"), "tiling": p.get("tiling", "auto"),
                      "tile_size": _int(p.get("tile_size", 0), "tile_size"),
                      "overlap": _int(p.get("overlap", 0), "overlap")}
            data = await self._body(request)
            scope.fields["bytes_in"] = len(data)
            if request.headers.get("content-type", "").startswith("multipart/"):
                raise InvalidRequestError("send the image itself as the request body (curl --data-binary @in.png), "
                                          "not a multipart form")
            call = scope.call
            res = await self._run(request, call, lambda: self.engine.translate_image(
                request.path_params["name"], data, call=call, **kwargs))
            scope.fields["bytes_out"] = len(res.image)
            return Response(res.image, media_type=IMAGE_TYPES[res.format], headers={
                "X-Model": res.model, "X-Model-Version": str(res.version), "X-Tiled": str(res.tiled).lower(),
                "X-Image-Width": str(res.width), "X-Image-Height": str(res.height)})

        return await self._observed(request, "http/Translate", body)

    async def generate(self, request: Request) -> Response:
        """``POST|GET /v1/models/{name}:generate``: one image, or a contact grid of several."""
        async def body(scope):
            raw = await self._body(request)
            doc = self._json(raw) if raw.strip() else {}
            p = _params([request.query_params, doc], GENERATE_PARAMS)
            seeds = _seeds(p)
            grid = _int(p["grid"], "grid") if "grid" in p else (0 if seeds is not None and len(seeds) > 1 else None)
            kwargs = {"version": _version(p.get("version", "")), "seeds": seeds,
                      "truncation": _float(p["truncation"], "truncation") if "truncation" in p else None,
                      "label": _label(p["label"]) if "label" in p else None, "output_format": p.get("format", ""),
                      "quality": _int(p.get("quality", 0), "quality"), "grid": grid}
            call = scope.call
            res = await self._run(request, call, lambda: self.engine.generate_images(
                request.path_params["name"], call=call, **kwargs))
            scope.fields["images"] = len(res.seeds)
            headers = {"X-Model": res.model, "X-Model-Version": str(res.version),
                       "X-Seeds": ",".join(str(s) for s in res.seeds)}
            if grid is not None:
                headers["X-Grid-Columns"] = str(grid or math.ceil(math.sqrt(len(res.seeds))))
            return Response(res.images[0], media_type=IMAGE_TYPES[res.format], headers=headers)

        return await self._observed(request, "http/Generate", body)


def health_routes(is_serving: Callable[[str], bool]) -> list[Route]:
    """``/healthz``, ``/v2/health/live`` and ``/v2/health/ready``: open, never logged (probes call often)."""

    async def healthz(request: Request) -> Response:
        service = request.query_params.get("service", "")  # a model name, as in grpc.health.v1
        serving = is_serving(service)
        return JSONResponse({"status": "SERVING" if serving else "NOT_SERVING"}, status_code=200 if serving else 503)

    async def live(request: Request) -> Response:
        return JSONResponse({"live": True})

    async def ready(request: Request) -> Response:
        serving = is_serving("")
        return JSONResponse({"ready": serving}, status_code=200 if serving else 503)

    return [Route("/healthz", healthz, methods=["GET"]), Route("/v2/health/live", live, methods=["GET"]),
            Route("/v2/health/ready", ready, methods=["GET"])]


def health_app(is_serving: Callable[[str], bool]) -> Starlette:
    """An app with the health endpoints only (the health port's HTTP side)."""
    return Starlette(routes=health_routes(is_serving), exception_handlers={HTTPException: _not_found})


# ----------------------------------------------------------------------------- the server
def bind(host: str, port: int, what: str) -> socket.socket:
    """A listening TCP socket (port 0: a free one); ConfigError when the address cannot be bound."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, backlog=2048)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port} for {what}: {exc.strerror or exc}") from exc


class HttpServer:
    """uvicorn serving an ASGI app on its own thread and event loop: ``start() -> port``, ``stop(grace)``.

    Independent of how the gRPC server runs (threads or asyncio). TLS from the same PEM files as the
    gRPC port; with ``tls_client_ca`` clients must present a certificate signed by it (mutual TLS).
    ``on_stop`` runs after the server stopped (e.g. :meth:`HttpApi.close`).
    """

    def __init__(self, app, *, tls_cert: str | None = None, tls_key: str | None = None,
                 tls_client_ca: str | None = None, on_stop: Callable[[], None] | None = None,
                 name: str = "the HTTP port") -> None:
        self.app = app
        self.tls = (tls_cert, tls_key, tls_client_ca)
        self.on_stop = on_stop
        self.name = name
        self.port: int | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def _config(self) -> uvicorn.Config:
        cert, key, client_ca = self.tls
        tls: dict[str, Any] = {}
        if cert:
            tls = {"ssl_certfile": cert, "ssl_keyfile": key}
            if client_ca:
                tls.update(ssl_ca_certs=client_ca, ssl_cert_reqs=ssl.CERT_REQUIRED)
        config = uvicorn.Config(self.app, lifespan="off", log_config=None, access_log=False, server_header=False,
                                limit_concurrency=MAX_CONNECTIONS, timeout_keep_alive=KEEP_ALIVE_SECONDS, **tls)
        try:
            config.load()  # the TLS files are read here, so a bad one fails start(), not the thread
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(f"cannot use the TLS files for {self.name} (--tls-cert {cert}, --tls-key {key}"
                              + (f", --tls-client-ca {client_ca}" if client_ca else "") + f"): {exc}") from exc
        return config

    def start(self, host: str, port: int) -> int:
        """Bind ``host:port`` (0: a free port) and serve; returns the bound port."""
        config = self._config()
        sock = bind(host, port, self.name)
        return self.serve(sock, config)

    def serve(self, sock: socket.socket, config: uvicorn.Config | None = None) -> int:
        """Serve on an already listening socket (TCP or Unix); returns its port (0 for Unix sockets)."""
        self._server = uvicorn.Server(config or self._config())
        failed: list[BaseException] = []

        def run() -> None:
            try:
                asyncio.run(self._server.serve(sockets=[sock]))
            except BaseException as exc:  # reported by start()
                failed.append(exc)

        self._thread = threading.Thread(target=run, name="http-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)  # uvicorn offers no start-up event; this runs once per server start
        if not self._server.started:
            raise ConfigError(f"{self.name} did not start: {failed[0] if failed else 'timed out'}")
        self.port = sock.getsockname()[1] if sock.family in (socket.AF_INET, socket.AF_INET6) else 0
        return self.port

    def stop(self, grace: float = 0.0) -> None:
        """Stop taking connections; in-flight requests get ``grace`` seconds to finish."""
        if self._server is not None and self._thread is not None:
            self._server.config.timeout_graceful_shutdown = max(grace, 0.1)
            self._server.should_exit = True
            self._thread.join(grace + 10)
            self._server = None
        if self.on_stop is not None:
            self.on_stop()
