"""The Open Inference Protocol over REST, called with the official ``tritonclient.http`` client.

One real server (port 0) serves gRPC and HTTP from one engine; every answer over HTTP is compared
with the same request over gRPC (``tritonclient.grpc``): documents, tensors (bit for bit), and errors
(the HTTP status is the gRPC code's entry in serving.errors.HTTP_STATUS, the message is the same).
"""

from __future__ import annotations

import json
import logging

import httpx
import numpy as np
import pytest
import tritonclient.grpc as tg
import tritonclient.http as th
from google.protobuf import json_format
from server_fixtures import make_repo, start_server
from tritonclient.grpc import model_config_pb2
from tritonclient.grpc import service_pb2 as pb
from tritonclient.utils import InferenceServerException

from serving.errors import HTTP_STATUS

MODEL = "photo2art"


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    rs = start_server(make_repo(tmp_path_factory.mktemp("rest")), http_port=0)
    yield rs
    rs.server.drain(1)


@pytest.fixture(scope="module")
def rest(running):
    client = th.InferenceServerClient(f"127.0.0.1:{running.server.http_port}", network_timeout=60)
    yield client
    client.close()


@pytest.fixture(scope="module")
def grpc_client(running):
    client = tg.InferenceServerClient(running.address)
    yield client
    client.close()


@pytest.fixture(scope="module")
def raw(running):
    with httpx.Client(base_url=f"http://127.0.0.1:{running.server.http_port}", timeout=60) as client:
        yield client


def _inputs(module, tensors, binary=True):
    """(name, datatype, array) triples -> InferInputs of tritonclient ``module`` (grpc or http)."""
    out = []
    for name, datatype, arr in tensors:
        x = module.InferInput(name, list(arr.shape), datatype)
        if module is th:
            x.set_data_from_numpy(arr, binary_data=binary)
        else:
            x.set_data_from_numpy(arr)
        out.append(x)
    return out


def as_message(doc: dict, message_class):
    """A REST JSON document read as the gRPC message of the same protocol (unknown fields refused)."""
    return json_format.ParseDict(doc, message_class())


def both(rest, grpc_client, model, tensors, **kwargs):
    """``output`` of the same inference over HTTP (binary and JSON tensors) and over gRPC."""
    over_grpc = grpc_client.infer(model, _inputs(tg, tensors), **kwargs).as_numpy("output")
    binary = rest.infer(model, _inputs(th, tensors), **kwargs).as_numpy("output")
    as_json = rest.infer(model, _inputs(th, tensors, binary=False), outputs=[
        th.InferRequestedOutput("output", binary_data=False)], **kwargs).as_numpy("output")
    return over_grpc, binary, as_json


# ----------------------------------------------------------------------------- health and documents
def test_health_readiness_and_documents_equal_grpc(rest, grpc_client):
    assert rest.is_server_live() and rest.is_server_ready()
    assert rest.is_model_ready(MODEL) and rest.is_model_ready(MODEL, "1")
    assert not rest.is_model_ready(MODEL, "7") and not rest.is_model_ready("broken")
    assert not rest.is_model_ready("nope")
    # JSON documents compared as the protocol's messages (protobuf's JSON writes int64 as strings)
    assert as_message(rest.get_server_metadata(), pb.ServerMetadataResponse) == grpc_client.get_server_metadata()
    for model in (MODEL, "sr", "faces", "digits"):
        assert as_message(rest.get_model_metadata(model), pb.ModelMetadataResponse) == \
            grpc_client.get_model_metadata(model), model
        assert as_message(rest.get_model_config(model), model_config_pb2.ModelConfig) == \
            grpc_client.get_model_config(model).config, model
    assert rest.get_model_metadata(MODEL, "1")["versions"] == ["1"]
    index = rest.get_model_repository_index()
    assert as_message({"models": index}, pb.RepositoryIndexResponse) == grpc_client.get_model_repository_index()
    assert {m["name"]: m["state"] for m in index}["broken"] == "UNAVAILABLE"
    with pytest.raises(InferenceServerException, match="no model named 'nope'") as info:
        rest.get_model_metadata("nope")
    assert info.value.status() == "404"


def test_probe_statuses_and_error_documents(raw):
    assert raw.get("/v2/health/ready").status_code == 200
    assert raw.get(f"/v2/models/{MODEL}/ready").json() == {"name": MODEL, "ready": True}
    broken = raw.get("/v2/models/broken/ready")
    assert broken.status_code == 503 and broken.json()["ready"] is False
    unknown = raw.get("/v2/models/nope/ready")
    assert unknown.status_code == 404 and "no model named 'nope'" in unknown.json()["error"]
    wrong = raw.get("/v2/models/x/infer")  # GET on a POST endpoint, unknown path: JSON errors too
    assert wrong.status_code == 405 and "error" in wrong.json()
    assert raw.get("/v3").status_code == 404 and "no such endpoint" in raw.get("/v3").json()["error"]


# ----------------------------------------------------------------------------- inference
def test_fp32_binary_and_json_tensors_equal_grpc(rest, grpc_client):
    x = np.random.default_rng(1).uniform(-1, 1, (2, 3, 16, 12)).astype(np.float32)
    over_grpc, binary, as_json = both(rest, grpc_client, MODEL, [("input", "FP32", x)])
    assert over_grpc.dtype == binary.dtype == as_json.dtype == np.float32 and binary.shape == (2, 3, 16, 12)
    assert np.array_equal(binary, over_grpc) and np.array_equal(as_json, over_grpc)


def test_uint8_pixels_equal_grpc(rest, grpc_client):
    rng = np.random.default_rng(2)
    batch = rng.integers(0, 256, (2, 13, 17, 3), dtype=np.uint8)  # not a multiple of 4: padded and cropped
    for result in both(rest, grpc_client, MODEL, [("input", "UINT8", batch)]):
        assert result.dtype == np.uint8 and result.shape == (2, 13, 17, 3)
    over_grpc, binary, as_json = both(rest, grpc_client, MODEL, [("input", "UINT8", batch)])
    assert np.array_equal(binary, over_grpc) and np.array_equal(as_json, over_grpc)
    rgba = rng.integers(0, 256, (1, 9, 7, 4), dtype=np.uint8)  # super-resolver, alpha carried through
    over_grpc, binary, as_json = both(rest, grpc_client, "sr", [("input", "UINT8", rgba)])
    assert binary.shape == (1, 18, 14, 4)
    assert np.array_equal(binary, over_grpc) and np.array_equal(as_json, over_grpc)


def test_generator_z_and_label_equal_grpc(rest, grpc_client):
    z = np.random.default_rng(3).standard_normal((3, 8)).astype(np.float32)
    labels = np.array([[0], [2], [1]], np.int64)  # [N, 1] as config.pbtxt declares it
    over_grpc, binary, as_json = both(rest, grpc_client, "digits", [("z", "FP32", z), ("label", "INT64", labels)])
    assert binary.shape == (3, 3, 8, 8)
    assert np.array_equal(binary, over_grpc) and np.array_equal(as_json, over_grpc)
    unconditional = both(rest, grpc_client, "faces", [("z", "FP32", z)])
    assert all(np.array_equal(r, unconditional[0]) for r in unconditional)


def test_requested_outputs_request_id_and_compression(rest, grpc_client):
    x = np.random.default_rng(4).integers(0, 256, (1, 8, 8, 3), dtype=np.uint8)
    result = rest.infer(MODEL, _inputs(th, [("input", "UINT8", x)]), request_id="req-9",
                        outputs=[th.InferRequestedOutput("output", binary_data=False)],
                        request_compression_algorithm="gzip")
    response = result.get_response()
    assert (response["id"], response["model_name"], response["model_version"]) == ("req-9", MODEL, "1")
    assert "data" in response["outputs"][0]  # asked for JSON
    assert np.array_equal(result.as_numpy("output"), grpc_client.infer(MODEL, _inputs(tg, [("input", "UINT8", x)]))
                          .as_numpy("output"))
    with pytest.raises(InferenceServerException, match="no output 'probs'") as info:
        rest.infer(MODEL, _inputs(th, [("input", "UINT8", x)]), outputs=[th.InferRequestedOutput("probs")])
    assert info.value.status() == "400"


# ----------------------------------------------------------------------------- hand-made requests
def _binary_request(header: dict, data: bytes) -> tuple[bytes, dict]:
    head = json.dumps(header).encode()
    return head + data, {"Inference-Header-Content-Length": str(len(head))}


def test_nested_json_data_and_binary_layout(raw, rest):
    pixels = np.arange(2 * 2 * 4 * 3, dtype=np.uint8).reshape(2, 2, 4, 3)
    nested = {"inputs": [{"name": "input", "datatype": "UINT8", "shape": [2, 2, 4, 3], "data": pixels.tolist()}]}
    r = raw.post(f"/v2/models/{MODEL}/versions/1/infer", json=nested)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    out = r.json()["outputs"][0]
    expected = rest.infer(MODEL, _inputs(th, [("input", "UINT8", pixels)])).as_numpy("output")
    assert np.array_equal(np.asarray(out["data"], np.uint8).reshape(out["shape"]), expected)
    body, headers = _binary_request({"inputs": [{"name": "input", "datatype": "UINT8", "shape": [2, 2, 4, 3],
                                                 "parameters": {"binary_data_size": pixels.nbytes}}],
                                     "outputs": [{"name": "output", "parameters": {"binary_data": True}}]},
                                    pixels.tobytes())
    r = raw.post(f"/v2/models/{MODEL}/infer", content=body, headers=headers)
    n = int(r.headers["Inference-Header-Content-Length"])
    doc = json.loads(r.content[:n])
    assert doc["outputs"][0]["parameters"]["binary_data_size"] == len(r.content) - n
    assert np.array_equal(np.frombuffer(r.content[n:], np.uint8).reshape(2, 2, 4, 3), expected)


BAD_RAW = {
    "not json": (b"{nope", {}, "not valid JSON"),
    "no inputs": (b'{"inputs": []}', {}, "non-empty list of tensors"),
    "float shape": (b'{"inputs": [{"name": "input", "datatype": "UINT8", "shape": [1, 2.5], "data": [1]}]}', {},
                    "shape must be a list of integers"),
    "strings": (b'{"inputs": [{"name": "input", "datatype": "FP32", "shape": [1], "data": ["a"]}]}', {},
                "data must be a list of numbers"),
    "count": (b'{"inputs": [{"name": "input", "datatype": "UINT8", "shape": [1, 2, 2, 3], "data": [1, 2]}]}', {},
              "holds 12 elements, but data has 2"),
    "uint8 range": (b'{"inputs": [{"name": "input", "datatype": "UINT8", "shape": [1, 1, 1, 3], "data": [1, 2, 300]}]}',
                    {}, "0..255"),
    "header length": (b'{"inputs": []}', {"Inference-Header-Content-Length": "99"}, "at most the body's 14 bytes"),
    "binary short": (*_binary_request({"inputs": [{"name": "input", "datatype": "UINT8", "shape": [1, 2, 2, 3],
                                                   "parameters": {"binary_data_size": 12}}]}, bytes(8)),
                     "runs past the 8 bytes"),
    "binary extra": (*_binary_request({"inputs": [{"name": "input", "datatype": "UINT8", "shape": [1, 2, 2, 3],
                                                   "parameters": {"binary_data_size": 12}}]}, bytes(16)),
                     "4 bytes of binary data are not claimed"),
    "shared memory": (b'{"inputs": [{"name": "input", "datatype": "UINT8", "shape": [1], '
                      b'"parameters": {"shared_memory_region": "r"}}]}', {}, "shared-memory tensors are not supported"),
    "encoding": (b"{}", {"Content-Encoding": "br"}, "Content-Encoding 'br' is not supported"),
    "corrupt gzip": (b"not gzip", {"Content-Encoding": "gzip"}, "gzip request body is corrupt"),
}


@pytest.mark.parametrize("case", sorted(BAD_RAW))
def test_malformed_requests_are_400_with_a_reason(raw, case):
    body, headers, message = BAD_RAW[case]
    r = raw.post(f"/v2/models/{MODEL}/infer", content=body, headers=headers)
    assert r.status_code == 400 and message in r.json()["error"], r.text


# ----------------------------------------------------------------------------- errors: the same as gRPC
F32 = np.zeros((1, 3, 8, 8), np.float32)
BAD = {  # name -> (model, version, tensors, requested outputs)
    "3-d shape": (MODEL, "", [("input", "FP32", np.zeros((3, 8, 8), np.float32))], ()),
    "channels": (MODEL, "", [("input", "FP32", np.zeros((1, 2, 8, 8), np.float32))], ()),
    "not a multiple": (MODEL, "", [("input", "FP32", np.zeros((1, 3, 6, 8), np.float32))], ()),
    "dtype": (MODEL, "", [("input", "INT32", np.zeros((1, 3, 8, 8), np.int32))], ()),
    "unknown dtype": (MODEL, "", [("input", "FP64", np.zeros((1, 3, 8, 8), np.float64))], ()),
    "input name": (MODEL, "", [("image", "FP32", F32)], ()),
    "nan values": (MODEL, "", [("input", "FP32", np.full((1, 3, 4, 4), np.nan, np.float32))], ()),
    "pixels C": (MODEL, "", [("input", "UINT8", np.zeros((1, 4, 4, 6), np.uint8))], ()),
    "unknown model": ("nope", "", [("input", "FP32", F32)], ()),
    "unknown version": (MODEL, "7", [("input", "FP32", F32)], ()),
    "version text": (MODEL, "latest", [("input", "FP32", F32)], ()),
    "broken model": ("broken", "", [("input", "FP32", F32)], ()),
    "output name": (MODEL, "", [("input", "FP32", F32)], ("probs",)),
    "z width": ("digits", "", [("z", "FP32", np.zeros((1, 5), np.float32)), ("label", "INT64", np.zeros(1, np.int64))],
                ()),
    "missing label": ("digits", "", [("z", "FP32", np.zeros((1, 8), np.float32))], ()),
    "label range": ("digits", "", [("z", "FP32", np.zeros((1, 8), np.float32)), ("label", "INT64", np.array([3]))], ()),
    "too many": (MODEL, "", [("input", "UINT8", np.zeros((65, 4, 4, 3), np.uint8))], ()),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_requests_fail_as_over_grpc(rest, grpc_client, case):
    import grpc

    model, version, tensors, outputs = BAD[case]
    with pytest.raises(InferenceServerException) as over_grpc:
        grpc_client.infer(model, _inputs(tg, tensors), model_version=version,
                          outputs=[tg.InferRequestedOutput(o) for o in outputs] or None)
    with pytest.raises(InferenceServerException) as over_http:
        rest.infer(model, _inputs(th, tensors), model_version=version,
                   outputs=[th.InferRequestedOutput(o) for o in outputs] or None)
    code = getattr(grpc.StatusCode, over_grpc.value.status().removeprefix("StatusCode."))
    assert code != grpc.StatusCode.INTERNAL and over_http.value.status() == str(HTTP_STATUS[code])
    assert over_http.value.message() == over_grpc.value.message()
    assert rest.is_server_ready()


# ----------------------------------------------------------------------------- log and metrics
def test_request_log_line_and_metrics_count_http(running, raw, caplog):
    metrics = running.server.metrics
    ok = {"method": "http/ModelInfer", "model": MODEL, "code": "OK"}
    unknown = {"method": "http/ModelInfer", "model": "(unknown)", "code": "NOT_FOUND"}  # bounded label set
    before_ok, before_unknown = metrics.value("translate_requests_total", ok), metrics.value(
        "translate_requests_total", unknown)
    doc = {"inputs": [{"name": "input", "datatype": "UINT8", "shape": [1, 2, 2, 3], "data": list(range(12))}]}
    with caplog.at_level(logging.INFO, logger="serving.requests"):
        r = raw.post(f"/v2/models/{MODEL}/infer", json=doc, headers={"x-request-id": "trace-42"})
        assert r.status_code == 200 and r.headers["x-request-id"] == "trace-42"
        assert raw.post("/v2/models/no-such-model/infer", json=doc).status_code == 404
    assert metrics.value("translate_requests_total", ok) == before_ok + 1
    assert metrics.value("translate_requests_total", unknown) == before_unknown + 1
    assert metrics.value("translate_request_latency_seconds_count", {"method": "http/ModelInfer", "model": MODEL}) > 0
    lines = [json.loads(rec.getMessage()) for rec in caplog.records if rec.name == "serving.requests"]
    mine = next(x for x in lines if x["request_id"] == "trace-42")
    assert (mine["method"], mine["model"], mine["code"], mine["http_status"]) == ("http/ModelInfer", MODEL, "OK", 200)
    assert mine["peer"].startswith("ipv4:127.0.0.1:") and mine["latency_ms"] >= 0
    failed = next(x for x in lines if x["model"] == "no-such-model")
    assert failed["code"] == "NOT_FOUND" and failed["http_status"] == 404 and "no model named" in failed["error"]
