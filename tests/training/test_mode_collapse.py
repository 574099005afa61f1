"""Mode collapse of a generator of latents is noticed on fixed seeds (issue 13 item 13).

The issue's case: a conditional DCGAN whose 16 seeds all gave the same image (per-pixel spread
below 2/255) raised no warning, because each training batch mixes classes and so looks diverse.
"""

from __future__ import annotations

import json
import logging

import torch

from training.config import load_config
from training.dcgan import DCGAN
from training.health import BN_SETTLE_UPDATES, SAMPLE_SPREAD, HealthMonitor, running_stats_settled, sample_spread
from training.synthetic import make_unconditional
from translate.cli import main


def _ignore_z(G: torch.nn.Module) -> None:
    """Collapse ``G`` on purpose: every latent is replaced by zeros, so only the label matters."""
    G.register_forward_pre_hook(lambda _m, args: (torch.zeros_like(args[0]), *args[1:]))


def _settle(G: torch.nn.Module, nz: int, k: int) -> None:
    """Give G's batch norms the running averages training would (one batch's statistics, marked settled)."""
    bns = [m for m in G.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in bns:
        m.momentum = 1.0  # running statistics := this batch's
    G.train()
    with torch.no_grad():
        G(torch.randn(64, nz), torch.arange(64) % k)
    G.eval()
    for m in bns:
        m.momentum = 0.1
        m.num_batches_tracked.fill_(BN_SETTLE_UPDATES)


def test_collapsed_classes_are_named_and_a_healthy_generator_passes():
    cfg = load_config("dcgan", "dcgan-cond-tiny", overrides={"num_classes": 4, "device": "cpu"})
    torch.manual_seed(0)
    method = DCGAN(cfg, "cpu")
    method.class_names = ["1", "5", "7", "8"]
    G = method.nets["G"].eval()
    assert not running_stats_settled([G])  # fresh running averages: the check waits
    _settle(G, cfg.nz, 4)
    assert running_stats_settled([G])
    with torch.no_grad():
        healthy = method.fixed_samples({"G": G})
    assert set(healthy) == {"1", "5", "7", "8"} and all(x.shape[0] == 16 for x in healthy.values())
    mon = HealthMonitor()
    assert mon.check(100, {}, None, None, healthy) == []
    assert mon.scalars["health/sample_spread"] >= SAMPLE_SPREAD
    _ignore_z(G)
    with torch.no_grad():
        collapsed = method.fixed_samples({"G": G})
    assert all(sample_spread(x) < 0.01 for x in collapsed.values())
    (msg,) = mon.check(150, {}, None, None, collapsed)
    assert "mode collapse: 16 fixed latents give nearly the same image for class '1'" in msg and "'8'" in msg
    assert "below 2" in msg and "Usually helps" in msg
    assert mon.check(200, {}, None, None, collapsed) == []  # said once until it clears
    assert set(mon.scalars) == {"health/sample_spread", *(f"health/sample_spread/{n}" for n in "1578")}


def test_a_collapsing_run_warns_in_the_log_and_the_metrics(tmp_path, monkeypatch, caplog):
    data = make_unconditional(tmp_path / "data", n=32, size=32, class_folders=True)
    init = DCGAN.__init__

    def collapsed_init(self, cfg, device):
        init(self, cfg, device)
        _ignore_z(self.nets["G"])

    monkeypatch.setattr(DCGAN, "__init__", collapsed_init)
    run = tmp_path / "run"
    with caplog.at_level(logging.WARNING, logger="training"):
        assert main(["train", "dcgan", "--data", str(data), "--out", str(run), "--preset", "dcgan-cond-tiny",
                     "--device", "cpu", "--set", "num_classes=4", "--set", "batch_size=8", "--set", "max_steps=60",
                     "--set", "health_every=10", "--set", "log_every=100", "--set", "tensorboard=true"]) == 0
    warnings = [r.getMessage() for r in caplog.records if "fixed latents" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].startswith("step 50: mode collapse")  # once BN averages settled
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    spreads = {r["step"]: r["health/sample_spread"] for r in rows if "health/sample_spread" in r}
    assert sorted(spreads) == [50, 60] and max(spreads.values()) < SAMPLE_SPREAD
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    tb = {e.step: e.value for e in events.Scalars("health/sample_spread")}  # the same scalars in TensorBoard
    assert sorted(tb) == [50, 60] and max(tb.values()) < SAMPLE_SPREAD
