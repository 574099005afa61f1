"""The engine is the one core; the protocol adapters are thin.

Both adapters run here on a bare ``grpc.aio`` server built from an engine alone (no InferenceServer),
which is all they are given in production too. The same bad tensor must get the same status and
the same message through the engine and through KServe, a check shared by translate.v1 and KServe
must read the same through both, and a generator must give through KServe exactly what the engine
computes for the same seeds.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np
import pytest
import tritonclient.grpc as tc
from server_fixtures import make_repo, png_bytes
from tritonclient.grpc import service_pb2, service_pb2_grpc
from tritonclient.utils import np_to_triton_dtype

from serving.batcher import DynamicBatcher
from serving.client import InvalidInputError, TranslateClient
from serving.engine import Call, InferenceEngine, Limits, TranslateResult
from serving.errors import status_for
from serving.gen import grpc_service_pb2_grpc as kserve_grpc
from serving.gen import translate_pb2_grpc as translate_grpc
from serving.kserve import KServeServicer
from serving.observe import RequestObserver
from serving.repository import ModelRepository, default_backend_factory
from serving.servicer import TranslateServicer
from translate.images import decode_image, from_model_array
from translate.latents import seed_latents

NZ, CLASSES = 8, 3  # the tiny generators of server_fixtures.make_repo


class Bare:
    """An engine and both adapters on a plain grpc.aio server: what the adapters get is all they use."""

    def __init__(self, root) -> None:
        self.repository = ModelRepository(root, default_backend_factory(intra_op_threads=1))
        self.repository.poll()
        self.batcher = DynamicBatcher(max_batch=8, batch_timeout=0.002)
        self.engine = InferenceEngine(self.repository, self.batcher, Limits())
        observer = RequestObserver(metrics=None, executor=ThreadPoolExecutor(4))
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()

        async def build():
            server = grpc.aio.server()
            translate_grpc.add_TranslateServiceServicer_to_server(TranslateServicer(self.engine, observer), server)
            kserve_grpc.add_GRPCInferenceServiceServicer_to_server(
                KServeServicer(self.engine, lambda service: service in ("", "photo2art", "faces", "digits"), observer),
                server)
            port = server.add_insecure_port("127.0.0.1:0")
            await server.start()
            return server, port

        self.grpc, port = asyncio.run_coroutine_threadsafe(build(), self.loop).result()
        self.address = f"127.0.0.1:{port}"

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.grpc.stop(0), self.loop).result()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.batcher.close()
        self.repository.close()


@pytest.fixture(scope="module")
def bare(tmp_path_factory):
    b = Bare(make_repo(tmp_path_factory.mktemp("engine")))
    yield b
    b.close()


@pytest.fixture(scope="module")
def triton(bare):
    with tc.InferenceServerClient(bare.address) as client:
        yield client


def kserve_infer(bare, model: str, inputs: dict[str, np.ndarray], outputs=()) -> service_pb2.ModelInferResponse:
    """One ModelInfer call with raw tensors, built with the official message classes."""
    req = service_pb2.ModelInferRequest(model_name=model)
    for name, arr in inputs.items():
        req.inputs.add(name=name, datatype=np_to_triton_dtype(arr.dtype), shape=list(arr.shape))
        req.raw_input_contents.append(np.ascontiguousarray(arr).tobytes())
    for name in outputs:
        req.outputs.add(name=name)
    with grpc.insecure_channel(bare.address) as ch:
        return service_pb2_grpc.GRPCInferenceServiceStub(ch).ModelInfer(req, timeout=30)


def kserve_error(bare, model: str, inputs: dict[str, np.ndarray], outputs=()) -> tuple[str, str]:
    with pytest.raises(grpc.RpcError) as info:
        kserve_infer(bare, model, inputs, outputs)
    return info.value.code().name, info.value.details()


def engine_error(bare, model: str, inputs: dict[str, np.ndarray], outputs=()) -> tuple[str, str]:
    with pytest.raises(Exception) as info:
        bare.engine.infer_tensors(model, 0, inputs, Call(), outputs=outputs)
    code, message = status_for(info.value)
    return code.name, message


def f32(*shape, value=0.0):
    return np.full(shape, value, np.float32)


z1 = seed_latents([1], NZ)
BAD = {
    "3-d shape": ("photo2art", {"input": f32(3, 8, 8)}, ()),
    "channels": ("photo2art", {"input": f32(1, 2, 8, 8)}, ()),
    "not a multiple": ("photo2art", {"input": f32(1, 3, 6, 8)}, ()),
    "dtype": ("photo2art", {"input": np.zeros((1, 3, 8, 8), np.int32)}, ()),
    "nan": ("photo2art", {"input": f32(1, 3, 4, 4, value=np.nan)}, ()),
    "pixels C": ("photo2art", {"input": np.zeros((1, 4, 4, 6), np.uint8)}, ()),
    "too many images": ("photo2art", {"input": np.zeros((65, 4, 4, 3), np.uint8)}, ()),
    "no images": ("photo2art", {"input": f32(0, 3, 8, 8)}, ()),
    "input name": ("photo2art", {"image": f32(1, 3, 8, 8)}, ()),
    "output name": ("photo2art", {"input": f32(1, 3, 8, 8)}, ("probs",)),
    "missing input": ("photo2art", {}, ()),
    "z width": ("faces", {"z": f32(1, 5)}, ()),
    "z dtype": ("faces", {"z": np.zeros((1, NZ), np.int64)}, ()),
    "z nan": ("faces", {"z": f32(1, NZ, value=np.inf)}, ()),
    "missing label": ("digits", {"z": z1}, ()),
    "label dtype": ("digits", {"z": z1, "label": f32(1)}, ()),
    "label range": ("digits", {"z": z1, "label": np.array([CLASSES], np.int64)}, ()),
    "label for unconditional": ("faces", {"z": z1, "label": np.array([0], np.int64)}, ()),
    "unknown model": ("nope", {"input": f32(1, 3, 8, 8)}, ()),
    "broken model": ("broken", {"input": f32(1, 3, 8, 8)}, ()),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_tensor_gets_the_engines_status_and_message_through_kserve(bare, case):
    model, inputs, outputs = BAD[case]
    code, message = engine_error(bare, model, inputs, outputs)
    assert code in ("INVALID_ARGUMENT", "NOT_FOUND", "UNAVAILABLE") and message
    assert kserve_error(bare, model, inputs, outputs) == (code, message)


def test_latent_and_label_checks_read_the_same_through_translate_v1_and_kserve(bare):
    """One check each, whichever protocol brought the latents or the labels."""
    with TranslateClient(bare.address, retries=0, timeout=30) as client:
        with pytest.raises(InvalidInputError) as width:
            client.generate("faces", latents=np.zeros((1, NZ - 1)))
        with pytest.raises(InvalidInputError) as nan:
            client.generate("faces", latents=np.full((1, NZ), np.nan))
        with pytest.raises(InvalidInputError) as label:
            client.generate("digits", seeds=[1], label=CLASSES)
    for err, (model, inputs) in ((width, ("faces", {"z": f32(1, NZ - 1)})),
                                 (nan, ("faces", {"z": f32(1, NZ, value=np.nan)})),
                                 (label, ("digits", {"z": z1, "label": np.array([CLASSES])}))):
        code, message = kserve_error(bare, model, inputs)
        assert err.value.details == f"{code}: {message}"  # the client prefixes the status code
    assert str(label.value) == ("INVALID_ARGUMENT: labels out of range: this model has classes "
                                f"0..{CLASSES - 1} (got {CLASSES})")


@pytest.mark.parametrize("model, label, truncation", [("digits", 2, None), ("faces", None, 0.7)])
def test_generator_through_kserve_equals_the_engine_for_the_same_seeds(bare, triton, model, label, truncation):
    seeds = [3, 4, 5]
    gen = bare.engine.generate_tensors(model, seeds=seeds, label=label, truncation=truncation)
    z = tc.InferInput("z", [3, NZ], "FP32")
    z.set_data_from_numpy(seed_latents(seeds, NZ, truncation))  # the seed rule, applied by the caller
    inputs = [z]
    if label is not None:
        labels = tc.InferInput("label", [3], "INT64")
        labels.set_data_from_numpy(np.full(3, label, np.int64))
        inputs.append(labels)
    out = triton.infer(model, inputs).as_numpy("output")
    assert gen.output.shape == (3, 3, 8, 8) and gen.seeds == seeds
    assert np.array_equal(out, gen.output)
    images = bare.engine.generate_images(model, seeds=seeds, label=label, truncation=truncation)  # built on top
    assert all(np.array_equal(decode_image(png).pixels, from_model_array(a)) for png, a in zip(images.images, out))


def test_both_adapters_serve_from_an_engine_alone(bare, triton):
    """No InferenceServer: the readiness view, UINT8 pixels and Translate all come from the engine."""
    assert triton.is_server_ready() and triton.is_model_ready("photo2art") and not triton.is_model_ready("sr")
    assert triton.get_model_metadata("photo2art").platform == "onnxruntime_onnx"
    data = png_bytes(13, 18, seed=7)
    pixels = decode_image(data).pixels
    x = tc.InferInput("input", [1, 13, 18, 3], "UINT8")
    x.set_data_from_numpy(pixels[None])
    through_kserve = triton.infer("photo2art", [x]).as_numpy("output")[0]
    engine = bare.engine.infer_tensors("photo2art", 0, {"input": pixels[None]}, Call())
    assert (engine.model, engine.version, list(engine.outputs)) == ("photo2art", 1, ["output"])
    assert np.array_equal(through_kserve, engine.outputs["output"][0])
    with TranslateClient(bare.address, retries=0, timeout=30) as client:
        res = client.translate(data, "photo2art")
    assert isinstance(res, TranslateResult) and (res.format, res.width, res.height) == ("png", 18, 13)
    assert np.array_equal(decode_image(res.image).pixels, through_kserve)  # image path == uint8 tensor path


def test_image_level_calls_check_before_compute(bare):
    with pytest.raises(Exception, match="unknown output format 'gif'; use png, jpeg or webp"):
        bare.engine.translate_image("photo2art", png_bytes(), output_format="gif")
    with pytest.raises(Exception, match="tiling must be auto, always or never"):
        bare.engine.translate_image("photo2art", png_bytes(), tiling="sometimes")
    jpeg = bare.engine.translate_image("photo2art", png_bytes(), output_format=".JPG")
    assert jpeg.format == "jpeg" and jpeg.image[:2] == b"\xff\xd8"
    with pytest.raises(Exception, match="give either seeds") as info:
        bare.engine.generate_tensors("faces")
    assert status_for(info.value)[0] == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(Exception, match="asked for 65 images; one call makes 1 to 64") as info:
        bare.engine.generate_tensors("faces", seeds=range(65))
    assert status_for(info.value)[0] == grpc.StatusCode.INVALID_ARGUMENT
    assert bare.batcher.queued() == 0
