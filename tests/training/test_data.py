"""Config validation, dataset layouts and the dataset check that guards `translate train`."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from PIL import Image as PILImage

from training.config import load_config, parse_set, presets_for
from training.data import EpochSampler, PairedDataset, UnpairedDataset
from training.registry import METHODS
from training.synthetic import make_paired, make_unpaired
from translate.cli import main
from translate.data.check import check_dataset
from translate.errors import ConfigError


def check_for(root, method: str):
    """The data check as `translate data check DIR --method M` runs it: the method's layout and limits."""
    m = METHODS[method]
    return check_dataset(root, m.data_layout, min_size=m.min_image_size(), scale=m.data_scale())


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


@pytest.mark.parametrize(("method", "preset", "overrides", "message"), [
    # SRResNet upsamples with PixelShuffle(2) stages: 2, 4, 8 only
    ("srgan", "srgan", {"scale": 3}, r"netG=srresnet: scale must be one of 2, 4, 8 \(got 3\)"),
    # the DCGAN networks are built for 28, 32 and 64 px
    ("dcgan", "dcgan", {"image_size": 128}, r"netG=dcgan_g: image_size must be one of 28, 32, 64 \(got 128\)"),
    # unet_256 halves its input 8 times: crops must be multiples of 256
    ("pix2pix", "pix2pix", {"crop_size": 128, "load_size": 143},
     r"netG=unet_256: crop_size must be a multiple of 256 \(got 128\); nearest valid: 256"),
    ("cyclegan", "cyclegan", {"crop_size": 30}, r"netG=resnet_9blocks: crop_size must be a multiple of 4 \(got 30\); "
                                                r"nearest valid: 28 or 32"),
    # the 70x70 PatchGAN needs 24 px to leave one patch; SRGAN's discriminator 64 px
    ("cyclegan", "cyclegan-tiny", {"crop_size": 16, "netD_kwargs": {"n_layers": 3}},
     r"netD=patch: crop_size must be at least 24 \(got 16\)"),
    ("srgan", "srgan-tiny", {"hr_size": 48}, r"netD=srgan_d: hr_size must be at least 64 \(got 48\)"),
])
def test_config_is_checked_against_what_the_networks_accept(tmp_path, capsys, method, preset, overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(method, preset, overrides=overrides)
    # the same refusal from the command line: exit 2, the message, before any data is read or file written
    sets = [f"{k}={v}" for k, v in overrides.items() if not isinstance(v, dict)]
    sets += [f"{k}.{kk}={vv}" for k, v in overrides.items() if isinstance(v, dict) for kk, vv in v.items()]
    args = ["train", method, "--data", str(tmp_path / "no-such-data"), "--out", str(tmp_path / "run"),
            "--preset", preset]
    assert main([*args, *[a for kv in sets for a in ("--set", kv)]]) == 2
    assert re.search(message, capsys.readouterr().err)
    assert not (tmp_path / "run").exists()


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


def _uint8(x: torch.Tensor) -> np.ndarray:
    """[C, H, W] in [-1, 1] -> uint8 HWC (exact inverse of the dataset's x / 127.5 - 1)."""
    return ((x + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()


def _window(big: np.ndarray, small: np.ndarray) -> tuple[int, int, bool] | None:
    """(top, left, mirrored) of the crop of ``big`` that equals ``small`` exactly, or None."""
    n = small.shape[0]
    for y in range(big.shape[0] - n + 1):
        for x in range(big.shape[1] - n + 1):
            crop = big[y : y + n, x : x + n]
            for mirrored in (False, True):
                if np.array_equal(crop[:, ::-1] if mirrored else crop, small):
                    return y, x, mirrored
    return None


def test_augmentation_resizes_like_the_reference_implementation(tmp_path):
    # pytorch-CycleGAN-and-pix2pix: PIL bicubic resize to load_size, then one random crop and flip
    # for both images of a pair. (albumentations' default resize, OpenCV bilinear, gave other pixels.)
    root = make_paired(tmp_path / "d", n=2, size=40, side_by_side=False)
    ref = {side: np.asarray(PILImage.open(root / side / "000.png").resize((44, 44), PILImage.BICUBIC)) for side in "AB"}
    ds = PairedDataset(root, load_size=44, crop_size=32, flip=True)
    seen = set()
    for seed in range(8):
        item = ds[(0, seed)]
        where = _window(ref["A"], _uint8(item["A"]))
        assert where is not None, f"seed {seed}: A is not a crop of the bicubic-resized image"
        y, x, mirrored = where
        b = ref["B"][y : y + 32, x : x + 32]
        np.testing.assert_array_equal(_uint8(item["B"]), b[:, ::-1] if mirrored else b)  # same crop and flip
        seen.add(where)
    assert len(seen) > 3 and {m for *_, m in seen} == {False, True}  # crops and flips vary with the seed
    make_paired(root / "val", n=1, size=40, side_by_side=False)  # validation reads the val split
    val = PairedDataset(root, load_size=44, crop_size=32, train=False)[(0, 0)]
    whole = np.asarray(PILImage.open(root / "val" / "A" / "000.png").resize((32, 32), PILImage.BICUBIC))
    np.testing.assert_array_equal(_uint8(val["A"]), whole)  # validation: straight to the crop size
    un = make_unpaired(tmp_path / "u", n_a=1, n_b=1, size=40)
    ref_a = np.asarray(PILImage.open(un / "trainA" / "a000.png").resize((44, 44), PILImage.BICUBIC))
    assert _window(ref_a, _uint8(UnpairedDataset(un, load_size=44, crop_size=32)[(0, 3)]["A"])) is not None


def test_grey_inputs_are_pillow_exact(tmp_path):
    # these colours are where 0.299/0.587/0.114 in floats and Pillow's integer luma disagree by one level
    colours = np.array([[0, 4, 168], [0, 18, 131], [0, 22, 49], [0, 36, 12], [0, 38, 221]], np.uint8)
    float_grey = np.rint(colours.astype(np.float32) @ np.float32([0.299, 0.587, 0.114]))
    a = np.resize(colours, (16, 16, 3)).astype(np.uint8)
    pil_grey = np.asarray(PILImage.fromarray(a).convert("L"))
    assert (np.resize(float_grey, (16, 16)) != pil_grey).all()  # the case that tells the two apart
    for side, px in (("A", a), ("B", a)):
        (tmp_path / "val" / side).mkdir(parents=True)
        PILImage.fromarray(px).save(tmp_path / "val" / side / "0.png")
    item = PairedDataset(tmp_path, in_channels=1, load_size=16, crop_size=16, train=False)[(0, 0)]
    np.testing.assert_array_equal(_uint8(item["A"])[..., 0], pil_grey)
    assert item["B"].shape == (3, 16, 16)


def test_broken_dataset_is_refused_with_a_list(tmp_path, capsys):
    root = make_paired(tmp_path / "d", n=4, size=40, side_by_side=False)
    (root / "A" / "001.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")  # corrupt
    (root / "B" / "002.png").unlink()  # missing partner
    grey = np.asarray(PILImage.open(root / "A" / "003.png").convert("L"))
    PILImage.fromarray(grey).save(root / "A" / "003.png")  # wrong channels
    PILImage.fromarray(np.zeros((10, 10, 3), np.uint8)).save(root / "A" / "004.png")
    PILImage.fromarray(np.zeros((10, 10, 3), np.uint8)).save(root / "B" / "004.png")  # too small
    problems = check_for(root, "pix2pix")
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
    assert any("trainB" in str(p) and "missing folder" in str(p) for p in check_for(root, "cyclegan"))


def test_small_images_that_training_upscales_are_accepted(tmp_path):
    # 28 px Fashion-MNIST items for a 32 px crop: CycleGAN resizes to load_size first, so the
    # check must not refuse them; a thumbnail far below half the crop is still refused.
    root = make_unpaired(tmp_path / "u", n_a=2, n_b=2, size=28)
    assert check_for(root, "cyclegan") == []
    args = ["train", "cyclegan", "--data", str(root), "--out", str(tmp_path / "run"), "--preset", "cyclegan-tiny",
            "--set", "max_steps=1", "--set", "tensorboard=false", "--set", "netG_kwargs.ngf=4"]
    assert main(args) == 0
    PILImage.fromarray(np.zeros((10, 10, 3), np.uint8)).save(root / "trainA" / "tiny.png")
    assert "tiny.png: too small" in "\n".join(map(str, check_for(root, "cyclegan")))


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
