"""Exact resume (bitwise on CPU), SIGTERM handling, NaN stop and torchrun with two processes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from training.synthetic import make_paired, make_unpaired
from translate.checkpoint import load_checkpoint
from translate.cli import main

ROOT = Path(__file__).resolve().parents[2]
COMMON = ["--device", "cpu", "--set", "tensorboard=false", "--set", "log_every=1", "--set", "n_epochs_decay=0"]
P2P = ["--preset", "pix2pix-tiny", "--set", "netG=resnet_6blocks",
       "--set", "netG_kwargs={ngf: 4, norm: batch, use_dropout: true}",
       "--set", "load_size=36", "--set", "crop_size=32", "--set", "batch_size=2"]
CYC = ["--preset", "cyclegan-tiny", "--set", "netG_kwargs.ngf=4", "--set", "pool_size=3", "--set", "batch_size=2"]


def _weights(path):
    ckpt = load_checkpoint(path)
    return {f"{n}.{k}": v for n, e in ckpt["networks"].items() for k, v in e["state_dict"].items()}, ckpt


@pytest.mark.parametrize("method,data_fn,args", [("pix2pix", make_paired, [*P2P, "--set", "ema_decay=0.9"]),
                                                  ("cyclegan", make_unpaired, CYC)])
def test_resume_is_bitwise_exact(tmp_path, method, data_fn, args):
    """7 steps straight == 3 steps, then resume from that checkpoint (mid-epoch), 4 more (crossing an epoch)."""
    data = data_fn(tmp_path / "data", seed=1)
    full = tmp_path / "full"
    cmd = ["train", method, "--data", str(data), *args, *COMMON, "--set", "max_steps=7", "--set", "ckpt_every=3"]
    assert main([*cmd, "--out", str(full)]) == 0
    part = tmp_path / "part"
    (part / "checkpoints").mkdir(parents=True)
    shutil.copy(full / "checkpoints" / "step_00000003.pt", part / "checkpoints")  # as if stopped after step 3
    shutil.copy(full / "config.yaml", part / "config.yaml")
    assert main(["train", method, "--data", str(data), "--out", str(part), "--resume", "auto"]) == 0
    a, ca = _weights(full / "checkpoints" / "step_00000007.pt")
    b, cb = _weights(part / "checkpoints" / "step_00000007.pt")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k} differs after resume"
    for name, ema in ca["ema"].items():  # generator EMA resumes exactly too
        assert all(torch.equal(v, cb["ema"][name][k]) for k, v in ema.items())
    assert bool(ca["ema"]) == (method == "pix2pix")
    sa, sb = ca["training_state"], cb["training_state"]
    for name in sa["optimizers"]:
        for pid, st in sa["optimizers"][name]["state"].items():
            assert torch.equal(st["exp_avg_sq"], sb["optimizers"][name]["state"][pid]["exp_avg_sq"])
    if method == "cyclegan":  # the image pools are restored and evolve identically
        for key, pool in sa["method"]["pools"].items():
            assert len(pool["images"]) == 3
            for x, y in zip(pool["images"], sb["method"]["pools"][key]["images"]):
                assert torch.equal(x, y)


def test_sigterm_saves_exits_0_and_resumes(tmp_path):
    data = make_paired(tmp_path / "data")
    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "translate.cli", "train", "pix2pix", "--data", str(data), "--out", str(run), *P2P,
         *COMMON, "--set", "max_steps=100000", "--set", "ckpt_every=100000"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT,
    )
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("step 2/"):
            proc.send_signal(signal.SIGTERM)
            break
    out = "".join(lines) + proc.stdout.read()
    assert proc.wait(timeout=120) == 0, out
    assert "Resume with:" in out and "--resume auto" in out
    saved = sorted((run / "checkpoints").glob("step_*.pt"))
    assert len(saved) == 1
    stopped_at = load_checkpoint(saved[0])["training_state"]["step"]
    assert stopped_at >= 2
    rc = main(["train", "pix2pix", "--data", str(data), "--out", str(run), "--resume", "auto",
               "--set", f"max_steps={stopped_at + 2}"])
    assert rc == 0
    final = load_checkpoint(run / "checkpoints" / f"step_{stopped_at + 2:08d}.pt")
    assert final["training_state"]["step"] == stopped_at + 2


def test_nan_loss_stops_with_message_and_keeps_last_checkpoint(tmp_path, capsys):
    data = make_paired(tmp_path / "data")
    run = tmp_path / "run"
    assert main(["train", "pix2pix", "--data", str(data), "--out", str(run), *P2P, *COMMON,
                 "--set", "max_steps=2", "--set", "ckpt_every=1"]) == 0
    capsys.readouterr()
    good = load_checkpoint(run / "checkpoints" / "step_00000002.pt")["networks"]["G"]["state_dict"]
    # a real divergence: resume with an absurd learning rate
    rc = main(["train", "pix2pix", "--data", str(data), "--out", str(run), "--resume", "auto",
               "--set", "lr=1e30", "--set", "max_steps=50"])
    err = capsys.readouterr().err
    assert rc == 1
    assert "became nan" in err or "became inf" in err
    assert "last good checkpoint is" in err
    saved = sorted((run / "checkpoints").glob("step_*.pt"))
    assert saved[-1].name == "step_00000002.pt" and str(saved[-1]) in err
    kept = load_checkpoint(saved[-1])["networks"]["G"]["state_dict"]  # intact, loadable, unchanged
    assert all(torch.equal(kept[k], good[k]) for k in good)


def test_torchrun_two_processes_hold_identical_weights(tmp_path):
    data = make_paired(tmp_path / "data", n=8)
    script = tmp_path / "run_ddp.py"
    script.write_text(textwrap.dedent(f"""
        import hashlib, os, torch
        torch.set_num_threads(1)
        from training.config import load_config
        from training.loop import Trainer
        cfg = load_config("pix2pix", "pix2pix-tiny", overrides={{
            "netG": "resnet_6blocks", "netG_kwargs": {{"ngf": 4}}, "load_size": 36, "crop_size": 32,
            "batch_size": 2, "max_steps": 3, "tensorboard": False, "device": "cpu"}})
        t = Trainer(cfg, {str(data)!r}, {str(tmp_path / "run")!r})
        assert t.run() == 0
        h = hashlib.sha256()
        for name, net in sorted(t.method.nets.items()):
            for k, v in sorted(net.state_dict().items()):
                h.update(k.encode()); h.update(v.detach().cpu().numpy().tobytes())
        rank = os.environ["RANK"]
        open({str(tmp_path)!r} + f"/hash{{rank}}", "w").write(h.hexdigest() + " " + str(t.world))
    """))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           str(script)],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    h0, h1 = (tmp_path / "hash0").read_text(), (tmp_path / "hash1").read_text()
    assert h0 == h1 and h0.endswith(" 2")
    assert (tmp_path / "run" / "checkpoints" / "step_00000003.pt").is_file()


def test_a_checkpoint_from_before_a_network_argument_existed_resumes(tmp_path):
    """Checkpoints record every constructor argument; one written before an argument was added (here the
    U-Net's keep_luma) lacks it, and must resume with its default instead of being refused as a mismatch."""
    data = make_paired(tmp_path / "data", n=4, size=128, seed=1)
    args = ["--preset", "pix2pix-tiny", "--set", "netG_kwargs.ngf=4", "--set", "netD_kwargs.ndf=4",
            "--set", "load_size=128", "--set", "crop_size=128", "--set", "batch_size=1"]
    run = tmp_path / "run"
    assert main(["train", "pix2pix", "--data", str(data), "--out", str(run), *args, *COMMON,
                 "--set", "max_steps=2", "--set", "ckpt_every=2"]) == 0
    path = run / "checkpoints" / "step_00000002.pt"
    ckpt = load_checkpoint(path)
    assert ckpt["networks"]["G"]["kwargs"].pop("keep_luma") is False  # as an older version wrote it
    torch.save(ckpt, path)
    assert main(["train", "pix2pix", "--data", str(data), "--out", str(run), "--resume", "auto",
                 "--set", "max_steps=3"]) == 0
    assert (run / "checkpoints" / "step_00000003.pt").is_file()
