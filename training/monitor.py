"""Watching a run (rank 0 only): progress bar, metrics JSONL + TensorBoard, sample grids,
validation and health warnings. Split from ``training/loop.py`` so the loop reads in one sitting.

Files in RUN_DIR: ``metrics.jsonl`` (one JSON object per log step, validation, health check or
event such as a resume), ``tensorboard/`` (``tensorboard --logdir RUN_DIR``),
``samples/step_XXXXXXXX.png`` (the columns of the method's ``sample``, e.g. input | output | target).

Validation (every ``val_every`` steps and at the end, on up to ``val_images`` unaugmented images
of the data's validation split; none without one) is the method's ``validate``
(``training/validation.py`` holds the shared metrics: PSNR/SSIM, and a Frechet distance of pooled
pixels that is NOT FID); the method's ``best_metric`` and ``higher_is_better`` choose best.pt.
Health checks (every ``health_every`` steps, ``training/health.py``) log their measurements as
``health/...`` scalars, e.g. ``health/sample_spread`` for generators of latents.
"""

from __future__ import annotations

import json
import logging
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from training.health import running_stats_settled
from translate.images import convert_channels
from translate.metrics import tensor_to_uint8

log = logging.getLogger("training")


def _to_uint8(x: torch.Tensor) -> np.ndarray:
    """[C, H, W] in [-1, 1] -> uint8 HWC with 3 channels (grey repeated) for grids."""
    px = tensor_to_uint8(x)
    return convert_channels(px, 3)


def grid_image(columns: list[torch.Tensor]) -> np.ndarray:
    """Rows = examples, columns = the given tensors [N, C, H, W] (resized to the largest, nearest)."""
    h = max(c.shape[2] for c in columns)
    w = max(c.shape[3] for c in columns)
    n = min(c.shape[0] for c in columns)
    cols = [F.interpolate(c[:n].float(), size=(h, w), mode="nearest") if c.shape[2:] != (h, w) else c[:n]
            for c in columns]
    rows = [np.concatenate([_to_uint8(c[i]) for c in cols], axis=1) for i in range(n)]
    return np.concatenate(rows, axis=0)


class RunMonitor:
    """Progress, logs, grids and validation of one run."""

    def __init__(self, trainer) -> None:
        from tqdm import tqdm

        self.t = trainer
        cfg = trainer.cfg
        self.dir = trainer.run_dir
        (self.dir / "samples").mkdir(parents=True, exist_ok=True)
        self.jsonl = self.dir / "metrics.jsonl"
        self.tb = None
        if cfg.tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(self.dir / "tensorboard"), purge_step=trainer.step or None)
        self.bar = tqdm(total=trainer.total_steps, initial=trainer.step, desc=cfg.method, unit="it",
                        dynamic_ncols=True, mininterval=1.0, file=sys.stderr, disable=None)  # off when not a TTY
        self.t0, self.s0 = time.time(), trainer.step
        self.warning = ""
        self.closed = False

    def _write(self, record: dict) -> None:
        with open(self.jsonl, "a") as f:
            f.write(json.dumps(record) + "\n")
        if self.tb is not None:
            for k, v in record.items():
                if isinstance(v, (int, float)) and k not in ("step", "epoch", "time"):
                    self.tb.add_scalar(k, v, record["step"])

    def after_step(self, losses: dict, batch: dict, fixed: dict) -> None:
        """Called after every optimisation step."""
        t, cfg = self.t, self.t.cfg
        step = t.step
        self.bar.update(1)
        if step % cfg.health_every == 0:
            self.check_health(step, losses, batch)
        if step % cfg.log_every == 0 or step == t.total_steps:
            vals = {k: float(v) for k, v in losses.items()}
            rate = (step - self.s0) / max(1e-9, time.time() - self.t0)
            record = {"step": step, "epoch": step // t.steps_per_epoch, "time": time.time(),
                      **{f"loss/{k}": v for k, v in vals.items()},
                      **{f"lr/{k}": o.param_groups[0]["lr"] for k, o in t.method.optimizers.items()},
                      "it_per_s": rate}
            self._write(record)
            post = {k: f"{v:.3g}" for k, v in vals.items() if not k.startswith("D_")}
            if self.warning:
                post["warn"] = self.warning
            self.bar.set_postfix(post, refresh=False)
            text = " ".join(f"{k}={v:.4g}" for k, v in vals.items())
            self.bar.write(f"step {step}/{t.total_steps} epoch {record['epoch']} {text} ({rate:.2f} it/s)")
            sys.stdout.flush()
        if step % cfg.sample_every == 0 or step == t.total_steps:
            self.write_grid(fixed)

    def check_health(self, step: int, losses: dict, batch: dict) -> None:
        """Health warnings (log + progress bar) and their measurements (metrics.jsonl + TensorBoard)."""
        t = self.t
        with t._eval_mode() as gens:  # what an export would give: EMA weights, eval mode
            settled = running_stats_settled(gens.values())
            samples = t.method.fixed_samples(gens, step // t.cfg.health_every) if settled else None
        for msg in t.health.check(step, losses, t.method.last_fake, batch.get("B"), samples):
            log.warning(msg)
            self.bar.write(f"WARNING {msg}")
            self.warning = msg.split(":")[1].strip().split(" (")[0][:40]
        if not t.health.active:
            self.warning = ""
        if t.health.scalars:
            self._write({"step": step, "epoch": step // t.steps_per_epoch, "time": time.time(), **t.health.scalars})

    def event(self, name: str, **details) -> None:
        """A non-numeric record in metrics.jsonl, e.g. where a resumed run continued from."""
        self._write({"step": self.t.step, "time": time.time(), "event": name, **details})

    def write_grid(self, fixed: dict) -> None:
        """Save samples/step_XXXXXXXX.png from the fixed validation batch."""
        from PIL import Image as PILImage

        with self.t._eval_mode() as gens:
            cols = self.t.method.sample(fixed, gens)
        path = self.dir / "samples" / f"step_{self.t.step:08d}.png"
        PILImage.fromarray(grid_image(cols)).save(path)
        if self.tb is not None:
            self.tb.add_image("samples", grid_image(cols), self.t.step, dataformats="HWC")

    @torch.no_grad()
    def validate(self) -> float | None:
        """Run the method's validation; returns the "higher is better" score for best.pt."""
        t, cfg = self.t, self.t.cfg
        if t.val_dataset is None:  # no validation split: no validation (never the training images)
            return None
        n = min(cfg.val_images, len(t.val_dataset))
        if n == 0:
            return None
        items = [t.val_dataset[(i, i)] for i in range(n)]
        record: dict = {"step": t.step, "epoch": t.step // t.steps_per_epoch, "time": time.time()}
        with t._eval_mode() as gens:
            record.update(t.method.validate(items, gens, t._to_device))
        self._write(record)
        shown = " ".join(f"{k}={v:.4g}" for k, v in record.items() if k.startswith("val/"))
        self.bar.write(f"validation at step {t.step}: {shown}")
        value = record[t.method.best_metric]
        return value if t.method.higher_is_better else -value

    def close(self) -> None:
        """Flush and close the progress bar and TensorBoard writer (idempotent)."""
        if self.closed:
            return
        self.closed = True
        self.bar.close()
        if self.tb is not None:
            self.tb.close()

