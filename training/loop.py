"""The shared training loop: everything the methods have in common.

A method (``training/pix2pix.py`` ..., looked up in ``training.registry``) owns its networks,
losses, dataset, ``train_step`` and validation metric; this module owns optimisation
(``StepContext.step``: backward, gradient averaging, optimizer step), AMP, channels_last, several
processes under ``torchrun``, generator EMA, the learning-rate schedule, progress/JSONL/TensorBoard
logging, sample grids, running validation, health warnings, atomic checkpoints (``step_*.pt``, plus
``last.pt`` and, with a validation split, ``best.pt``), exact resume, and stopping cleanly on
SIGINT/SIGTERM or at the ``--max-minutes`` deadline.

Several processes: ``torchrun --nproc_per_node N -m translate.cli train ...`` starts N copies;
each builds the same networks from the same seed, reads its own shard of every epoch
(``DistributedSampler`` order), and after every backward the gradients of the optimizer about to
step are averaged with one ``all_reduce`` - the arithmetic of DistributedDataParallel, done
explicitly because GAN steps run D several times per iteration and freeze it for the G step,
which DDP's per-parameter hooks do not support. Batch norm becomes SyncBatchNorm on CUDA; on CPU
(gloo, where SyncBatchNorm does not run) rank 0's buffers are broadcast after every step so all
ranks stay identical. Rank 0 logs and saves.

Exact resume: checkpoints hold networks, optimizers, schedulers, the AMP scaler, EMA weights,
method state (image pools), RNG states and the step; the data order is a function of
(seed, epoch, position) (see ``training.data.EpochSampler``) and the RNGs are re-seeded from
(seed, rank, step) at every step, so "N steps" and "N/2 steps + resume + N/2 steps" give the
same weights bit for bit on a CPU.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import logging
import math
import os
import random
import signal
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from training.data import EpochSampler, NoValidationSplit, collate
from training.health import HealthMonitor
from training.registry import METHODS
from training.resume import ResumePoint, check_resume_config, find_resume_point, step_checkpoints
from translate.atomic import atomic_link
from translate.checkpoint import build_checkpoint, save_checkpoint, unwrap
from translate.errors import CheckpointError, ConfigError, TranslateError
from translate.nets import network_arguments
from translate.precision import BF16_FLAGS

log = logging.getLogger("training")


class NonFiniteLossError(TranslateError):
    """A loss became NaN or Inf; the run stopped without saving the broken weights."""


def _dist_env() -> tuple[int, int, int]:
    """(rank, world_size, local_rank) from torchrun's environment; (0, 1, 0) otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0"))


def _step_seed(seed: int, rank: int, step: int) -> int:
    return int(np.random.SeedSequence([seed, rank, step, 7]).generate_state(1)[0])


def native_bf16_cpu() -> str:
    """The CPU feature that runs bf16 natively (``avx512_bf16``, ``amx_bf16``), or "" when there is none.

    Asks PyTorch's own CPU detection (the instructions its kernels will use), not ``/proc/cpuinfo``.
    """
    caps = torch.cpu.get_capabilities() if hasattr(torch.cpu, "get_capabilities") else {}
    return next((flag for flag in BF16_FLAGS if caps.get(flag)), "")


def rng_state() -> dict:
    """torch / numpy / python / cuda RNG states as tensors and lists (weights_only-loadable)."""
    np_state = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "cached": float(np_state[4])},
        "python": [list(x) if isinstance(x, tuple) else x for x in random.getstate()],
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    return state


def set_rng_state(state: dict) -> None:
    """Inverse of :func:`rng_state`."""
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class StepContext:
    """What a method's ``train_step`` uses: ``autocast()`` and ``step(optimizer_name, loss)``."""

    def __init__(self, trainer: Trainer) -> None:
        self.t = trainer
        self.step_index = 0

    def autocast(self):
        """Mixed precision when amp is bf16 (CUDA or CPU) or fp16 (CUDA); a no-op otherwise."""
        t = self.t
        if t.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=t.device.type, dtype=t.amp_dtype)

    def step(self, name: str, loss: torch.Tensor) -> None:
        """Backward ``loss`` into optimizer ``name``'s parameters, average gradients, step."""
        t = self.t
        bad = torch.tensor([0.0 if torch.isfinite(loss.detach()).all() else 1.0], device=t.device)
        if t.world > 1:
            dist.all_reduce(bad, op=dist.ReduceOp.MAX)
        if bad.item():
            raise NonFiniteLossError(
                f"loss for optimizer {name!r} became {float(loss.detach())} at step {self.step_index}: training "
                f"stopped and nothing was saved. The last good checkpoint is "
                f"{t.last_checkpoint or '(none yet)'}. Usually helps: a lower lr, amp=bf16 instead of fp16, "
                "or --resume from that checkpoint with a lower lr."
            )
        opt = t.method.optimizers[name]
        opt.zero_grad(set_to_none=True)
        t.scaler.scale(loss).backward()
        if t.world > 1:
            grads = [p.grad for g in opt.param_groups for p in g["params"] if p.grad is not None]
            if grads:
                flat = torch.cat([g.reshape(-1) for g in grads])
                dist.all_reduce(flat)
                flat /= t.world
                offset = 0
                for g in grads:
                    g.copy_(flat[offset : offset + g.numel()].view_as(g))
                    offset += g.numel()
        t.scaler.step(opt)


class Trainer:
    """One training run: ``Trainer(cfg, data_dir, run_dir).run()`` -> exit code.

    ``resume``: ``"auto"`` or a checkpoint path (see :mod:`training.resume`); a caller that has
    already found and checked the checkpoint passes it as ``resume_point``. ``deadline``: a
    ``time.monotonic()`` value after which the run stops at the next step boundary, saving a
    checkpoint as it does on SIGTERM (``translate train --max-minutes``).
    """

    def __init__(self, cfg, data_dir, run_dir, *, resume: str | None = None, exclude=(), command_hint: str = "",
                 resume_point: ResumePoint | None = None, deadline: float | None = None):
        self.cfg, self.data_dir, self.run_dir = cfg, Path(data_dir), Path(run_dir)
        self.resume, self.exclude, self.command_hint = resume, tuple(exclude), command_hint
        self.resume_point, self.deadline = resume_point, deadline
        self.rank, self.world, self.local_rank = _dist_env()
        self.stop_requested = False
        self.stop_reason = ""  # e.g. "SIGTERM received", "time budget spent"
        self.no_validation = ""  # why there is no validation split, when there is none
        self.last_checkpoint: Path | None = None
        self.best_metric: float | None = None
        self.step = 0

    # ---------------------------------------------------------------- setup
    def _setup_device(self) -> None:
        cfg = self.cfg
        want = cfg.device
        if want == "auto":
            want = "cuda" if torch.cuda.is_available() else "cpu"
        if want == "cuda" and not torch.cuda.is_available():
            raise ConfigError("device=cuda but no CUDA GPU is visible; use --device cpu")
        self.device = torch.device("cuda", self.local_rank) if want == "cuda" else torch.device("cpu")
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        self._setup_amp()
        if self.world > 1 and not dist.is_initialized():
            dist.init_process_group(backend="nccl" if self.device.type == "cuda" else "gloo")
        if cfg.deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True, warn_only=True)
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
        elif self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True

    def _setup_model(self) -> None:
        cfg = self.cfg
        torch.manual_seed(cfg.seed)  # identical initial weights on every rank
        random.seed(cfg.seed)
        np.random.seed(cfg.seed)
        self.method = METHODS[cfg.method](cfg, self.device)
        nets = self.method.nets
        self.sync_bn = self.world > 1 and self.device.type == "cuda"
        for name, net in nets.items():
            if self.sync_bn:
                nets[name] = torch.nn.SyncBatchNorm.convert_sync_batchnorm(net)
            if cfg.channels_last:
                nets[name] = nets[name].to(memory_format=torch.channels_last)
            nets[name].train()
        self.ema = {}
        if cfg.ema_decay > 0:
            for g in self.method.generators:
                e = copy.deepcopy(unwrap(nets[g])).eval()
                e.requires_grad_(False)
                self.ema[g] = e
        self._setup_data()
        per_rank = math.ceil(len(self.dataset) / self.world)
        self.steps_per_epoch = per_rank // cfg.batch_size
        if self.steps_per_epoch < 1:
            raise ConfigError(
                f"batch_size {cfg.batch_size} x {self.world} process(es) is larger than the dataset "
                f"({len(self.dataset)} items); lower batch_size"
            )
        epochs = cfg.n_epochs + cfg.n_epochs_decay
        self.total_steps = cfg.max_steps or epochs * self.steps_per_epoch
        self.schedulers = {
            name: torch.optim.lr_scheduler.LambdaLR(opt, self._lr_lambda())
            for name, opt in self.method.optimizers.items()
        }
        self.health = HealthMonitor(cfg.gan_mode)
        self._compile_networks()

    def _setup_amp(self) -> None:
        """Mixed precision: ``amp_dtype`` for :meth:`StepContext.autocast` and the GradScaler (fp16 only).

        bf16 runs on CUDA and on the CPU. bf16 keeps fp32's exponent range, so it needs no loss
        scaling; on a CPU with native bf16 (avx512_bf16 or AMX) a paper-size pix2pix step measured 1.49x
        and a CycleGAN step 1.89x faster than fp32 (docs/performance.md), while other CPUs emulate it
        (slower than fp32, so a warning says so; results are still right). fp16 needs CUDA: CPUs have no fast fp16 path
        and it needs a loss scaler.
        """
        cfg = self.cfg
        if cfg.amp == "fp16" and self.device.type != "cuda":
            raise ConfigError("amp=fp16 needs a CUDA device; on the CPU use --amp bf16 (mixed precision that "
                              "needs no loss scaling) or --amp off")
        if cfg.amp == "bf16" and self.device.type == "cpu" and self.rank == 0:
            native = native_bf16_cpu()
            if native:
                log.info("amp: bf16 autocast on the CPU (native bf16: %s)", native)
            else:
                log.warning("amp=bf16: this CPU has no native bf16 (neither avx512_bf16 nor AMX), so PyTorch "
                            "emulates it and training runs slower than in fp32; use --amp off here")
        self.amp_dtype = {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}[cfg.amp]
        self.scaler = torch.amp.GradScaler("cuda", enabled=cfg.amp == "fp16")

    def _compile_networks(self) -> None:
        """``compile: true``: wrap every network in ``torch.compile`` for the training steps.

        Only the training forward/backward is compiled: checkpoints, EMA, samples and validation
        use the plain module (``translate.checkpoint.unwrap``), so they never wait for a
        recompile at another image size or in eval mode. The optimizers keep stepping the same
        parameter tensors. The first step compiles (about 10 minutes for pix2pix U-Net-256 on a
        2-core CPU with a cold cache). Measured on that CPU, compiled steps were faster under heavy
        load and slower on a quiet machine (docs/performance.md), so it is off by default.
        """
        if not getattr(self.cfg, "compile", False):
            return
        nets = self.method.nets
        for name in nets:
            nets[name] = torch.compile(nets[name])
        if self.rank == 0:
            log.info("compile: torch.compile on %s; the first training step compiles them (minutes on a CPU)",
                     ", ".join(nets))

    def _setup_data(self) -> None:
        """Training data, its classes, and the validation split (None when the data has none)."""
        cfg, method = self.cfg, self.method
        self.dataset = method.dataset(cfg, self.data_dir, train=True, exclude=self.exclude)
        type(method).check_data(cfg, self.dataset)
        method.class_names = list(getattr(self.dataset, "class_names", []))
        try:
            self.val_dataset = method.dataset(cfg, self.data_dir, train=False, exclude=self.exclude)
        except NoValidationSplit as exc:
            self.val_dataset, self.no_validation = None, str(exc)

    def describe_validation(self) -> str:
        """One line saying which data the run validates on and which file keeps the best model."""
        ds = self.val_dataset
        if ds is None:
            return (f"validation: none: {self.no_validation}. Without held-out data there is no best.pt; "
                    "checkpoints/last.pt is the newest checkpoint")
        n = min(self.cfg.val_images, len(ds))
        where = getattr(ds, "source", self.data_dir)
        return (f"validation: {n} of {len(ds)} held-out item(s) in {where}; {self.method.best_metric} picks "
                "checkpoints/best.pt (checkpoints/last.pt is the newest)")

    def _lr_lambda(self):
        method, total = self.method, self.total_steps

        def factor(step: int) -> float:
            return method.lr_factor(step, total)

        return factor

    # ---------------------------------------------------------------- checkpoints
    def ckpt_dir(self) -> Path:
        """Where checkpoints go: RUN_DIR/checkpoints."""
        return self.run_dir / "checkpoints"

    def find_resume(self) -> ResumePoint | None:
        """The checkpoint to continue from: the one given to the constructor, else what ``resume`` names
        (checked against this run's config); None for a fresh start."""
        if self.resume_point is None and self.resume:
            self.resume_point = find_resume_point(self.run_dir, self.resume)
            if self.resume_point is not None:
                check_resume_config(self.cfg, self.resume_point)
        return self.resume_point

    def training_state(self) -> dict:
        """Everything beyond the weights that an exact resume needs (plain tensors/lists)."""
        return {
            "step": self.step,
            "epoch": self.step // self.steps_per_epoch,
            "position_in_epoch": self.step % self.steps_per_epoch,
            "world_size": self.world,
            "optimizers": {k: o.state_dict() for k, o in self.method.optimizers.items()},
            "schedulers": {k: s.state_dict() for k, s in self.schedulers.items()},
            "scaler": self.scaler.state_dict(),
            "method": self.method.extra_state(),
            "rng": rng_state(),
            "best_metric": self.best_metric,
        }

    def save(self, best: bool = False) -> Path | None:
        """Atomic checkpoint RUN_DIR/checkpoints/step_XXXXXXXX.pt (rank 0), keeping the last ``keep_last``.

        ``last.pt`` (always) and ``best.pt`` (when ``best``: the newest validation result is the best
        so far) are atomic second names of the step file, so pruning never removes them.
        """
        if self.rank != 0:
            return None
        cfg = self.cfg
        prov = {"run_name": self.run_dir.name, "step": self.step, "epoch": self.step // self.steps_per_epoch,
                "dataset": str(self.data_dir), **self.method.provenance()}
        ckpt = build_checkpoint(self.method.family, self.method.nets, self.method.processing(),
                                config=dataclasses.asdict(cfg), provenance=prov, ema=self.ema,
                                training_state=self.training_state())
        path = save_checkpoint(ckpt, self.ckpt_dir() / f"step_{self.step:08d}.pt")
        atomic_link(path, self.ckpt_dir() / "last.pt")
        if best:
            atomic_link(path, self.ckpt_dir() / "best.pt")
        for old in step_checkpoints(self.ckpt_dir())[cfg.keep_last:]:
            old.unlink(missing_ok=True)
        self.last_checkpoint = path
        return path

    def load(self, point: ResumePoint) -> None:
        """Restore a checkpoint written by :meth:`save` (exactly, incl. optimizers and RNG)."""
        path, ckpt = point.path, point.checkpoint
        state = ckpt["training_state"]
        if ckpt["family"] != self.method.family:
            raise CheckpointError(f"{path} is a {ckpt['family']} checkpoint, not {self.method.family}")
        self._check_networks(point)
        for name, net in self.method.nets.items():
            unwrap(net).load_state_dict(ckpt["networks"][name]["state_dict"])
        for name, e in self.ema.items():
            if name in ckpt.get("ema", {}):
                e.load_state_dict(ckpt["ema"][name])
        for k, o in self.method.optimizers.items():
            o.load_state_dict(state["optimizers"][k])
        for k, s in self.schedulers.items():
            s.load_state_dict(state["schedulers"][k])
        if state["scaler"] or not self.scaler.is_enabled():  # amp may change on resume: a fresh scaler then
            self.scaler.load_state_dict(state["scaler"])
        # the config's lr wins over the stored one (same value -> no change, so resume stays exact);
        # this is how "resume with a lower lr" after a divergence works
        for name, s in self.schedulers.items():
            s.base_lrs = [self.cfg.lr] * len(s.base_lrs)
            for g in self.method.optimizers[name].param_groups:
                g["initial_lr"] = self.cfg.lr
                g["lr"] = self.cfg.lr * self.method.lr_factor(int(state["step"]), self.total_steps)
        self.method.load_extra_state(state["method"])
        set_rng_state(state["rng"])
        self.step = int(state["step"])
        self.best_metric = state.get("best_metric") if self.val_dataset is not None else None
        self.last_checkpoint = Path(path)
        if state.get("world_size", 1) != self.world:
            log.warning("resuming a %s-process run with %s processes: data order differs from an uninterrupted run",
                        state.get("world_size"), self.world)

    def _check_networks(self, point: ResumePoint) -> None:
        """The networks built for this run must be exactly the checkpoint's (architecture, every constructor
        argument) and the data's classes its classes; CheckpointError naming the differences otherwise."""
        ckpt, diffs = point.checkpoint, []
        if set(ckpt["networks"]) != set(self.method.nets):
            diffs.append(f"networks: checkpoint {sorted(ckpt['networks'])}, this run {sorted(self.method.nets)}")
        for name, net in self.method.nets.items():
            entry, net = ckpt["networks"].get(name), unwrap(net)
            if entry is None:
                continue
            if entry["arch"] != net.arch:
                diffs.append(f"{name}: checkpoint {entry['arch']}, this run {net.arch}")
            stored = entry["kwargs"]
            if entry["arch"] == net.arch:  # an argument added since the checkpoint was written has its default
                with contextlib.suppress(ConfigError):
                    stored = network_arguments(entry["arch"], stored)
            for key in sorted(set(stored) | set(net.arch_kwargs)):
                old, new = stored.get(key, "(not set)"), net.arch_kwargs.get(key, "(not set)")
                if old != new:
                    diffs.append(f"{name} {key}: checkpoint {old!r}, this run {new!r}")
        for name, info in self.method.processing().items():
            stored = ckpt["processing"].get(name, {}).get("class_names")  # absent in files from before names
            if stored is not None and list(stored) != info.class_names:
                diffs.append(f"{name} classes of the data: checkpoint {stored}, {self.data_dir} {info.class_names}")
        if diffs:
            raise CheckpointError(f"{point.path} does not fit this run:\n" + "\n".join(f"  {d}" for d in diffs)
                                  + "\nResume with the data and settings it was trained with, or start a new run.")

    # ---------------------------------------------------------------- helpers
    def _to_device(self, batch: dict) -> dict:
        out = {}
        for k, v in batch.items():
            if isinstance(v, torch.Tensor):
                v = v.to(self.device, non_blocking=True)
                if self.cfg.channels_last and v.dim() == 4:
                    v = v.contiguous(memory_format=torch.channels_last)
            out[k] = v
        return out

    def _sync_buffers(self) -> None:
        """CPU multi-process: keep BN running stats identical (rank 0's), like DDP's broadcast_buffers."""
        if self.world > 1 and not self.sync_bn:
            for net in self.method.nets.values():
                for b in net.buffers():
                    dist.broadcast(b, 0)

    def _broadcast_params(self) -> None:
        if self.world > 1:
            for net in self.method.nets.values():
                for t in list(net.parameters()) + list(net.buffers()):
                    dist.broadcast(t.data, 0)

    @torch.no_grad()
    def _update_ema(self) -> None:
        d = self.cfg.ema_decay
        for name, e in self.ema.items():
            src = unwrap(self.method.nets[name])
            for pe, p in zip(e.parameters(), src.parameters()):
                pe.lerp_(p.detach(), 1.0 - d)
            for be, b in zip(e.buffers(), src.buffers()):
                be.copy_(b)

    def eval_generators(self) -> dict:
        """Generators for samples/validation: EMA copies when enabled, else the live nets in eval mode."""
        return {g: self.ema.get(g, unwrap(self.method.nets[g])) for g in self.method.generators}

    def _fixed_batch(self) -> dict:
        """The items of every sample grid: validation items, or (no validation split) training items."""
        ds = self.val_dataset if self.val_dataset is not None else self.dataset
        n = min(4, len(ds))
        return self._to_device(collate([ds[(i, i)] for i in range(n)]))

    @contextlib.contextmanager
    def _eval_mode(self):
        gens = self.eval_generators()
        modes = {k: g.training for k, g in gens.items()}
        for g in gens.values():
            g.eval()
        try:
            yield gens
        finally:
            for k, g in gens.items():
                g.train(modes[k])

    # ---------------------------------------------------------------- run
    def run(self) -> int:
        """Train until total steps, a stop signal or the time budget; returns 0 (NaN raises NonFiniteLossError)."""
        self._setup_device()
        self._setup_model()
        cfg = self.cfg
        point = self.find_resume()
        if point is not None:
            self.load(point)
            if self.rank == 0:
                print(f"resumed from {point.path} at step {self.step}", flush=True)
        elif self.resume == "auto" and self.rank == 0:
            print(f"--resume auto: no checkpoint in {self.ckpt_dir()}; starting from step 0", flush=True)
        if self.rank == 0:
            print(self.describe_validation(), flush=True)
        self._broadcast_params()
        self._install_signals()
        from training.monitor import RunMonitor

        mon = RunMonitor(self) if self.rank == 0 else None
        if mon is not None and point is not None:
            mon.event("resumed", checkpoint=str(point.path))
        ctx = StepContext(self)
        fixed = self._fixed_batch()
        try:
            while self.step < self.total_steps and not self.stop_requested:
                epoch, pos = divmod(self.step, self.steps_per_epoch)
                sampler = EpochSampler(len(self.dataset), seed=cfg.seed, epoch=epoch, rank=self.rank,
                                       world=self.world, start=pos * cfg.batch_size)
                loader = torch.utils.data.DataLoader(self.dataset, batch_size=cfg.batch_size, sampler=sampler,
                                                     drop_last=True, collate_fn=collate, num_workers=cfg.num_workers,
                                                     pin_memory=self.device.type == "cuda")
                for batch in loader:
                    if self.step >= self.total_steps or self.stop_requested:
                        break
                    s = _step_seed(cfg.seed, self.rank, self.step)
                    torch.manual_seed(s)
                    random.seed(s)
                    np.random.seed(s % 2**32)
                    batch = self._to_device(batch)
                    ctx.step_index = self.step
                    losses = self.method.train_step(batch, ctx)
                    self.scaler.update()
                    with warnings.catch_warnings():  # D's optimizer idles in SRGAN's first stage: harmless
                        warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step")
                        for sch in self.schedulers.values():
                            sch.step()
                    self._sync_buffers()
                    self._update_ema()
                    self.step += 1
                    self._check_budget()
                    self._check_stop()
                    if mon is not None:
                        mon.after_step(losses, batch, fixed)
                    if self.step % cfg.ckpt_every == 0 and self.step < self.total_steps:
                        self._save_with_validation(mon)
            self._save_with_validation(mon, final=True)
            if mon is not None:
                mon.close()
            if self.rank == 0:
                print(self._final_message(), flush=True)
            return 0
        finally:
            self._restore_signals()
            if mon is not None:
                mon.close()

    def _final_message(self) -> str:
        """What the run left behind, and how to continue it when it stopped early."""
        saved = f"checkpoint {self.last_checkpoint}"
        if self.val_dataset is not None and (self.ckpt_dir() / "best.pt").is_file():
            saved += f" (best validation result: {self.ckpt_dir() / 'best.pt'})"
        if self.stop_requested and self.step < self.total_steps:
            why = f" ({self.stop_reason})" if self.stop_reason else ""
            return (f"stopped at step {self.step}/{self.total_steps}{why}; {saved}. "
                    f"Resume with: {self.command_hint or 'translate train ...'} --resume auto")
        return f"done: {self.step} steps; {saved}"

    def _save_with_validation(self, mon, final: bool = False) -> None:
        best = False
        if mon is not None and (final or (self.cfg.val_every and self.step % self.cfg.val_every == 0)):
            metric = mon.validate()  # None without a validation split: no best.pt then
            if metric is not None and (self.best_metric is None or metric > self.best_metric):
                self.best_metric, best = metric, True
        if self.rank == 0:
            if self.last_checkpoint is None or self.last_checkpoint.name != f"step_{self.step:08d}.pt":
                self.save(best=best)
            elif best:  # this step is already saved (validated after its save): name it best.pt
                atomic_link(self.last_checkpoint, self.ckpt_dir() / "best.pt")
        if self.world > 1:
            dist.barrier()

    def _check_budget(self) -> None:
        """Past the deadline (``--max-minutes``): stop at this step boundary, as SIGTERM does."""
        if self.deadline is not None and not self.stop_requested and time.monotonic() >= self.deadline:
            self.stop_requested, self.stop_reason = True, "time budget spent"
            if self.rank == 0:
                print(f"\ntime budget spent at step {self.step}: saving", file=sys.stderr, flush=True)

    def _check_stop(self) -> None:
        if self.world > 1:
            flag = torch.tensor([1.0 if self.stop_requested else 0.0], device=self.device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            self.stop_requested = bool(flag.item())

    def _install_signals(self) -> None:
        self._old_handlers = {}

        def handler(signum, _frame):
            if self.stop_requested:  # second signal: stop now
                raise KeyboardInterrupt
            self.stop_requested, self.stop_reason = True, f"{signal.Signals(signum).name} received"
            if self.rank == 0:
                print(f"\n{signal.Signals(signum).name} received: finishing this step, then saving", file=sys.stderr,
                      flush=True)

        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old_handlers[sig] = signal.signal(sig, handler)
            except ValueError:  # not the main thread (e.g. called from a worker thread): no handler
                pass

    def _restore_signals(self) -> None:
        for sig, h in getattr(self, "_old_handlers", {}).items():
            signal.signal(sig, h)

