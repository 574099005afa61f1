"""SRGAN's stage boundary: the generator's Adam starts afresh for the GAN stage, exactly once per run.

Spec: training/srgan.py (module docstring). The reset is what keeps the GAN stage from washing the
colours out; it must not break exact resume on either side of the boundary, and the colour shift
must be logged for both stages.
"""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from training.synthetic import make_sr
from translate.checkpoint import load_checkpoint
from translate.cli import main

STAGES = ["--preset", "srgan-tiny", "--device", "cpu", "--set", "tensorboard=false", "--set", "log_every=1",
          "--set", "srresnet_steps=3", "--set", "gan_steps=3", "--set", "gan_lr_drop_at=100",
          "--set", "batch_size=2", "--set", "ckpt_every=1", "--set", "keep_last=10"]


def _adam_steps(ckpt: dict, name: str) -> set[float]:
    """The per-parameter Adam step counters of optimizer ``name`` in a checkpoint."""
    return {float(s["step"]) for s in ckpt["training_state"]["optimizers"][name]["state"].values()}


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("srgan-stages")
    data = tmp / "data"
    make_sr(data / "train", n=4, size=64)
    make_sr(data / "val", n=2, size=64, seed=1)  # a validation split: the run validates only on held-out images
    run = tmp / "full"
    assert main(["train", "srgan", "--data", str(data), "--out", str(run), *STAGES]) == 0
    return data, run


def test_generator_adam_state_is_fresh_when_the_gan_stage_starts(full_run):
    _, run = full_run
    ckpt = lambda step: load_checkpoint(run / "checkpoints" / f"step_{step:08d}.pt")  # noqa: E731
    assert _adam_steps(ckpt(3), "G") == {3.0}  # end of the MSE stage: three Adam steps
    assert _adam_steps(ckpt(4), "G") == {1.0}  # first GAN step: the MSE stage's moments are gone
    assert _adam_steps(ckpt(6), "G") == {3.0}
    assert _adam_steps(ckpt(6), "D") == {3.0}
    assert ckpt(3)["training_state"]["method"] == {"fresh_gan_optimizer": False}
    assert ckpt(4)["training_state"]["method"] == {"fresh_gan_optimizer": True}


@pytest.mark.parametrize("stopped_at", [2, 3, 4])  # before, at and after the stage boundary
def test_resume_across_the_stage_boundary_is_exact(full_run, tmp_path, stopped_at):
    data, run = full_run
    part = tmp_path / "part"
    (part / "checkpoints").mkdir(parents=True)
    shutil.copy(run / "checkpoints" / f"step_{stopped_at:08d}.pt", part / "checkpoints")
    shutil.copy(run / "config.yaml", part / "config.yaml")
    assert main(["train", "srgan", "--data", str(data), "--out", str(part), "--resume", "auto"]) == 0
    a = load_checkpoint(run / "checkpoints" / "step_00000006.pt")
    b = load_checkpoint(part / "checkpoints" / "step_00000006.pt")
    for net in a["networks"]:
        for key, value in a["networks"][net]["state_dict"].items():
            assert torch.equal(value, b["networks"][net]["state_dict"][key]), f"{net}.{key} differs after resume"
    assert _adam_steps(b, "G") == {3.0}  # reset once, not again after the resume


def test_colour_shift_is_logged_in_both_stages_and_in_validation(full_run):
    _, run = full_run
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    shifts = {r["step"]: r["loss/G_colour_shift"] for r in rows if "loss/G_colour_shift" in r}
    assert sorted(shifts) == [1, 2, 3, 4, 5, 6]
    assert all(0 <= v <= 255 for v in shifts.values())
    val = [r for r in rows if "val/colour_shift" in r]
    assert val and 0 <= val[-1]["val/colour_shift"] <= 255 and "val/psnr" in val[-1]
