"""Networks that start as their trivial baseline: SRResNet's global bicubic skip and the keep-luma U-Net.

Spec: translate/nets/srresnet.py (``global_skip``), translate/nets/unet.py (``keep_luma``),
translate/nets/__init__.py (``init_weights`` keeps layers marked ``zero_init``). An untrained
network must output exactly its baseline (bicubic upsampling; the grey input), also after
``build_network`` re-initialises every layer; a trained one must export to ONNX with parity.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F

from translate.checkpoint import build_checkpoint, load_generator, save_checkpoint
from translate.errors import ConfigError
from translate.export import export_onnx
from translate.modelinfo import ModelInfo
from translate.nets import INIT_TYPES, build_network, check_network, init_weights
from translate.nets.srresnet import SRResNet
from translate.nets.unet import UnetGenerator

# Tolerance of "equals its baseline at initialisation": the residual branch is exactly zero, so
# the only difference could come from float arithmetic; measured 0.0, allowed 1e-6 (outputs in [-1, 1]).
INIT_TOL = 1e-6


def _bicubic(x: torch.Tensor, scale: int) -> torch.Tensor:
    return F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False)


@pytest.mark.parametrize("init_type", INIT_TYPES)
@pytest.mark.parametrize(("scale", "hw"), [(2, (9, 14)), (4, (13, 17)), (8, (5, 6))])
def test_untrained_global_skip_srresnet_is_bicubic(init_type, scale, hw):
    torch.manual_seed(0)
    g = build_network("srresnet", num_feat=8, num_blocks=2, scale=scale, global_skip=True, init_type=init_type)
    x = torch.rand(2, 3, *hw) * 2 - 1
    for mode in ("train", "eval"):
        getattr(g, mode)()
        with torch.no_grad():
            out = g(x)
        assert out.shape == (2, 3, hw[0] * scale, hw[1] * scale)
        assert (out - _bicubic(x, scale)).abs().max().item() <= INIT_TOL


def test_init_weights_keeps_zero_init_layers_but_sets_the_others():
    """The pitfall: build_network re-initialises every conv after construction; marked layers stay zero."""
    g = SRResNet(num_feat=4, num_blocks=1, scale=2, global_skip=True)
    with torch.no_grad():
        g.tail.weight.fill_(1.0)  # as if something had written it
    init_weights(g, "normal", 0.02)
    assert g.tail.weight.abs().max() == 0 and g.tail.bias.abs().max() == 0
    assert g.head[0].weight.std() > 0.005  # the rest is N(0, 0.02) as before


def test_without_global_skip_the_network_is_unchanged():
    g = build_network("srresnet", num_feat=4, num_blocks=1, scale=2)
    skip = build_network("srresnet", num_feat=4, num_blocks=1, scale=2, global_skip=True)
    assert not g.global_skip and g.tail.weight.abs().max() > 0
    assert g.state_dict().keys() == skip.state_dict().keys()  # same parameters: checkpoints stay interchangeable


def test_global_skip_requirements_and_errors():
    assert network_choices("srresnet")["global_skip"] == (False, True)
    with pytest.raises(ConfigError, match="in_channels == out_channels"):
        check_network("srresnet", {"global_skip": True, "in_channels": 1, "out_channels": 3})
    with pytest.raises(ConfigError, match="global_skip must be one of"):
        check_network("srresnet", {"global_skip": "yes"})


def network_choices(arch: str) -> dict:
    from translate.nets import network_requirements

    return network_requirements(arch).choices


@pytest.mark.parametrize("arch", ["unet_128", "unet_256"])
def test_untrained_keep_luma_unet_outputs_the_grey_input(arch):
    torch.manual_seed(0)
    g = build_network(arch, in_channels=1, out_channels=3, ngf=4, keep_luma=True)
    side = g.pad_multiple
    y = torch.rand(2, 1, side, side * 2) * 2 - 1
    for mode in ("train", "eval"):
        getattr(g, mode)()
        with torch.no_grad():
            out = g(y)
        assert out.shape == (2, 3, side, side * 2)
        assert (out - y.expand(-1, 3, -1, -1)).abs().max().item() <= INIT_TOL


def _perturb(net: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Give every parameter (the zero-initialised last layer too) 'trained' non-zero values."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=gen))
    return net


def test_trained_keep_luma_unet_colours_but_keeps_the_luma():
    g = _perturb(build_network("unet_128", in_channels=1, out_channels=3, ngf=4, keep_luma=True), 1).eval()
    y = torch.rand(1, 1, 128, 128) * 1.2 - 0.6  # mid-tones, so no colour is clamped
    with torch.no_grad():
        rgb = g(y)
    assert (rgb - y).abs().max() > 0.05  # it does colour
    luma = 0.299 * rgb[:, 0] + 0.587 * rgb[:, 1] + 0.114 * rgb[:, 2]  # translate.images.rgb_to_luma's weights
    assert (luma - y[:, 0]).abs().max().item() < 1e-5


def test_keep_luma_needs_grey_in_rgb_out():
    with pytest.raises(ConfigError, match="in_channels=1 and out_channels=3"):
        check_network("unet_128", {"keep_luma": True})  # default in/out channels are 3/3
    assert network_choices("unet_128")["keep_luma"] == (False, True)
    assert isinstance(build_network("unet_128", in_channels=1, out_channels=3, ngf=2, keep_luma=True), UnetGenerator)


def _checkpoint(tmp_path, net, info: ModelInfo):
    d = build_network("patch", in_channels=3, ndf=2, n_layers=1)
    ckpt = build_checkpoint(info.family, {"G": net, "D": d}, {"G": info}, config={}, provenance={"run_name": "t"})
    return save_checkpoint(ckpt, tmp_path / "c.pt")


@pytest.mark.parametrize("exporter", ["torchscript", "dynamo"])
def test_trained_global_skip_srresnet_exports_with_parity(tmp_path, exporter):
    torch.manual_seed(0)
    g = _perturb(build_network("srresnet", num_feat=8, num_blocks=1, scale=4, global_skip=True), 2)
    info = ModelInfo(family="srgan", task="super_resolve", in_channels=3, out_channels=3, scale=4, image_size=32)
    ckpt = _checkpoint(tmp_path, g, info)
    report = export_onnx(ckpt, tmp_path / "m.onnx", exporter=exporter)
    assert report.verified and report.passed and report.max_abs_err < 1e-4, report.summary()
    net, _ = load_generator(ckpt)  # rebuilt from the checkpoint: the loaded tail, not a fresh zero one
    assert net.global_skip and net.tail.weight.abs().max() > 0
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    for shape in [(1, 3, 11, 14), (2, 3, 20, 9)]:  # dynamic height and width, batch
        x = np.random.default_rng(3).uniform(-1, 1, shape).astype(np.float32)
        got = sess.run(None, {"input": x})[0]
        with torch.no_grad():
            want = net(torch.from_numpy(x)).numpy()
            residual = want - _bicubic(torch.from_numpy(x), 4).numpy()
        assert got.shape == (shape[0], 3, shape[2] * 4, shape[3] * 4)
        assert np.abs(residual).max() > 0.01  # both paths matter in this check
        assert np.abs(got - want).max() < 1e-4


@pytest.mark.parametrize("exporter", ["torchscript", "dynamo"])
def test_trained_keep_luma_unet_exports_with_parity(tmp_path, exporter):
    torch.manual_seed(0)
    g = _perturb(build_network("unet_128", in_channels=1, out_channels=3, ngf=4, keep_luma=True,
                               use_dropout=False), 3)
    info = ModelInfo(family="pix2pix", task="translate", in_channels=1, out_channels=3, pad_multiple=128,
                     image_size=128, direction="AtoB")
    ckpt = _checkpoint(tmp_path, g, info)
    report = export_onnx(ckpt, tmp_path / "m.onnx", exporter=exporter)
    assert report.verified and report.passed and report.max_abs_err < 1e-4, report.summary()
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    assert [i.shape[1] for i in sess.get_inputs()] == [1] and sess.get_outputs()[0].shape[1] == 3
