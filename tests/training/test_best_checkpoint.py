"""best.pt means what it says (issue 13 item 15): validation only on held-out data, else no best.pt.

Without a validation split a run validates on nothing (it used to "validate" on its own training
pairs) and keeps last.pt; with one, it says which data it validates on and best.pt is the step
with the best validation metric. SRGAN picks its best on Y-channel PSNR across both stages.
"""

from __future__ import annotations

import json
import os

import numpy as np

from training.data import SRDataset
from training.synthetic import make_paired, make_sr
from translate.checkpoint import load_checkpoint, load_generator
from translate.cli import main
from translate.metrics import psnr, tensor_to_uint8

COMMON = ["--device", "cpu", "--set", "tensorboard=false", "--set", "log_every=1", "--set", "n_epochs_decay=0"]
P2P = ["--preset", "pix2pix-tiny", "--set", "netG=resnet_6blocks", "--set", "netG_kwargs={ngf: 4, norm: batch}",
       "--set", "load_size=36", "--set", "crop_size=32", "--set", "batch_size=2"]


def _records(run, key):
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if key in r]


def test_without_a_val_split_there_is_no_validation_and_no_best_pt(tmp_path, capsys):
    data = make_paired(tmp_path / "data", n=4)
    run = tmp_path / "run"
    assert main(["train", "pix2pix", "--data", str(data), "--out", str(run), *P2P, *COMMON, "--set", "max_steps=3",
                 "--set", "ckpt_every=1", "--set", "val_every=1", "--set", "keep_last=1"]) == 0
    out = capsys.readouterr().out
    assert f"validation: none: {data} has no validation split (val/ or test/)" in out and "no best.pt" in out
    ckpts = run / "checkpoints"
    assert sorted(p.name for p in ckpts.iterdir()) == ["last.pt", "step_00000003.pt"]
    assert os.path.samefile(ckpts / "last.pt", ckpts / "step_00000003.pt")  # a second name, no second copy
    assert _records(run, "val/psnr") == []  # no "validation" on the training pairs


def test_validation_reads_the_val_split_and_best_pt_is_its_best_step(tmp_path, capsys):
    data = make_paired(tmp_path / "data", n=4)
    make_paired(data / "val", n=2, seed=7)
    run = tmp_path / "run"
    assert main(["train", "pix2pix", "--data", str(data), "--out", str(run), *P2P, *COMMON, "--set", "max_steps=4",
                 "--set", "ckpt_every=1", "--set", "val_every=1", "--set", "keep_last=10",
                 "--set", "lr=2e-3"]) == 0
    out = capsys.readouterr().out
    assert f"validation: 2 of 2 held-out item(s) in {data / 'val'}; val/psnr picks checkpoints/best.pt" in out
    vals = {r["step"]: r["val/psnr"] for r in _records(run, "val/psnr")}
    assert sorted(vals) == [1, 2, 3, 4]
    best_step = max(vals, key=vals.get)
    assert load_checkpoint(run / "checkpoints" / "best.pt")["training_state"]["step"] == best_step
    assert os.path.samefile(run / "checkpoints" / "best.pt", run / "checkpoints" / f"step_{best_step:08d}.pt")


def test_srgan_best_is_the_highest_y_psnr_over_both_stages(tmp_path):
    data = make_sr(tmp_path / "data", n=4, size=64)
    make_sr(data / "val", n=2, size=64, seed=5)
    run = tmp_path / "run"
    assert main(["train", "srgan", "--data", str(data), "--out", str(run), "--preset", "srgan-tiny", *COMMON,
                 "--set", "srresnet_steps=3", "--set", "gan_steps=3", "--set", "batch_size=2", "--set", "lr=1e-3",
                 "--set", "val_every=1", "--set", "ckpt_every=1", "--set", "keep_last=10"]) == 0
    records = _records(run, "val/psnr")
    vals = {r["step"]: r["val/psnr"] for r in records}
    assert sorted(vals) == [1, 2, 3, 4, 5, 6]  # one metric through the SRResNet (1-3) and GAN (4-6) stages
    best_step = max(vals, key=vals.get)
    assert load_checkpoint(run / "checkpoints" / "best.pt")["training_state"]["step"] == best_step
    # the metric is PSNR on the Y channel with a scale-pixel border crop, on the val split
    G, _ = load_generator(run / "checkpoints" / "best.pt")
    items = [SRDataset(data, scale=2, hr_size=64, train=False)[(i, i)] for i in range(2)]
    ys = [psnr(tensor_to_uint8(G(it["A"][None])[0].detach()), tensor_to_uint8(it["B"]), y_channel=True, crop_border=2)
          for it in items]
    assert np.isclose(np.mean(ys), vals[best_step], atol=1e-4)
