"""Per-request plumbing every servicer shares: request id, deadline, cancellation, status, metrics, log.

One JSON log line per RPC on the ``serving.requests`` logger (fields: ts, request_id, method,
model, code, latency_ms, peer, user_agent, plus anything the handler adds), so logs can be joined
with client traces by the ``x-request-id`` metadata: taken from the caller when it sends one,
generated otherwise, and echoed back in the response's initial metadata. Every string a client
chose (model name, error text that quotes it, peer, user agent) is clipped to :data:`LOG_FIELD_CHARS`
characters, so a hostile request cannot grow the log.

The servicers are asyncio coroutines (serving/server.py runs ``grpc.aio``); :meth:`RequestObserver.unary`
runs a handler body that blocks (image decoding, inference through the batcher, encoding) in the
server's worker pool and awaits it, so the event loop keeps answering health checks and reading
other streams meanwhile. :meth:`RequestObserver.finish` takes plain values, so a transport that is
not gRPC can write the same log line and metrics.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

import grpc

from serving.engine import Call
from serving.errors import status_for

request_log = logging.getLogger("serving.requests")
log = logging.getLogger(__name__)
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
NO_DEADLINE = 1e6  # grpc reports a huge time_remaining() when the caller set no deadline
LOG_FIELD_CHARS = 128  # longest client-chosen string written to the log


def clip(text: object, limit: int = LOG_FIELD_CHARS) -> str:
    """``text`` as a log-safe string of at most ``limit`` characters (longer ones end in ``...(N chars)``)."""
    s = str(text)
    if len(s) <= limit:
        return s
    return f"{s[:limit]}...({len(s)} chars)"


def request_id(metadata) -> str:
    """The caller's ``x-request-id`` if it is a sane token, else a fresh one."""
    for key, value in metadata or ():
        if key == "x-request-id" and isinstance(value, str) and _SAFE_ID.match(value):
            return value
    return uuid.uuid4().hex


def sane_request_id(value: str | None) -> str:
    """``value`` if it is a sane request id (any transport's ``x-request-id``), else a fresh one."""
    return value if isinstance(value, str) and _SAFE_ID.match(value) else uuid.uuid4().hex


def user_agent(metadata) -> str:
    """The caller's ``user-agent`` metadata, clipped (empty when absent)."""
    for key, value in metadata or ():
        if key == "user-agent" and isinstance(value, str):
            return clip(value)
    return ""


class RequestScope:
    """Fields of one RPC that the handler fills in (model name, sizes) for the log line."""

    def __init__(self, method: str, rid: str, call: Call, peer: str = "", agent: str = "") -> None:
        self.method = method
        self.request_id = rid
        self.call = call
        self.peer = peer
        self.user_agent = agent
        self.model = ""
        self.fields: dict[str, Any] = {}


class RequestObserver:
    """Wraps handler bodies: sets up :class:`Call`, maps errors to status codes, records metrics + log.

    Args:
        metrics: :class:`serving.metrics.ServerMetrics` (or None).
        known_model: ``known_model(name)`` -> the repository has that model (metric labels only
            carry names that exist).
        executor: where blocking handler bodies run (the server's worker pool); None: the event
            loop's default executor.
    """

    def __init__(self, metrics, known_model: Callable[[str], bool] | None = None,
                 executor: Executor | None = None) -> None:
        self.metrics = metrics
        # Metric labels only carry names of models that exist: a client sending random names
        # must not grow the label set without bound.
        self.known_model = known_model or (lambda name: True)
        self.executor = executor

    async def begin(self, method: str, context: grpc.aio.ServicerContext) -> RequestScope:
        """Request id, deadline and cancellation hook for a new RPC."""
        metadata = context.invocation_metadata()
        rid = request_id(metadata)
        try:
            await context.send_initial_metadata((("x-request-id", rid),))
        except Exception:  # metadata already sent, or the call already ended
            pass
        remaining = context.time_remaining()
        call = Call.from_timeout(remaining if remaining is not None and remaining < NO_DEADLINE else None)
        context.add_done_callback(lambda _context: call.cancel())  # the RPC ended for any reason, incl. client cancel
        return RequestScope(method, rid, call, clip(context.peer()), user_agent(metadata))

    def finish(self, scope: RequestScope, code: grpc.StatusCode, start: float, message: str = "") -> None:
        """Record metrics and write the request's JSON log line (any transport: the scope carries the peer)."""
        latency = time.monotonic() - start
        model = clip(scope.model) or "-"
        if self.metrics is not None:
            label = model if model == "-" or self.known_model(scope.model) else "(unknown)"
            self.metrics.requests.labels(scope.method, label, code.name).inc()
            self.metrics.latency.labels(scope.method, label).observe(latency)
        line = {"ts": round(time.time(), 3), "request_id": scope.request_id, "method": scope.method, "model": model,
                "code": code.name, "latency_ms": round(latency * 1000, 2), "peer": scope.peer}
        if scope.user_agent:
            line["user_agent"] = scope.user_agent
        if message:
            line["error"] = clip(message, 4 * LOG_FIELD_CHARS)
        line.update(scope.fields)
        request_log.info(json.dumps(line, separators=(",", ":")))

    async def run_blocking(self, fn: Callable, *args) -> Any:
        """Await ``fn(*args)`` run in the worker pool (never on the event loop)."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    async def unary(self, method: str, context: grpc.aio.ServicerContext, body: Callable[[RequestScope], Any], *,
                    blocking: bool = True) -> Any:
        """Run ``body(scope)`` for a unary RPC; typed errors become status codes (context.abort).

        ``blocking``: the body may take long (decoding, inference); it then runs in the worker
        pool. Cheap bodies (metadata, listings) run on the event loop.
        """
        start = time.monotonic()
        scope = await self.begin(method, context)
        try:
            result = await self.run_blocking(body, scope) if blocking else body(scope)
        except asyncio.CancelledError:  # the client went away (or the server stopped) mid-call
            scope.call.cancel()
            self.finish(scope, grpc.StatusCode.CANCELLED, start)
            raise
        except Exception as exc:
            code, message = status_for(exc)
            if code == grpc.StatusCode.INTERNAL:
                log.exception("%s %s failed", method, scope.request_id)
            self.finish(scope, code, start, message)
            await context.abort(code, message)
        self.finish(scope, grpc.StatusCode.OK, start)
        return result
