"""Serving the page: offline Gradio settings, an HTTP server on a socket we bind, the ready line.

Gradio is mounted on a plain FastAPI app run by uvicorn on a socket bound here, so ``--port 0``
gets a free port without a race, and nothing of ``gr.Blocks.launch`` runs: no share link (and so
no tunnel binary download), no version check, no analytics (also switched off by environment,
set before Gradio is imported), no run history, no MCP server, no server-side rendering.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import os
import shutil
import signal
import socket
import threading
import time

log = logging.getLogger(__name__)

# Set before Gradio (and huggingface_hub, which it imports) is imported: no telemetry, no hub calls.
OFFLINE_ENV = {
    "GRADIO_ANALYTICS_ENABLED": "False",
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "True",  # the spelling Gradio itself sets
    "GRADIO_SSR_MODE": "False",
    "GRADIO_MCP_SERVER": "False",
    "GRADIO_RUN_HISTORY": "False",
}
START_TIMEOUT = 60.0  # seconds for the HTTP server to come up


def go_offline() -> None:
    """Switch off everything in Gradio that would call out (see :data:`OFFLINE_ENV`)."""
    os.environ.update(OFFLINE_ENV)


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def exposure_warning(host: str, port: int, label: str) -> str | None:
    """What to tell the person who binds the page beyond loopback (None on loopback)."""
    if is_loopback(host):
        return None
    return (f"translate ui listens on {host}:{port}, beyond this machine: the page has no login, so anyone who "
            f"reaches that address can run the models of {label}; put an authenticating proxy in front to share it")


def build_app(callbacks):
    """(FastAPI app, Gradio Blocks) serving the page for ``callbacks``."""
    go_offline()
    import gradio as gr
    from fastapi import FastAPI

    from serving.ui.page import CSS, build_page

    page = build_page(callbacks)
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app = gr.mount_gradio_app(app, page, path="/", footer_links=[], run_history=False, ssr_mode=False,
                              mcp_server=False, pwa=False, max_file_size=callbacks.limits.max_upload_bytes,
                              allowed_paths=[], show_error=True, css=CSS)
    # Gradio refuses browser-supplied file paths outside its upload folder only once the Blocks
    # count as launched, which mount_gradio_app (unlike launch) does not set. The callbacks
    # check the folder themselves too (Callbacks._read_upload).
    page.has_launched = True
    return app, page


class PageServer:
    """uvicorn running ``app`` on a socket bound to (host, port) in a background thread."""

    def __init__(self, app) -> None:
        import uvicorn

        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
        self.thread: threading.Thread | None = None
        self.sock: socket.socket | None = None

    def start(self, host: str, port: int) -> int:
        """Bind, serve, wait until it answers; returns the port."""
        from translate.errors import ConfigError

        family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host.strip("[]"), port))
        except OSError as exc:
            sock.close()
            raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose another --port "
                              "(0 picks a free one) or --host") from None
        sock.listen(128)
        self.sock = sock
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, name="translate-ui-http",
                                       daemon=True)
        self.thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the page's HTTP server did not start; see the log above")
            time.sleep(0.02)
        return sock.getsockname()[1]

    def stop(self) -> None:
        """Stop serving (open connections get uvicorn's graceful shutdown)."""
        self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout=10)
        if self.sock is not None:
            self.sock.close()


def page_url(host: str, port: int) -> str:
    """The address to open (the wildcard addresses are opened through loopback)."""
    shown = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host.strip("[]"), host.strip("[]"))
    return f"http://[{shown}]:{port}/" if ":" in shown else f"http://{shown}:{port}/"


def run(args: argparse.Namespace) -> int:
    """``translate ui``: open the source, serve the page until SIGINT/SIGTERM, clean up."""
    from serving.ui.callbacks import make_workdir
    from translate.errors import ConfigError

    if not 0 <= args.port < 65536:
        raise ConfigError(f"--port must be 0..65535 (got {args.port})")
    workdir = make_workdir()
    # Uploads land in a folder of this process only, removed on exit (unless the user chose one).
    os.environ.setdefault("GRADIO_TEMP_DIR", str(workdir / "uploads"))
    go_offline()
    source = server = None
    try:
        from serving.ui.callbacks import Callbacks, PageLimits
        from serving.ui.sources import open_source

        limits = PageLimits.server_defaults(
            max_image_pixels=args.max_image_pixels,
            max_upload_bytes=None if args.max_upload_mb is None else args.max_upload_mb * 2**20)
        source = open_source(models=args.models, server=args.server, tls_ca=args.tls_ca,
                             token_file=args.token_file, device=args.device)
        callbacks = Callbacks(source, limits, workdir / "runs")
        names = callbacks.model_names()  # fails now, with a clear message, if the server cannot be reached
        app, _ = build_app(callbacks)
        server = PageServer(app)
        port = server.start(args.host, args.port)
        warning = exposure_warning(args.host, port, source.label)
        if warning:
            log.warning("%s", warning)
        print(json.dumps({"event": "ui", "url": page_url(args.host, port), "host": args.host, "port": port,
                          "source": source.label, "models": names}), flush=True)
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        while not stop.wait(0.2):
            pass
        return 0
    finally:
        if server is not None:
            server.stop()
        if source is not None:
            source.close()
        shutil.rmtree(workdir, ignore_errors=True)
