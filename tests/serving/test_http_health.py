"""``--health-port`` (plaintext gRPC health and HTTP /healthz on one port) and ``translate serve --http-port``.

The main port runs TLS with tokens, as in a deployment; the health port must still answer plaintext
gRPC probes (Kubernetes' grpc probes cannot speak TLS) and HTTP probes, mirror the main server's
statuses through a drain, and serve nothing but health.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import ssl
import subprocess
import sys
import threading
from pathlib import Path

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from server_fixtures import png_bytes, start_server, tiny_translator, wait_until
from tls_certs import make_pki

from translate.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "health-port-token-0123456789"


def _check(port: int, service: str = "") -> str:
    """grpc.health.v1 Check over a plaintext channel -> status name (NOT_FOUND for unknown services)."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        try:
            res = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
        except grpc.RpcError as exc:
            return exc.code().name
    return health_pb2.HealthCheckResponse.ServingStatus.Name(res.status)


def _queued(metrics_port: int) -> float:
    text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith("translate_queue_depth{"))


_wait = functools.partial(wait_until, timeout=15.0)  # this file's default


@pytest.fixture()
def secured(tmp_path):
    tiny_translator(tmp_path / "models" / "m" / "1" / "model.onnx", seed=1)
    pki = make_pki(tmp_path)
    (tmp_path / "tokens").write_text(TOKEN + "\n")
    return tmp_path, pki


def test_health_port_answers_plaintext_grpc_and_http_while_the_main_port_runs_tls(secured):
    tmp_path, pki = secured
    rs = start_server(tmp_path / "models", health_port=0, tls_cert=str(pki["cert"]), tls_key=str(pki["key"]),
                      auth_tokens=str(tmp_path / "tokens"))
    port = rs.server.health_port
    try:
        assert port and port != rs.port
        assert _check(rs.port) == "UNAVAILABLE"  # plaintext to the TLS main port: no answer there
        assert (_check(port), _check(port, "m"), _check(port, "nope")) == ("SERVING", "SERVING", "NOT_FOUND")
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            assert http.get("/healthz").json() == {"status": "SERVING"}
            assert http.get("/healthz", params={"service": "m"}).status_code == 200
            assert http.get("/v2/health/ready").status_code == 200
            assert http.post("/v1/models/m:translate", content=png_bytes()).status_code == 404  # health only
            assert http.get("/v2/models/m").status_code == 404
            with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:  # gRPC and HTTP connections side by side
                stub = health_pb2_grpc.HealthStub(ch)
                for _ in range(3):
                    assert stub.Check(health_pb2.HealthCheckRequest(), timeout=10).status == 1
                    assert http.get("/healthz").status_code == 200
            rs.server.mark_not_serving()  # what a drain does first
            assert _check(port) == "NOT_SERVING" and _check(port, "m") == "NOT_SERVING"
            r = http.get("/healthz")
            assert r.status_code == 503 and r.json() == {"status": "NOT_SERVING"}
            assert http.get("/v2/health/ready").status_code == 503
    finally:
        rs.server.drain(1)
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)  # closed with the server


def test_health_port_watch_follows_model_changes(tmp_path):
    tiny_translator(tmp_path / "m" / "1" / "model.onnx", seed=1)
    rs = start_server(tmp_path, health_port=0)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{rs.server.health_port}") as ch:
            watch = health_pb2_grpc.HealthStub(ch).Watch(health_pb2.HealthCheckRequest(service="m"), timeout=30)
            assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
            rs.server._model_changed("m", False)  # as a failed reload does
            assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
            watch.cancel()
    finally:
        rs.server.drain(1)


def test_ports_in_use_are_refused_clearly(tmp_path):
    tiny_translator(tmp_path / "m" / "1" / "model.onnx", seed=1)
    rs = start_server(tmp_path, http_port=0, health_port=0)
    try:
        for flag in ("http_port", "health_port"):
            with pytest.raises(ConfigError, match="cannot listen on 127.0.0.1:.* for --"):
                start_server(tmp_path, port=0, **{flag: getattr(rs.server, flag)}).server.drain(0)
        with pytest.raises(ConfigError, match="--http-port must be 0..65535"):
            start_server(tmp_path, http_port=70000)
    finally:
        rs.server.drain(1)


def test_translate_serve_with_http_and_health_ports_tls_tokens_and_sigterm(secured):
    """The deployment's command line: TLS + tokens on gRPC and HTTP, plaintext probes on the health port."""
    tmp_path, pki = secured
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "translate.cli", "serve", "--models", str(tmp_path / "models"), "--port", "0",
           "--http-port", "0", "--health-port", "0", "--tls-cert", str(pki["cert"]), "--tls-key", str(pki["key"]),
           "--auth-tokens", str(tmp_path / "tokens"), "--metrics-port", "0", "--batch-timeout-ms", "2000",
           "--drain-delay", "0.5", "--grace", "10", "--intra-op-threads", "1", "--reload", "off"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        ready = json.loads(proc.stdout.readline())
        assert ready["event"] == "serving" and ready["tls"] and ready["auth"]
        http_port, health_port = ready["http_port"], ready["health_port"]
        assert len({ready["port"], http_port, health_port}) == 3
        assert _check(health_port) == "SERVING"
        assert httpx.get(f"http://127.0.0.1:{health_port}/healthz", timeout=10).status_code == 200
        trust = ssl.create_default_context(cafile=str(pki["ca"]))
        with httpx.Client(base_url=f"https://localhost:{http_port}", verify=trust, timeout=30,
                          headers={"Authorization": f"Bearer {TOKEN}"}) as https:
            assert https.get("/v2/health/ready").status_code == 200
            result = {}

            def in_flight():  # waits 2 s in the batch window; SIGTERM arrives meanwhile
                result["r"] = https.post("/v1/models/m:translate", content=png_bytes())

            t = threading.Thread(target=in_flight)
            t.start()
            _wait(lambda: _queued(ready["metrics_port"]) == 1, what="the request to wait in the batch window")
            proc.send_signal(signal.SIGTERM)
            t.join(30)
            assert result["r"].status_code == 200 and result["r"].headers["x-model"] == "m"  # finished in the grace
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    lines = [json.loads(x) for x in proc.stderr.read().splitlines() if x.startswith("{")]
    assert any(x["method"] == "http/Translate" and x["code"] == "OK" and x["http_status"] == 200 for x in lines)
