"""A run folder is never started over silently; resume continues the checkpoint's own run; a time budget stops cleanly.

Issue 13 items 1 (re-running into an existing --out), 3 (a damaged newest checkpoint) and issue 16
item 4 (--max-minutes).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from training.synthetic import make_paired
from translate.checkpoint import load_checkpoint
from translate.cli import main

COMMON = ["--device", "cpu", "--set", "tensorboard=false", "--set", "log_every=1", "--set", "n_epochs_decay=0"]
P2P = ["--preset", "pix2pix-tiny", "--set", "netG=resnet_6blocks", "--set", "netG_kwargs={ngf: 4, norm: batch}",
       "--set", "load_size=36", "--set", "crop_size=32", "--set", "batch_size=2"]


def _train(data, run, *extra) -> int:
    return main(["train", "pix2pix", "--data", str(data), "--out", str(run), *extra])


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``folder``: its bytes and modification time (ns)."""
    return {p.relative_to(folder).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def first_run(tmp_path):
    """A finished 2-step run (ngf 4) with a checkpoint per step: (data, run folder)."""
    data = make_paired(tmp_path / "data", n=4)
    run = tmp_path / "runs" / "facades"
    assert _train(data, run, *P2P, *COMMON, "--set", "max_steps=2", "--set", "ckpt_every=1") == 0
    return data, run


def test_training_again_into_a_run_folder_is_refused_and_touches_nothing(first_run, capsys):
    data, run = first_run
    before = _snapshot(run)
    assert {"config.yaml", "metrics.jsonl", "checkpoints/step_00000002.pt", "checkpoints/last.pt"} <= set(before)
    capsys.readouterr()
    # the case: the same --out with another architecture
    assert _train(data, run, *P2P, *COMMON, "--set", "netG_kwargs.ngf=8", "--set", "max_steps=2") == 2
    err = capsys.readouterr().err
    assert f"{run} already holds a training run" in err
    assert f"translate train pix2pix --data {data} --out {run} --resume auto" in err  # way 1: continue it
    assert "another --out" in err and "--overwrite" in err and "nothing is deleted" in err  # way 2: a new run
    assert _snapshot(run) == before  # config.yaml, metrics.jsonl, checkpoints: not a byte, not a timestamp
    assert sorted(p.name for p in run.parent.iterdir()) == ["facades"]


def test_overwrite_moves_the_old_run_aside_and_starts_over(first_run, tmp_path, capsys):
    data, run = first_run
    before = _snapshot(run)
    bad = make_paired(tmp_path / "bad", n=4)
    (bad / "000.png").write_bytes(b"not an image")
    assert _train(bad, run, *P2P, *COMMON, "--set", "max_steps=1", "--overwrite") == 1  # refused by the data check
    assert _snapshot(run) == before and sorted(p.name for p in run.parent.iterdir()) == ["facades"]  # not moved
    assert _train(data, run, *P2P, *COMMON, "--set", "netG_kwargs.ngf=8", "--set", "max_steps=1", "--overwrite") == 0
    out = capsys.readouterr().out
    (aside,) = [p for p in run.parent.iterdir() if p.name != "facades"]
    assert aside.name.startswith("facades.replaced-") and f"moved the previous run {run} to {aside}" in out
    assert _snapshot(aside) == before  # moved whole, nothing rewritten or deleted
    new = load_checkpoint(run / "checkpoints" / "last.pt")
    assert new["networks"]["G"]["kwargs"]["ngf"] == 8 and new["training_state"]["step"] == 1
    assert not (run / "checkpoints" / "step_00000002.pt").exists()
    assert _train(data, run, "--resume", "auto", "--overwrite") == 2  # the two contradict each other


def test_resume_rebuilds_the_checkpoints_networks_and_names_contradictions(first_run, capsys):
    data, run = first_run
    # config.yaml edited (or replaced by another run) since: resume still follows the checkpoint
    (run / "config.yaml").write_text((run / "config.yaml").read_text().replace("ngf: 4", "ngf: 16"))
    before = _snapshot(run)
    assert _train(data, run, "--resume", "auto", "--set", "netG_kwargs.ngf=32", "--set", "lambda_L1=10") == 2
    err = capsys.readouterr().err
    assert "contradicts the checkpoint this run resumes" in err and "step_00000002.pt" in err
    assert "netG_kwargs.ngf: checkpoint 4, config 32" in err and "lambda_L1: checkpoint 100.0, config 10" in err
    assert "may change only: " in err and "lr" in err and "max_steps" in err
    assert _snapshot(run) == before  # refused before anything is written
    # what may change on resume (schedule, lr, logging, device) does
    assert _train(data, run, "--resume", "auto", "--set", "max_steps=3", "--set", "lr=1e-4",
                  "--set", "log_every=2", "--device", "cpu") == 0
    assert "resumed from" in capsys.readouterr().out
    last = load_checkpoint(run / "checkpoints" / "last.pt")
    assert last["training_state"]["step"] == 3 and last["networks"]["G"]["kwargs"]["ngf"] == 4
    assert last["config"]["lr"] == 1e-4 and "ngf: 4" in (run / "config.yaml").read_text()
    # --resume PATH from this run into a folder that holds another run: that one is not mixed in
    other = run.parent / "other"
    assert _train(data, other, *P2P, *COMMON, "--set", "max_steps=1") == 0
    before = _snapshot(other)
    assert _train(data, other, "--resume", str(run / "checkpoints" / "last.pt"), "--set", "max_steps=4") == 2
    assert _snapshot(other) == before
    assert _train(data, run.parent / "branch", "--resume", str(run / "checkpoints" / "last.pt"),
                  "--set", "max_steps=4") == 0  # into a fresh folder it continues the run there
    assert load_checkpoint(run.parent / "branch" / "checkpoints" / "last.pt")["training_state"]["step"] == 4


def test_resume_auto_skips_a_damaged_checkpoint_resume_path_stays_strict(tmp_path, capsys):
    data = make_paired(tmp_path / "data", n=4)
    run = tmp_path / "run"
    assert _train(data, run, *P2P, *COMMON, "--set", "max_steps=3", "--set", "ckpt_every=1") == 0
    newest = run / "checkpoints" / "step_00000003.pt"
    whole = newest.read_bytes()
    newest.write_bytes(whole[: len(whole) // 2])  # truncated, e.g. by a full disk or a cut-short copy
    capsys.readouterr()
    assert _train(data, run, "--resume", str(newest)) == 1  # a named checkpoint: no guessing
    assert "step_00000003.pt is truncated, corrupt or not a PyTorch file" in capsys.readouterr().err
    assert _train(data, run, "--resume", "auto", "--set", "max_steps=4") == 0
    captured = capsys.readouterr()
    assert "--resume auto: skipping step_00000003.pt: checkpoint" in captured.err and "truncated" in captured.err
    assert "resumed from" in captured.out and "step_00000002.pt at step 2" in captured.out
    assert load_checkpoint(run / "checkpoints" / "step_00000004.pt")["training_state"]["step"] == 4
    for p in (run / "checkpoints").glob("step_*.pt"):
        p.write_bytes(b"PK\x03\x04 not a checkpoint")
    assert _train(data, run, "--resume", "auto", "--set", "max_steps=5") == 1
    assert "none of the 3 checkpoint(s)" in capsys.readouterr().err


def test_max_minutes_stops_at_a_step_boundary_with_a_checkpoint(tmp_path, capsys):
    data = make_paired(tmp_path / "data", n=4)
    run = tmp_path / "run"
    assert _train(data, run, *P2P, *COMMON, "--set", "max_steps=100000", "--max-minutes", "0") == 2
    assert "--max-minutes must be > 0" in capsys.readouterr().err
    assert not run.exists()
    # 0.01 min = 0.6 s, counted from the command's start: a few steps of a tiny net at most
    assert _train(data, run, *P2P, *COMMON, "--set", "max_steps=100000", "--set", "ckpt_every=100000",
                  "--max-minutes", "0.01") == 0
    captured = capsys.readouterr()
    assert "time budget spent at step" in captured.err
    assert "(time budget spent)" in captured.out and "--resume auto" in captured.out
    (saved,) = (run / "checkpoints").glob("step_*.pt")
    step = load_checkpoint(saved)["training_state"]["step"]
    assert 1 <= step < 100000 and saved.name == f"step_{step:08d}.pt"
    assert os.path.samefile(saved, run / "checkpoints" / "last.pt")
    assert _train(data, run, "--resume", "auto", "--set", f"max_steps={step + 1}") == 0  # and it resumes
    assert load_checkpoint(run / "checkpoints" / "last.pt")["training_state"]["step"] == step + 1
