"""Build, start and gracefully stop the gRPC server (https://grpc.io/docs/guides/server-graceful-stop/).

One port carries the ``translate.v1`` domain service, the Open Inference Protocol (KServe v2)
service, the standard ``grpc.health.v1.Health`` service (service ``""`` for the whole server, and
one service per model name) and server reflection. Every protocol adapter is handed only what it
uses (the engine, the health status, the request observer), never this server, and they share one
engine (repository, batcher, limits), auth interceptor, metrics and request log. More servicers
plug in with :meth:`InferenceServer.add_service`; other listeners (an HTTP server) with
:meth:`InferenceServer.add_listener`.

Concurrency: the server is ``grpc.aio`` on an asyncio event loop that runs in its own thread.
An open stream costs a coroutine, not a thread, so hundreds of idle streams cannot starve health
checks or unary calls (the thread-per-RPC server did at about 70); streams are still bounded per
server and per client and closed when idle (serving/streams.py). Work that blocks (decoding,
inference through the batcher, encoding) runs in a worker pool of ``rpc_threads`` threads that the
handlers await; health, readiness and metadata answer on the event loop itself.

Shutdown (:meth:`InferenceServer.drain`): health turns NOT_SERVING at once so load balancers stop
routing here, idle streams end, the server stops accepting calls, in-flight calls get ``grace``
seconds to finish, then the batcher and the models are closed.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from serving.auth import TokenAuthInterceptor, load_tokens
from serving.batcher import DynamicBatcher
from serving.engine import InferenceEngine, Limits
from serving.gen import grpc_service_pb2_grpc as kserve_pb_grpc
from serving.gen import translate_pb2_grpc as pb_grpc
from serving.kserve import OPEN_METHODS as KSERVE_OPEN_METHODS
from serving.kserve import KServeServicer
from serving.metrics import ServerMetrics
from serving.observe import RequestObserver
from serving.repository import ModelRepository, default_backend_factory, describe_layout
from serving.servicer import SERVICE_NAME, TranslateServicer
from serving.streams import (
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_STREAMS,
    DEFAULT_MAX_STREAMS_PER_CLIENT,
    StreamLimiter,
    StreamLimitInterceptor,
)
from serving.tls import server_credentials
from translate.errors import ConfigError
from translate.precision import check_choice

log = logging.getLogger(__name__)

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@dataclass
class ServerConfig:
    """Everything ``translate serve`` can set; the defaults are the safe ones (loopback, limits on)."""

    models: str | Path
    host: str = "127.0.0.1"
    port: int = 50051
    metrics_port: int | None = None
    http_port: int | None = None  # HTTP (serving/http.py) on the same engine; 0 picks a free port
    health_port: int | None = None  # plaintext gRPC health + HTTP /healthz (serving/health_port.py)
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_client_ca: str | None = None
    auth_tokens: str | None = None
    max_batch: int = 8
    batch_timeout_ms: float = 2.0
    max_queue: int = 64
    max_image_pixels: int = 4096 * 4096
    max_message_mb: int = 64
    intra_op_threads: int | None = None
    backend: str = "auto"  # onnxruntime | openvino | auto (per model, measured; translate.backends.load_backend)
    precision: str = "auto"  # fp32 | bf16 | int8 | auto
    reload: str = "poll"
    reload_interval: float = 2.0
    compute_workers: int = 1
    rpc_threads: int = 64  # worker threads for the blocking part of requests (decode, inference wait, encode)
    grace: float = 30.0
    drain_delay: float = 0.0  # seconds between health NOT_SERVING and refusing calls (load balancers notice)
    tile_size: int = 512
    tile_above_pixels: int = 2048 * 2048
    max_batch_pixels: int = 2048 * 2048
    max_streams: int = DEFAULT_MAX_STREAMS
    max_streams_per_client: int = DEFAULT_MAX_STREAMS_PER_CLIENT
    stream_idle_timeout: float = DEFAULT_IDLE_TIMEOUT  # seconds; 0 = never close idle streams
    allow_empty: bool = False  # start even when the repository holds no model (hot reload fills it later)

    def validate(self) -> None:
        """Raise ConfigError for impossible combinations, before anything starts."""
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ConfigError("--tls-cert and --tls-key go together")
        if self.tls_client_ca and not self.tls_cert:
            raise ConfigError("--tls-client-ca (mutual TLS) needs --tls-cert and --tls-key")
        if self.reload not in ("poll", "off"):
            raise ConfigError(f"--reload must be poll or off (got {self.reload!r})")
        check_choice(self.backend, self.precision)
        for name in ("max_batch", "max_queue", "max_image_pixels", "max_message_mb", "compute_workers", "rpc_threads",
                     "tile_size", "tile_above_pixels", "max_batch_pixels", "max_streams", "max_streams_per_client"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be >= 1")
        if self.batch_timeout_ms < 0:
            raise ConfigError("--batch-timeout-ms must be >= 0")
        if self.stream_idle_timeout < 0:
            raise ConfigError("--stream-idle-timeout must be >= 0 (0: never close idle streams)")
        if self.tile_size * self.tile_size > self.tile_above_pixels:
            raise ConfigError(f"--tile-size {self.tile_size} makes tiles of {self.tile_size ** 2:,} pixels, over "
                              f"--tile-above-pixels {self.tile_above_pixels:,} (the most pixels of one piece); "
                              "lower the tile size or raise the budget")
        if not 0 <= self.port < 65536:
            raise ConfigError(f"--port must be 0..65535 (got {self.port})")
        for name in ("http_port", "health_port"):
            value = getattr(self, name)
            if value is not None and not 0 <= value < 65536:
                raise ConfigError(f"--{name.replace('_', '-')} must be 0..65535 (got {value})")


@dataclass
class Listener:
    """Another server that lives and dies with this one (e.g. HTTP on its own port)."""

    name: str
    start: Callable[[], int | None]  # called by start(); returns the bound port (or None)
    stop: Callable[[float], None]  # called by drain() with the grace in seconds
    port: int | None = None


class InferenceServer:
    """The assembled server. ``start()`` returns the bound port; ``drain()`` stops it gracefully."""

    def __init__(self, config: ServerConfig, backend_factory=None) -> None:
        config.validate()
        self.config = config
        # TLS files are checked now, before any model loads, so a wrong file is named at once.
        self._creds = (server_credentials(config.tls_cert, config.tls_key, config.tls_client_ca)
                       if config.tls_cert else None)
        self.metrics = ServerMetrics()
        self.repository = ModelRepository(
            config.models, backend_factory or default_backend_factory(config.intra_op_threads, config.backend,
                                                                      config.precision),
            on_change=self._model_changed, metrics=self.metrics)
        self.batcher = DynamicBatcher(max_batch=config.max_batch, batch_timeout=config.batch_timeout_ms / 1000,
                                      max_queue=config.max_queue, workers=config.compute_workers,
                                      metrics=self.metrics, max_batch_pixels=config.max_batch_pixels)
        self.limits = Limits(max_image_pixels=config.max_image_pixels,
                             max_message_bytes=config.max_message_mb * 2**20, max_batch=config.max_batch,
                             max_queue=config.max_queue, tile_size=config.tile_size,
                             tile_above_pixels=config.tile_above_pixels, max_batch_pixels=config.max_batch_pixels)
        self.engine = InferenceEngine(self.repository, self.batcher, self.limits)
        self.executor = ThreadPoolExecutor(config.rpc_threads, thread_name_prefix="rpc")
        self.observer = RequestObserver(self.metrics, known_model=self.repository.has_model, executor=self.executor)
        self.auth = TokenAuthInterceptor(load_tokens(config.auth_tokens)) if config.auth_tokens else None
        self.streams = StreamLimiter(config.max_streams, config.max_streams_per_client)
        self.port: int | None = None
        self.metrics_port: int | None = None
        self.listeners: list[Listener] = []
        self._health_port = None
        self._stopped = threading.Event()
        self._status: dict[str, int] = {"": NOT_SERVING}  # mirror of the health service, readable from any thread
        self._shutting_down = False

        # The event loop of grpc.aio runs in its own thread; every grpc object is made and used there.
        self.loop = asyncio.new_event_loop()
        self._loop_thread = threading.Thread(target=self.loop.run_forever, name="grpc-aio", daemon=True)
        self._loop_thread.start()
        self.health = health.aio.HealthServicer()
        # The same statuses for servers that are not asyncio (e.g. a plaintext health port on a
        # thread-based grpc.server): kept in step with self.health by _set_health / mark_not_serving.
        self.health_sync = health.HealthServicer(experimental_non_blocking=True,
                                                 experimental_thread_pool=ThreadPoolExecutor(1))
        self.draining = self._in_loop(asyncio.Event)  # streams end when it is set
        interceptors = ([self.auth] if self.auth is not None else []) + [
            StreamLimitInterceptor(self.streams, tokens_on=self.auth is not None)]
        options = [("grpc.max_receive_message_length", self.limits.max_message_bytes),
                   ("grpc.max_send_message_length", self.limits.max_message_bytes),
                   ("grpc.so_reuseport", 0)]
        # migration_thread_pool: servicers added with add_service that are plain (synchronous) run there.
        self.grpc_server = self._in_loop(lambda: grpc.aio.server(migration_thread_pool=self.executor,
                                                                 interceptors=interceptors, options=options))
        self._service_names = [health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME]
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.grpc_server)
        self._set_health("", NOT_SERVING)
        idle = config.stream_idle_timeout or None
        self.add_service(pb_grpc.add_TranslateServiceServicer_to_server,
                         TranslateServicer(self.engine, self.observer, idle_timeout=idle, draining=self.draining,
                                           streams=self.streams),
                         service_names=[SERVICE_NAME])
        # KServe v2 on the same port; its stubs live in a private descriptor pool that server
        # reflection cannot see (scripts/gen_protos.py), so it lists no service names.
        self.add_service(kserve_pb_grpc.add_GRPCInferenceServiceServicer_to_server,
                         KServeServicer(self.engine, self.is_serving, self.observer, idle_timeout=idle,
                                        draining=self.draining),
                         open_methods=KSERVE_OPEN_METHODS)
        self._add_http_ports()

    # -- the event loop --
    def _in_loop(self, fn: Callable):
        """Run ``fn()`` (plain or a coroutine function) on the event loop and return its result."""

        async def run():
            result = fn()
            return await result if asyncio.iscoroutine(result) else result

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result()

    def _close_loop(self) -> None:
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._loop_thread.join(10)

    # -- extension points --
    def add_service(self, add_to_server: Callable[[object, grpc.Server], None], servicer: object, *,
                    service_names: Sequence[str] = (), open_methods: Sequence[str] = ()) -> None:
        """Register another servicer before start(), e.g. ``add_service(pb_grpc.add_FooServicer_to_server, Foo(...))``.

        Async servicers (``async def`` methods) run on the event loop; plain ones run in the worker
        pool. ``service_names``: full names to list in server reflection. ``open_methods``:
        method-path prefixes (e.g. ``"/inference.GRPCInferenceService/ServerLive"``) that need no
        bearer token, like health checks.
        """
        if self.port is not None:
            raise RuntimeError("add_service must be called before start()")
        self._in_loop(lambda: add_to_server(servicer, self.grpc_server))
        self._service_names += list(service_names)
        if self.auth is not None and open_methods:
            self.auth.open_prefixes = self.auth.open_prefixes + tuple(open_methods)

    def add_listener(self, name: str, start: Callable[[], int | None], stop: Callable[[float], None]) -> None:
        """Run another server beside gRPC (e.g. HTTP in its own thread) with this server's lifetime.

        ``start()`` is called by :meth:`start` once the models are loaded and gRPC listens, before
        health turns SERVING; it returns the port it bound (``listener_ports[name]``; the CLI's
        ready line prints it as ``<name>_port``). ``stop(grace)`` is called by :meth:`drain` right
        after health turned NOT_SERVING, while gRPC gives its own in-flight calls ``grace`` seconds.
        Such a listener shares ``engine``, ``observer``, ``auth``, ``streams`` and :meth:`is_serving`.
        """
        if self.port is not None:
            raise RuntimeError("add_listener must be called before start()")
        self.listeners.append(Listener(name, start, stop))

    @property
    def listener_ports(self) -> dict[str, int | None]:
        """``{listener name: bound port}`` of the listeners added with :meth:`add_listener`."""
        return {lst.name: lst.port for lst in self.listeners}

    @property
    def http_port(self) -> int | None:
        """The bound ``--http-port`` (None when off)."""
        return self.listener_ports.get("http")

    @property
    def health_port(self) -> int | None:
        """The bound ``--health-port`` (None when off)."""
        return self._health_port.port if self._health_port is not None else None

    def _add_http_ports(self) -> None:
        """``--http-port`` (a listener) and ``--health-port``; their modules load only when asked for."""
        c = self.config
        if c.http_port is not None:
            from serving.http import HttpApi, HttpServer

            api = HttpApi(self.engine, self.is_serving, self.observer, auth=self.auth, workers=c.rpc_threads)
            http = HttpServer(api.app, tls_cert=c.tls_cert, tls_key=c.tls_key, tls_client_ca=c.tls_client_ca,
                              on_stop=api.close, name="--http-port")
            self.add_listener("http", lambda: http.start(c.host, c.http_port), http.stop)
        if c.health_port is not None:
            from serving.health_port import HealthPort

            self._health_port = HealthPort(self._serve_health, self.is_serving)

    def _serve_health(self, address: str) -> Callable[[], None]:
        """Serve grpc.health.v1 with this server's statuses (``health_sync``) on ``address``; returns stop().

        A small thread-based grpc.server: the health port must answer even if the main server's
        event loop were stuck, and it carries nothing but health.
        """
        server = grpc.server(ThreadPoolExecutor(2, thread_name_prefix="health-port"))
        health_pb2_grpc.add_HealthServicer_to_server(self.health_sync, server)
        server.add_insecure_port(address)
        server.start()
        return lambda: server.stop(0).wait()

    # -- health --
    def is_serving(self, service: str = "") -> bool:
        """True while grpc.health.v1 reports SERVING for ``service`` (``""``: the whole server; else a model)."""
        return self._status.get(service) == SERVING

    def _set_health(self, service: str, status: int) -> None:
        """Set one service's health, from any thread (the repository's poller calls it too)."""
        if self._shutting_down:
            return
        self._status[service] = status
        self.health_sync.set(service, status)
        asyncio.run_coroutine_threadsafe(self.health.set(service, status), self.loop)

    def _model_changed(self, name: str, serving: bool) -> None:
        self._set_health(name, SERVING if serving else NOT_SERVING)

    def mark_not_serving(self) -> None:
        """Every health service NOT_SERVING from now on, for good (what a drain does first)."""
        self._shutting_down = True
        for service in list(self._status):
            self._status[service] = NOT_SERVING
        self.health_sync.enter_graceful_shutdown()
        self._in_loop(self.health.enter_graceful_shutdown)

    # -- lifecycle --
    def _check_models(self) -> None:
        """An empty repository is a mistake unless asked for (``allow_empty``): say what is there instead."""
        if self.repository.records():
            return
        root = self.repository.root
        what = describe_layout(root)
        if not self.config.allow_empty:
            raise ConfigError(f"no model to serve in {root}: {what}. To start anyway and let hot reload pick "
                              "models up later, pass --allow-empty")
        log.warning("serving an empty repository %s (--allow-empty): %s; models copied there later are picked "
                    "up by hot reload%s", root, what, "" if self.config.reload == "poll" else
                    " -- but --reload off is set, so none will be")

    async def _start_grpc(self) -> int:
        reflection.enable_server_reflection(self._service_names, self.grpc_server)
        address = f"{self.config.host}:{self.config.port}"
        try:
            port = (self.grpc_server.add_secure_port(address, self._creds) if self._creds
                    else self.grpc_server.add_insecure_port(address))
        except RuntimeError as exc:
            raise ConfigError(f"cannot listen on {address}: {exc} (port in use or bad host?)") from exc
        if not port:
            raise ConfigError(f"cannot listen on {address} (port in use or bad host?)")
        await self.grpc_server.start()
        return port

    def start(self) -> int:
        """Load every model (warm-up included), bind, start serving; returns the bound port."""
        try:
            self.repository.poll()
            self._check_models()
            port = self._in_loop(self._start_grpc)
        except BaseException:
            self._abandon()
            raise
        self.port = port
        if self.config.metrics_port is not None:
            self.metrics_port = self.metrics.serve_http(self.config.metrics_port, self.config.host)
        if self.config.reload == "poll":
            self.repository.start_polling(self.config.reload_interval)
        try:
            for lst in self.listeners:
                lst.port = lst.start()
            if self._health_port is not None:
                self._health_port.start(self.config.host, self.config.health_port)
        except BaseException:
            self.drain(0)  # a port that cannot be bound: nothing may be left listening or running
            raise
        self._set_health("", SERVING)
        records = self.repository.records()
        log.info("serving %d model(s) (%d ready) on %s:%d%s", len(records), sum(r.state == "READY" for r in records),
                 self.config.host, port, " with TLS" if self._creds else "")
        return port

    def _abandon(self) -> None:
        """Undo a start() that failed: nothing listens, no thread is left behind."""
        self.batcher.close(wait=False)
        self.repository.close()
        self.executor.shutdown(wait=False, cancel_futures=True)
        self._close_loop()

    def drain(self, grace: float | None = None) -> None:
        """Graceful stop: health NOT_SERVING, refuse new calls, let in-flight calls finish, then close."""
        if self._stopped.is_set():
            return
        grace = self.config.grace if grace is None else grace
        log.info("draining: health NOT_SERVING, in-flight calls get %.0f s", grace)
        self.mark_not_serving()  # every service reports NOT_SERVING from now on
        if self.config.drain_delay > 0:  # load balancers notice NOT_SERVING while every port still answers
            time.sleep(self.config.drain_delay)
        stoppers = [threading.Thread(target=lst.stop, args=(grace,), name=f"stop-{lst.name}") for lst in self.listeners]
        for t in stoppers:  # concurrently with gRPC's grace period
            t.start()
        self._in_loop(self.draining.set)  # idle streams end now instead of holding the grace period
        self._in_loop(lambda: self.grpc_server.stop(grace))
        for t in stoppers:
            t.join()
        self.batcher.close(wait=True)
        self.executor.shutdown(wait=True)
        self.repository.close()
        self.metrics.stop_http()
        self._close_loop()
        if self._health_port is not None:
            self._health_port.stop()  # last: probes see NOT_SERVING until the end
        self._stopped.set()
        log.info("stopped")

    def wait(self, timeout: float | None = None) -> bool:
        """Block until :meth:`drain` finished (True) or ``timeout`` passed (False)."""
        return self._stopped.wait(timeout)
