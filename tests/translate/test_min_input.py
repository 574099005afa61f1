"""A network's smallest input: recorded in ModelInfo / the ONNX metadata, and padded up to by the pipeline."""

from __future__ import annotations

import numpy as np
import pytest

from translate.images import Image, apply_model, pad_to_multiple, padded_size, round_tile, run_tiled
from translate.modelinfo import ModelInfo
from translate.nets import network_requirements


def test_min_input_size_defaults_per_family_and_travels_in_the_metadata():
    resnet = ModelInfo(family="cyclegan", task="translate", pad_multiple=4)
    unet = ModelInfo(family="pix2pix", task="translate", pad_multiple=256)
    sr = ModelInfo(family="srgan", task="super_resolve", scale=4)
    gen = ModelInfo(family="dcgan", task="generate", in_channels=0, latent_size=8)
    assert (resnet.min_input_size, unet.min_input_size, sr.min_input_size, gen.min_input_size) == (8, 256, 1, 0)
    # the defaults are never below what the networks declare
    assert resnet.min_input_size >= network_requirements("resnet_9blocks").min_input_size
    assert unet.min_input_size >= network_requirements("unet_256").min_input_size
    assert sr.min_input_size >= network_requirements("srresnet").min_input_size
    md = ModelInfo(family="cyclegan", task="translate", pad_multiple=4, min_input_size=12).to_metadata()
    assert md["min_input_size"] == "12" and ModelInfo.from_metadata(md).min_input_size == 12
    del md["min_input_size"]  # a file exported before the key existed: the family's safe default
    assert ModelInfo.from_metadata(md).min_input_size == 8
    assert ModelInfo.from_dict(resnet.to_dict()).min_input_size == 8


def test_padding_reaches_the_minimum_and_the_multiple():
    assert padded_size(1, 20000, 4, 8) == (8, 20000) and padded_size(9, 3, 4, 8) == (12, 8)
    assert padded_size(3, 3, 256, 256) == (256, 256) and padded_size(5, 5, 4, 10) == (12, 12)  # 10 -> a multiple
    x = np.arange(3, dtype=np.float32).reshape(1, 1, 1, 3)
    padded, size = pad_to_multiple(x, 4, min_size=8)
    assert padded.shape == (1, 1, 8, 8) and size == (1, 3)
    assert np.array_equal(padded[0, 0, :, :3], np.repeat(x[0, 0], 8, axis=0))  # 1 row: edge-replicated
    assert round_tile(2, 4, 8) == 8 and round_tile(2, 1, 1) == 2 and round_tile(100, 4, 8) == 100


def _network(min_side: int, multiple: int):
    """Stands in for a network that fails below ``min_side`` (as ONNX Runtime's reflect pad did)."""

    def fn(x):
        assert x.shape[2] >= min_side and x.shape[3] >= min_side, f"input {x.shape} below {min_side}"
        assert x.shape[2] % multiple == 0 and x.shape[3] % multiple == 0
        return np.tanh(x)

    return fn


@pytest.mark.parametrize("size", [(1, 1), (3, 3), (1, 200), (7, 2)])
@pytest.mark.parametrize("tile", [None, 2, 16])
def test_apply_model_runs_any_size_whole_or_tiled(size, tile):
    info = ModelInfo(family="cyclegan", task="translate", pad_multiple=4)  # min 8
    pixels = np.random.default_rng(0).integers(0, 256, (*size, 3), dtype=np.uint8)
    out = apply_model(_network(8, 4), Image(pixels), info, tile=tile, overlap=1)
    assert out.pixels.shape == (*size, 3)


def test_run_tiled_grows_tiny_tiles_to_the_minimum():
    x = np.zeros((1, 3, 5, 40), np.float32)
    out = run_tiled(_network(8, 4), x, tile=2, overlap=1, multiple=4, min_size=8)
    assert out.shape == (1, 3, 5, 40)
