"""Checkpoint format: round trip, atomic writes, and clear errors for bad files."""

from __future__ import annotations

import os

import pytest
import torch

from translate.atomic import atomic_write_bytes
from translate.checkpoint import (
    build_checkpoint,
    generator_name,
    load_checkpoint,
    load_generator,
    save_checkpoint,
)
from translate.errors import CheckpointError, ConfigError, ModelError
from translate.modelinfo import ModelInfo
from translate.nets import build_network


def _tiny_sr_checkpoint(**extra):
    net = build_network("srresnet", num_feat=4, num_blocks=1, scale=2)
    info = ModelInfo(family="srgan", task="super_resolve", scale=2)
    return net, build_checkpoint("srgan", {"G": net}, {"G": info}, config={"lr": 1e-4}, **extra)


def test_round_trip_rebuilds_identical_network(tmp_path):
    net, ckpt = _tiny_sr_checkpoint(provenance={"run_name": "r1", "step": 7})
    path = save_checkpoint(ckpt, tmp_path / "c.pt")
    # weights_only=True is what load_checkpoint uses; prove the raw file is safe to load that way too
    torch.load(path, weights_only=True)
    loaded = load_checkpoint(path)
    assert loaded["provenance"]["step"] == 7 and loaded["config"] == {"lr": 1e-4}
    g, info = load_generator(path)
    assert info.scale == 2 and info.task == "super_resolve"
    assert not g.training, "load_generator must return an eval-mode network"
    x = torch.rand(1, 3, 8, 8) * 2 - 1
    with torch.no_grad():
        assert torch.equal(g(x), net.eval()(x))


def test_ema_weights_are_preferred_and_can_be_skipped(tmp_path):
    net = build_network("srresnet", num_feat=4, num_blocks=1, scale=2)
    ema = build_network("srresnet", num_feat=4, num_blocks=1, scale=2)
    with torch.no_grad():
        for p in ema.parameters():
            p.add_(1.0)
    ckpt = build_checkpoint("srgan", {"G": net}, {"G": ModelInfo(family="srgan", task="super_resolve", scale=2)},
                            ema={"G": ema})
    path = save_checkpoint(ckpt, tmp_path / "c.pt")
    g_ema, _ = load_generator(path)
    g_raw, _ = load_generator(path, ema=False)
    first = next(iter(ema.state_dict()))
    assert torch.equal(g_ema.state_dict()[first], ema.state_dict()[first])
    assert torch.equal(g_raw.state_dict()[first], net.state_dict()[first])


def test_truncated_file_is_reported_with_its_name(tmp_path):
    _, ckpt = _tiny_sr_checkpoint()
    path = save_checkpoint(ckpt, tmp_path / "c.pt")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="c.pt.*truncated, corrupt"):
        load_checkpoint(path)


def test_foreign_files_get_actionable_errors(tmp_path):
    bare = tmp_path / "latest_net_G.pth"
    torch.save({"model.1.weight": torch.zeros(2)}, bare)
    with pytest.raises(CheckpointError, match="import-checkpoint"):
        load_checkpoint(bare)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(CheckpointError, match="not a PyTorch file") as exc:
        load_checkpoint(text)
    assert "weights_only=False" not in str(exc.value), "never advise unsafe loading"
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")


def test_newer_format_version_is_refused(tmp_path):
    _, ckpt = _tiny_sr_checkpoint()
    ckpt["format_version"] = 99
    path = tmp_path / "future.pt"
    torch.save(ckpt, path)
    with pytest.raises(CheckpointError, match="format_version 99"):
        load_checkpoint(path)


def test_atomic_write_leaves_old_file_when_writer_crashes(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")

    def crashing_writer(f):
        f.write(b"partial")
        raise RuntimeError("simulated crash mid-write")

    with pytest.raises(RuntimeError):
        atomic_write_bytes(target, crashing_writer)
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["out.bin"], "the temp file must be cleaned up"


def test_generator_choice_by_direction():
    a = build_network("srresnet", num_feat=4, num_blocks=1, scale=2)
    info_a = ModelInfo(family="cyclegan", task="translate", direction="AtoB")
    info_b = ModelInfo(family="cyclegan", task="translate", direction="BtoA")
    ckpt = build_checkpoint("cyclegan", {"G_A": a, "G_B": a}, {"G_A": info_a, "G_B": info_b})
    assert generator_name(ckpt, "BtoA") == "G_B"
    with pytest.raises(ConfigError, match="several generators"):
        generator_name(ckpt)
    with pytest.raises(ConfigError, match="no generator for direction"):
        generator_name(ckpt, "sideways")


def test_modelinfo_metadata_round_trip_and_validation():
    info = ModelInfo(family="dcgan", task="generate", in_channels=0, out_channels=1, latent_size=100,
                     num_classes=10, image_size=32, provenance={"run_name": "fm", "step": "12"})
    assert ModelInfo.from_metadata(info.to_metadata()) == info
    assert ModelInfo.from_dict(info.to_dict()) == info
    with pytest.raises(ModelError, match="no translate metadata"):
        ModelInfo.from_metadata({"producer": "someone else"})
    with pytest.raises(ModelError, match="unknown model family"):
        ModelInfo(family="stylegan", task="generate", latent_size=1)
