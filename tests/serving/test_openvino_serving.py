"""The server on OpenVINO: translate.v1 and KServe v2 answer what the local OpenVINO backend computes,
through dynamic batching and hot reload, and say which runtime and precision each model runs on.

Models: an SRResNet exported with an int8 variant (``translate export --precision fp32,int8``,
calibrated on real photo crops) and a plain fp32 translator. ``--backend openvino`` lets ``auto``
measure the super-resolver's variants; ``--precision int8`` makes the plain model UNAVAILABLE with
the reason, while the other keeps serving.
"""

from __future__ import annotations

import shutil
import time

import numpy as np
import pytest

pytest.importorskip("openvino")
pytest.importorskip("nncf")
pytest.importorskip("skimage")

import grpc  # noqa: E402
import tritonclient.grpc as tc  # noqa: E402
from precision_models import image_folders, super_resolver_checkpoint  # noqa: E402
from server_fixtures import start_server, tiny_translator  # noqa: E402

from serving.client import TranslateClient  # noqa: E402
from serving.gen import translate_pb2 as pb  # noqa: E402
from serving.gen import translate_pb2_grpc as pb_grpc  # noqa: E402
from translate.backends import load_backend  # noqa: E402
from translate.export import export_to_repository  # noqa: E402
from translate.images import apply_model, decode_image, list_image_files, read_image  # noqa: E402
from translate.precision_export import model_inputs  # noqa: E402


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    root = tmp_path_factory.mktemp("openvino-serving")
    calibration, held_out = image_folders(root)
    models = root / "MODELS"
    export_to_repository(super_resolver_checkpoint(root / "sr.pt"), models, "sr", precisions=("fp32", "int8"),
                         calibration=calibration, fidelity_images=held_out, verify=False, exporter="torchscript")
    tiny_translator(models / "plain" / "1" / "model.onnx", seed=1)
    return {"models": models, "held_out": held_out, "cache": root / "cache"}


@pytest.fixture
def own_cache(repo, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(repo["cache"]))


def _stub(address):
    channel = grpc.insecure_channel(address)
    return channel, pb_grpc.TranslateServiceStub(channel)


def _wait_for(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def test_server_runs_models_on_openvino_through_both_apis(repo, own_cache):
    rs = start_server(repo["models"], backend="openvino")
    channel, stub = _stub(rs.address)
    try:
        listed = {m.name: m for m in stub.ListModels(pb.ListModelsRequest(), timeout=30).models}
        assert {n: m.state for n, m in listed.items()} == {"plain": pb.MODEL_STATE_READY, "sr": pb.MODEL_STATE_READY}
        assert (listed["plain"].runtime.backend, listed["plain"].runtime.precision) == ("openvino", "fp32")
        desc = stub.GetModel(pb.GetModelRequest(name="sr"), timeout=30)
        runtime = desc.runtime
        assert runtime.backend == "openvino" and runtime.precision in ("fp32", "bf16", "int8")
        assert runtime.reason.startswith("auto: measured on this machine")
        if runtime.precision == "int8":
            assert runtime.psnr_db >= 35

        # translate.v1: the same pixels as the local backend of the same runtime and precision
        local = load_backend(repo["models"] / "sr", backend="openvino", precision=runtime.precision,
                             intra_op_threads=1)
        files = list_image_files(repo["held_out"])[:6]
        with TranslateClient(rs.address, retries=0, timeout=60) as client:
            single = decode_image(client.translate(files[0].read_bytes(), "sr").image).pixels
            want = apply_model(local, read_image(files[0]), local.info).pixels
            assert np.abs(single.astype(int) - want.astype(int)).max() <= 1
            # a stream of six: the dynamic batcher groups them; each answer is still its own image's
            answers = list(client.translate_stream(((str(i), f.read_bytes()) for i, f in enumerate(files)), "sr"))
        assert [a.id for a in answers] == [str(i) for i in range(6)] and all(a.error is None for a in answers)
        for a, f in zip(answers, files):
            got = decode_image(a.result.image).pixels
            assert np.abs(got.astype(int) - apply_model(local, read_image(f), local.info).pixels).max() <= 1

        # KServe v2: FP32 tensors as the local backend computes them; metadata and config name the runtime
        triton = tc.InferenceServerClient(rs.address)
        x = model_inputs(files[:2], local.info)
        batch = np.concatenate(x)
        inp = tc.InferInput("input", list(batch.shape), "FP32")
        inp.set_data_from_numpy(batch)
        out = triton.infer("sr", [inp]).as_numpy("output")
        np.testing.assert_allclose(out, local(batch), atol=1e-4)
        assert triton.get_model_metadata("sr").platform == "openvino_onnx"
        config = triton.get_model_config("sr").config
        assert config.backend == "openvino"
        assert config.parameters["runtime.precision"].string_value == runtime.precision
        # the metadata is the running file's: model.int8.onnx (with its measured figures) when int8 runs
        assert ("fidelity.openvino-int8.psnr_db" in config.parameters) == (runtime.precision == "int8")
        assert ("fidelity.openvino-int8.psnr_db" in desc.metadata) == (runtime.precision == "int8")
        triton.close()

        # hot reload: a new version is loaded beside the old one and runs on OpenVINO too
        shutil.copytree(repo["models"] / "sr" / "1", repo["models"] / "sr" / "2")
        reloaded = _wait_for(lambda: (d := stub.GetModel(pb.GetModelRequest(name="sr"), timeout=30)).version == 2
                             and d)
        assert reloaded.runtime.backend == "openvino"
        assert reloaded.runtime.reason.startswith("auto: measured")  # same files, same machine: from the cache
    finally:
        channel.close()
        rs.server.drain(1)
        shutil.rmtree(repo["models"] / "sr" / "2", ignore_errors=True)


def test_explicit_precision_the_model_lacks_makes_it_unavailable_with_the_reason(repo, own_cache):
    rs = start_server(repo["models"], backend="openvino", precision="int8")
    channel, stub = _stub(rs.address)
    try:
        listed = {m.name: m for m in stub.ListModels(pb.ListModelsRequest(), timeout=30).models}
        assert listed["sr"].state == pb.MODEL_STATE_READY
        assert (listed["sr"].runtime.precision, listed["sr"].runtime.reason) == ("int8", "chosen explicitly")
        assert listed["plain"].state == pb.MODEL_STATE_UNAVAILABLE
        assert "no int8 variant exported (translate export --precision int8)" in listed["plain"].error
        assert not listed["plain"].HasField("runtime")
    finally:
        channel.close()
        rs.server.drain(1)
