"""bf16 autocast on the CPU (runs, finite losses, exact resume, really lower precision), fp16 refused on
the CPU, the warning on CPUs without native bf16, and ``compile: true`` (the networks wrapped in
torch.compile for the training steps, plain modules in checkpoints)."""

from __future__ import annotations

import json
import logging
import math
import os
import shutil

import pytest
import torch

import training.loop
from training.synthetic import make_paired
from translate.checkpoint import load_checkpoint
from translate.cli import main

COMMON = ["--device", "cpu", "--set", "tensorboard=false", "--set", "log_every=1", "--set", "n_epochs_decay=0"]
P2P = ["--preset", "pix2pix-tiny", "--set", "netG=resnet_6blocks",
       "--set", "netG_kwargs={ngf: 4, norm: batch, use_dropout: true}",
       "--set", "load_size=36", "--set", "crop_size=32", "--set", "batch_size=2"]


def _train(data, out, *extra) -> int:
    return main(["train", "pix2pix", "--data", str(data), "--out", str(out), *P2P, *COMMON, *extra])


def _weights(path) -> dict[str, torch.Tensor]:
    ckpt = load_checkpoint(path)
    return {f"{n}.{k}": v for n, e in ckpt["networks"].items() for k, v in e["state_dict"].items()}


def _losses(run) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if '"loss/' in line]


def test_bf16_on_the_cpu_trains_resumes_exactly_and_differs_from_fp32(tmp_path):
    """7 bf16 steps straight == 3 steps + resume + 4; the losses are finite; fp32 gives other weights."""
    data = make_paired(tmp_path / "data", seed=1)
    full = tmp_path / "full"
    assert _train(data, full, "--amp", "bf16", "--set", "max_steps=7", "--set", "ckpt_every=3") == 0
    rows = _losses(full)
    assert [r["step"] for r in rows] == list(range(1, 8))
    assert all(math.isfinite(v) for r in rows for k, v in r.items() if k.startswith("loss/"))
    assert load_checkpoint(full / "checkpoints" / "step_00000007.pt")["config"]["amp"] == "bf16"

    part = tmp_path / "part"
    (part / "checkpoints").mkdir(parents=True)
    shutil.copy(full / "checkpoints" / "step_00000003.pt", part / "checkpoints")  # as if stopped after step 3
    shutil.copy(full / "config.yaml", part / "config.yaml")
    assert main(["train", "pix2pix", "--data", str(data), "--out", str(part), "--resume", "auto"]) == 0
    a = _weights(full / "checkpoints" / "step_00000007.pt")
    b = _weights(part / "checkpoints" / "step_00000007.pt")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k} differs after resuming a bf16 run"

    fp32 = tmp_path / "fp32"
    assert _train(data, fp32, "--set", "max_steps=7", "--set", "ckpt_every=3") == 0
    c = _weights(fp32 / "checkpoints" / "step_00000007.pt")
    # autocast really ran the convolutions in bf16: same seed, same data, other weights (but close ones)
    float_keys = [k for k in a if a[k].is_floating_point() and "running" not in k]
    assert any(not torch.equal(a[k], c[k]) for k in float_keys)
    worst = max((a[k] - c[k]).abs().max().item() for k in float_keys)
    assert worst < 0.05, f"bf16 and fp32 weights after 7 steps differ by up to {worst}"


def test_fp16_on_the_cpu_is_refused_with_what_to_do(tmp_path, capsys):
    data = make_paired(tmp_path / "data", n=4)
    assert _train(data, tmp_path / "run", "--amp", "fp16", "--set", "max_steps=1") == 2
    err = capsys.readouterr().err
    assert "amp=fp16 needs a CUDA device" in err and "--amp bf16" in err
    assert not list((tmp_path / "run").glob("checkpoints/*.pt"))


def test_bf16_without_native_support_warns_and_still_trains(tmp_path, monkeypatch, caplog):
    data = make_paired(tmp_path / "data", n=4)
    monkeypatch.setattr(training.loop, "native_bf16_cpu", lambda: "")
    caplog.set_level(logging.INFO, logger="training")
    assert _train(data, tmp_path / "run", "--amp", "bf16", "--set", "max_steps=1") == 0
    assert "this CPU has no native bf16" in caplog.text and "use --amp off" in caplog.text
    monkeypatch.setattr(training.loop, "native_bf16_cpu", lambda: "avx512_bf16")
    caplog.clear()
    assert _train(data, tmp_path / "run2", "--amp", "bf16", "--set", "max_steps=1") == 0
    assert "bf16 autocast on the CPU (native bf16: avx512_bf16)" in caplog.text
    assert "no native bf16" not in caplog.text


def test_native_bf16_cpu_reads_torch_capabilities(monkeypatch):
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"avx512_bf16": False, "amx_bf16": True})
    assert training.loop.native_bf16_cpu() == "amx_bf16"
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"avx512_bf16": False, "avx2": True})
    assert training.loop.native_bf16_cpu() == ""


def test_compile_wraps_the_training_networks_and_saves_plain_ones(tmp_path, monkeypatch, capsys):
    """``--compile``: every network goes through torch.compile (here its graph-capturing front end with
    the eager backend, seconds instead of the minutes of code generation); the steps give the same
    weights as without it, and checkpoints hold the plain modules' keys."""
    data = make_paired(tmp_path / "data", seed=2)
    compiled = []
    real_compile = torch.compile

    def eager_compile(model, **kwargs):
        compiled.append(type(model).__name__)
        return real_compile(model, backend="eager", **kwargs)

    monkeypatch.setattr(torch, "compile", eager_compile)
    assert main(["train", "pix2pix", "--data", str(data), "--out", str(tmp_path / "cfg"), "--compile",
                 "--print-config"]) == 0
    assert "compile: true" in capsys.readouterr().out
    torch._dynamo.reset()
    assert _train(data, tmp_path / "compiled", "--compile", "--set", "max_steps=3") == 0
    assert sorted(compiled) == ["PatchDiscriminator", "ResnetGenerator"]
    assert _train(data, tmp_path / "plain", "--set", "max_steps=3") == 0
    assert len(compiled) == 2  # compile: false (the default) compiles nothing
    a = _weights(tmp_path / "compiled" / "checkpoints" / "step_00000003.pt")
    b = _weights(tmp_path / "plain" / "checkpoints" / "step_00000003.pt")
    assert a.keys() == b.keys() and not any("_orig_mod" in k for k in a)
    for k in a:
        assert torch.allclose(a[k].float(), b[k].float(), atol=1e-6), f"{k}: compiled steps differ"


@pytest.mark.skipif(os.environ.get("TRANSLATE_TEST_INDUCTOR") != "1",
                    reason="compiles with inductor (2-6 minutes on a 2-core CPU): set TRANSLATE_TEST_INDUCTOR=1")
@pytest.mark.timeout(1800)
def test_compile_with_inductor_trains_a_bf16_step(tmp_path):
    data = make_paired(tmp_path / "data", n=4)
    torch._dynamo.reset()
    assert _train(data, tmp_path / "run", "--compile", "--amp", "bf16", "--set", "max_steps=2") == 0
    assert all(math.isfinite(v) for r in _losses(tmp_path / "run") for k, v in r.items() if k.startswith("loss/"))

