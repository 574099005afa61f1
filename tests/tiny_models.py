"""Tiny checkpoints of every model family and a model repository exported from them.

Shared by the export, inference, info, server and batch-CLI tests. Networks are a few
channels wide, so building, saving and exporting all of them takes a few seconds on a CPU.

    ckpt = make_tiny_checkpoint("cyclegan", tmp_path / "cg.pt")
    repo = make_tiny_repo(tmp_path)        # MODELS/{pix2pix,cyclegan-AtoB,cyclegan-BtoA,srgan,dcgan}/1/model.onnx

Exports here use the fast TorchScript exporter and skip verification (tests/translate/test_export.py
checks parity of both exporters); pass ``verify=True`` / ``exporter="auto"`` to change that.
"""

from __future__ import annotations

from pathlib import Path

import torch

from translate.checkpoint import build_checkpoint, save_checkpoint
from translate.modelinfo import ModelInfo
from translate.nets import build_network

FAMILIES = ("pix2pix", "cyclegan", "srgan", "dcgan")
# model name in the repository -> (family, direction)
REPO_MODELS = {
    "pix2pix": ("pix2pix", "AtoB"),
    "cyclegan-AtoB": ("cyclegan", "AtoB"),
    "cyclegan-BtoA": ("cyclegan", "BtoA"),
    "srgan": ("srgan", ""),
    "dcgan": ("dcgan", ""),
}
TINY_NZ = 16
TINY_CLASSES = 3


def tiny_networks(family: str, *, in_channels: int = 3, out_channels: int = 3, conditional: bool = True,
                  scale: int = 2):
    """(networks, processing) for a tiny model of ``family``, as a trainer would save them."""
    if family == "pix2pix":
        g = build_network("unet_128", in_channels=in_channels, out_channels=out_channels, ngf=4)
        d = build_network("patch", in_channels=in_channels + out_channels, ndf=4, n_layers=1)
        info = ModelInfo(family="pix2pix", task="translate", in_channels=in_channels, out_channels=out_channels,
                         pad_multiple=g.pad_multiple, image_size=128, direction="AtoB")
        return {"G": g, "D": d}, {"G": info}
    if family == "cyclegan":
        nets, processing = {}, {}
        for g_name, d_name, direction, cin, cout in (("G_A", "D_A", "AtoB", in_channels, out_channels),
                                                      ("G_B", "D_B", "BtoA", out_channels, in_channels)):
            g = build_network("resnet_6blocks", in_channels=cin, out_channels=cout, ngf=4)
            nets[g_name] = g
            nets[d_name] = build_network("patch", in_channels=cout, ndf=4, n_layers=1, norm="instance")
            processing[g_name] = ModelInfo(family="cyclegan", task="translate", in_channels=cin, out_channels=cout,
                                           pad_multiple=g.pad_multiple, image_size=64, direction=direction)
        return nets, processing
    if family == "srgan":
        g = build_network("srresnet", in_channels=in_channels, out_channels=out_channels, num_feat=8, num_blocks=1,
                          scale=scale)
        d = build_network("srgan_d", in_channels=out_channels, num_feat=4)
        info = ModelInfo(family="srgan", task="super_resolve", in_channels=in_channels, out_channels=out_channels,
                         scale=scale, image_size=32)
        return {"G": g, "D": d}, {"G": info}
    if family == "dcgan":
        k = TINY_CLASSES if conditional else 0
        g = build_network("dcgan_g", nz=TINY_NZ, ngf=8, out_channels=out_channels, image_size=32, num_classes=k)
        d = build_network("dcgan_d", in_channels=out_channels, ndf=8, image_size=32, num_classes=k)
        info = ModelInfo(family="dcgan", task="generate", in_channels=0, out_channels=out_channels,
                         latent_size=TINY_NZ, num_classes=k, image_size=32)
        return {"G": g, "D": d}, {"G": info}
    raise ValueError(f"unknown family {family!r}")


def _perturb_batchnorm(net: torch.nn.Module, seed: int) -> None:
    # Fresh BN layers have mean 0 / var 1 running statistics; give them trained-looking values so
    # that running-statistics and batch-statistics inference really differ.
    g = torch.Generator().manual_seed(seed)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(0.1 * torch.randn(m.num_features, generator=g))
            m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=g))


def make_tiny_checkpoint(family: str, path: str | Path, *, ema: bool = False, seed: int = 0,
                         provenance: dict | None = None, **kwargs) -> Path:
    """Save a tiny checkpoint of ``family`` at ``path`` (EMA copies of the generators when ``ema``)."""
    torch.manual_seed(seed)
    nets, processing = tiny_networks(family, **kwargs)
    for net in nets.values():
        _perturb_batchnorm(net, seed)
    ema_nets = None
    if ema:
        ema_nets = {}
        for name in processing:
            copy_ = build_network(nets[name].arch, **nets[name].arch_kwargs)
            copy_.load_state_dict(nets[name].state_dict())
            with torch.no_grad():
                for p in copy_.parameters():
                    p.mul_(0.9)  # visibly different from the raw weights
            ema_nets[name] = copy_
    prov = {"run_name": f"tiny-{family}", "step": 123, "epoch": 1, "dataset": f"tiny-{family}-data"}
    prov.update(provenance or {})
    ckpt = build_checkpoint(family, nets, processing, config={"family": family, "tiny": True}, provenance=prov,
                            ema=ema_nets)
    return save_checkpoint(ckpt, path)


def make_tiny_repo(tmp_path: str | Path, *, families=FAMILIES, verify: bool = False, exporter: str = "torchscript",
                   repo_name: str = "models") -> Path:
    """Export tiny models of ``families`` into ``tmp_path/repo_name`` (see REPO_MODELS for names)."""
    from translate.export import export_to_repository

    tmp_path = Path(tmp_path)
    repo = tmp_path / repo_name
    for family in families:
        ckpt = make_tiny_checkpoint(family, tmp_path / f"tiny-{family}.pt")
        direction = "both" if family == "cyclegan" else None
        export_to_repository(ckpt, repo, family, direction=direction, verify=verify, exporter=exporter)
    return repo
