"""The plain image endpoints as a person uses them with curl: image bytes in, image bytes out.

Real servers on port 0 (gRPC and HTTP on one engine); answers are compared with the domain
service's Translate/Generate over gRPC (the same bytes), and every bad input class of the gRPC
tests gets its HTTP status and the same message. Auth, TLS/mTLS, limits, deadlines, cancellation
and idle connections are checked on servers started for them.
"""

from __future__ import annotations

import functools
import gzip
import socket
import ssl

import httpx
import numpy as np
import pytest
from server_fixtures import make_repo, png_bytes, start_server, tiny_translator, wait_until
from tls_certs import make_pki

from serving.client import TranslateClient
from translate.images import decode_image


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    rs = start_server(make_repo(tmp_path_factory.mktemp("images")), http_port=0)
    yield rs
    rs.server.drain(1)


@pytest.fixture(scope="module")
def http(running):
    with httpx.Client(base_url=f"http://127.0.0.1:{running.server.http_port}", timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def domain(running):
    with TranslateClient(running.address, retries=0, timeout=60) as client:
        yield client


_wait = functools.partial(wait_until, timeout=15.0)  # this file's default


# ----------------------------------------------------------------------------- translate
@pytest.mark.parametrize("model, params", [
    ("photo2art", {}),
    ("photo2art", {"format": "jpeg", "quality": "80"}),
    ("photo2art", {"format": "webp"}),
    ("grey", {}),
    ("sr", {"version": "1"}),
    ("photo2art", {"tiling": "always", "tile_size": "16", "overlap": "4"}),
])
def test_translate_returns_the_bytes_translate_v1_returns(http, domain, model, params):
    image = png_bytes(20, 24, seed=3)
    r = http.post(f"/v1/models/{model}:translate", params=params, content=image,
                  headers={"Content-Type": "image/png"})
    assert r.status_code == 200, r.text
    kwargs = {k: (int(v) if v.isdigit() else v) for k, v in params.items() if k != "format"}
    ref = domain.translate(image, model, output_format=params.get("format", ""), **kwargs)
    assert r.content == ref.image  # the same engine, the same encoder: byte for byte
    assert r.headers["content-type"] == f"image/{ref.format}"
    assert (r.headers["x-model"], r.headers["x-model-version"]) == (model, "1")
    assert r.headers["x-tiled"] == str(ref.tiled).lower() == str(params.get("tiling") == "always").lower()
    assert (int(r.headers["x-image-width"]), int(r.headers["x-image-height"])) == (ref.width, ref.height)


# ----------------------------------------------------------------------------- generate
def test_generate_one_image_and_a_grid(http, domain):
    one = http.post("/v1/models/faces:generate", params={"seeds": "7"})
    assert one.status_code == 200 and one.headers["content-type"] == "image/png"
    assert one.content == domain.generate("faces", seeds=[7])[0].image
    assert one.headers["x-seeds"] == "7" and "x-grid-columns" not in one.headers
    grid = http.post("/v1/models/faces:generate", json={"count": 3, "first_seed": 4})  # 3 images: a 2x2 grid
    assert grid.status_code == 200 and (grid.headers["x-seeds"], grid.headers["x-grid-columns"]) == ("4,5,6", "2")
    sheet = decode_image(grid.content).pixels
    assert sheet.shape == (8 * 2 + 2, 8 * 2 + 2, 3)  # 8-pixel samples, 2-pixel gaps
    for k, g in enumerate(domain.generate("faces", count=3, first_seed=4)):
        r, c = divmod(k, 2)
        assert np.array_equal(sheet[r * 10:r * 10 + 8, c * 10:c * 10 + 8], decode_image(g.image).pixels)
    row = http.get("/v1/models/digits:generate", params={"seeds": "1-3", "label": "2", "grid": "3"})
    assert row.status_code == 200 and decode_image(row.content).pixels.shape == (8, 3 * 8 + 2 * 2, 3)
    assert row.headers["x-grid-columns"] == "3"
    labelled = http.post("/v1/models/digits:generate", json={"seeds": [5], "label": 1, "format": "webp"})
    assert labelled.content == domain.generate("digits", seeds=[5], label=1, output_format="webp")[0].image


# ----------------------------------------------------------------------------- bad input, as over gRPC
BAD = {  # case -> (path, params, body, status, message)
    "corrupt image": ("/v1/models/photo2art:translate", {}, b"\x89PNG\r\n\x1a\n garbage", 400, "corrupt image"),
    "empty body": ("/v1/models/photo2art:translate", {}, b"", 400, "no image bytes"),
    "not an image": ("/v1/models/photo2art:translate", {}, b"hello", 400, "not"),
    "generator on translate": ("/v1/models/faces:translate", {}, png_bytes(), 400, "unconditional generator"),
    "translator on generate": ("/v1/models/photo2art:generate", {"seeds": "1"}, b"", 400, "is a translate model"),
    "unknown model": ("/v1/models/nope:translate", {}, png_bytes(), 404, "no model named 'nope'"),
    "unknown version": ("/v1/models/photo2art:translate", {"version": "7"}, png_bytes(), 404, "no version 7"),
    "version text": ("/v1/models/photo2art:translate", {"version": "latest"}, png_bytes(), 400, "version number"),
    "broken model": ("/v1/models/broken:translate", {}, png_bytes(), 503, "failed to load"),
    "format": ("/v1/models/photo2art:translate", {"format": "gif"}, png_bytes(), 400, "unknown output format 'gif'"),
    "tiling": ("/v1/models/photo2art:translate", {"tiling": "sometimes"}, png_bytes(), 400, "tiling must be"),
    "overlap": ("/v1/models/photo2art:translate", {"tiling": "always", "tile_size": "8", "overlap": "8"},
                png_bytes(), 400, "overlap"),
    "quality": ("/v1/models/photo2art:translate", {"quality": "high"}, png_bytes(), 400,
                "'quality' must be an integer"),
    "typo": ("/v1/models/photo2art:translate", {"formt": "png"}, png_bytes(), 400, "unknown parameter 'formt'"),
    "too many images": ("/v1/models/faces:generate", {"count": "65"}, b"", 400, "asked for 65 images"),
    "huge count": ("/v1/models/faces:generate", {"count": str(2**32 - 1)}, b"", 400, "one call makes 1 to 64"),
    "seed range": ("/v1/models/faces:generate", {"count": "2", "first_seed": str(2**63 - 1)}, b"", 400, "0.."),
    "seeds and count": ("/v1/models/faces:generate", {"seeds": "1", "count": "2"}, b"", 400, "not both"),
    "no seeds": ("/v1/models/faces:generate", {}, b"", 400, "give either seeds"),
    "label missing": ("/v1/models/digits:generate", {"seeds": "1"}, b"", 400, "class-conditional"),
    "label range": ("/v1/models/digits:generate", {"seeds": "1", "label": "3"}, b"", 400, "out of range"),
    "label name": ("/v1/models/digits:generate", {"seeds": "1", "label": "cat"}, b"", 400, "class number"),
    "truncation": ("/v1/models/faces:generate", {"seeds": "1", "truncation": "0"}, b"", 400, "truncation psi"),
    "json body": ("/v1/models/faces:generate", {}, b"[1, 2]", 400, "JSON object"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_gets_its_status_and_a_reason(http, case):
    path, params, body, status, message = BAD[case]
    r = http.post(path, params=params, content=body)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json" and message in r.json()["error"], r.text
    assert http.get("/v2/health/ready").status_code == 200


def test_same_message_as_translate_v1_for_a_corrupt_image(http, domain):
    from serving.client import InvalidInputError

    data = png_bytes()[:40]  # truncated
    with pytest.raises(InvalidInputError) as info:
        domain.translate(data, "photo2art")
    r = http.post("/v1/models/photo2art:translate", content=data)
    assert r.status_code == 400 and info.value.details.endswith(": " + r.json()["error"])  # client adds the code


def test_multipart_upload_is_explained(http):
    r = http.post("/v1/models/photo2art:translate", files={"image": ("in.png", png_bytes(), "image/png")})
    assert r.status_code == 400 and "--data-binary" in r.json()["error"]


# ----------------------------------------------------------------------------- limits
def test_size_limits_are_413_and_400_with_the_limit_named(tmp_path):
    tiny_translator(tmp_path / "m" / "1" / "model.onnx", seed=1)
    rs = start_server(tmp_path, http_port=0, max_message_mb=1, max_image_pixels=100)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{rs.server.http_port}", timeout=60) as http:
            big = b"\x89PNG" + bytes(2**20)
            r = http.post("/v1/models/m:translate", content=big)
            assert r.status_code == 413 and "over the 1 MB message limit (--max-message-mb)" in r.json()["error"]

            def chunks():  # no Content-Length: refused while streaming in
                for _ in range(5):
                    yield bytes(300 * 1024)

            r = http.post("/v1/models/m:translate", content=chunks())
            assert r.status_code == 413 and "message limit" in r.json()["error"]
            bomb = gzip.compress(bytes(2**20 + 1024))  # 1 KB on the wire, over the limit once inflated
            r = http.post("/v2/models/m/infer", content=bomb, headers={"Content-Encoding": "gzip"})
            assert r.status_code == 413 and "decompresses to more than the 1 MB message limit" in r.json()["error"]
            r = http.post("/v1/models/m:translate", content=png_bytes(20, 24))
            assert r.status_code == 400 and "480 pixels, over the limit of 100 pixels" in r.json()["error"]
            r = http.post("/v1/models/m:translate", content=png_bytes(8, 8))
            assert r.status_code == 200 and decode_image(r.content).width == 8
    finally:
        rs.server.drain(1)


# ----------------------------------------------------------------------------- auth and TLS
def test_bearer_tokens_and_open_probes(tmp_path):
    tiny_translator(tmp_path / "models" / "m" / "1" / "model.onnx", seed=1)
    token = "http-token-0123456789abcdef"
    (tmp_path / "tokens").write_text(f"{token}\n")
    rs = start_server(tmp_path / "models", http_port=0, auth_tokens=str(tmp_path / "tokens"))
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{rs.server.http_port}", timeout=60) as http:
            for path in ("/healthz", "/v2/health/live", "/v2/health/ready", "/v2/models/m/ready"):
                assert http.get(path).status_code == 200, path  # probes carry no token, as on gRPC
            missing = http.post("/v1/models/m:translate", content=png_bytes())
            assert missing.status_code == 401 and missing.headers["www-authenticate"] == 'Bearer realm="translate"'
            assert missing.json()["error"] == "missing bearer token: send header 'authorization: Bearer <token>'"
            wrong = http.post("/v1/models/m:translate", content=png_bytes(),
                              headers={"Authorization": "Bearer wrong-token-0123456789"})
            assert wrong.status_code == 401 and 'error="invalid_token"' in wrong.headers["www-authenticate"]
            assert wrong.json()["error"] == "invalid bearer token"
            for path in ("/v2", "/v2/models/m", "/v2/models/m/config"):
                assert http.get(path).status_code == 401, path
            ok = http.post("/v1/models/m:translate", content=png_bytes(), headers={"Authorization": f"Bearer {token}"})
            assert ok.status_code == 200 and decode_image(ok.content).width == 24
            assert http.get("/v2", headers={"Authorization": f"bearer {token}"}).json()["name"] == "translate"
        assert rs.server.metrics.value("translate_requests_total", {"method": "http/Translate", "model": "m",
                                                                    "code": "UNAUTHENTICATED"}) == 2
    finally:
        rs.server.drain(1)


def test_tls_and_mutual_tls_from_the_grpc_flags(tmp_path):
    import tritonclient.http as th

    tiny_translator(tmp_path / "models" / "m" / "1" / "model.onnx", seed=1)
    pki = make_pki(tmp_path)
    rs = start_server(tmp_path / "models", http_port=0, tls_cert=str(pki["cert"]), tls_key=str(pki["key"]))
    try:
        port = rs.server.http_port
        trust = ssl.create_default_context(cafile=str(pki["ca"]))
        with httpx.Client(base_url=f"https://localhost:{port}", verify=trust, timeout=60) as https:
            r = https.post("/v1/models/m:translate", content=png_bytes())
            assert r.status_code == 200 and decode_image(r.content).height == 20
        with pytest.raises(httpx.HTTPError):  # plaintext HTTP to the TLS port
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
        client = th.InferenceServerClient(f"localhost:{port}", ssl=True, ssl_options={"ca_certs": str(pki["ca"])})
        try:
            assert client.is_server_ready() and client.get_model_metadata("m")["name"] == "m"
        finally:
            client.close()
    finally:
        rs.server.drain(1)
    rs = start_server(tmp_path / "models", http_port=0, tls_cert=str(pki["cert"]), tls_key=str(pki["key"]),
                      tls_client_ca=str(pki["ca"]))
    try:
        url = f"https://localhost:{rs.server.http_port}/healthz"
        with_cert = ssl.create_default_context(cafile=str(pki["ca"]))
        with_cert.load_cert_chain(str(pki["client_cert"]), str(pki["client_key"]))
        assert httpx.get(url, verify=with_cert, timeout=10).status_code == 200
        with pytest.raises(httpx.HTTPError):  # no client certificate: the handshake is refused
            httpx.get(url, verify=ssl.create_default_context(cafile=str(pki["ca"])), timeout=10)
    finally:
        rs.server.drain(1)


# ----------------------------------------------------------------------------- time and load
def test_deadline_header_and_disconnect_drop_queued_work(tmp_path):
    tiny_translator(tmp_path / "m" / "1" / "model.onnx", seed=1)
    rs = start_server(tmp_path, http_port=0, max_batch=4, batch_timeout_ms=8000)  # a lone request waits 8 s
    base = f"http://127.0.0.1:{rs.server.http_port}"
    try:
        r = httpx.post(f"{base}/v1/models/m:translate", content=png_bytes(), headers={"X-Request-Timeout": "1.5"},
                       timeout=30)
        assert r.status_code == 504, r.text
        assert rs.server.batcher.expired == 1
        bad = httpx.post(f"{base}/v1/models/m:translate", content=png_bytes(), headers={"X-Request-Timeout": "soon"})
        assert bad.status_code == 400 and "X-Request-Timeout" in bad.json()["error"]
        with pytest.raises(httpx.ReadTimeout):  # the client gives up while its request waits in the batch window
            httpx.post(f"{base}/v1/models/m:translate", content=png_bytes(), timeout=1.5)
        _wait(lambda: rs.server.metrics.value("translate_requests_total", {
            "method": "http/Translate", "model": "m", "code": "CANCELLED"}) == 1, what="the cancel to be recorded")
        assert rs.server.batcher.queued("m") == 0  # left the queue before the window closed
        assert rs.server.metrics.value("translate_images_total", {"model": "m"}) == 0  # nothing was computed
    finally:
        rs.server.drain(1)


def test_full_queue_is_429_with_retry_after(tmp_path):
    import threading

    tiny_translator(tmp_path / "m" / "1" / "model.onnx", seed=1)
    rs = start_server(tmp_path, http_port=0, max_batch=8, max_queue=2, batch_timeout_ms=2000)
    url = f"http://127.0.0.1:{rs.server.http_port}/v1/models/m:translate"
    results = []
    try:
        waiting = [threading.Thread(target=lambda: results.append(httpx.post(url, content=png_bytes(), timeout=60)))
                   for _ in range(2)]
        for t in waiting:
            t.start()
        _wait(lambda: rs.server.batcher.queued("m") == 2, what="two queued requests")
        busy = httpx.post(url, content=png_bytes(), timeout=60)
        assert busy.status_code == 429 and busy.headers["retry-after"] == "1"
        assert "2 requests waiting (--max-queue)" in busy.json()["error"]
        for t in waiting:
            t.join(60)
        assert [r.status_code for r in results] == [200, 200]  # both ran when the batch window closed
    finally:
        rs.server.drain(1)


def test_idle_connections_do_not_starve_health_or_translate(tmp_path):
    tiny_translator(tmp_path / "m" / "1" / "model.onnx", seed=1)
    rs = start_server(tmp_path, http_port=0)
    idle = []
    try:
        for _ in range(300):  # connected, never sending a byte
            idle.append(socket.create_connection(("127.0.0.1", rs.server.http_port), timeout=10))
        with httpx.Client(base_url=f"http://127.0.0.1:{rs.server.http_port}", timeout=10) as http:
            assert http.get("/healthz").status_code == 200
            assert http.post("/v1/models/m:translate", content=png_bytes()).status_code == 200
    finally:
        for s in idle:
            s.close()
        rs.server.drain(1)
