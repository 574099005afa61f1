"""Images of any size: 1x1, 3x3 and 1x20000 through real exported networks, locally and through the server.

Tiny sides used to reach ONNX Runtime unpadded and fail inside the network ("Pad reflect requires
axis length >= 2" on a ResNet translator). Now each network's real minimum input
(``translate.nets.network_requirements(...).min_input_size``) travels in the ONNX metadata, and the
image pipeline pads up to it and crops back, for every family, whole and tiled.
"""

from __future__ import annotations

import numpy as np
import pytest
from server_fixtures import start_server
from tiny_models import make_tiny_repo

from serving.client import TranslateClient
from translate.backends.onnxruntime import OnnxBackend
from translate.cli import main
from translate.images import Image, apply_model, decode_image, encode_image, read_image
from translate.modelrepo import model_path

SIZES = [(1, 1), (3, 3), (1, 20000)]  # (height, width)
# repository name -> (min_input_size the export records, scale)
MODELS = {"cyclegan-AtoB": (8, 1), "pix2pix": (128, 1), "srgan": (1, 2)}  # ResNet, U-Net (unet_128), SRResNet


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    return make_tiny_repo(tmp_path_factory.mktemp("tiny"), families=("pix2pix", "cyclegan", "srgan"))


@pytest.fixture(scope="module")
def server(repo):
    rs = start_server(repo)
    yield rs
    rs.server.drain(1)


def _pixels(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_export_records_the_networks_real_minimum(repo, name):
    info = OnnxBackend(model_path(repo / name, 1), device="cpu").info
    assert info.min_input_size == MODELS[name][0]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_tiny_and_thin_images_run_locally_and_through_the_server_alike(repo, server, tmp_path, name):
    scale = MODELS[name][1]
    src = tmp_path / "in"
    src.mkdir()
    for h, w in SIZES:
        (src / f"{h}x{w}.png").write_bytes(encode_image(Image(_pixels(h, w, seed=h * w)), "png"))
    model = model_path(repo / name, 1)
    assert main(["run", "--model", str(model), "-i", str(src), "-o", str(tmp_path / "local"), "--no-progress"]) == 0
    assert main(["run", "--model", name, "--server", server.address, "-i", str(src), "-o", str(tmp_path / "remote"),
                 "--no-progress"]) == 0
    backend = OnnxBackend(model, device="cpu")
    with TranslateClient(server.address, retries=0, timeout=120) as client:
        for h, w in SIZES:
            data = (src / f"{h}x{w}.png").read_bytes()
            local = read_image(tmp_path / "local" / f"{h}x{w}.png").pixels
            assert local.shape[:2] == (h * scale, w * scale)
            assert np.array_equal(read_image(tmp_path / "remote" / f"{h}x{w}.png").pixels, local)
            whole = client.translate(data, name, tiling="never")  # padded whole, as `translate run --tile 0`
            ref = apply_model(backend, decode_image(data), backend.info, tile=None)
            assert (whole.height, whole.width) == (h * scale, w * scale)
            assert np.array_equal(decode_image(whole.image).pixels, ref.pixels)
            # a 2-pixel tile grows to the network's minimum
            tiny_tiles = client.translate(data, name, tiling="always", tile_size=2, overlap=1)
            ref = apply_model(backend, decode_image(data), backend.info, tile=2, overlap=1)
            assert np.array_equal(decode_image(tiny_tiles.image).pixels, ref.pixels)
