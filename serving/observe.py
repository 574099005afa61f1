"""Per-request plumbing every servicer shares: request id, deadline, cancellation, status, metrics, log.

One JSON log line per RPC on the ``serving.requests`` logger (fields: ts, request_id, method,
model, code, latency_ms, peer, plus anything the handler adds), so logs can be joined with client
traces by the ``x-request-id`` metadata: taken from the caller when it sends one, generated
otherwise, and echoed back in the response's initial metadata.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import grpc

from serving.engine import Call
from serving.errors import status_for

request_log = logging.getLogger("serving.requests")
log = logging.getLogger(__name__)
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
NO_DEADLINE = 1e6  # grpc reports a huge time_remaining() when the caller set no deadline


def request_id(context: grpc.ServicerContext) -> str:
    """The caller's ``x-request-id`` if it is a sane token, else a fresh one."""
    for key, value in context.invocation_metadata() or ():
        if key == "x-request-id" and isinstance(value, str) and _SAFE_ID.match(value):
            return value
    return uuid.uuid4().hex


def sane_request_id(value: str | None) -> str:
    """``value`` if it is a sane request id (any transport's ``x-request-id``), else a fresh one."""
    return value if isinstance(value, str) and _SAFE_ID.match(value) else uuid.uuid4().hex


class RequestScope:
    """Fields of one RPC that the handler fills in (model name, sizes) for the log line."""

    def __init__(self, method: str, rid: str, call: Call) -> None:
        self.method = method
        self.request_id = rid
        self.call = call
        self.model = ""
        self.fields: dict[str, Any] = {}


class RequestObserver:
    """Wraps handler bodies: sets up :class:`Call`, maps errors to status codes, records metrics + log."""

    def __init__(self, metrics, known_model: Callable[[str], bool] | None = None) -> None:
        self.metrics = metrics
        # Metric labels only carry names of models that exist: a client sending random names
        # must not grow the label set without bound.
        self.known_model = known_model or (lambda name: True)

    def begin(self, method: str, context: grpc.ServicerContext) -> RequestScope:
        """Request id, deadline and cancellation hook for a new RPC."""
        rid = request_id(context)
        try:
            context.send_initial_metadata((("x-request-id", rid),))
        except ValueError:  # metadata already sent
            pass
        remaining = context.time_remaining()
        call = Call.from_timeout(remaining if remaining is not None and remaining < NO_DEADLINE else None)
        context.add_callback(call.cancel)  # runs when the RPC ends for any reason, incl. client cancel
        return RequestScope(method, rid, call)

    def finish(self, scope: RequestScope, code: grpc.StatusCode, start: float, context, message: str = "") -> None:
        """Record metrics and write the request's JSON log line."""
        self.record(scope, code, start, context.peer(), message)

    def record(self, scope: RequestScope, code: grpc.StatusCode, start: float, peer: str, message: str = "") -> None:
        """:meth:`finish` for any transport: ``peer`` as gRPC writes it (``ipv4:127.0.0.1:5000``)."""
        latency = time.monotonic() - start
        model = scope.model[:128] or "-"
        if self.metrics is not None:
            label = model if model == "-" or self.known_model(model) else "(unknown)"
            self.metrics.requests.labels(scope.method, label, code.name).inc()
            self.metrics.latency.labels(scope.method, label).observe(latency)
        line = {"ts": round(time.time(), 3), "request_id": scope.request_id, "method": scope.method, "model": model,
                "code": code.name, "latency_ms": round(latency * 1000, 2), "peer": peer}
        if message:
            line["error"] = message
        line.update(scope.fields)
        request_log.info(json.dumps(line, separators=(",", ":")))

    def unary(self, method: str, context: grpc.ServicerContext, body: Callable[[RequestScope], Any]) -> Any:
        """Run ``body(scope)`` for a unary RPC; typed errors become status codes (context.abort)."""
        start = time.monotonic()
        scope = self.begin(method, context)
        try:
            result = body(scope)
        except Exception as exc:
            code, message = status_for(exc)
            if code == grpc.StatusCode.INTERNAL:
                log.exception("%s %s failed", method, scope.request_id)
            self.finish(scope, code, start, context, message)
            context.abort(code, message)
        self.finish(scope, grpc.StatusCode.OK, start, context)
        return result
