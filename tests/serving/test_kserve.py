"""The KServe v2 / Open Inference Protocol service, called with the official ``tritonclient[grpc]`` client.

One real server (port 0) serves models exported by ``translate export`` (CycleGAN, conditional
DCGAN) plus a hand-built super-resolver and a broken file; both protocols share its port, batcher
and limits. Results are compared with the domain service (Translate / Generate) on the same inputs:
UINT8 pixels must be identical, FP32 tensors identical to the local ONNX Runtime run, FP16 within
2e-2 of FP32 (half precision input rounding; values in [-1, 1]).
"""

from __future__ import annotations

import datetime
import ipaddress
import re
import threading

import grpc
import numpy as np
import pytest
import tritonclient.grpc as tc
from google.protobuf import text_format
from server_fixtures import start_server, tiny_super_resolver, tiny_translator
from tiny_models import TINY_CLASSES, TINY_NZ, make_tiny_repo
from tritonclient.grpc import model_config_pb2, service_pb2, service_pb2_grpc
from tritonclient.utils import InferenceServerException

from serving.client import TranslateClient
from serving.gen import grpc_service_pb2 as ours
from translate.backends.onnxruntime import OnnxBackend
from translate.images import Image, decode_image, encode_image, from_model_array, pad_to_multiple, to_model_array
from translate.latents import Sampler

TRANSLATOR = "cyclegan-AtoB"


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    root = tmp_path_factory.mktemp("kserve")
    repo = make_tiny_repo(root, families=("cyclegan", "dcgan"))
    tiny_super_resolver(repo / "sr" / "1" / "model.onnx", seed=3)
    (repo / "broken" / "1").mkdir(parents=True)
    (repo / "broken" / "1" / "model.onnx").write_bytes(b"not an onnx file")
    rs = start_server(repo)
    yield rs
    rs.server.drain(1)


@pytest.fixture(scope="module")
def triton(running):
    client = tc.InferenceServerClient(running.address)
    yield client
    client.close()


@pytest.fixture(scope="module")
def domain(running):
    with TranslateClient(running.address, retries=0, timeout=30) as c:
        yield c


def pixels(h: int, w: int, seed: int, channels: int = 3) -> np.ndarray:
    """Random uint8 [H, W, C]."""
    return np.random.default_rng(seed).integers(0, 256, (h, w, channels), dtype=np.uint8)


def infer(client, model: str, name: str, arr: np.ndarray, datatype: str, **kwargs) -> np.ndarray:
    """One tensor in, ``output`` out, through tritonclient."""
    x = tc.InferInput(name, list(arr.shape), datatype)
    x.set_data_from_numpy(arr)
    return client.infer(model, [x], **kwargs).as_numpy("output")


def translate_pixels(domain, model: str, img: Image) -> Image:
    """What the domain service's Translate returns for ``img`` (sent as PNG)."""
    return decode_image(domain.translate(encode_image(img, "png"), model).image)


# ----------------------------------------------------------------------------- wire contract
def test_proto_matches_the_official_client_field_by_field():
    """Every message, field number, type, enum value and method agrees with tritonclient's copy of the spec."""
    pool = service_pb2.DESCRIPTOR.pool

    def compare(desc):
        theirs = pool.FindMessageTypeByName(desc.full_name)
        for f in desc.fields:
            t = theirs.fields_by_name[f.name]
            assert (t.number, t.type, t.is_repeated) == (f.number, f.type, f.is_repeated), f.full_name
            if f.message_type is not None:
                assert t.message_type.full_name == f.message_type.full_name, f.full_name
        for nested in desc.nested_types:
            compare(nested)

    for desc in ours.DESCRIPTOR.message_types_by_name.values():
        compare(desc)
    for enum in ours.DESCRIPTOR.enum_types_by_name.values():
        theirs = pool.FindEnumTypeByName(enum.full_name)
        assert {v.name: v.number for v in enum.values} == {v.name: v.number for v in theirs.values}
    service = ours.DESCRIPTOR.services_by_name["GRPCInferenceService"]
    theirs = service_pb2.DESCRIPTOR.services_by_name["GRPCInferenceService"]
    for m in service.methods:
        t = theirs.methods_by_name[m.name]
        assert (t.input_type.full_name, t.output_type.full_name, t.client_streaming, t.server_streaming) == (
            m.input_type.full_name, m.output_type.full_name, m.client_streaming, m.server_streaming)
    assert ours.DESCRIPTOR.pool is not service_pb2.DESCRIPTOR.pool  # both importable in one process


# ----------------------------------------------------------------------------- health and metadata
def test_liveness_readiness_and_metadata(running, triton):
    assert triton.is_server_live() and triton.is_server_ready()
    assert triton.is_model_ready(TRANSLATOR) and triton.is_model_ready(TRANSLATOR, "1")
    assert not triton.is_model_ready(TRANSLATOR, "7")
    assert not triton.is_model_ready("broken") and not triton.is_model_ready("nope")
    meta = triton.get_server_metadata()
    assert (meta.name, meta.version, list(meta.extensions)) == ("translate", "0.1.0", ["model_configuration"])
    md = triton.get_model_metadata(TRANSLATOR)
    assert (md.name, list(md.versions), md.platform) == (TRANSLATOR, ["1"], "onnxruntime_onnx")
    assert [(t.name, t.datatype, list(t.shape)) for t in md.inputs] == [("input", "FP32", [-1, 3, -1, -1])]
    gen = triton.get_model_metadata("dcgan", as_json=True)
    assert [(t["name"], t["datatype"]) for t in gen["inputs"]] == [("z", "FP32"), ("label", "INT64")]
    with pytest.raises(InferenceServerException, match="no model named 'nope'") as info:
        triton.get_model_metadata("nope")
    assert info.value.status() == "StatusCode.NOT_FOUND"


@pytest.mark.parametrize("model", [TRANSLATOR, "dcgan"])
def test_model_config_is_the_exported_config_pbtxt(running, triton, model):
    """What the server reports equals the config.pbtxt that `translate export` wrote for Triton."""
    served = triton.get_model_config(model).config
    exported = text_format.Parse((running.root / model / "config.pbtxt").read_text(), model_config_pb2.ModelConfig())
    for field in ("name", "platform", "max_batch_size", "input", "output"):
        assert getattr(served, field) == getattr(exported, field), field
    assert served.HasField("dynamic_batching") and served.parameters["format"].string_value == "translate-onnx"


def test_repository_index(running, triton):
    index = {m.name: m for m in triton.get_model_repository_index().models}
    assert set(index) == {"broken", "cyclegan-AtoB", "cyclegan-BtoA", "dcgan", "sr"}
    assert (index["dcgan"].state, index["dcgan"].version) == ("READY", "1")
    assert index["broken"].state == "UNAVAILABLE" and "not a readable ONNX file" in index["broken"].reason
    with grpc.insecure_channel(running.address) as ch:
        ready = service_pb2_grpc.GRPCInferenceServiceStub(ch).RepositoryIndex(
            service_pb2.RepositoryIndexRequest(ready=True), timeout=10)
    assert "broken" not in {m.name for m in ready.models} and len(ready.models) == 4


# ----------------------------------------------------------------------------- inference
def test_fp32_nchw_equals_local_onnx_and_translate(running, triton, domain):
    img = Image(pixels(21, 30, seed=1))
    x, size = pad_to_multiple(to_model_array(img.pixels, 3), 4)  # [1, 3, 24, 32]: the ONNX model's own input
    y = infer(triton, TRANSLATOR, "input", x, "FP32")
    local = OnnxBackend(running.root / TRANSLATOR / "1" / "model.onnx", device="cpu")(x)
    assert y.dtype == np.float32 and y.shape == (1, 3, 24, 32)
    np.testing.assert_allclose(y, local, atol=1e-6, rtol=0)
    assert np.array_equal(from_model_array(y[0, :, :size[0], :size[1]]),
                          translate_pixels(domain, TRANSLATOR, img).pixels)


def test_uint8_nhwc_pixels_identical_to_translate(triton, domain):
    batch = np.stack([pixels(21, 30, seed=s) for s in (2, 3)])  # [2, 21, 30, 3], not a multiple of 4
    out = infer(triton, TRANSLATOR, "input", batch, "UINT8")
    assert out.dtype == np.uint8 and out.shape == (2, 21, 30, 3)
    for got, src in zip(out, batch):
        assert np.array_equal(got, translate_pixels(domain, TRANSLATOR, Image(src)).pixels)
    rgba = pixels(13, 17, seed=4, channels=4)  # alpha is carried through and resized like Translate does
    sr = infer(triton, "sr", "input", rgba[None], "UINT8")[0]
    ref = translate_pixels(domain, "sr", Image(np.ascontiguousarray(rgba[..., :3]), alpha=rgba[..., 3].copy()))
    assert sr.shape == (26, 34, 4)
    assert np.array_equal(sr[..., :3], ref.pixels) and np.array_equal(sr[..., 3], ref.alpha)
    grey = pixels(16, 16, seed=5, channels=1)  # grey pixels into an RGB model: converted like Translate
    out = infer(triton, TRANSLATOR, "input", grey[None], "UINT8")[0]
    assert np.array_equal(out, translate_pixels(domain, TRANSLATOR, Image(grey)).pixels)


def test_fp16_raw_is_close_to_fp32_and_typed_fp16_is_refused(running, triton):
    x = np.random.default_rng(6).uniform(-1, 1, (2, 3, 16, 16)).astype(np.float32)
    y32 = infer(triton, TRANSLATOR, "input", x, "FP32")
    y16 = infer(triton, TRANSLATOR, "input", x.astype(np.float16), "FP16")
    assert y16.dtype == np.float16 and y16.shape == y32.shape
    assert np.abs(y16.astype(np.float32) - y32).max() < 2e-2
    req = service_pb2.ModelInferRequest(model_name=TRANSLATOR)
    t = req.inputs.add(name="input", datatype="FP16", shape=[1, 3, 4, 4])
    t.contents.fp32_contents.extend([0.0] * 48)
    with pytest.raises(grpc.RpcError) as info:
        _stub_infer(running, req)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "raw_input_contents" in info.value.details()


def _stub_infer(running, req, metadata=()):
    with grpc.insecure_channel(running.address) as ch:
        return service_pb2_grpc.GRPCInferenceServiceStub(ch).ModelInfer(req, timeout=30, metadata=metadata)


def test_typed_contents_are_answered_typed(running, triton):
    x = np.random.default_rng(7).uniform(-1, 1, (1, 3, 8, 8)).astype(np.float32)
    req = service_pb2.ModelInferRequest(model_name=TRANSLATOR, model_version="1", id="req-7")
    req.inputs.add(name="input", datatype="FP32", shape=list(x.shape)).contents.fp32_contents.extend(x.ravel())
    req.outputs.add(name="output")  # explicitly requested (Triton clients may name their outputs)
    resp = _stub_infer(running, req)
    out = resp.outputs[0]
    assert (resp.id, resp.model_version, out.name, out.datatype, list(out.shape)) == (
        "req-7", "1", "output", "FP32", [1, 3, 8, 8])
    assert not resp.raw_output_contents
    typed = np.asarray(out.contents.fp32_contents, np.float32).reshape(out.shape)
    assert np.array_equal(typed, infer(triton, TRANSLATOR, "input", x, "FP32"))
    p = pixels(5, 6, seed=8)
    req = service_pb2.ModelInferRequest(model_name=TRANSLATOR)
    req.inputs.add(name="input", datatype="UINT8", shape=[1, 5, 6, 3]).contents.uint_contents.extend(p.ravel().tolist())
    out = _stub_infer(running, req).outputs[0]
    assert np.array_equal(np.asarray(out.contents.uint_contents, np.uint8).reshape(out.shape),
                          infer(triton, TRANSLATOR, "input", p[None], "UINT8"))


def test_generator_z_and_label_equal_generate(running, triton, domain):
    sampler = Sampler(OnnxBackend(running.root / "dcgan" / "1" / "model.onnx", device="cpu"))
    z = sampler.seed_latents([3, 4])
    z_in, label = tc.InferInput("z", [2, TINY_NZ], "FP32"), tc.InferInput("label", [2, 1], "INT64")
    z_in.set_data_from_numpy(z)
    label.set_data_from_numpy(np.array([[1], [1]], np.int64))  # [N, 1] as Triton's config.pbtxt declares it
    out = triton.infer("dcgan", [z_in, label]).as_numpy("output")
    assert out.shape == (2, 3, 32, 32)
    np.testing.assert_allclose(out, sampler.backend.generate(z, np.array([1, 1])), atol=1e-6, rtol=0)
    served = domain.generate("dcgan", seeds=[3, 4], label=1)
    assert all(np.array_equal(from_model_array(o), decode_image(g.image).pixels) for o, g in zip(out, served))


def test_stream_answers_in_order_and_reports_errors_per_request(triton):
    results, done = [], threading.Event()

    def callback(result, error):
        results.append((result, error))
        if len(results) == 3:
            done.set()

    triton.start_stream(callback=callback)
    try:
        for i, shape in enumerate([(1, 8, 8, 3), (1, 8, 8, 5), (1, 12, 8, 3)]):  # the second has 5 channels
            x = tc.InferInput("input", list(shape), "UINT8")
            x.set_data_from_numpy(np.zeros(shape, np.uint8))
            triton.async_stream_infer(TRANSLATOR, [x], request_id=f"s{i}")
        assert done.wait(30)
    finally:
        triton.stop_stream()
    assert results[0][1] is None and results[0][0].get_response().id == "s0"
    assert "C = 5" in str(results[1][1])
    assert results[2][0].as_numpy("output").shape == (1, 12, 8, 3)


# ----------------------------------------------------------------------------- bad tensors
def _raw(model, inputs, version="", raw=None, outputs=()):
    """A ModelInferRequest built with the official message classes: (name, datatype, shape, bytes) per input."""
    req = service_pb2.ModelInferRequest(model_name=model, model_version=version)
    for name in outputs:
        req.outputs.add(name=name)
    for name, dt, shape, _ in inputs:
        req.inputs.add(name=name, datatype=dt, shape=shape)
    req.raw_input_contents.extend(raw if raw is not None else [data for *_, data in inputs])
    return req


F32 = np.zeros((1, 3, 8, 8), np.float32).tobytes()
BAD = {
    "3-d shape": (_raw(TRANSLATOR, [("input", "FP32", [3, 8, 8], F32[:3 * 64 * 4])]), "INVALID_ARGUMENT",
                  "has shape \\[3, 8, 8\\]"),
    "channels": (_raw(TRANSLATOR, [("input", "FP32", [1, 2, 8, 8], F32[:2 * 64 * 4])]), "INVALID_ARGUMENT",
                 "has 2 channels"),
    "not a multiple": (_raw(TRANSLATOR, [("input", "FP32", [1, 3, 6, 8], F32[:3 * 48 * 4])]), "INVALID_ARGUMENT",
                       "multiples of 4 and at least 8"),
    # a ResNet's 1/4-size bottleneck needs 2 px for its reflection padding: 4x4 used to fail inside ONNX Runtime
    "below the minimum": (_raw(TRANSLATOR, [("input", "FP32", [1, 3, 4, 4], F32[:3 * 16 * 4])]), "INVALID_ARGUMENT",
                          "is 4x4; .* at least 8 .*send UINT8 pixels"),
    "version superscript": (_raw(TRANSLATOR, [("input", "FP32", [1, 3, 8, 8], F32)], version="\u00b2"),
                            "INVALID_ARGUMENT", "1 to 18 ASCII digits"),
    "version arabic-indic": (_raw(TRANSLATOR, [("input", "FP32", [1, 3, 8, 8], F32)], version="\u0661"),
                             "INVALID_ARGUMENT", "1 to 18 ASCII digits"),
    "version 5000 digits": (_raw(TRANSLATOR, [("input", "FP32", [1, 3, 8, 8], F32)], version="9" * 5000),
                            "INVALID_ARGUMENT", "1 to 18 ASCII digits .*\\(5000 chars\\)"),
    "dtype": (_raw(TRANSLATOR, [("input", "INT32", [1, 3, 8, 8], F32)]), "INVALID_ARGUMENT", "input 'input' is INT32"),
    "unknown dtype": (_raw(TRANSLATOR, [("input", "FP64", [1, 3, 8, 8], F32 * 2)]), "INVALID_ARGUMENT",
                      "datatype 'FP64' is not accepted"),
    "bytes vs shape": (_raw(TRANSLATOR, [("input", "FP32", [1, 3, 8, 8], F32[:-4])]), "INVALID_ARGUMENT",
                       "needs 768 bytes .* holds 764"),
    "raw count": (_raw(TRANSLATOR, [("input", "FP32", [1, 3, 8, 8], F32)], raw=[F32, F32]), "INVALID_ARGUMENT",
                  "2 entries for 1 inputs"),
    "input name": (_raw(TRANSLATOR, [("image", "FP32", [1, 3, 8, 8], F32)]), "INVALID_ARGUMENT",
                   "no input 'image'; its inputs are \\['input'\\]"),
    "nan values": (_raw(TRANSLATOR, [("input", "FP32", [1, 3, 8, 8], np.full(192, np.nan, np.float32).tobytes())]),
                   "INVALID_ARGUMENT", "NaN or infinity"),
    "pixels C": (_raw(TRANSLATOR, [("input", "UINT8", [1, 4, 4, 6], bytes(96))]), "INVALID_ARGUMENT", "got C = 6"),
    "unknown model": (_raw("nope", [("input", "FP32", [1, 3, 8, 8], F32)]), "NOT_FOUND", "no model named 'nope'"),
    "unknown version": (_raw(TRANSLATOR, [("input", "FP32", [1, 3, 8, 8], F32)], version="7"), "NOT_FOUND",
                        "no version 7"),
    "output name": (_raw(TRANSLATOR, [("input", "FP32", [1, 3, 8, 8], F32)], outputs=["probs"]), "INVALID_ARGUMENT",
                    "no output 'probs'"),
    "version text": (_raw(TRANSLATOR, [("input", "FP32", [1, 3, 8, 8], F32)], version="latest"), "INVALID_ARGUMENT",
                     "version number"),
    "broken model": (_raw("broken", [("input", "FP32", [1, 3, 8, 8], F32)]), "UNAVAILABLE", "failed to load"),
    "z width": (_raw("dcgan", [("z", "FP32", [1, 5], bytes(20)), ("label", "INT64", [1], bytes(8))]),
                "INVALID_ARGUMENT", f"takes \\[N, {TINY_NZ}\\]"),
    "missing label": (_raw("dcgan", [("z", "FP32", [1, TINY_NZ], bytes(4 * TINY_NZ))]), "INVALID_ARGUMENT",
                      "class-conditional: send input 'label'"),
    "label range": (_raw("dcgan", [("z", "FP32", [1, TINY_NZ], bytes(4 * TINY_NZ)),
                                   ("label", "INT64", [1], np.array([TINY_CLASSES], np.int64).tobytes())]),
                    "INVALID_ARGUMENT", f"labels out of range: this model has classes 0..{TINY_CLASSES - 1}"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_tensors_get_clear_errors_and_the_server_stays_ready(running, triton, case):
    req, code, message = BAD[case]
    with pytest.raises(grpc.RpcError) as info:
        _stub_infer(running, req)
    assert info.value.code().name == code, info.value.details()
    assert re.search(message, info.value.details()), info.value.details()
    assert triton.is_server_ready() and triton.is_model_ready(TRANSLATOR)


def test_metrics_count_kserve_calls_with_the_domain_service(running, triton):
    metrics = running.server.metrics
    before = metrics.value("translate_requests_total", {"method": "ModelInfer", "model": TRANSLATOR, "code": "OK"})
    infer(triton, TRANSLATOR, "input", pixels(8, 8, seed=9)[None], "UINT8")
    after = metrics.value("translate_requests_total", {"method": "ModelInfer", "model": TRANSLATOR, "code": "OK"})
    assert after == before + 1
    unknown = {"method": "ModelInfer", "model": "(unknown)", "code": "NOT_FOUND"}  # bounded label set
    before = metrics.value("translate_requests_total", unknown)
    with pytest.raises(InferenceServerException):
        infer(triton, "no-such-model", "input", pixels(8, 8, seed=9)[None], "UINT8")
    assert metrics.value("translate_requests_total", unknown) == before + 1


# ----------------------------------------------------------------------------- auth, TLS, limits, batching
def _self_signed(tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                         serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    return tmp_path / "cert.pem", tmp_path / "key.pem"


def test_tls_bearer_token_and_limits(tmp_path):
    tiny_translator(tmp_path / "models" / "m" / "1" / "model.onnx", seed=1)
    tiny_super_resolver(tmp_path / "models" / "sr" / "1" / "model.onnx", seed=2)
    cert, key = _self_signed(tmp_path)
    token = "kserve-token-0123456789abcdef"
    (tmp_path / "tokens").write_text(token + "\n")
    rs = start_server(tmp_path / "models", tls_cert=str(cert), tls_key=str(key), auth_tokens=str(tmp_path / "tokens"),
                      max_message_mb=1, max_image_pixels=300 * 300)
    client = tc.InferenceServerClient(f"localhost:{rs.port}", ssl=True, root_certificates=str(cert))
    auth = {"authorization": f"Bearer {token}"}
    try:
        assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("m")  # probes: open
        for headers, why in ((None, "missing bearer token"), ({"authorization": "Bearer wrong-token-0123456789"},
                                                             "invalid bearer token")):
            with pytest.raises(InferenceServerException, match=why) as info:
                infer(client, "m", "input", pixels(8, 8, seed=1)[None], "UINT8", headers=headers)
            assert info.value.status() == "StatusCode.UNAUTHENTICATED"
        with pytest.raises(InferenceServerException, match="missing bearer token"):
            client.get_model_metadata("m")
        out = infer(client, "m", "input", pixels(8, 8, seed=1)[None], "UINT8", headers=auth)
        assert out.shape == (1, 8, 8, 3)
        with pytest.raises(InferenceServerException, match="over the limit of 90,000 pixels") as info:
            infer(client, "m", "input", np.zeros((1, 301, 300, 3), np.uint8), "UINT8", headers=auth)
        assert info.value.status() == "StatusCode.INVALID_ARGUMENT"
        with pytest.raises(InferenceServerException, match="over the 1 MB message limit") as info:  # 4x larger out
            infer(client, "sr", "input", np.zeros((2, 3, 200, 200), np.float32), "FP32", headers=auth)
        assert info.value.status() == "StatusCode.RESOURCE_EXHAUSTED"
        with pytest.raises(InferenceServerException) as info:  # the transport's own limit on the way in
            infer(client, "m", "input", np.zeros((1, 3, 296, 296), np.float32), "FP32", headers=auth)
        assert info.value.status() == "StatusCode.RESOURCE_EXHAUSTED"
        assert client.is_server_ready()
    finally:
        client.close()
        rs.server.drain(1)


def test_shared_batcher_tiling_and_drain(tmp_path):
    """KServe and domain requests batch together; large images tile like Translate; a drain turns probes false."""
    from server_fixtures import local_translate

    model = tiny_translator(tmp_path / "m" / "1" / "model.onnx", seed=1)
    rs = start_server(tmp_path, max_batch=8, batch_timeout_ms=500, tile_above_pixels=64 * 64, tile_size=64)
    images = [pixels(16, 16, seed=20 + i) for i in range(6)]
    results, errors = [None] * 6, []

    def work(i):
        try:
            if i % 2:
                with TranslateClient(rs.address, retries=0, timeout=30) as c:
                    results[i] = decode_image(c.translate(encode_image(Image(images[i]), "png"), "m").image).pixels
            else:
                with tc.InferenceServerClient(rs.address) as client:
                    results[i] = infer(client, "m", "input", images[i][None], "UINT8")[0]
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    try:
        threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors, errors
        metrics = rs.server.metrics
        assert metrics.value("translate_images_total", {"model": "m"}) == 6
        assert metrics.value("translate_batch_size_count", {"model": "m"}) < 6  # combined across protocols
        for src, got in zip(images, results):
            assert np.array_equal(got, local_translate(model, encode_image(Image(src), "png")).pixels)
        big = pixels(80, 72, seed=30)  # above the tiling threshold: 64-pixel tiles, 32 overlap
        with tc.InferenceServerClient(rs.address) as client:
            tiled = infer(client, "m", "input", big[None], "UINT8")[0]
            assert metrics.value("translate_images_total", {"model": "m"}) - 6 > 1  # counted tile by tile
            assert np.array_equal(tiled, local_translate(model, encode_image(Image(big), "png"), tile=64,
                                                         overlap=32).pixels)
            rs.server.mark_not_serving()  # what SIGTERM does first
            assert client.is_server_live() and not client.is_server_ready() and not client.is_model_ready("m")
    finally:
        rs.server.drain(1)
