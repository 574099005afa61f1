"""Config validation, dataset layouts and the dataset check that guards `translate train`."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image as PILImage

from training.config import load_config, parse_set, presets_for
from training.data import EpochSampler, PairedDataset, UnpairedDataset
from training.synthetic import make_paired, make_unpaired
from translate.cli import main
from translate.data.check import check_dataset
from translate.errors import ConfigError


def test_unknown_key_names_close_matches():
    with pytest.raises(ConfigError, match=r"unknown config key 'lamda_L1'.*lambda_L1"):
        load_config("pix2pix", "pix2pix", overrides=parse_set(["lamda_L1=10"]))


def test_bad_values_are_refused_before_compute(tmp_path, capsys):
    with pytest.raises(ConfigError, match="lr must be > 0"):
        load_config("cyclegan", overrides={"lr": -1})
    with pytest.raises(ConfigError, match="batch_size must be int"):
        load_config("dcgan", overrides=parse_set(["batch_size=big"]))
    with pytest.raises(ConfigError, match="no preset 'cyclegan-256'.*cyclegan"):
        load_config("cyclegan", "cyclegan-256")
    rc = main(["train", "srgan", "--data", str(tmp_path), "--out", str(tmp_path / "r"), "--set", "scale=5"])
    assert rc == 2 and "scale must be" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()  # nothing written for an invalid config


def test_presets_hold_paper_defaults_and_overrides_merge():
    p = load_config("pix2pix", "pix2pix")
    assert (p.netG, p.lambda_L1, p.lr, p.beta1, p.batch_size, p.load_size, p.crop_size) == (
        "unet_256", 100.0, 2e-4, 0.5, 1, 286, 256)
    c = load_config("cyclegan", "cyclegan", overrides=parse_set(["netG_kwargs.ngf=32"]))
    assert (c.gan_mode, c.lambda_A, c.lambda_identity, c.pool_size) == ("lsgan", 10.0, 0.5, 50)
    assert c.netG_kwargs == {"ngf": 32, "norm": "instance", "use_dropout": False}
    s = load_config("srgan", "srgan")
    assert (s.hr_size, s.scale, s.batch_size, s.lr, s.beta1, s.adv_weight) == (96, 4, 16, 1e-4, 0.9, 1e-3)
    assert load_config("cyclegan", "cyclegan-128").netG == "resnet_6blocks"
    assert {"dcgan", "dcgan-mnist", "dcgan-tiny", "dcgan-cond-tiny"} <= set(presets_for("dcgan"))


def test_print_config_and_config_file(tmp_path, capsys):
    f = tmp_path / "my.yaml"
    f.write_text("lambda_L1: 50\ndirection: BtoA\n")
    rc = main(["train", "pix2pix", "--data", str(tmp_path), "--out", str(tmp_path / "r"), "--preset", "pix2pix",
               "--config", str(f), "--set", "lr=1e-4", "--print-config"])
    out = capsys.readouterr().out
    assert rc == 0 and "lambda_L1: 50.0" in out and "direction: BtoA" in out and "lr: 0.0001" in out


def test_pair_augmentation_is_identical_and_seeded(tmp_path):
    root = make_paired(tmp_path / "d", n=3, size=40, side_by_side=False)
    ds = PairedDataset(root, load_size=44, crop_size=32)
    a1, a2 = ds[(0, 5)], ds[(0, 5)]
    assert (a1["A"] == a2["A"]).all()  # same (index, seed) -> same crop/flip
    assert (a1["A"] + a1["B"]).abs().max() < 0.01  # B = inverted A survives the joint crop/flip
    un = UnpairedDataset(make_unpaired(tmp_path / "u", n_a=3, n_b=7), load_size=36, crop_size=32)
    assert len(un) == 7  # epoch = max(|A|, |B|)
    s = EpochSampler(10, seed=1, epoch=2, start=4)
    full = list(EpochSampler(10, seed=1, epoch=2))
    assert list(s) == full[4:] and len({seed for _, seed in full}) == 10


def test_broken_dataset_is_refused_with_a_list(tmp_path, capsys):
    root = make_paired(tmp_path / "d", n=4, size=40, side_by_side=False)
    (root / "A" / "001.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")  # corrupt
    (root / "B" / "002.png").unlink()  # missing partner
    grey = np.asarray(PILImage.open(root / "A" / "003.png").convert("L"))
    PILImage.fromarray(grey).save(root / "A" / "003.png")  # wrong channels
    PILImage.fromarray(np.zeros((10, 10, 3), np.uint8)).save(root / "A" / "004.png")
    PILImage.fromarray(np.zeros((10, 10, 3), np.uint8)).save(root / "B" / "004.png")  # too small
    problems = check_dataset(root, "pix2pix")
    text = "\n".join(map(str, problems))
    assert "001.png: unreadable or corrupt" in text
    assert "002.png: missing partner" in text
    assert "003.png: has 1 channel(s) (grey)" in text
    assert "004.png: too small" in text
    rc = main(["train", "pix2pix", "--data", str(root), "--out", str(tmp_path / "run"), "--preset", "pix2pix-tiny"])
    err = capsys.readouterr().err
    assert rc == 1 and "problem(s)" in err and "001.png" in err and "--skip-bad" in err
    assert not (tmp_path / "run" / "checkpoints").exists()
    make_paired(tmp_path / "good", n=2, size=40, side_by_side=False)
    for side in "AB":
        for f in (tmp_path / "good" / side).iterdir():
            f.rename(root / side / f"good_{f.name}")
    rc = main(["train", "pix2pix", "--data", str(root), "--out", str(tmp_path / "run"), "--preset", "pix2pix-tiny",
               "--skip-bad", "--device", "cpu", "--set", "netG=resnet_6blocks", "--set", "load_size=36",
               "--set", "crop_size=32", "--set", "max_steps=1", "--set", "tensorboard=false"])
    err = capsys.readouterr().err
    assert rc == 0 and "--skip-bad: skipping 5 file(s)" in err


def test_health_monitor_names_what_it_saw():
    from training.health import D_PATIENCE, HealthMonitor

    mon = HealthMonitor("vanilla")
    real = torch.rand(4, 3, 8, 8) * 2 - 1
    msgs = mon.check(10, {}, torch.full((4, 3, 8, 8), -0.99), real)
    assert any("near-constant" in m and "lower lr" in m for m in msgs)
    same = torch.rand(1, 3, 8, 8).repeat(4, 1, 1, 1) * 2 - 1
    assert any("mode collapse" in m for m in HealthMonitor().check(11, {}, same, real))
    for i in range(D_PATIENCE):
        msgs = mon.check(20 + i, {"D_real": 6.0, "D_fake": -6.0}, real, real)
    assert any("discriminator has won" in m for m in msgs)


def test_image_pool_mixes_past_fakes_and_round_trips():
    from training.pool import ImagePool

    pool = ImagePool(4)
    first = torch.arange(4.0).view(4, 1, 1, 1)
    assert torch.equal(pool.query(first), first)  # filling up: returns the new images
    torch.manual_seed(0)
    out = pool.query(torch.full((8, 1, 1, 1), 9.0))
    assert (out != 9.0).any() and (out == 9.0).any()  # some stored fakes came back
    clone = ImagePool(0)
    clone.load_state_dict(pool.state_dict())
    assert clone.size == 4 and all(torch.equal(a, b) for a, b in zip(clone.images, pool.images))


def test_unpaired_check_reports_missing_domain(tmp_path):
    root = make_unpaired(tmp_path / "u", n_a=2, n_b=2)
    for p in (root / "trainB").iterdir():
        p.unlink()
    (root / "trainB").rmdir()
    assert any("trainB" in str(p) and "missing folder" in str(p) for p in check_dataset(root, "cyclegan"))


def test_small_images_that_training_upscales_are_accepted(tmp_path):
    # 28 px Fashion-MNIST items for a 32 px crop: CycleGAN resizes to load_size first, so the
    # check must not refuse them; a thumbnail far below half the crop is still refused.
    root = make_unpaired(tmp_path / "u", n_a=2, n_b=2, size=28)
    assert check_dataset(root, "cyclegan") == []
    args = ["train", "cyclegan", "--data", str(root), "--out", str(tmp_path / "run"), "--preset", "cyclegan-tiny",
            "--set", "max_steps=1", "--set", "tensorboard=false", "--set", "netG_kwargs.ngf=4"]
    assert main(args) == 0
    PILImage.fromarray(np.zeros((10, 10, 3), np.uint8)).save(root / "trainA" / "tiny.png")
    assert "tiny.png: too small" in "\n".join(map(str, check_dataset(root, "cyclegan")))


def test_an_empty_val_folder_counts_as_absent(tmp_path):
    # `translate data split --val 0` leaves an empty val/: validation must use test/ instead.
    root = make_paired(tmp_path / "d", n=4, size=40, side_by_side=False)
    for split in ("train", "test"):
        for side in "AB":
            (root / split / side).mkdir(parents=True)
    for i, f in enumerate(sorted((root / "A").iterdir())):
        split = "test" if i == 0 else "train"
        f.rename(root / split / "A" / f.name)
        (root / "B" / f.name).rename(root / split / "B" / f.name)
    (root / "val" / "A").mkdir(parents=True)
    val = PairedDataset(root, load_size=36, crop_size=32, train=False)
    assert len(val) == 1 and "/test/" in val[(0, 0)]["path"]
