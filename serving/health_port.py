"""``--health-port``: plaintext gRPC ``grpc.health.v1`` and HTTP ``GET /healthz`` on one port, for probes.

Kubernetes' gRPC probes cannot speak TLS, so a server whose main port runs TLS needs a plaintext
port that answers health and nothing else. It answers both kinds of probe on one port:

- gRPC (``grpc.health.v1.Health``: Check and Watch, for the whole server ``""`` and per model name),
  served by a real gRPC server that the main server starts with its own health servicer
  (``serve_grpc``), so both ports report the same statuses at every moment (NOT_SERVING from the
  start of a drain), whether the main server runs on threads or on asyncio;
- HTTP/1.1 ``/healthz``, ``/v2/health/live``, ``/v2/health/ready`` (:func:`serving.http.health_app`, uvicorn).

How one port carries both: every gRPC connection opens with the fixed HTTP/2 client preface
(RFC 9113 section 3.4, ``PRI * HTTP/2.0...``; gRPC always uses HTTP/2 with prior knowledge), and an
HTTP/1.1 request never does. The port reads the first bytes of a connection, and relays the
connection unchanged to the internal gRPC server or the internal HTTP server, both listening on
Unix sockets in a private (0700) folder, so no extra TCP port is opened. Parsing stays with the
real servers; this module only compares a prefix and copies bytes.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from serving.http import HttpServer, bind, health_app

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"  # RFC 9113 section 3.4
MAX_CONNECTIONS = 64  # probes are few; more concurrent connections are closed at once
FIRST_BYTES_TIMEOUT = 10.0  # seconds a connection may take to send its first bytes


class HealthPort:
    """The health port. ``start(host, port) -> bound port``, ``stop()``.

    Args:
        serve_grpc: ``serve_grpc(address) -> stop()``: serve the main server's grpc.health.v1 servicer
            (shared, not copied) plaintext on ``address`` (``unix:PATH``); called by :meth:`start`.
        is_serving: ``is_serving(service)`` for the HTTP side.
    """

    def __init__(self, serve_grpc: Callable[[str], Callable[[], None]], is_serving: Callable[[str], bool]) -> None:
        self.serve_grpc = serve_grpc
        self.is_serving = is_serving
        self.port: int | None = None
        self._dir: Path | None = None
        self._stop_grpc: Callable[[], None] | None = None
        self._http: HttpServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._listener: asyncio.AbstractServer | None = None

    def start(self, host: str, port: int) -> int:
        """Start the internal servers and the shared port; returns the bound port."""
        sock = bind(host, port, "--health-port")
        self._dir = Path(tempfile.mkdtemp(prefix="translate-health-"))  # mode 0700
        grpc_path, http_path = str(self._dir / "grpc.sock"), str(self._dir / "http.sock")
        self._stop_grpc = self.serve_grpc(f"unix:{grpc_path}")
        http_sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        http_sock.bind(http_path)
        http_sock.listen(128)
        self._http = HttpServer(health_app(self.is_serving), name="--health-port")
        self._http.serve(http_sock)

        self._loop = asyncio.new_event_loop()
        semaphore = asyncio.Semaphore(MAX_CONNECTIONS)

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            if semaphore.locked():
                writer.close()
                return
            async with semaphore:
                await _relay(reader, writer, grpc_path, http_path)

        async def listen() -> None:
            self._listener = await asyncio.start_server(handle, sock=sock)

        self._loop.run_until_complete(listen())
        self._thread = threading.Thread(target=self._loop.run_forever, name="health-port", daemon=True)
        self._thread.start()
        self.port = sock.getsockname()[1]
        return self.port

    def stop(self) -> None:
        """Close the port and the internal servers."""
        if self._loop is not None and self._thread is not None:
            async def close() -> None:
                self._listener.close()
                for task in asyncio.all_tasks():
                    if task is not asyncio.current_task():
                        task.cancel()

            asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()
            self._loop = None
        if self._http is not None:
            self._http.stop(0)
            self._http = None
        if self._stop_grpc is not None:
            self._stop_grpc()
            self._stop_grpc = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None


async def _relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, grpc_path: str, http_path: str) -> None:
    """Read until the bytes are the HTTP/2 preface or cannot become it; then copy both ways."""
    upstream = None
    try:
        head = b""
        while len(head) < len(PREFACE) and PREFACE.startswith(head):
            chunk = await asyncio.wait_for(reader.read(len(PREFACE) - len(head)), FIRST_BYTES_TIMEOUT)
            if not chunk:
                return
            head += chunk
        up_reader, upstream = await asyncio.open_unix_connection(grpc_path if head == PREFACE else http_path)
        upstream.write(head)
        await asyncio.gather(_copy(reader, upstream), _copy(up_reader, writer))
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError):
        pass
    finally:
        for w in (upstream, writer):
            if w is not None:
                w.close()


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until EOF, then half-close so the other side sees the end too."""
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except OSError:
        writer.close()

