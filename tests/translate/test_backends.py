"""Inference backends: ONNX Runtime vs PyTorch parity for every family, dynamic shapes,
image translation (apply_model) and Sampler behaviour, provider choice and input validation.

Spec: translate/backends/ (contract: Backend, OnnxBackend, TorchBackend, load_backend) and
translate/latents.py (Sampler); seeds and slerp are in test_latents.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from tiny_models import REPO_MODELS, make_tiny_repo

from translate.backends import gpu_present, load_backend
from translate.backends.onnxruntime import OnnxBackend, choose_providers
from translate.backends.torch import TorchBackend
from translate.errors import ConfigError, ImageError, ModelError
from translate.images import Image, apply_model
from translate.latents import Sampler, seed_latents


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """Tiny exported models of every family plus their checkpoints (tiny-<family>.pt next to the repo)."""
    return make_tiny_repo(tmp_path_factory.mktemp("inference"))


def _ckpt(repo, family):
    return repo.parent / f"tiny-{family}.pt"


def _photo(h, w, channels=3):
    rng = np.random.default_rng(h * 1000 + w)
    return Image(pixels=rng.integers(0, 256, (h, w, channels), dtype=np.uint8))


@pytest.mark.parametrize("name", list(REPO_MODELS))
def test_onnx_and_torch_backends_agree(repo, name):
    family, direction = REPO_MODELS[name]
    onnx_b = load_backend(repo / name / "1" / "model.onnx")
    torch_b = load_backend(_ckpt(repo, family), direction=direction or None)
    assert isinstance(onnx_b, OnnxBackend) and isinstance(torch_b, TorchBackend)
    assert onnx_b.providers == ["CPUExecutionProvider"]
    assert onnx_b.info.direction == torch_b.info.direction == direction
    rng = np.random.default_rng(0)
    if family == "dcgan":
        z = seed_latents([5, 6], onnx_b.info.latent_size)
        labels = np.array([0, 2])
        a, b = onnx_b.generate(z, labels), torch_b.generate(z, labels)
        assert a.shape == (2, 3, 32, 32)
    else:
        m = onnx_b.info.pad_multiple
        h = m * int(np.ceil(16 / m))  # ResNet needs >= 2 px after its two stride-2 convs (reflection pad)
        x = rng.uniform(-1, 1, (2, 3, h, 2 * h)).astype(np.float32)
        a, b = onnx_b(x), torch_b(x)
        assert a.shape == (2, 3, h * onnx_b.info.scale, 2 * h * onnx_b.info.scale)
    assert np.abs(a - b).max() < 1e-4


def test_dynamic_shapes_in_one_session(repo):
    sr = OnnxBackend(repo / "srgan" / "1" / "model.onnx", device="cpu", intra_op_threads=1)
    for shape in [(1, 3, 12, 20), (3, 3, 31, 9)]:
        out = sr(np.zeros(shape, np.float32))
        assert out.shape == (shape[0], 3, shape[2] * 2, shape[3] * 2)
    cg = OnnxBackend(repo / "cyclegan-BtoA" / "1" / "model.onnx")
    assert cg(np.zeros((1, 3, 8, 12), np.float32)).shape == (1, 3, 8, 12)
    assert cg(np.zeros((2, 3, 20, 16), np.float32)).shape == (2, 3, 20, 16)
    with pytest.raises(ModelError, match="ONNX Runtime failed on an input of shape"):
        cg(np.zeros((1, 3, 4, 4), np.float32))  # too small for the reflection padding


def _translate(backend, img):
    return apply_model(backend, img, backend.info)


def test_translation_pads_crops_and_matches_torch(repo):
    img = _photo(37, 50)  # neither a multiple of 4 (ResNet) nor of 128 (U-Net)
    for name in ("cyclegan-AtoB", "pix2pix"):
        family, direction = REPO_MODELS[name]
        onnx_out = _translate(load_backend(repo / name), img)
        torch_out = _translate(load_backend(_ckpt(repo, family), direction=direction), img)
        assert onnx_out.pixels.shape == (37, 50, 3)
        assert np.abs(onnx_out.pixels.astype(int) - torch_out.pixels).max() <= 1  # uint8 rounding
    sr = _translate(load_backend(repo / "srgan"), img)
    assert sr.pixels.shape == (74, 100, 3)


def test_bad_inputs_give_typed_errors(repo):
    cg = load_backend(repo / "cyclegan-AtoB")
    with pytest.raises(ImageError, match="3-channel images, got 1"):
        cg(np.zeros((1, 1, 8, 8), np.float32))
    with pytest.raises(ImageError, match="not a multiple of 4"):
        cg(np.zeros((1, 3, 10, 8), np.float32))
    with pytest.raises(ModelError, match="generate"):
        Sampler(cg)
    gen = load_backend(repo / "dcgan")
    with pytest.raises(ModelError, match="generates from latents"):
        _translate(gen, _photo(8, 8))
    with pytest.raises(ModelError, match=r"z must have shape \[N, 16\]"):
        gen.generate(np.zeros((1, 7), np.float32), np.zeros(1, np.int64))
    with pytest.raises(ModelError, match="class-conditional"):
        gen.generate(np.zeros((1, 16), np.float32))
    with pytest.raises(ModelError, match="0..2"):
        gen.generate(np.zeros((1, 16), np.float32), np.array([3]))
    with pytest.raises(ModelError, match="does not exist"):
        OnnxBackend(repo / "nope.onnx")
    with pytest.raises(ModelError, match="without model.onnx"):
        load_backend(repo)


def test_providers_are_chosen_deliberately(monkeypatch):
    assert choose_providers("cpu") == ["CPUExecutionProvider"]
    if not gpu_present():  # this CI machine: never ask ORT for CUDA (it would print an error and fall back)
        assert choose_providers("auto") == ["CPUExecutionProvider"]
        with pytest.raises(ModelError, match="no CUDA GPU"):
            choose_providers("cuda")
    with pytest.raises(ConfigError, match="unknown device"):
        choose_providers("tpu")


def test_sampler_same_seeds_same_images(repo):
    onnx_s = Sampler(load_backend(repo / "dcgan"), batch_size=2)
    torch_s = Sampler(load_backend(_ckpt(repo, "dcgan")))
    imgs = onnx_s.generate(seeds=[0, 1, 2], labels=1, truncation=0.8)
    assert len(imgs) == 3 and imgs[0].pixels.shape == (32, 32, 3) and imgs[0].pixels.dtype == np.uint8
    again = torch_s.generate(seeds=[0, 1, 2], labels=[1, 1, 1], truncation=0.8)
    for x, y in zip(imgs, again):
        assert np.abs(x.pixels.astype(int) - y.pixels).max() <= 1
    z = onnx_s.seed_latents([0, 1, 2], truncation=0.8)
    np.testing.assert_allclose(onnx_s.generate_arrays(z=z, labels=1), onnx_s.generate_arrays(seeds=[0, 1, 2],
                                                                                             labels=1,
                                                                                             truncation=0.8))
    with pytest.raises(ConfigError, match="either seeds or z"):
        onnx_s.generate()
    with pytest.raises(ModelError, match="class-conditional"):
        onnx_s.generate(seeds=[0])
