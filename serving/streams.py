"""Bounds on long-lived calls: open streams per server and per client, and an idle timeout.

A stream (``TranslateStream``, KServe ``ModelStreamInfer``, health ``Watch``, reflection) holds
server state for as long as the client keeps it open, whether or not it sends anything. The
asyncio server (serving/server.py) spends no thread on an idle stream, but memory and file
descriptors are still finite, so:

- :class:`StreamLimiter` counts open streams per server (``--max-streams``) and per client
  (``--max-streams-per-client``); one over either bound is refused at once with
  RESOURCE_EXHAUSTED, and the message names the bound and its flag. A client is its bearer token
  when tokens are on (so clients behind one proxy address are still told apart), else its
  address without the port (:func:`client_identity`).
- :func:`requests_until_idle` ends a request stream that sent nothing for
  ``--stream-idle-timeout`` seconds while none of its items was in flight (DEADLINE_EXCEEDED,
  with the flag in the message), and ends idle streams at once when the server drains, so a
  shutdown does not wait ``--grace`` seconds for clients that will never send again.

Unary calls are not counted here: they are bounded by the batcher's queue (``--max-queue``).
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import threading
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable

import grpc

from serving.errors import ServingError, ShuttingDownError

DEFAULT_MAX_STREAMS = 1000
DEFAULT_MAX_STREAMS_PER_CLIENT = 100
DEFAULT_IDLE_TIMEOUT = 300.0  # seconds; the same as Envoy's default stream idle timeout


class StreamLimitError(ServingError):
    """Too many open streams on the server or from one client."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class StreamIdleError(ServingError):
    """A request stream sent nothing for longer than the idle timeout."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED


def client_identity(peer: str, token: str | None = None) -> str:
    """Who a call comes from: ``token:<hash>`` when it carries a bearer token, else its address without port.

    gRPC peers read ``ipv4:10.0.0.7:51234``, ``ipv6:[::1]:51234`` or ``unix:/path``; every new
    connection has a new port, so the port is dropped. The token is hashed so it never sits in
    memory structures that might be logged.
    """
    if token:
        return "token:" + hashlib.sha256(token.encode()).hexdigest()[:16]
    kind, _, rest = (peer or "").partition(":")
    if kind in ("ipv4", "ipv6") and ":" in rest:
        rest = rest.rsplit(":", 1)[0]
    return f"{kind}:{rest}" if rest else kind or "unknown"


def bearer_token(metadata) -> str | None:
    """The token of an ``authorization: Bearer <token>`` header in ``metadata``, or None."""
    for key, value in metadata or ():
        if key == "authorization" and isinstance(value, str):
            scheme, _, token = value.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    return None


class StreamLimiter:
    """Counts open streams, per server and per client; thread-safe (gRPC and HTTP may share one).

    Args:
        max_streams: open streams on the whole server.
        max_per_client: open streams of one client (see :func:`client_identity`).
    """

    def __init__(self, max_streams: int = DEFAULT_MAX_STREAMS,
                 max_per_client: int = DEFAULT_MAX_STREAMS_PER_CLIENT) -> None:
        if max_streams < 1 or max_per_client < 1:
            raise ValueError("stream limits must be >= 1")
        self.max_streams = max_streams
        self.max_per_client = max_per_client
        self._lock = threading.Lock()
        self._open: dict[str, int] = {}
        self.total = 0
        self.refused = 0

    def acquire(self, client: str) -> None:
        """Count one more stream of ``client``; StreamLimitError (nothing counted) when a bound is reached."""
        with self._lock:
            mine = self._open.get(client, 0)
            if mine >= self.max_per_client:
                self.refused += 1
                raise StreamLimitError(
                    f"this client already has {mine} open streams, the most one client may hold "
                    f"(--max-streams-per-client {self.max_per_client}); close idle streams or reuse one stream "
                    "for many requests")
            if self.total >= self.max_streams:
                self.refused += 1
                raise StreamLimitError(
                    f"the server has {self.total} open streams, the most it holds (--max-streams "
                    f"{self.max_streams}); retry later with backoff, or use another replica")
            self._open[client] = mine + 1
            self.total += 1

    def release(self, client: str) -> None:
        """Forget one stream of ``client``."""
        with self._lock:
            left = self._open.get(client, 0) - 1
            if left > 0:
                self._open[client] = left
            else:
                self._open.pop(client, None)
            self.total = max(0, self.total - 1)

    def open_streams(self, client: str | None = None) -> int:
        """Streams open now, of one client or of all."""
        with self._lock:
            return self.total if client is None else self._open.get(client, 0)


class StreamLimitInterceptor(grpc.aio.ServerInterceptor):
    """Wraps every streaming method so that it holds a :class:`StreamLimiter` slot while it runs.

    ``tokens_on``: identify clients by bearer token (the auth interceptor has already checked it)
    rather than by address.
    """

    def __init__(self, limiter: StreamLimiter, *, tokens_on: bool = False) -> None:
        self.limiter = limiter
        self.tokens_on = tokens_on

    def identity(self, context) -> str:
        """The limiter key of the caller of ``context``."""
        token = bearer_token(context.invocation_metadata()) if self.tokens_on else None
        return client_identity(context.peer(), token)

    async def intercept_service(self, continuation, handler_call_details):
        """grpc.aio.ServerInterceptor hook: streaming handlers get a slot, unary ones pass through."""
        handler = await continuation(handler_call_details)
        if handler is None or not (handler.request_streaming or handler.response_streaming):
            return handler
        kwargs = {"request_deserializer": handler.request_deserializer,
                  "response_serializer": handler.response_serializer}
        if handler.request_streaming and handler.response_streaming:
            return grpc.stream_stream_rpc_method_handler(self._guard(handler.stream_stream), **kwargs)
        if handler.request_streaming:
            return grpc.stream_unary_rpc_method_handler(self._guard(handler.stream_unary), **kwargs)
        return grpc.unary_stream_rpc_method_handler(self._guard(handler.unary_stream), **kwargs)

    async def _enter(self, context) -> str:
        key = self.identity(context)
        try:
            self.limiter.acquire(key)
        except StreamLimitError as exc:
            await context.abort(exc.code, str(exc))
        return key

    def _guard(self, behavior: Callable):
        """``behavior`` run inside a limiter slot, of the same kind (async generator or coroutine)."""
        if inspect.isasyncgenfunction(behavior):
            async def guarded_stream(arg, context):
                key = await self._enter(context)
                try:
                    async for response in behavior(arg, context):
                        yield response
                finally:
                    self.limiter.release(key)

            return guarded_stream
        if not inspect.iscoroutinefunction(behavior):
            return behavior  # a synchronous servicer (run in the migration pool): counted by its thread

        async def guarded(arg, context):
            key = await self._enter(context)
            try:
                return await behavior(arg, context)
            finally:
                self.limiter.release(key)

        return guarded


class IdleClock:
    """When a stream last did something, and how many of its items are still in flight."""

    def __init__(self, timeout: float | None) -> None:
        self.timeout = timeout if timeout and timeout > 0 else None
        self.pending = 0
        self.last = time.monotonic()

    def touch(self) -> None:
        """Something happened (a request arrived or an answer left): the idle time starts again."""
        self.last = time.monotonic()


async def requests_until_idle(requests: AsyncIterable, clock: IdleClock,
                              draining: asyncio.Event | None = None) -> AsyncIterator:
    """Yield the stream's requests; StreamIdleError / ShuttingDownError when it goes idle or the server drains.

    The stream is idle when no request arrived for ``clock.timeout`` seconds and none of its items
    is in flight (``clock.pending``); while items are in flight it is busy, however long they take.
    On a drain, a stream with nothing in flight ends at once (UNAVAILABLE: reconnect elsewhere).
    """
    iterator = requests.__aiter__()
    drain_wait = asyncio.ensure_future(draining.wait()) if draining is not None else None
    try:
        while True:
            read = asyncio.ensure_future(iterator.__anext__())
            try:
                while True:
                    draining_now = draining is not None and draining.is_set()
                    if draining_now and not clock.pending:
                        raise ShuttingDownError("the server is shutting down; open a new stream (to another "
                                                "replica) for more requests")
                    timeout = None
                    if draining_now:
                        timeout = 0.1  # until the items in flight are answered
                    elif clock.timeout is not None:
                        timeout = max(0.01, clock.last + clock.timeout - time.monotonic())
                    waiting = {read} if drain_wait is None or drain_wait.done() else {read, drain_wait}
                    done, _ = await asyncio.wait(waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                    if read in done:
                        break
                    if draining is not None and draining.is_set():
                        continue
                    if clock.pending:
                        clock.touch()  # busy is not idle
                        continue
                    if clock.timeout is not None and time.monotonic() - clock.last >= clock.timeout:
                        raise StreamIdleError(
                            f"the stream sent no request for {clock.timeout:g} s and had nothing in flight "
                            "(--stream-idle-timeout); open a new stream when there is more to send")
            except BaseException:
                read.cancel()
                raise
            try:
                request = read.result()
            except StopAsyncIteration:
                return
            clock.touch()
            yield request
    finally:
        if drain_wait is not None:
            drain_wait.cancel()
