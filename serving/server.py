"""Build, start and gracefully stop the gRPC server (https://grpc.io/docs/guides/server-graceful-stop/).

One port carries the ``translate.v1`` domain service, the Open Inference Protocol (KServe v2)
service, the standard ``grpc.health.v1.Health`` service (service ``""`` for the whole server, and
one service per model name) and server reflection. Every protocol adapter is handed only what it
uses (the engine, the health status, the request observer), never this server, and they share one
engine (repository, batcher, limits), auth interceptor, metrics and request log. More servicers
plug in with :meth:`InferenceServer.add_service`.

Shutdown (:meth:`InferenceServer.drain`): health turns NOT_SERVING at once so load balancers stop
routing here, the server stops accepting calls, in-flight calls get ``grace`` seconds to finish,
then the batcher and the models are closed.
"""

from __future__ import annotations

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
from serving.repository import ModelRepository, default_backend_factory
from serving.servicer import SERVICE_NAME, TranslateServicer
from translate.errors import ConfigError
from translate.precision import check_choice

log = logging.getLogger(__name__)


@dataclass
class Listener:
    """Another server that lives and dies with this one (e.g. HTTP on its own port)."""

    name: str
    start: Callable[[], int | None]  # called by start(); returns the bound port (or None)
    stop: Callable[[float], None]  # called by drain() with the grace in seconds
    port: int | None = None


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
    rpc_threads: int = 64
    grace: float = 30.0
    drain_delay: float = 0.0  # seconds between health NOT_SERVING and refusing calls (load balancers notice)
    tile_size: int = 512
    tile_above_pixels: int = 2048 * 2048

    def validate(self) -> None:
        """Raise ConfigError for impossible combinations, before anything starts."""
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ConfigError("--tls-cert and --tls-key go together")
        if self.tls_client_ca and not self.tls_cert:
            raise ConfigError("--tls-client-ca (mutual TLS) needs --tls-cert and --tls-key")
        if self.reload not in ("poll", "off"):
            raise ConfigError(f"--reload must be poll or off (got {self.reload!r})")
        check_choice(self.backend, self.precision)
        for name in ("max_batch", "max_queue", "max_image_pixels", "max_message_mb", "compute_workers", "rpc_threads"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be >= 1")
        if self.batch_timeout_ms < 0:
            raise ConfigError("--batch-timeout-ms must be >= 0")
        if not 0 <= self.port < 65536:
            raise ConfigError(f"--port must be 0..65535 (got {self.port})")
        for name in ("http_port", "health_port"):
            value = getattr(self, name)
            if value is not None and not 0 <= value < 65536:
                raise ConfigError(f"--{name.replace('_', '-')} must be 0..65535 (got {value})")


class _NoContext:
    """Stands in for a ServicerContext when asking the health servicer for a status in-process."""

    def set_code(self, code) -> None:  # the servicer reports unknown services this way; False is answer enough
        pass


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the {what} {path}: {exc}") from exc


class InferenceServer:
    """The assembled server. ``start()`` returns the bound port; ``drain()`` stops it gracefully."""

    def __init__(self, config: ServerConfig, backend_factory=None) -> None:
        config.validate()
        self.config = config
        self.metrics = ServerMetrics()
        self.health = health.HealthServicer(experimental_non_blocking=True,
                                            experimental_thread_pool=ThreadPoolExecutor(1))
        self.health.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
        self.repository = ModelRepository(
            config.models, backend_factory or default_backend_factory(config.intra_op_threads, config.backend,
                                                                      config.precision),
            on_change=self._model_changed, metrics=self.metrics)
        self.batcher = DynamicBatcher(max_batch=config.max_batch, batch_timeout=config.batch_timeout_ms / 1000,
                                      max_queue=config.max_queue, workers=config.compute_workers,
                                      metrics=self.metrics)
        self.limits = Limits(max_image_pixels=config.max_image_pixels,
                             max_message_bytes=config.max_message_mb * 2**20, max_batch=config.max_batch,
                             max_queue=config.max_queue, tile_size=config.tile_size,
                             tile_above_pixels=config.tile_above_pixels)
        self.engine = InferenceEngine(self.repository, self.batcher, self.limits)
        self.observer = RequestObserver(self.metrics, known_model=self.repository.has_model)
        interceptors = []
        self.auth = TokenAuthInterceptor(load_tokens(config.auth_tokens)) if config.auth_tokens else None
        if self.auth is not None:
            interceptors.append(self.auth)
        options = [("grpc.max_receive_message_length", self.limits.max_message_bytes),
                   ("grpc.max_send_message_length", self.limits.max_message_bytes),
                   ("grpc.so_reuseport", 0)]
        self.grpc_server = grpc.server(ThreadPoolExecutor(config.rpc_threads, thread_name_prefix="rpc"),
                                       interceptors=interceptors, options=options)
        self._service_names = [health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME]
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.grpc_server)
        self.port: int | None = None
        self.metrics_port: int | None = None
        self.listeners: list[Listener] = []
        self._health_port = None
        self._stopped = threading.Event()
        self.add_service(pb_grpc.add_TranslateServiceServicer_to_server,
                         TranslateServicer(self.engine, self.observer), service_names=[SERVICE_NAME])
        # KServe v2 on the same port; its stubs live in a private descriptor pool that server
        # reflection cannot see (scripts/gen_protos.py), so it lists no service names.
        self.add_service(kserve_pb_grpc.add_GRPCInferenceServiceServicer_to_server,
                         KServeServicer(self.engine, self.is_serving, self.observer), open_methods=KSERVE_OPEN_METHODS)
        self._add_http_ports()

    def add_service(self, add_to_server: Callable[[object, grpc.Server], None], servicer: object, *,
                    service_names: Sequence[str] = (), open_methods: Sequence[str] = ()) -> None:
        """Register another servicer before start(), e.g. ``add_service(pb_grpc.add_FooServicer_to_server, Foo(...))``.

        ``service_names``: full names to list in server reflection. ``open_methods``: method-path
        prefixes (e.g. ``"/inference.GRPCInferenceService/ServerLive"``) that need no bearer token,
        like health checks.
        """
        if self.port is not None:
            raise RuntimeError("add_service must be called before start()")
        add_to_server(servicer, self.grpc_server)
        self._service_names += list(service_names)
        if self.auth is not None and open_methods:
            self.auth.open_prefixes = self.auth.open_prefixes + tuple(open_methods)

    def add_listener(self, name: str, start: Callable[[], int | None], stop: Callable[[float], None]) -> None:
        """Run another server beside gRPC (e.g. HTTP in its own thread) with this server's lifetime.

        ``start()`` is called by :meth:`start` once gRPC listens, before health turns SERVING, and
        returns the port it bound (``listener_ports[name]``); ``stop(grace)`` is called by
        :meth:`drain` after health turned NOT_SERVING, while gRPC gives its own calls ``grace`` seconds.
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
        """Serve this server's grpc.health.v1 servicer (shared: same statuses) on ``address``; returns stop()."""
        server = grpc.server(ThreadPoolExecutor(2, thread_name_prefix="health-port"))
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        server.add_insecure_port(address)
        server.start()
        return lambda: server.stop(0).wait()

    def is_serving(self, service: str = "") -> bool:
        """True while grpc.health.v1 reports SERVING for ``service`` (``""``: the whole server; else a model)."""
        res = self.health.Check(health_pb2.HealthCheckRequest(service=service), _NoContext())
        return res.status == health_pb2.HealthCheckResponse.SERVING

    def _model_changed(self, name: str, serving: bool) -> None:
        status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        self.health.set(name, status)

    def _credentials(self) -> grpc.ServerCredentials | None:
        c = self.config
        if not c.tls_cert:
            return None
        key, cert = _read(c.tls_key, "TLS key"), _read(c.tls_cert, "TLS certificate")
        client_ca = _read(c.tls_client_ca, "TLS client CA") if c.tls_client_ca else None
        return grpc.ssl_server_credentials([(key, cert)], root_certificates=client_ca,
                                           require_client_auth=client_ca is not None)

    def start(self) -> int:
        """Load every model (warm-up included), bind, start serving; returns the bound port."""
        self.repository.poll()
        reflection.enable_server_reflection(self._service_names, self.grpc_server)
        address = f"{self.config.host}:{self.config.port}"
        creds = self._credentials()
        try:
            port = (self.grpc_server.add_secure_port(address, creds) if creds
                    else self.grpc_server.add_insecure_port(address))
        except RuntimeError as exc:
            raise ConfigError(f"cannot listen on {address}: {exc} (port in use or bad host?)") from exc
        if not port:
            raise ConfigError(f"cannot listen on {address} (port in use or bad host?)")
        self.port = port
        self.grpc_server.start()
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
        self.health.set("", health_pb2.HealthCheckResponse.SERVING)
        records = self.repository.records()
        log.info("serving %d model(s) (%d ready) on %s:%d%s", len(records), sum(r.state == "READY" for r in records),
                 self.config.host, port, " with TLS" if creds else "")
        return port

    def drain(self, grace: float | None = None) -> None:
        """Graceful stop: health NOT_SERVING, refuse new calls, let in-flight calls finish, then close."""
        if self._stopped.is_set():
            return
        grace = self.config.grace if grace is None else grace
        log.info("draining: health NOT_SERVING, in-flight calls get %.0f s", grace)
        self.health.enter_graceful_shutdown()  # every service reports NOT_SERVING from now on
        if self.config.drain_delay > 0:
            time.sleep(self.config.drain_delay)
        stopped = self.grpc_server.stop(grace)
        stoppers = [threading.Thread(target=lst.stop, args=(grace,), name=f"stop-{lst.name}") for lst in self.listeners]
        for t in stoppers:  # concurrently with gRPC's grace period
            t.start()
        for t in stoppers:
            t.join()
        stopped.wait()
        self.batcher.close(wait=True)
        self.repository.close()
        self.metrics.stop_http()
        if self._health_port is not None:
            self._health_port.stop()  # last: probes see NOT_SERVING until the end
        self._stopped.set()
        log.info("stopped")

    def wait(self, timeout: float | None = None) -> bool:
        """Block until :meth:`drain` finished (True) or ``timeout`` passed (False)."""
        return self._stopped.wait(timeout)
