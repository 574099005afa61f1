"""Each method trains a few dozen CPU steps on synthetic data and its generator demonstrably learns."""

from __future__ import annotations

import json

import numpy as np
import torch

from training.synthetic import make_paired, make_sr, make_unconditional, make_unpaired
from translate.checkpoint import load_checkpoint, load_generator
from translate.cli import main

FAST = ["--device", "cpu", "--set", "tensorboard=false", "--set", "log_every=1", "--set", "health_every=5"]


def _losses(run, key):
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [r[f"loss/{key}"] for r in rows if f"loss/{key}" in r]


def test_pix2pix_l1_falls(tmp_path):
    data = make_paired(tmp_path / "data", n=8, size=32)
    run = tmp_path / "run"
    rc = main(["train", "pix2pix", "--data", str(data), "--out", str(run), "--preset", "pix2pix-tiny", *FAST,
               "--set", "netG=resnet_6blocks", "--set", "netG_kwargs={ngf: 8, norm: batch}",
               "--set", "load_size=36", "--set", "crop_size=32", "--set", "batch_size=4",
               "--set", "lr=2e-3", "--set", "max_steps=60", "--set", "n_epochs_decay=0"])
    assert rc == 0
    l1 = _losses(run, "G_L1")
    assert len(l1) == 60
    assert np.mean(l1[-5:]) < 0.5 * l1[0], (l1[0], l1[-5:])
    ckpt = load_checkpoint(run / "checkpoints" / "step_00000060.pt")
    info = ckpt["processing"]["G"]
    assert (info["family"], info["task"], info["in_channels"], info["pad_multiple"]) == ("pix2pix", "translate", 3, 4)
    assert (run / "config.yaml").is_file() and list((run / "samples").glob("*.png"))


def test_cyclegan_cycle_loss_falls(tmp_path):
    data = make_unpaired(tmp_path / "data", n_a=6, n_b=5, size=32)
    run = tmp_path / "run"
    rc = main(["train", "cyclegan", "--data", str(data), "--out", str(run), "--preset", "cyclegan-tiny", *FAST,
               "--set", "netG_kwargs.ngf=4", "--set", "lr=2e-3", "--set", "max_steps=30", "--set", "n_epochs_decay=0"])
    assert rc == 0
    cyc = [a + b for a, b in zip(_losses(run, "cycle_A"), _losses(run, "cycle_B"))]
    assert np.mean(cyc[-5:]) < 0.5 * cyc[0], (cyc[0], cyc[-5:])
    ckpt = load_checkpoint(run / "checkpoints" / "step_00000030.pt")
    assert {k: v["direction"] for k, v in ckpt["processing"].items()} == {"G_A": "AtoB", "G_B": "BtoA"}


def test_srgan_both_stages_mse_falls(tmp_path):
    data = make_sr(tmp_path / "data", n=4, size=64)
    run = tmp_path / "run"
    rc = main(["train", "srgan", "--data", str(data), "--out", str(run), "--preset", "srgan-tiny", *FAST,
               "--set", "srresnet_steps=20", "--set", "gan_steps=6", "--set", "gan_lr_drop_at=3",
               "--set", "lr=1e-3", "--set", "batch_size=2"])
    assert rc == 0
    mse = _losses(run, "G_MSE")
    assert len(mse) == 20 and np.mean(mse[-3:]) < 0.5 * mse[0], (mse[0], mse[-3:])
    content = _losses(run, "G_content")
    assert len(content) == 6 and content[-1] < mse[0]  # the GAN stage starts from the trained SRResNet
    ckpt = load_checkpoint(run / "checkpoints" / "step_00000026.pt")
    assert ckpt["processing"]["G"]["scale"] == 2 and ckpt["processing"]["G"]["task"] == "super_resolve"
    assert ckpt["provenance"]["content_loss"].startswith("pixel-mse")


def test_dcgan_conditional_samples_approach_data(tmp_path):
    data = make_unconditional(tmp_path / "data", n=64, size=32, class_folders=True)
    run = tmp_path / "run"
    rc = main(["train", "dcgan", "--data", str(data), "--out", str(run), "--preset", "dcgan-cond-tiny", *FAST,
               "--set", "num_classes=4", "--set", "max_steps=60", "--set", "lr=2e-3"])
    assert rc == 0
    real_mean = (30 + (230 - 30) / 16) / 127.5 - 1  # dark image, one bright square of 1/16 area
    G, info = load_generator(run / "checkpoints" / "step_00000060.pt")
    assert (info.task, info.latent_size, info.num_classes, info.image_size) == ("generate", 16, 4, 32)
    z = torch.randn(64, 16, generator=torch.Generator().manual_seed(1))
    labels = torch.arange(64) % 4
    from training.config import load_config
    from training.dcgan import DCGAN

    torch.manual_seed(0)  # the run's seed: the same initial generator
    G0 = DCGAN(load_config("dcgan", "dcgan-cond-tiny", overrides={"num_classes": 4}), "cpu").nets["G"].eval()
    with torch.no_grad():  # batch statistics: 30 steps are too few for BN running averages to settle
        before = abs(float(G0.train()(z, labels).mean()) - real_mean)
        after = abs(float(G.train()(z, labels).mean()) - real_mean)
    assert after < 0.7 * before, (before, after)  # the mean intensity closes >30% of its gap to the data's
    assert len(set(np.round(_losses(run, "D"), 3))) > 5  # D's loss moves
