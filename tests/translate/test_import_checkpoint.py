"""`translate import-checkpoint`: reference state_dicts become self-describing checkpoints."""

from __future__ import annotations

import logging

import torch
from torch import nn

from translate.checkpoint import load_checkpoint, load_generator
from translate.cli import main
from translate.nets import build_network


def _with_old_instance_norm_stats(net: nn.Module) -> dict[str, torch.Tensor]:
    """The net's state_dict plus the running-stat buffers old reference InstanceNorm layers saved."""
    sd = dict(net.state_dict())
    for name, m in net.named_modules():
        if isinstance(m, nn.InstanceNorm2d):
            sd[f"{name}.running_mean"] = torch.zeros(m.num_features)
            sd[f"{name}.running_var"] = torch.ones(m.num_features)
            sd[f"{name}.num_batches_tracked"] = torch.tensor(0)
    return sd


def test_cyclegan_resnet_import_gives_identical_outputs(tmp_path, caplog):
    torch.manual_seed(0)
    ref_net = build_network("resnet_6blocks", ngf=4).eval()
    ref = tmp_path / "latest_net_G_B.pth"
    torch.save(_with_old_instance_norm_stats(ref_net), ref)  # a bare dict, like the reference saves
    out = tmp_path / "imported.ckpt"
    caplog.set_level(logging.INFO)
    rc = main(["import-checkpoint", str(ref), "--family", "cyclegan", "--arch", "resnet_6blocks", "--ngf", "4",
               "--direction", "BtoA", "-o", str(out)])
    assert rc == 0
    assert "dropped 51 InstanceNorm running-stat keys" in caplog.text  # 3 keys x 17 instance-norm layers

    net, info = load_generator(out, direction="BtoA")
    assert (info.family, info.task, info.direction, info.pad_multiple) == ("cyclegan", "translate", "BtoA", 4)
    assert info.batchnorm_mode == "running"
    ckpt = load_checkpoint(out)
    assert list(ckpt["networks"]) == ["G_B"] and ckpt["networks"]["G_B"]["arch"] == "resnet_6blocks"
    x = torch.rand(1, 3, 32, 36) * 2 - 1
    with torch.no_grad():
        assert torch.equal(net(x), ref_net(x))


def test_pix2pix_unet_import_keeps_batchnorm_stats_and_records_batch_mode(tmp_path):
    torch.manual_seed(1)
    ref_net = build_network("unet_128", ngf=2, in_channels=1)
    with torch.no_grad():  # give the running stats non-default values so a lost buffer would show
        ref_net(torch.randn(2, 1, 128, 128))
    ref_net.eval()
    ref = tmp_path / "latest_net_G.pth"
    # saved from DataParallel, by a PyTorch older than 0.4.1 (no num_batches_tracked counters)
    torch.save({f"module.{k}": v for k, v in ref_net.state_dict().items() if not k.endswith("num_batches_tracked")},
               ref)
    out = tmp_path / "p2p.ckpt"
    rc = main(["import-checkpoint", str(ref), "--family", "pix2pix", "--arch", "unet_128", "--ngf", "2",
               "--in-channels", "1", "-o", str(out)])
    assert rc == 0
    net, info = load_generator(out)
    assert (info.in_channels, info.pad_multiple, info.batchnorm_mode) == (1, 128, "batch")
    x = torch.rand(1, 1, 128, 128) * 2 - 1
    with torch.no_grad():
        assert torch.equal(net(x), ref_net(x))


def test_wrong_arch_fails_with_missing_keys_and_the_options_that_fit(tmp_path, capsys):
    ref = tmp_path / "g.pth"
    torch.save(build_network("resnet_6blocks", ngf=4).state_dict(), ref)
    out = tmp_path / "x.ckpt"
    rc = main(["import-checkpoint", str(ref), "--family", "cyclegan", "--arch", "resnet_9blocks", "--ngf", "4",
               "-o", str(out)])
    err = capsys.readouterr().err
    assert rc == 1
    assert "does not fit resnet_9blocks" in err and "missing keys, e.g. model." in err
    assert "the weights fit: --arch resnet_6blocks --norm instance --no-dropout" in err
    assert not out.exists()


def test_wrong_norm_is_reported_too(tmp_path, capsys):
    ref = tmp_path / "g.pth"
    torch.save(build_network("unet_128", ngf=2, norm="instance").state_dict(), ref)
    rc = main(["import-checkpoint", str(ref), "--family", "pix2pix", "--arch", "unet_128", "--ngf", "2",
               "-o", str(tmp_path / "x.ckpt")])
    assert rc == 1
    assert "the weights fit: --arch unet_128 --norm instance" in capsys.readouterr().err


def test_unreadable_or_foreign_files_and_existing_output(tmp_path, capsys):
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a torch file")
    out = tmp_path / "x.ckpt"
    args = ["--family", "cyclegan", "--arch", "resnet_9blocks", "-o", str(out)]
    assert main(["import-checkpoint", str(junk), *args]) == 1
    assert "cannot read" in capsys.readouterr().err
    nested = tmp_path / "nested.pth"
    torch.save({"epoch": 3, "weights": {"a": torch.zeros(1)}}, nested)
    assert main(["import-checkpoint", str(nested), *args]) == 1
    assert "not a bare state_dict" in capsys.readouterr().err
    out.write_bytes(b"keep me")
    assert main(["import-checkpoint", str(nested), *args]) == 2
    assert "--force" in capsys.readouterr().err and out.read_bytes() == b"keep me"
