"""Every RPC of translate.v1 against a real server (port 0, ONNX Runtime, tiny models).

Results are compared pixel for pixel with the local path (translate.images + OnnxBackend/Sampler),
and every bad input must get its status code while the server stays SERVING.
"""

from __future__ import annotations

import struct
import threading
import zlib

import grpc
import numpy as np
import pytest
from server_fixtures import local_translate, make_repo, png_bytes, start_server

from serving.client import (
    InvalidInputError,
    ServerUnavailableError,
    TranslateClient,
    UnknownModelError,
)
from serving.engine import Call
from translate.errors import ImageError, ImageTooLargeError
from translate.images import decode_image


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    rs = start_server(make_repo(tmp_path_factory.mktemp("models")))
    yield rs
    rs.server.drain(1)


@pytest.fixture(scope="module")
def client(running):
    with TranslateClient(running.address, timeout=20, retries=0) as c:
        yield c


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def fake_png(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height but whose data is a few bytes (a bomb / a 0x0 image)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(b"\0" * 16))
            + _png_chunk(b"IEND", b""))


def test_translate_matches_local_cli(running, client):
    data = png_bytes(21, 30, seed=1)  # not a multiple of 4: padded and cropped back
    out = client.translate(data, "photo2art", request_id="req-1")
    ref = local_translate(running.root / "photo2art" / "1" / "model.onnx", data)
    assert (out.width, out.height, out.format, out.model, out.version) == (30, 21, "png", "photo2art", 1)
    assert np.array_equal(decode_image(out.image).pixels, ref.pixels)


def test_output_formats_and_grey_model(running, client):
    data = png_bytes(16, 16, seed=2)
    jpg = client.translate(data, "photo2art", output_format="jpeg", quality=80)
    assert jpg.format == "jpeg" and jpg.image[:2] == b"\xff\xd8"
    grey = client.translate(data, "grey")  # RGB in, 1-channel model: converted by translate.images
    ref = local_translate(running.root / "grey" / "1" / "model.onnx", data)
    assert np.array_equal(decode_image(grey.image).pixels, ref.pixels) and ref.pixels.shape[2] == 1


def test_super_resolution_and_tiling_match_local(running, client):
    data = png_bytes(40, 48, seed=3)
    sr = client.translate(data, "sr")
    assert (sr.width, sr.height) == (96, 80)
    ref = local_translate(running.root / "sr" / "1" / "model.onnx", data)
    assert np.array_equal(decode_image(sr.image).pixels, ref.pixels)
    tiled = client.translate(data, "sr", tiling="always", tile_size=16, overlap=4)
    ref_tiled = local_translate(running.root / "sr" / "1" / "model.onnx", data, tile=16, overlap=4)
    assert tiled.tiled and np.array_equal(decode_image(tiled.image).pixels, ref_tiled.pixels)


def test_translate_stream_keeps_order_and_reports_item_errors(running, client):
    items = [(f"img{i}", png_bytes(12, 12, seed=10 + i)) for i in range(5)]
    items[2] = ("bad", b"definitely not an image")
    out = list(client.translate_stream(items, "photo2art"))
    assert [r.id for r in out] == [i for i, _ in items]
    assert isinstance(out[2].error, InvalidInputError) and "not an image" in str(out[2].error)
    for (_, data), r in zip(items, out):
        if r.error is None:
            ref = local_translate(running.root / "photo2art" / "1" / "model.onnx", data)
            assert np.array_equal(decode_image(r.result.image).pixels, ref.pixels)


def test_generate_seeds_range_latents_match_sampler(running, client):
    from translate.backends.onnxruntime import OnnxBackend
    from translate.images import decode_image as dec
    from translate.latents import Sampler

    sampler = Sampler(OnnxBackend(running.root / "faces" / "1" / "model.onnx", device="cpu"))
    by_seeds = client.generate("faces", seeds=[3, 7, 11], truncation=0.7)
    local = sampler.generate(seeds=[3, 7, 11], truncation=0.7)
    assert [g.seed for g in by_seeds] == [3, 7, 11]
    assert all(np.array_equal(dec(g.image).pixels, img.pixels) for g, img in zip(by_seeds, local))
    by_range = client.generate("faces", count=3, first_seed=5)
    assert [g.seed for g in by_range] == [5, 6, 7]
    assert np.array_equal(dec(by_range[0].image).pixels, sampler.generate(seeds=[5])[0].pixels)
    z = sampler.seed_latents([9])
    by_latent = client.generate("faces", latents=z.tolist())
    assert by_latent[0].seed is None
    assert np.array_equal(dec(by_latent[0].image).pixels, sampler.generate(seeds=[9])[0].pixels)


def test_generate_class_conditional_and_bad_requests(client):
    assert len(client.generate("digits", seeds=[1, 2], label=2)) == 2
    with pytest.raises(InvalidInputError, match="class-conditional: set label to 0..2"):
        client.generate("digits", seeds=[1])
    with pytest.raises(InvalidInputError, match="exactly 8 values"):
        client.generate("faces", latents=[[0.0] * 7])  # wrong latent width
    with pytest.raises(InvalidInputError, match="1 to 64"):
        client.generate("faces", count=65)
    with pytest.raises(InvalidInputError, match="call Translate instead"):
        client.generate("photo2art", seeds=[1])
    with pytest.raises(InvalidInputError, match="call Generate instead"):
        client.translate(png_bytes(), "faces")


def test_list_and_get_model(running, client):
    models = {m.name: m for m in client.list_models()}
    assert set(models) == {"broken", "digits", "faces", "grey", "photo2art", "sr"}
    assert models["broken"].state == "UNAVAILABLE" and "not a readable ONNX file" in models["broken"].error
    assert str(running.root) not in models["broken"].error  # no server paths leak to clients
    assert models["sr"].state == "READY" and models["sr"].task == "super_resolve"
    d = client.get_model("sr")
    assert (d.scale, d.pad_multiple, d.available_versions, d.family) == (2, 1, [1], "srgan")
    assert d.metadata["format"] == "translate-onnx" and d.limits["max_message_bytes"] == 64 * 2**20
    assert d.limits["max_image_pixels"] == 4096 * 4096


@pytest.mark.parametrize("data, code_match", [
    (b"GIF89a not really", "not an image"),
    (png_bytes(32, 32)[:60], "truncated|corrupt"),
    (fake_png(0, 0), "no pixels|corrupt"),
    (fake_png(5000, 5000), "5000x5000 = 25,000,000 pixels, over the limit of 16,777,216 pixels"),
    (fake_png(100_000, 100_000), "limit: 16,777,216 pixels"),  # beyond Pillow's own bomb guard too
    (b"", "no image bytes"),
], ids=["not-an-image", "truncated", "0x0", "too-many-pixels", "decompression-bomb", "empty"])
def test_bad_images_are_invalid_argument_and_server_stays_healthy(client, data, code_match):
    with pytest.raises(InvalidInputError, match=code_match) as info:
        client.translate(data, "photo2art")
    assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT and isinstance(info.value, ImageError)
    assert client.health() == "SERVING" and client.health("photo2art") == "SERVING"


def test_bomb_is_image_too_large_error_locally_too(client):
    with pytest.raises(ImageTooLargeError):
        decode_image(fake_png(100_000, 100_000))


def test_unknown_model_version_and_broken_model(client):
    with pytest.raises(UnknownModelError, match="no model named 'nope'.*photo2art"):
        client.translate(png_bytes(), "nope")
    with pytest.raises(UnknownModelError, match="no version 7.*versions on disk: \\[1\\]"):
        client.translate(png_bytes(), "photo2art", version=7)
    with pytest.raises(ServerUnavailableError, match="not available: version 1 failed to load"):
        client.translate(png_bytes(), "broken")
    assert client.health() == "SERVING"
    assert (client.health("broken"), client.health("nope")) == ("NOT_SERVING", "SERVICE_UNKNOWN")


def test_wrong_channel_count_tensor_is_invalid_argument(running):
    """The tensor path (used by other protocols) rejects a 2-channel batch for a 3-channel model."""
    from serving.errors import status_for

    with running.server.repository.lease("photo2art") as mv:
        with pytest.raises(ImageError, match="3-channel images, got 2 channels") as info:
            running.server.engine.infer(mv, (np.zeros((1, 2, 8, 8), np.float32),), Call())
    assert status_for(info.value)[0] == grpc.StatusCode.INVALID_ARGUMENT


def test_reflection_lists_services(running):
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

    with grpc.insecure_channel(running.address) as ch:
        services = set(ProtoReflectionDescriptorDatabase(ch).get_services())
    assert {"translate.v1.TranslateService", "grpc.health.v1.Health"} <= services


@pytest.fixture(scope="module")
def batching(tmp_path_factory):
    """A server that waits up to 300 ms to fill batches of 8, so concurrent requests combine."""
    rs = start_server(make_repo(tmp_path_factory.mktemp("batching")), max_batch=8, batch_timeout_ms=300)
    yield rs
    rs.server.drain(1)


def _concurrently(n, fn):
    results, errors = [None] * n, []

    def work(i):
        try:
            results[i] = fn(i)
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    return results


def test_batched_equals_unbatched(batching):
    images = [png_bytes(24, 24, seed=100 + i) for i in range(8)]
    metrics = batching.server.metrics
    with TranslateClient(batching.address, retries=0) as c:
        out = _concurrently(8, lambda i: c.translate(images[i], "photo2art"))
    batches = metrics.value("translate_batch_size_count", {"model": "photo2art"})
    assert metrics.value("translate_images_total", {"model": "photo2art"}) == 8
    assert batches < 8, "concurrent same-shape requests should have been combined"
    for data, r in zip(images, out):  # the local reference runs one image at a time
        ref = local_translate(batching.root / "photo2art" / "1" / "model.onnx", data)
        assert np.array_equal(decode_image(r.image).pixels, ref.pixels)


def test_32_concurrent_clients_all_correct(batching):
    shapes = [(16, 16), (20, 28), (33, 17), (8, 64)]
    images = [png_bytes(*shapes[i % 4], seed=200 + i) for i in range(32)]

    def one(i):
        with TranslateClient(batching.address, retries=0, timeout=30) as c:
            return c.translate(images[i], "photo2art")

    out = _concurrently(32, one)
    model = batching.root / "photo2art" / "1" / "model.onnx"
    for data, r in zip(images, out):
        assert np.array_equal(decode_image(r.image).pixels, local_translate(model, data).pixels)


def test_real_exports_of_every_family_match_local(tmp_path):
    """Models exported by translate.export (ResNet translator, conditional DCGAN) served == local CLI."""
    from tiny_models import REPO_MODELS, make_tiny_repo

    from translate.backends.onnxruntime import OnnxBackend
    from translate.images import decode_image as dec
    from translate.latents import Sampler

    # Two families keep this test short (the hand-built models above cover SR); pix2pix is left out because
    # its tiny U-Net (unet_128, ngf 4) fails the TorchScript export in tiny_models.
    repo = make_tiny_repo(tmp_path, families=("cyclegan", "dcgan"))
    rs = start_server(repo, max_batch=4, batch_timeout_ms=50)
    try:
        with TranslateClient(rs.address, retries=0) as c:
            ready = {m.name for m in c.list_models() if m.state == "READY"}
            assert ready == {p.name for p in repo.iterdir() if p.is_dir()} and ready <= set(REPO_MODELS)
            for name in sorted(ready & {"pix2pix", "cyclegan-AtoB", "srgan"}):
                images = [png_bytes(30, 26, seed=300 + i) for i in range(3)]
                out = _concurrently(3, lambda i, name=name, images=images: c.translate(images[i], name))
                for data, r in zip(images, out):
                    ref = local_translate(repo / name / "1" / "model.onnx", data)
                    assert np.array_equal(dec(r.image).pixels, ref.pixels), name
            info = c.get_model("dcgan")
            gen = c.generate("dcgan", seeds=[1, 2], label=1)
            local = Sampler(OnnxBackend(repo / "dcgan" / "1" / "model.onnx", device="cpu")).generate(seeds=[1, 2],
                                                                                                    labels=1)
            assert all(np.array_equal(dec(g.image).pixels, img.pixels) for g, img in zip(gen, local))
            if "pix2pix" in ready and c.get_model("pix2pix").metadata.get("batchnorm_mode") == "batch":
                assert c.get_model("pix2pix").limits["max_batch"] == 1  # batch statistics: never combined
            assert info.num_classes == 3
    finally:
        rs.server.drain(1)
