"""Watching a run (rank 0 only): progress bar, metrics JSONL + TensorBoard, sample grids,
validation and health warnings. Split from ``training/loop.py`` so the loop reads in one sitting.

Files in RUN_DIR: ``metrics.jsonl`` (one JSON object per log step / validation), ``tensorboard/``
(``tensorboard --logdir RUN_DIR``), ``samples/step_XXXXXXXX.png`` (columns input | output | target;
DCGAN: generated | real).

Validation (every ``val_every`` steps and at the end, on up to ``val_images`` unaugmented images):
- pix2pix / SRGAN: PSNR and SSIM (``translate.metrics``; SR on the Y channel with a ``scale``-pixel
  border crop, as the SR papers report) - higher PSNR is "best".
- CycleGAN / DCGAN: a Frechet distance between generated and real images computed on
  8x8 average-pooled pixels (``fd_pixels8``). This is a cheap, always-available sanity signal,
  NOT FID (no Inception network is involved); lower is better, compare it only within a run.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import warnings

import numpy as np
import torch
import torch.nn.functional as F

log = logging.getLogger("training")


def _to_uint8(x: torch.Tensor) -> np.ndarray:
    """[C, H, W] in [-1, 1] -> uint8 HWC with 3 channels (grey repeated) for grids."""
    x = x.detach().float().cpu().clamp(-1, 1)
    if x.shape[0] == 1:
        x = x.repeat(3, 1, 1)
    return ((x + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()


def grid_image(columns: list[torch.Tensor]) -> np.ndarray:
    """Rows = examples, columns = the given tensors [N, C, H, W] (resized to the largest, nearest)."""
    h = max(c.shape[2] for c in columns)
    w = max(c.shape[3] for c in columns)
    n = min(c.shape[0] for c in columns)
    cols = [F.interpolate(c[:n].float(), size=(h, w), mode="nearest") if c.shape[2:] != (h, w) else c[:n]
            for c in columns]
    rows = [np.concatenate([_to_uint8(c[i]) for c in cols], axis=1) for i in range(n)]
    return np.concatenate(rows, axis=0)


def pooled_features(x: torch.Tensor) -> np.ndarray:
    """[N, C, H, W] -> [N, C*64] features: 8x8 average-pooled pixels, grey as 3 channels."""
    x = x.float()
    if x.shape[1] == 1:
        x = x.repeat(1, 3, 1, 1)
    return F.adaptive_avg_pool2d(x, 8).flatten(1).cpu().double().numpy()


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
            real = batch.get("B")
            for msg in t.health.check(step, losses, t.method.last_fake, real):
                log.warning(msg)
                self.bar.write(f"WARNING {msg}")
                self.warning = msg.split(":")[1].strip().split(" (")[0][:40]
            if not t.health.active:
                self.warning = ""
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
        """Run validation; returns the "higher is better" score for best.pt (PSNR or -FD)."""
        t, cfg = self.t, self.t.cfg
        n = min(cfg.val_images, len(t.val_dataset))
        if n == 0:
            return None
        from training.data import collate

        items = [t.val_dataset[(i, i)] for i in range(n)]
        record: dict = {"step": t.step, "epoch": t.step // t.steps_per_epoch, "time": time.time()}
        with t._eval_mode() as gens:
            if cfg.method in ("pix2pix", "srgan"):
                from translate.metrics import psnr, ssim

                kw = {"y_channel": True, "crop_border": cfg.scale} if cfg.method == "srgan" else {}
                ps, ss = [], []
                for i in range(0, n, 8):
                    b = t._to_device(collate(items[i : i + 8]))
                    out = gens["G"](b["A"])
                    for o, y in zip(out, b["B"]):
                        o8, y8 = _hwc(o), _hwc(y)
                        ps.append(psnr(o8, y8, **kw))
                        ss.append(ssim(o8, y8, **kw))
                record.update({"val/psnr": float(np.mean(ps)), "val/ssim": float(np.mean(ss))})
                score = record["val/psnr"]
            else:
                b = t._to_device(collate(items))
                if cfg.method == "cyclegan":
                    fake, real = gens["G_A"](b["A"]), b["B"]
                else:
                    z = torch.randn(n, cfg.nz, generator=torch.Generator().manual_seed(cfg.seed)).to(t.device)
                    labels = b["label"] if cfg.num_classes else None
                    fake, real = gens["G"](z, labels), b["B"]
                from translate.metrics import frechet_distance

                with warnings.catch_warnings():  # few validation images: biased, but comparable within a run
                    warnings.simplefilter("ignore", UserWarning)
                    fd = float(frechet_distance(pooled_features(fake), pooled_features(real)))
                record["val/fd_pixels8"] = fd
                score = -fd
        self._write(record)
        shown = " ".join(f"{k}={v:.4g}" for k, v in record.items() if k.startswith("val/"))
        self.bar.write(f"validation at step {t.step}: {shown}")
        return score

    def close(self) -> None:
        """Flush and close the progress bar and TensorBoard writer (idempotent)."""
        if self.closed:
            return
        self.closed = True
        self.bar.close()
        if self.tb is not None:
            self.tb.close()


def _hwc(x: torch.Tensor) -> np.ndarray:
    """[C, H, W] in [-1, 1] -> uint8 HWC (C kept) for the metrics."""
    x = x.detach().float().cpu().clamp(-1, 1)
    return ((x + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
