"""Bounded work per request: seed counts and ranges, the pixel budget per piece and per batch, name lengths.

Each check refuses the request before any compute (metrics show no image computed) with a status
and a message that names the limit, through translate.v1 and KServe alike.
"""

from __future__ import annotations

import json
import logging
import time

import grpc
import numpy as np
import pytest
import tritonclient.grpc as tc
from server_fixtures import make_repo, png_bytes, start_server, tiny_translator
from tritonclient.grpc import service_pb2, service_pb2_grpc

from serving.client import OverBudgetError, TranslateClient
from serving.gen import translate_pb2 as pb
from serving.gen import translate_pb2_grpc as pb_grpc
from translate.images import Image, encode_image
from translate.seeds import MAX_SEED


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    rs = start_server(make_repo(tmp_path_factory.mktemp("models")))
    yield rs
    rs.server.drain(1)


@pytest.fixture(scope="module")
def stub(running):
    with grpc.insecure_channel(running.address) as ch:
        yield pb_grpc.TranslateServiceStub(ch)


def _status(call, *args, **kwargs) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        call(*args, timeout=20, **kwargs)
    return info.value.code(), info.value.details()


# ----------------------------------------------------------------------------- item 5: seeds
def test_a_huge_seed_range_is_refused_at_once(stub):
    """range.count = 2^32-1 used to build the whole seed list first (a minute, then MemoryError)."""
    start = time.monotonic()
    code, details = _status(stub.Generate, pb.GenerateRequest(model="faces", range=pb.SeedRange(count=2**32 - 1)))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "one call makes 1 to 64" in details
    assert time.monotonic() - start < 5


@pytest.mark.parametrize("request_", [
    pb.GenerateRequest(model="faces", range=pb.SeedRange(count=4, first_seed=MAX_SEED - 1)),  # last seed is 2^63+2
    pb.GenerateRequest(model="faces", seeds=pb.SeedList(seeds=[5, -1])),
], ids=["range past 2^63-1", "negative seed"])
def test_seeds_outside_the_allowed_range_are_refused_with_the_range(stub, request_):
    code, details = _status(stub.Generate, request_)
    assert code == grpc.StatusCode.INVALID_ARGUMENT, details
    assert f"seeds must lie in 0..{MAX_SEED}" in details


def test_the_largest_seed_still_works(running):
    with TranslateClient(running.address, retries=0) as client:
        [img] = client.generate("faces", count=1, first_seed=MAX_SEED)
        assert img.seed == MAX_SEED and img.image[:4] == b"\x89PNG"


def test_a_huge_latent_count_through_kserve_is_refused_before_any_memory_is_taken(running):
    req = service_pb2.ModelInferRequest(model_name="faces")
    req.inputs.add(name="z", datatype="FP32", shape=[2**32 - 1, 8])
    req.raw_input_contents.append(bytes(32))
    with grpc.insecure_channel(running.address) as ch:
        code, details = _status(service_pb2_grpc.GRPCInferenceServiceStub(ch).ModelInfer, req)
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "holds 32" in details


# ----------------------------------------------------------------------------- item 6: pixel budget
def test_tiling_never_cannot_bypass_the_pixel_budget(running, stub):
    """TILING_MODE_NEVER on 4096x4096 used to make ONNX Runtime allocate gigabytes before failing."""
    before = running.server.metrics.value("translate_images_total", {"model": "photo2art"})
    big = encode_image(Image(np.zeros((4096, 4096, 3), np.uint8)), "png")  # compresses to a few KB
    never = pb.TranslateRequest(model="photo2art", image=big, tiling=pb.TilingOptions(mode=pb.TILING_MODE_NEVER))
    code, details = _status(stub.Translate, never)
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED, details
    assert "over the server's pixel budget of 4,194,304 pixels" in details and "--tile-above-pixels" in details
    huge_tiles = pb.TranslateRequest(model="photo2art", image=big,
                                     tiling=pb.TilingOptions(mode=pb.TILING_MODE_ALWAYS, tile_size=4096))
    code, details = _status(stub.Translate, huge_tiles)
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "ask for a smaller tile_size" in details
    assert running.server.metrics.value("translate_images_total", {"model": "photo2art"}) == before  # no compute
    with TranslateClient(running.address, retries=0) as client:  # the typed client: an ImageTooLargeError
        with pytest.raises(OverBudgetError, match="pixel budget"):
            client.translate(big, "photo2art", tiling="never")


def test_several_large_images_never_share_one_model_call_over_the_batch_pixel_budget(tmp_path):
    """The batcher counted images, not pixels: eight 2048x2048 images would have run in one call."""
    tiny_translator(tmp_path / "m" / "1" / "model.onnx")
    rs = start_server(tmp_path, max_batch=8, max_batch_pixels=2 * 64 * 64)
    try:
        x = np.random.default_rng(0).uniform(-1, 1, (5, 3, 64, 64)).astype(np.float32)
        with tc.InferenceServerClient(rs.address) as client:
            inp = tc.InferInput("input", list(x.shape), "FP32")
            inp.set_data_from_numpy(x)
            out = client.infer("m", [inp]).as_numpy("output")
            single = np.concatenate([client.infer("m", [_inp(x[i:i + 1])]).as_numpy("output") for i in range(5)])
        assert np.allclose(out, single, atol=1e-6)  # same result as one by one
        m = rs.server.metrics
        calls = m.value("translate_batch_size_count", {"model": "m"})
        assert m.value("translate_batch_size_sum", {"model": "m"}) == 10 and calls == 8  # 2 + 2 + 1, then 5 x 1
        with TranslateClient(rs.address, retries=0) as c:
            assert c.get_model("m").limits["max_batch_pixels"] == 2 * 64 * 64
    finally:
        rs.server.drain(1)


def _inp(x):
    inp = tc.InferInput("input", list(x.shape), "FP32")
    inp.set_data_from_numpy(x)
    return inp


def test_the_batcher_closes_a_batch_at_the_pixel_budget():
    from serving.batcher import DynamicBatcher

    seen = []

    def run(x):
        seen.append(x.shape[0])
        return x

    b = DynamicBatcher(max_batch=8, batch_timeout=0.5, max_batch_pixels=2500)
    try:
        tickets = [b.submit("k", "m", run, (np.zeros((1, 4)),), pixels=1000) for _ in range(5)]
        for t in tickets:
            t.result(30)
        assert seen == [2, 2, 1]
    finally:
        b.close()


# ----------------------------------------------------------------------------- item 9: names and logs
LONG = "n" * 100_000


def test_overlong_model_names_are_refused_without_being_echoed(running, stub):
    """100 KB names used to come back whole in NOT_FOUND (the client then failed on metadata size)."""
    for call, req in ((stub.Translate, pb.TranslateRequest(model=LONG, image=png_bytes())),
                      (stub.GetModel, pb.GetModelRequest(name=LONG)),
                      (stub.Generate, pb.GenerateRequest(model=LONG, seeds=pb.SeedList(seeds=[1])))):
        code, details = _status(call, req)
        assert code == grpc.StatusCode.INVALID_ARGUMENT, details
        assert "over the limit of 256 bytes" in details and len(details) < 300
    with tc.InferenceServerClient(running.address) as client:
        with pytest.raises(Exception, match="over the limit of 256 bytes") as info:
            client.get_model_metadata(LONG)
        assert len(str(info.value)) < 400
        assert not client.is_model_ready(LONG)
    code, details = _status(stub.GetModel, pb.GetModelRequest(name="x" * 300))  # 300 bytes: over, too
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    code, details = _status(stub.GetModel, pb.GetModelRequest(name="y" * 200))  # a long but possible name
    assert code == grpc.StatusCode.NOT_FOUND and len(details) < 400


def test_log_lines_clip_what_the_client_chose(running, caplog):
    agent = "agent/" + "a" * 3000
    with caplog.at_level(logging.INFO, logger="serving.requests"):
        with grpc.insecure_channel(running.address, options=[("grpc.primary_user_agent", agent)]) as ch:
            s = pb_grpc.TranslateServiceStub(ch)
            _status(s.Translate, pb.TranslateRequest(model=LONG, image=png_bytes()),
                    metadata=(("x-request-id", "r" * 4000),))
            _status(s.GetModel, pb.GetModelRequest(name="z" * 250))
        with grpc.insecure_channel(running.address) as ch:
            req = service_pb2.ModelInferRequest(model_name="photo2art", model_version="9" * 5000)
            _status(service_pb2_grpc.GRPCInferenceServiceStub(ch).ModelInfer, req)
    lines = [r.getMessage() for r in caplog.records if r.name == "serving.requests"]
    assert len(lines) >= 3
    for line in lines:
        assert len(line) < 2000, line[:200]
        doc = json.loads(line)
        assert len(doc["request_id"]) <= 64 and len(doc["model"]) < 200
    assert any("agent/aaa" in json.loads(line).get("user_agent", "") for line in lines)


def test_auto_tiling_decides_on_the_padded_size(tmp_path):
    """An image under the budget whose padding takes it over is tiled by AUTO, never refused."""
    tiny_translator(tmp_path / "m" / "1" / "model.onnx", pad_multiple=32)  # min input 64 (2 multiples)
    rs = start_server(tmp_path, tile_above_pixels=64 * 64, tile_size=64)
    try:
        with TranslateClient(rs.address, retries=0) as client:
            fits = client.translate(png_bytes(60, 60), "m")  # padded to 64x64: exactly the budget
            grows = client.translate(png_bytes(60, 65), "m")  # 3900 pixels, padded to 64x96: over it
            assert (fits.tiled, grows.tiled) == (False, True) and (grows.width, grows.height) == (65, 60)
            with pytest.raises(OverBudgetError):
                client.translate(png_bytes(60, 65), "m", tiling="never")
    finally:
        rs.server.drain(1)
