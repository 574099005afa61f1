"""Networks: reference-layout parameter counts and keys, output shapes, errors, init, MACs.

Full-size networks are only built on the meta device (shapes without memory or compute);
every forward pass uses tiny widths.
"""

from __future__ import annotations

import doctest
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import translate.nets
from translate.errors import ConfigError, ImageError, UnknownArchitectureError
from translate.flops import count_macs
from translate.nets import NETWORKS, build_network, check_network, init_weights, network_requirements
from translate.nets.resnet import ResnetGenerator
from translate.nets.unet import UnetGenerator


def n_params(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def meta_net(arch: str, **kwargs) -> nn.Module:
    with torch.device("meta"):
        return build_network(arch, **kwargs)


# -- parameter counts of pytorch-CycleGAN-and-pix2pix networks (published numbers) ------------

@pytest.mark.parametrize(
    ("arch", "kwargs", "expected"),
    [
        ("resnet_9blocks", {"norm": "instance"}, 11_378_179),
        ("resnet_6blocks", {"norm": "instance"}, 7_837_699),
        ("unet_256", {"norm": "batch"}, 54_413_955),
        ("unet_128", {"norm": "batch"}, 41_828_995),
        ("patch", {"in_channels": 3, "n_layers": 3, "norm": "instance"}, 2_764_737),
        ("patch", {"in_channels": 6, "n_layers": 3, "norm": "batch"}, 2_768_705),
        ("dcgan_g", {"nz": 100, "ngf": 64, "out_channels": 3, "image_size": 64}, 3_576_704),
    ],
)
def test_parameter_counts(arch, kwargs, expected):
    assert n_params(meta_net(arch, **kwargs)) == expected


def test_full_size_reference_keys():
    # last layers of the published checkpoints: horse2zebra's final conv, pix2pix's innermost upconv
    g = meta_net("resnet_9blocks").state_dict()
    assert list(g)[-2:] == ["model.26.weight", "model.26.bias"]
    assert tuple(g["model.26.weight"].shape) == (3, 64, 7, 7)
    assert len(g) == 2 * (3 + 2 * 9 + 2 + 1)  # weight+bias of every conv; instance norm has no state
    u = meta_net("unet_256").state_dict()
    innermost_up = "model.model.1" + ".model.3" * 7 + ".weight"
    assert tuple(u[innermost_up].shape) == (512, 512, 4, 4)
    assert "model.model.0.bias" not in u and "model.model.3.bias" in u  # bias only on the final upconv


# -- a hand-built reference-layout state_dict loads strictly ----------------------------------

def _resnet_reference_shapes(ngf=4, c_in=3, c_out=3):
    """Reference ResnetGenerator(ngf, instance norm, 2 blocks, no dropout), written out by hand."""
    s = {
        "model.1.weight": (ngf, c_in, 7, 7), "model.1.bias": (ngf,),
        "model.4.weight": (2 * ngf, ngf, 3, 3), "model.4.bias": (2 * ngf,),
        "model.7.weight": (4 * ngf, 2 * ngf, 3, 3), "model.7.bias": (4 * ngf,),
    }
    for b in (10, 11):
        for j in (1, 5):  # pad, conv, norm, relu, pad, conv, norm
            s[f"model.{b}.conv_block.{j}.weight"] = (4 * ngf, 4 * ngf, 3, 3)
            s[f"model.{b}.conv_block.{j}.bias"] = (4 * ngf,)
    s.update({
        "model.12.weight": (4 * ngf, 2 * ngf, 3, 3), "model.12.bias": (2 * ngf,),  # ConvTranspose: [in, out, k, k]
        "model.15.weight": (2 * ngf, ngf, 3, 3), "model.15.bias": (ngf,),
        "model.19.weight": (c_out, ngf, 7, 7), "model.19.bias": (c_out,),
    })
    return s


def _bn(prefix, ch):
    return {f"{prefix}.weight": (ch,), f"{prefix}.bias": (ch,), f"{prefix}.running_mean": (ch,),
            f"{prefix}.running_var": (ch,), f"{prefix}.num_batches_tracked": ()}


def _unet_reference_shapes(ngf=2, c_in=3, c_out=3):
    """Reference UnetGenerator(num_downs=5, ngf, batch norm), written out by hand."""
    s = {"model.model.0.weight": (ngf, c_in, 4, 4),
         "model.model.3.weight": (2 * ngf, c_out, 4, 4), "model.model.3.bias": (c_out,)}
    levels = [(ngf, 2 * ngf), (2 * ngf, 4 * ngf), (4 * ngf, 8 * ngf)]  # (outer, inner); no extra 8x levels at 5
    p = "model.model.1"
    for outer, inner in levels:  # leakyrelu, down, norm, sub, relu, up, norm
        s[f"{p}.model.1.weight"] = (inner, outer, 4, 4)
        s.update(_bn(f"{p}.model.2", inner))
        s[f"{p}.model.5.weight"] = (2 * inner, outer, 4, 4)
        s.update(_bn(f"{p}.model.6", outer))
        p += ".model.3"
    # innermost: leakyrelu, down, relu, up, norm
    s[f"{p}.model.1.weight"] = (8 * ngf, 8 * ngf, 4, 4)
    s[f"{p}.model.3.weight"] = (8 * ngf, 8 * ngf, 4, 4)
    s.update(_bn(f"{p}.model.4", 8 * ngf))
    return s


def _patch_reference_shapes(ndf=4, c_in=3):
    """Reference NLayerDiscriminator(n_layers=3, batch norm), written out by hand."""
    s = {"model.0.weight": (ndf, c_in, 4, 4), "model.0.bias": (ndf,),
         "model.2.weight": (2 * ndf, ndf, 4, 4), "model.5.weight": (4 * ndf, 2 * ndf, 4, 4),
         "model.8.weight": (8 * ndf, 4 * ndf, 4, 4), "model.11.weight": (1, 8 * ndf, 4, 4), "model.11.bias": (1,)}
    for i, ch in ((3, 2 * ndf), (6, 4 * ndf), (9, 8 * ndf)):
        s.update(_bn(f"model.{i}", ch))
    return s


@pytest.mark.parametrize(
    ("net_fn", "shapes"),
    [
        (lambda: ResnetGenerator(ngf=4, n_blocks=2, norm="instance"), _resnet_reference_shapes()),
        (lambda: UnetGenerator(num_downs=5, ngf=2, norm="batch"), _unet_reference_shapes()),
        (lambda: build_network("patch", ndf=4, norm="batch"), _patch_reference_shapes()),
    ],
    ids=["resnet", "unet", "patchgan"],
)
def test_hand_built_reference_state_dict_loads_strictly(net_fn, shapes):
    net = net_fn()
    own = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    assert own == shapes
    gen = torch.Generator().manual_seed(0)
    ref = {k: (torch.randn(s, generator=gen) if s else torch.tensor(7)) for k, s in shapes.items()}
    net.load_state_dict(ref, strict=True)
    for k, v in net.state_dict().items():
        assert torch.equal(v, ref[k].to(v.dtype)), k


def test_resnet_dropout_and_zero_padding_shift_indices_like_the_reference():
    keys = ResnetGenerator(ngf=4, n_blocks=1, use_dropout=True).state_dict()
    assert "model.10.conv_block.6.weight" in keys  # pad, conv, norm, relu, dropout, pad, conv
    keys = ResnetGenerator(ngf=4, n_blocks=1, padding_type="zero").state_dict()
    assert "model.10.conv_block.0.weight" in keys and "model.10.conv_block.3.weight" in keys


# -- output shapes at two sizes (tiny widths) -------------------------------------------------

@pytest.mark.parametrize("hw", [(32, 32), (36, 44)])
def test_resnet_shapes(hw):
    g = build_network("resnet_6blocks", in_channels=1, out_channels=3, ngf=4).eval()
    with torch.no_grad():
        y = g(torch.randn(2, 1, *hw))
    assert y.shape == (2, 3, *hw) and y.abs().max() <= 1
    assert g.pad_multiple == 4


@pytest.mark.parametrize("hw", [(128, 128), (100, 150)])
def test_unet_shapes_through_padding(hw):
    g = build_network("unet_128", in_channels=3, out_channels=1, ngf=2).eval()
    m = g.pad_multiple
    assert m == 128
    x = torch.randn(1, 3, *hw)
    ph, pw = (-hw[0]) % m, (-hw[1]) % m
    xp = F.pad(x, (0, pw, 0, ph), mode="reflect")
    with torch.no_grad():
        y = g(xp)[..., : hw[0], : hw[1]]
    assert y.shape == (1, 1, *hw)


def test_unet_rejects_unpadded_input_with_a_clear_message():
    g = build_network("unet_128", ngf=2).eval()
    with pytest.raises(ImageError, match="not a multiple of 128; pad to a multiple of 128"):
        g(torch.randn(1, 3, 100, 150))
    with pytest.raises(ImageError, match="expects 3 input channels, got 1"):
        g(torch.randn(1, 1, 128, 128))


@pytest.mark.parametrize("hw", [(64, 64), (70, 90)])
def test_patch_and_pixel_discriminator_shapes(hw):
    d = build_network("patch", in_channels=6, ndf=4, n_layers=3).eval()
    with torch.no_grad():
        y = d(torch.randn(2, 6, *hw))
    # three stride-2 4x4 convs (floor halving), then two stride-1 4x4 convs (-1 each)
    assert y.shape == (2, 1, hw[0] // 8 - 2, hw[1] // 8 - 2)
    p = build_network("pixel", in_channels=6, ndf=4).eval()
    with torch.no_grad():
        assert p(torch.randn(2, 6, *hw)).shape == (2, 1, *hw)


@pytest.mark.parametrize("scale", [2, 4, 8])
@pytest.mark.parametrize("hw", [(8, 8), (10, 13)])
def test_srresnet_shapes(scale, hw):
    g = build_network("srresnet", num_feat=4, num_blocks=2, scale=scale).eval()
    with torch.no_grad():
        y = g(torch.randn(1, 3, *hw))
    assert y.shape == (1, 3, hw[0] * scale, hw[1] * scale)
    assert g.scale == scale and g.pad_multiple == 1


def test_srresnet_rejects_other_scales():
    with pytest.raises(ConfigError, match="scale must be one of"):
        build_network("srresnet", scale=3)


@pytest.mark.parametrize("hw", [(64, 64), (96, 80)])
def test_sr_discriminator_any_size_from_64(hw):
    d = build_network("srgan_d", num_feat=4).eval()
    with torch.no_grad():
        assert d(torch.randn(2, 3, *hw)).shape == (2, 1)


def test_sr_discriminator_rejects_small_inputs():
    d = build_network("srgan_d", num_feat=4).eval()
    with pytest.raises(ImageError, match="at least 64x64"):
        d(torch.randn(1, 3, 48, 64))


@pytest.mark.parametrize("size", [28, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_dcgan_shapes(size, channels):
    g = build_network("dcgan_g", nz=16, ngf=4, out_channels=channels, image_size=size).eval()
    d = build_network("dcgan_d", in_channels=channels, ndf=4, image_size=size).eval()
    with torch.no_grad():
        x = g(torch.randn(3, 16))
        assert x.shape == (3, channels, size, size)
        assert d(x).shape == (3,)


def test_dcgan_conditional_labels_change_the_output_and_are_required():
    g = build_network("dcgan_g", nz=8, ngf=4, out_channels=1, image_size=32, num_classes=10).eval()
    d = build_network("dcgan_d", in_channels=1, ndf=4, image_size=32, num_classes=10).eval()
    z = torch.randn(2, 8)
    with torch.no_grad():
        a, b = g(z, torch.tensor([0, 0])), g(z, torch.tensor([1, 1]))
        assert not torch.allclose(a, b)
        x = torch.rand(2, 1, 32, 32) * 2 - 1  # an untrained eval-mode G outputs ~1e-5, too flat to tell
        assert not torch.allclose(d(x, torch.tensor([0, 0])), d(x, torch.tensor([3, 3])))
    with pytest.raises(ConfigError, match="class-conditional"):
        g(z)
    with pytest.raises(ConfigError, match="class-conditional"):
        d(a)
    with pytest.raises(ConfigError, match=r"labels must lie in \[0, 9\]"):
        g(z, torch.tensor([0, 10]))
    u = build_network("dcgan_g", nz=8, ngf=4, image_size=32).eval()
    with pytest.raises(ConfigError, match="unconditional"):
        u(z, torch.tensor([0, 1]))


def test_dcgan_rejects_unsupported_sizes_and_wrong_images():
    with pytest.raises(ConfigError, match="image_size must be one of"):
        build_network("dcgan_g", image_size=48)
    d = build_network("dcgan_d", in_channels=1, ndf=4, image_size=28)
    with pytest.raises(ImageError, match=r"expects \[N, 1, 28, 28\]"):
        d(torch.randn(1, 1, 32, 32))


# -- registry / factory ----------------------------------------------------------------------

def test_unknown_architecture_lists_valid_names():
    with pytest.raises(UnknownArchitectureError, match="resnet_9blocks.*unet_256"):
        build_network("resnet_12blocks")


def test_bad_kwargs_are_config_errors():
    with pytest.raises(ConfigError, match="bad arguments for unet_256.*accepts"):
        build_network("unet_256", num_filters=3)
    with pytest.raises(ConfigError, match="always has n_blocks=6"):
        build_network("resnet_6blocks", n_blocks=9)
    with pytest.raises(ConfigError, match="unknown norm 'group'"):
        build_network("patch", norm="group")
    with pytest.raises(ConfigError, match="num_downs >= 5"):
        UnetGenerator(num_downs=4)


@pytest.mark.parametrize("arch", sorted(NETWORKS))
def test_arch_kwargs_rebuild_the_same_network(arch):
    with torch.device("meta"):
        net = build_network(arch)
        again = build_network(net.arch, **net.arch_kwargs)
    assert net.arch == arch
    assert {k: v.shape for k, v in net.state_dict().items()} == {k: v.shape for k, v in again.state_dict().items()}


# -- what each network accepts (the one source of the limits a training config is checked against) -

def _forward_ok(net: nn.Module, size: int) -> bool:
    """Does ``net`` (train mode, batch 2) run on [2, C, size, size]?"""
    try:
        with torch.no_grad():
            net(torch.randn(2, net.in_channels, size, size))
    except (ImageError, ValueError, RuntimeError):
        return False
    return True


@pytest.mark.parametrize(("arch", "kwargs"), [
    ("unet_128", {"ngf": 1}),
    ("resnet_6blocks", {"ngf": 2}),
    ("resnet_6blocks", {"ngf": 2, "norm": "batch", "padding_type": "zero"}),
    ("patch", {"ndf": 2, "n_layers": 1}),
    ("patch", {"ndf": 2, "n_layers": 3}),
    ("pixel", {"ndf": 2}),
    ("srresnet", {"num_feat": 2, "num_blocks": 1}),
    ("srgan_d", {"num_feat": 2}),
])
def test_declared_input_limits_are_exactly_what_the_network_takes(arch, kwargs):
    req = network_requirements(arch, kwargs)
    net = build_network(arch, **kwargs).train()
    assert req.input_multiple == getattr(net, "pad_multiple", 1)
    m, low = req.input_multiple, req.min_input_size
    assert low % m == 0 and _forward_ok(net, low)  # the smallest declared size runs ...
    if low > m:
        assert not _forward_ok(net, low - m)  # ... and the next smaller multiple does not
    if m > 1:
        assert not _forward_ok(net, low + m // 2)


@pytest.mark.parametrize(("arch", "key", "bad"), [
    ("srresnet", "scale", 3), ("dcgan_g", "image_size", 128), ("dcgan_d", "image_size", 48),
    ("resnet_9blocks", "padding_type", "wrap"), ("patch", "norm", "group"),
])
def test_declared_choices_are_what_the_constructor_accepts(arch, key, bad):
    allowed = network_requirements(arch).choices[key]
    for value in allowed:  # every declared value builds ...
        with torch.device("meta"):
            build_network(arch, **{key: value})
    assert bad not in allowed
    with pytest.raises(ConfigError):  # ... and an undeclared one does not
        build_network(arch, **{key: bad})
    with pytest.raises(ConfigError, match=rf"{arch}: {key} must be one of {', '.join(map(str, allowed))} "):
        check_network(arch, {key: bad})


def test_check_network_says_what_would_work():
    with pytest.raises(ConfigError, match=r"netG=unet_256: crop_size must be a multiple of 256 \(got 128\); "
                                          r"nearest valid: 256"):
        check_network("unet_256", {}, input_size=128, what="netG=unet_256", size_name="crop_size")
    with pytest.raises(ConfigError, match=r"resnet_9blocks: input size must be a multiple of 4 \(got 30\); "
                                          r"nearest valid: 28 or 32"):
        check_network("resnet_9blocks", {}, input_size=30)
    with pytest.raises(ConfigError, match=r"patch: input size must be at least 24 \(got 16\)"):
        check_network("patch", {"n_layers": 3}, input_size=16)
    with pytest.raises(ConfigError, match=r"srgan_d: hr_size must be at least 64 \(got 48\)"):
        check_network("srgan_d", {}, input_size=48, size_name="hr_size")
    with pytest.raises(ConfigError, match="unet_128: UnetGenerator needs positive widths"):
        check_network("unet_128", {"ngf": 0})  # the constructor's own check, run without building
    with pytest.raises(UnknownArchitectureError, match="choose one of"):
        check_network("unet_512", {})
    with pytest.raises(ConfigError, match="bad arguments for patch"):
        check_network("patch", {"ngf": 8})
    req = check_network("unet_256", {"ngf": 4096, "in_channels": 3}, input_size=512)  # full width: nothing allocated
    assert (req.input_multiple, req.min_input_size) == (256, 256)


def test_module_docstring_example_runs():
    assert doctest.testmod(translate.nets).failed == 0


# -- weight init -----------------------------------------------------------------------------

def _big():
    return nn.Sequential(nn.Conv2d(64, 128, 3), nn.BatchNorm2d(4096), nn.Linear(256, 512))


def test_init_normal_and_norm_layers():
    torch.manual_seed(0)
    net = init_weights(_big(), "normal", 0.02)
    conv, bn, lin = net
    assert abs(conv.weight.std().item() - 0.02) < 0.001 and abs(lin.weight.std().item() - 0.02) < 0.001
    assert conv.bias.abs().max() == 0 and lin.bias.abs().max() == 0
    assert abs(bn.weight.mean().item() - 1.0) < 0.002 and abs(bn.weight.std().item() - 0.02) < 0.002
    assert bn.bias.abs().max() == 0


def test_init_xavier_kaiming_orthogonal():
    torch.manual_seed(0)
    conv = nn.Conv2d(64, 128, 3)
    fan_in, fan_out = 64 * 9, 128 * 9
    init_weights(conv, "xavier", 0.5)
    assert conv.weight.std().item() == pytest.approx(0.5 * math.sqrt(2 / (fan_in + fan_out)), rel=0.03)
    init_weights(conv, "kaiming")
    assert conv.weight.std().item() == pytest.approx(math.sqrt(2 / fan_in), rel=0.03)
    init_weights(conv, "orthogonal", 0.5)
    w = conv.weight.reshape(128, -1)
    assert torch.allclose(w @ w.T, 0.25 * torch.eye(128), atol=1e-4)
    with pytest.raises(ConfigError, match="unknown init_type"):
        init_weights(conv, "uniform")


# -- MAC counting ----------------------------------------------------------------------------

def test_count_macs_hand_computed():
    conv = nn.Conv2d(3, 8, 3, padding=1)
    assert count_macs(conv, torch.zeros(1, 3, 10, 10)) == 8 * 10 * 10 * 3 * 3 * 3  # out elems x (in x k x k)
    convt = nn.ConvTranspose2d(4, 2, 4, stride=2, padding=1)
    assert count_macs(convt, torch.zeros(1, 4, 5, 5)) == 4 * 5 * 5 * 2 * 4 * 4  # in elems x (out x k x k)
    lin = nn.Sequential(nn.Linear(10, 5), nn.ReLU(), nn.Linear(5, 2))
    assert count_macs(lin, torch.zeros(2, 10)) == 2 * (5 * 10 + 2 * 5)
    grouped = nn.Conv2d(4, 4, 3, groups=2, bias=False)
    assert count_macs(grouped, torch.zeros(1, 4, 5, 5)) == 4 * 3 * 3 * 2 * 9


def _resnet_macs(h, w, ngf, n_blocks, c_in=3, c_out=3):
    """ResnetGenerator MACs by hand: 7x7 in, two stride-2 3x3 downs, blocks, two 3x3 transposed ups, 7x7 out."""
    q, e = (h // 2) * (w // 2), (h // 4) * (w // 4)
    return (h * w * ngf * c_in * 49 + q * 2 * ngf * ngf * 9 + e * 4 * ngf * 2 * ngf * 9
            + n_blocks * 2 * e * 4 * ngf * 4 * ngf * 9
            + e * 4 * ngf * 2 * ngf * 9 + q * 2 * ngf * ngf * 9  # transposed: input elements x out x k x k
            + h * w * c_out * ngf * 49)


def test_count_macs_of_a_resnet_matches_the_hand_count_and_restores_mode():
    net = build_network("resnet_6blocks", ngf=4).train()
    assert count_macs(net, torch.zeros(1, 3, 16, 20)) == _resnet_macs(16, 20, 4, 6)
    assert net.training
    # the same formula gives the 49.6 GMAC per 256x256 image of the full resnet_9blocks
    assert _resnet_macs(256, 256, 64, 9) == 49_551_507_456


def test_dcgan_conditional_discriminator_starts_unsaturated():
    # a projection term at PyTorch's N(0, 1) embedding scale gave |logits| ~ 50 and a saturated D
    torch.manual_seed(0)
    d = build_network("dcgan_d", in_channels=1, ndf=8, image_size=32, num_classes=4)
    logits = d(torch.rand(16, 1, 32, 32) * 2 - 1, torch.arange(16) % 4)
    assert logits.abs().max() < 3
