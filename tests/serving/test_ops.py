"""Operating the server: auth, TLS/mTLS, deadlines, back-pressure, cancellation, hot reload,
metrics, health and the SIGTERM drain of the real ``translate serve`` process."""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import grpc
import numpy as np
import pytest
from server_fixtures import local_translate, png_bytes, start_server, tiny_translator, wait_until
from tls_certs import make_pki

from serving.client import (
    AuthenticationError,
    RequestTimeoutError,
    ServerBusyError,
    ServerUnavailableError,
    TranslateClient,
)
from serving.gen import translate_pb2 as pb
from serving.gen import translate_pb2_grpc as pb_grpc
from translate.images import decode_image

ROOT = Path(__file__).resolve().parents[2]


_wait = functools.partial(wait_until, timeout=10.0)  # this file's default


# ----------------------------------------------------------------------------- auth
def test_bearer_tokens(one_model, tmp_path):
    token = "s3cret-token-0123456789abcdef"
    tokens = tmp_path / "tokens.txt"
    tokens.write_text(f"# ops team\n{token}\n\nanother-valid-token-0123456789\n")
    rs = start_server(one_model, auth_tokens=str(tokens))
    try:
        with TranslateClient(rs.address, retries=0) as anonymous:
            assert anonymous.health() == "SERVING"  # health stays open for load balancers
            with pytest.raises(AuthenticationError, match="missing bearer token") as info:
                anonymous.translate(png_bytes(), "m")
            assert info.value.code == grpc.StatusCode.UNAUTHENTICATED
            with pytest.raises(AuthenticationError):
                anonymous.list_models()
        with TranslateClient(rs.address, token="wrong-token-0123456789abcdef", retries=0) as wrong:
            with pytest.raises(AuthenticationError, match="invalid bearer token"):
                wrong.translate(png_bytes(), "m")
            with pytest.raises(AuthenticationError):  # streams are guarded too
                list(wrong.translate_stream([("a", png_bytes())], "m"))
        with TranslateClient(rs.address, token=token, retries=0) as right:
            assert right.translate(png_bytes(), "m").width == 24
            assert [m.name for m in right.list_models()] == ["m"]
    finally:
        rs.server.drain(1)


def test_token_file_with_short_token_is_rejected(one_model, tmp_path):
    from translate.errors import ConfigError

    (tmp_path / "t.txt").write_text("short\n")
    with pytest.raises(ConfigError, match="shorter than 16"):
        start_server(one_model, auth_tokens=str(tmp_path / "t.txt"))


# ----------------------------------------------------------------------------- TLS
def test_tls_and_mutual_tls(one_model, tmp_path):
    pki = make_pki(tmp_path)
    rs = start_server(one_model, tls_cert=str(pki["cert"]), tls_key=str(pki["key"]))
    try:
        with TranslateClient(f"localhost:{rs.port}", tls_ca=pki["ca"], retries=0) as c:
            assert c.translate(png_bytes(), "m").width == 24
        with TranslateClient(rs.address, retries=0, timeout=5) as plaintext:  # no TLS: handshake fails
            with pytest.raises(ServerUnavailableError):
                plaintext.list_models()
    finally:
        rs.server.drain(1)
    rs = start_server(one_model, tls_cert=str(pki["cert"]), tls_key=str(pki["key"]), tls_client_ca=str(pki["ca"]))
    try:
        with TranslateClient(rs.address, tls_ca=pki["ca"], tls_client_cert=pki["client_cert"],
                             tls_client_key=pki["client_key"], retries=0) as c:
            assert c.translate(png_bytes(), "m").height == 20
        with TranslateClient(rs.address, tls_ca=pki["ca"], retries=0, timeout=5) as no_cert:
            with pytest.raises(ServerUnavailableError):  # the server refuses the handshake
                no_cert.list_models()
    finally:
        rs.server.drain(1)


def test_bad_tls_files_are_named_at_start_up(one_model, tmp_path):
    """A bad key or certificate used to surface as "cannot listen ... (port in use or bad host?)"."""
    from translate.errors import ConfigError

    pki = make_pki(tmp_path)
    cert, key, ca = str(pki["cert"]), str(pki["key"]), str(pki["ca"])
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("hello\n")
    cases = {
        "missing file": (dict(tls_cert=str(tmp_path / "nope.pem"), tls_key=key),
                         f"--tls-cert {tmp_path / 'nope.pem'}: cannot read the certificate"),
        "cert not PEM": (dict(tls_cert=str(garbage), tls_key=key), f"--tls-cert {garbage}: not a PEM certificate"),
        "key not PEM": (dict(tls_cert=cert, tls_key=str(garbage)), f"--tls-key {garbage}: not a PEM private key"),
        "swapped": (dict(tls_cert=key, tls_key=cert), "are --tls-cert and --tls-key swapped"),
        "wrong key": (dict(tls_cert=cert, tls_key=str(pki["other_key"])),
                      f"--tls-key {pki['other_key']} does not belong to the certificate in --tls-cert {cert}"),
        "CA not PEM": (dict(tls_cert=cert, tls_key=key, tls_client_ca=str(garbage)),
                       f"--tls-client-ca {garbage}: not a PEM certificate bundle"),
    }
    for case, (files, message) in cases.items():
        with pytest.raises(ConfigError) as info:
            start_server(one_model, **files)
        assert message in str(info.value), (case, str(info.value))
    (tmp_path / "old").mkdir()
    expired = make_pki(tmp_path / "old", valid_days=-2)
    with pytest.raises(ConfigError, match=r"--tls-cert .*server.pem: the certificate expired on \d{4}-"):
        start_server(one_model, tls_cert=str(expired["cert"]), tls_key=str(expired["key"]))
    # the CLI: exit status 2 and the message, before any model is loaded
    proc = subprocess.run([sys.executable, "-m", "translate.cli", "serve", "--models", str(one_model), "--port", "0",
                           "--tls-cert", cert, "--tls-key", str(pki["other_key"])],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 2 and "does not belong to the certificate" in proc.stderr, proc.stderr[-2000:]
    rs = start_server(one_model, tls_cert=cert, tls_key=key, tls_client_ca=ca)  # the right files still start
    rs.server.drain(1)


# ----------------------------------------------------------------------------- time and load
def test_deadline_expired_in_queue_is_dropped_before_compute(one_model):
    rs = start_server(one_model, max_batch=4, batch_timeout_ms=6000)  # a lone request waits 6 s for company
    try:
        with TranslateClient(rs.address, retries=0) as c:
            # 2 s: reaches the server's handler even on a heavily loaded machine (a call whose deadline
            # passes before the handler runs is cancelled by gRPC and never queued), yet the lone
            # request still waits in the 6 s batch window, so it can only leave by expiring
            with pytest.raises(RequestTimeoutError):
                c.translate(png_bytes(), "m", timeout=2.0)
        _wait(lambda: rs.server.batcher.expired == 1, timeout=15.0, what="the expired request to be dropped")
        assert rs.server.metrics.value("translate_images_total", {"model": "m"}) == 0  # never computed
        assert rs.server.batcher.queued("m") == 0
    finally:
        rs.server.drain(1)


def test_queue_full_and_cancel_frees_slot(one_model):
    rs = start_server(one_model, max_batch=8, max_queue=2, batch_timeout_ms=3000)
    try:
        with grpc.insecure_channel(rs.address) as ch:
            stub = pb_grpc.TranslateServiceStub(ch)
            req = pb.TranslateRequest(model="m", image=png_bytes())
            waiting = [stub.Translate.future(req, timeout=30) for _ in range(2)]
            _wait(lambda: rs.server.batcher.queued("m") == 2, what="two queued requests")
            with TranslateClient(rs.address, retries=0) as c:
                with pytest.raises(ServerBusyError, match="2 requests waiting \\(--max-queue\\)"):
                    c.translate(png_bytes(), "m")
            waiting[0].cancel()  # the client goes away: its slot must free up
            _wait(lambda: rs.server.batcher.queued("m") == 1, what="the cancelled request to leave the queue")
            waiting.append(stub.Translate.future(req, timeout=30))
            _wait(lambda: rs.server.batcher.queued("m") == 2, what="the slot to be reused")
            for f in waiting[1:]:
                assert f.result().width == 24  # both run together when the batch window closes
    finally:
        rs.server.drain(1)


def test_configured_size_limits_name_the_limit(one_model):
    from serving.client import InvalidInputError, MessageTooLargeError

    rs = start_server(one_model, max_message_mb=1, max_image_pixels=100)
    try:
        with TranslateClient(rs.address, retries=0) as c:
            with pytest.raises(MessageTooLargeError, match="1048576") as info:
                c.translate(b"\x89PNG" + bytes(2 * 2**20), "m")
            assert info.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
            with pytest.raises(InvalidInputError, match="480 pixels, over the limit of 100 pixels"):
                c.translate(png_bytes(20, 24), "m")
            assert c.translate(png_bytes(8, 8), "m").width == 8 and c.health() == "SERVING"
    finally:
        rs.server.drain(1)


# ----------------------------------------------------------------------------- hot reload
def test_hot_reload_under_traffic(one_model):
    rs = start_server(one_model, reload_interval=0.1)
    data = png_bytes(16, 16, seed=5)
    ref = {1: local_translate(one_model / "m" / "1" / "model.onnx", data).pixels}
    seen, errors, stop = [], [], threading.Event()

    def traffic():
        with TranslateClient(rs.address, retries=0) as c:
            while not stop.is_set():
                try:
                    r = c.translate(data, "m")
                    seen.append((r.version, decode_image(r.image).pixels))
                except Exception as exc:  # any error under reload is a failure
                    errors.append(exc)

    threads = [threading.Thread(target=traffic) for _ in range(3)]
    try:
        for t in threads:
            t.start()
        _wait(lambda: len(seen) > 5, what="traffic")
        old = rs.server.repository.record("m").current
        tiny_translator(one_model / "m" / "2" / "model.onnx", seed=2)
        ref[2] = local_translate(one_model / "m" / "2" / "model.onnx", data).pixels
        _wait(lambda: rs.server.repository.record("m").current.version == 2, what="version 2")
        n = len(seen)
        _wait(lambda: len(seen) > n + 5, what="traffic on version 2")
        # a broken version 3 is logged and skipped; version 2 keeps serving
        (one_model / "m" / "3").mkdir()
        (one_model / "m" / "3" / "model.onnx").write_bytes(b"garbage")
        _wait(lambda: "version 3 failed" in rs.server.repository.record("m").error, what="v3 failure")
        n = len(seen)
        _wait(lambda: len(seen) > n + 3, what="traffic after the broken version")
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    try:
        assert not errors, errors[:3]
        assert {v for v, _ in seen} == {1, 2} and seen[-1][0] == 2
        assert all(np.array_equal(px, ref[v]) for v, px in seen)  # every answer is exactly one version's
        assert old.closed and old.inflight == 0  # v1 unloaded once its requests finished
        with TranslateClient(rs.address) as c:
            assert c.health("m") == "SERVING" and c.get_model("m").available_versions == [1, 2, 3]
    finally:
        rs.server.drain(1)


# ----------------------------------------------------------------------------- metrics
def test_prometheus_metrics_over_http(one_model):
    rs = start_server(one_model, metrics_port=0)
    try:
        with TranslateClient(rs.address, retries=0) as c:
            c.translate(png_bytes(), "m")
            with pytest.raises(Exception):  # noqa: B017 - any error; the metric label is what matters
                c.translate(b"nope", "m")
        text = urllib.request.urlopen(f"http://127.0.0.1:{rs.server.metrics_port}/metrics", timeout=5).read().decode()
        assert 'translate_requests_total{code="OK",method="Translate",model="m"} 1.0' in text
        assert 'translate_requests_total{code="INVALID_ARGUMENT",method="Translate",model="m"} 1.0' in text
        assert "translate_models_loaded 1.0" in text
        assert 'translate_images_total{model="m"} 1.0' in text
        for name in ("translate_request_latency_seconds_bucket", "translate_queue_wait_seconds_bucket",
                     "translate_batch_size_bucket"):
            assert name in text
    finally:
        rs.server.drain(1)


# ----------------------------------------------------------------------------- SIGTERM
def test_sigterm_drains_in_flight_calls_and_exits_0(one_model):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "translate.cli", "serve", "--models", str(one_model), "--port", "0",
           "--max-batch", "8", "--batch-timeout-ms", "1500", "--drain-delay", "0.5", "--grace", "10",
           "--intra-op-threads", "1", "--reload", "off"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        line = proc.stdout.readline()
        ready = json.loads(line)
        assert ready["event"] == "serving" and ready["models"] == ["m"]
        address = f"127.0.0.1:{ready['port']}"
        with grpc.insecure_channel(address) as ch:
            in_flight = pb_grpc.TranslateServiceStub(ch).Translate.future(
                pb.TranslateRequest(model="m", image=png_bytes()), timeout=30)  # waits 1.5 s in the batch queue
            with TranslateClient(address, retries=0) as c:
                _wait(lambda: c.health() == "SERVING", what="server up")
                time.sleep(0.2)
                proc.send_signal(signal.SIGTERM)
                _wait(lambda: c.health() == "NOT_SERVING", timeout=5, what="health NOT_SERVING")
            assert in_flight.result().width == 24  # finished within the grace period
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    log = proc.stderr.read()
    lines = [json.loads(x) for x in log.splitlines() if x.startswith("{")]
    assert any(x["method"] == "Translate" and x["code"] == "OK" and x["request_id"] for x in lines), log[-2000:]
