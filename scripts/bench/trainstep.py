"""One method's training step, built exactly as ``translate train`` builds it, for benchmark scripts.

``training.loop.Trainer`` sets up the device, AMP, networks, optimizers and (``compile: true``)
torch.compile from a preset plus config keys; :func:`build_step` then keeps one batch of the
method's own dataset (synthetic images of the right size, ``training.synthetic``) on the device
and returns a function that runs ``train_step`` on it, as the loop does, without data loading.
Used by ``training.py`` (speed) and ``gpu.py`` (speed and parity on one GPU).
"""

from __future__ import annotations

from pathlib import Path

import torch

# case -> (method, paper preset, tiny preset, SRGAN stage); stage "gan" times SRGAN's second stage
CASES = {
    "pix2pix": ("pix2pix", "pix2pix", "pix2pix-tiny", None),
    "cyclegan": ("cyclegan", "cyclegan", "cyclegan-tiny", None),
    "srgan/srresnet": ("srgan", "srgan", "srgan-tiny", "srresnet"),
    "srgan/gan": ("srgan", "srgan", "srgan-tiny", "gan"),
    "dcgan": ("dcgan", "dcgan", "dcgan-tiny", None),
}


def make_data(method: str, cfg, root: Path) -> Path:
    """Synthetic images in the method's layout at the size the config trains on (made once per folder)."""
    from training import synthetic

    if root.exists():
        return root
    n = max(cfg.batch_size, 4)
    if method == "pix2pix":
        return synthetic.make_paired(root, n=n, size=cfg.load_size)
    if method == "cyclegan":
        return synthetic.make_unpaired(root, n_a=n, n_b=n, size=cfg.load_size)
    if method == "srgan":
        return synthetic.make_sr(root, n=n, size=cfg.hr_size)
    return synthetic.make_unconditional(root, n=max(n, 16), size=cfg.image_size)


def build_step(case: str, *, tiny: bool, overrides: dict, tmp: Path, tag: str = ""):
    """(step function, trainer, batch) for ``case`` with config ``overrides`` (device, amp, channels_last, ...).

    Every call builds the networks from the config's seed, so two variants start from the same
    weights and see the same batch. The step function runs one ``train_step`` + scaler update and,
    on CUDA, waits for the GPU, so wall-clock time is the step's time.
    """
    from training.config import load_config
    from training.data import collate
    from training.loop import StepContext, Trainer

    method, paper, tiny_preset, stage = CASES[case]
    preset = tiny_preset if tiny else paper
    cfg = load_config(method, preset=preset, overrides={"tensorboard": False, **overrides})
    slug = case.replace("/", "-")
    data = make_data(method, cfg, tmp / f"data-{slug}-{preset}-{getattr(cfg, 'crop_size', '')}")
    trainer = Trainer(cfg, data, tmp / f"run-{slug}-{tag}")
    trainer._setup_device()  # the trainer's own device/AMP/model/optimizer setup, without starting a run
    trainer._setup_model()
    ctx = StepContext(trainer)
    ds = trainer.dataset
    batch = trainer._to_device(collate([ds[(i % len(ds), i)] for i in range(cfg.batch_size)]))
    ctx.step_index = cfg.srresnet_steps if stage == "gan" else 0

    def step() -> dict:
        losses = trainer.method.train_step(batch, ctx)
        trainer.scaler.update()
        if trainer.device.type == "cuda":
            torch.cuda.synchronize()
        return losses

    return step, trainer, batch
