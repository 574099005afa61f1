"""`translate ui` as an HTTP server (no browser): offline, limits, no file paths from the client.

The page is served in this process on port 0 and called over real HTTP the way the page's
JavaScript calls it (Gradio's upload and queue routes). The command itself (a subprocess, its
ready line, SIGTERM) and the page in a real browser are tested in test_ui_browser.py.
"""

from __future__ import annotations

import ipaddress
import socket
import subprocess
import sys

import numpy as np
import pytest

gr = pytest.importorskip("gradio", reason="the ui extra is not installed: pip install 'translate[ui]'")

import httpx  # noqa: E402  (installed with gradio)
from server_fixtures import local_translate, make_repo, png_bytes  # noqa: E402

from serving.ui.app import (  # noqa: E402
    OFFLINE_ENV,
    PageServer,
    build_app,
    exposure_warning,
    is_loopback,
    page_url,
    run,
)
from serving.ui.callbacks import Callbacks, PageLimits  # noqa: E402
from serving.ui.sources import RepositorySource  # noqa: E402
from translate.images import decode_image  # noqa: E402


def _loopback(address) -> bool:
    if isinstance(address, str):  # a Unix socket path
        return True
    try:
        return ipaddress.ip_address(address[0]).is_loopback
    except ValueError:
        return address[0] == "localhost"


@pytest.fixture
def page(tmp_path, monkeypatch):
    """The page over make_repo's models on 127.0.0.1:0, with every outgoing connection recorded."""
    connects = []
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def connect(self, address):
        connects.append(address)
        return real_connect(self, address)

    def connect_ex(self, address):
        connects.append(address)
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "uploads"))
    for key in OFFLINE_ENV:
        monkeypatch.delenv(key, raising=False)  # build_app must set them itself
    repo = make_repo(tmp_path / "models")
    source = RepositorySource(repo)
    cb = Callbacks(source, PageLimits.server_defaults(max_upload_bytes=4000), tmp_path / "work")
    app, blocks = build_app(cb)
    server = PageServer(app)
    port = server.start("127.0.0.1", 0)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
    yield client, blocks, repo, connects, tmp_path
    client.close()
    server.stop()
    source.close()


def _call(client, name: str, data: list) -> tuple[str, str]:
    """(event, data) of one call through Gradio's queue, as the page's JavaScript makes it."""
    event_id = client.post(f"/gradio_api/call/{name}", json={"data": data}).json()["event_id"]
    lines = [ln for ln in client.get(f"/gradio_api/call/{name}/{event_id}").text.splitlines() if ln]
    events = [ln.split(": ", 1)[1] for ln in lines if ln.startswith("event: ")]
    payloads = [ln.split(": ", 1)[1] for ln in lines if ln.startswith("data: ")]
    return events[-1], payloads[-1]


def _file(path: str) -> dict:
    return {"path": path, "meta": {"_type": "gradio.FileData"}}


def test_page_runs_offline_and_takes_no_paths_from_the_client(page):
    import json

    client, blocks, repo, connects, tmp_path = page
    assert client.get("/").status_code == 200
    assert blocks.analytics_enabled is False and all(
        __import__("os").environ[k] == v for k, v in OFFLINE_ENV.items())

    # a path that the client names instead of uploading is refused, and nothing is computed
    secret = tmp_path / "secret.png"
    secret.write_bytes(png_bytes())
    event, data = _call(client, "translate", ["photo2art", "", [_file(str(secret))], None, None])
    assert event == "error" and "not uploaded" in data
    assert not any((tmp_path / "work").rglob("*.png"))
    assert client.get(f"/gradio_api/file={secret}").status_code == 403  # nor served
    assert client.get("/gradio_api/file=/etc/hostname").status_code == 403

    # uploads over the limit are refused by the upload route itself
    big = client.post("/gradio_api/upload", files=[("files", ("big.png", png_bytes(120, 120), "image/png"))])
    assert big.status_code == 413

    # an uploaded image goes through, and the file the page links to holds translate run's pixels
    data = png_bytes(30, 26, seed=2)
    uploaded = client.post("/gradio_api/upload", files=[("files", ("a.png", data, "image/png"))]).json()[0]
    event, out = _call(client, "translate", ["photo2art", "", [_file(uploaded)], None, None])
    assert event == "complete", out
    result = json.loads(out)[1]  # the Output image component's value
    got = decode_image(client.get(result["url"]).content).pixels
    want = local_translate(repo / "photo2art" / "1" / "model.onnx", data).pixels
    assert np.array_equal(got, want)

    # a model name is looked up, never joined onto a path
    event, data = _call(client, "translate", ["../models/photo2art", "", [_file(uploaded)], None, None])
    assert event == "error"

    outside = [a for a in connects if not _loopback(a)]
    assert outside == [], f"translate ui connected beyond this machine: {outside}"


def test_loopback_and_urls():
    assert is_loopback("127.0.0.1") and is_loopback("127.8.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4") and not is_loopback("example.org")
    assert exposure_warning("127.0.0.1", 7860, "repository models") is None
    warning = exposure_warning("0.0.0.0", 7860, "repository models")
    assert "0.0.0.0:7860" in warning and "no login" in warning and "repository models" in warning
    assert page_url("0.0.0.0", 80) == "http://127.0.0.1:80/" and page_url("::", 8) == "http://[::1]:8/"
    assert page_url("127.0.0.1", 7860) == "http://127.0.0.1:7860/"


def test_parser_imports_no_gradio():
    code = ("import sys; from translate.cli import build_parser; build_parser(); "
            "print(sorted(m for m in ('gradio', 'fastapi', 'grpc') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr


def test_without_the_extra_the_command_says_what_to_install(tmp_path):
    code = ("import sys; sys.modules['gradio'] = None; from translate.cli import main; "
            f"sys.exit(main(['ui', '--models', {str(tmp_path)!r}]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 2, out.stderr
    assert "pip install 'translate[ui]'" in out.stderr and "Traceback" not in out.stderr


def test_an_unreachable_server_fails_at_start_with_its_message(tmp_path, monkeypatch):
    import argparse

    import serving.ui.callbacks
    from translate.errors import ModelError

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "uploads"))
    for key, value in OFFLINE_ENV.items():
        monkeypatch.setenv(key, value)  # run() sets them; restored after the test
    made = []
    real = serving.ui.callbacks.make_workdir
    monkeypatch.setattr(serving.ui.callbacks, "make_workdir", lambda: made.append(real()) or made[-1])
    args = argparse.Namespace(models=None, server="127.0.0.1:1", tls_ca=None, token_file=None, host="127.0.0.1",
                              port=0, device="auto", max_image_pixels=None, max_upload_mb=None)
    with pytest.raises(ModelError, match="UNAVAILABLE"):
        run(args)
    assert len(made) == 1 and not made[0].exists(), "the scratch folder must be removed on the way out"
