"""`make demo`: photos -> edges2photo data set -> pix2pix training -> ONNX -> gRPC server -> batch CLI.

Every step runs the real ``translate`` console script in a subprocess, with exactly the commands
the README shows (each is printed before it runs), so the demo exercises what users type:

1. copy the sample photos shipped inside scikit-image / scikit-learn (/ matplotlib) and keep
   a few out for testing (``scripts/demo_photos.py``);
2. ``translate data edges`` (HED) -> A|B training pairs from random crops of the training photos,
   edge/photo folders for the held-out photos (and for centred crops of the training photos);
   ``translate data combine`` turns the held-out pairs into the validation set;
   ``translate data check`` checks the set;
3. ``translate train pix2pix --max-minutes`` for a fixed time budget (the trainer finishes its
   step when it is spent, saves and exits 0);
4. ``translate export ... --repo demo-output/models --name edges2photo`` (verified against PyTorch);
5. ``translate serve --port 0`` on loopback, waiting for grpc.health.v1 SERVING;
6. ``translate run --server ... --model edges2photo`` on the held-out (and seen) edge maps;
7. ``demo-output/``: translated images, ``contact_sheet.png`` (edges | output | real photo),
   ``summary.json`` and a printed table (PSNR/SSIM against the real photos, images/s, seconds per
   stage);
8. the server is stopped (SIGTERM, then wait) whatever happens, in a ``finally``.

The numbers are what a few CPU minutes on 8 photos buy: the point is the pipeline, not the
quality. ``python scripts/demo.py --help`` lists the knobs (time budget, sizes, output folder).
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
sys.path.insert(0, str(Path(__file__).resolve().parent))  # scripts/demo_photos.py

from demo_photos import copy_sample_photos, find_sample_photos  # noqa: E402

MARKER = ".translate-demo"  # marks a folder this script created, so it may delete it on the next run
HELDOUT = ("chelsea", "coffee", "motorcycle_right")
SHEET_SEEN = ("astronaut", "motorcycle_left", "flower")  # training photos shown on the contact sheet
MODEL = "edges2photo"


class DemoError(RuntimeError):
    """A demo stage failed; the message says which command and how it ended."""


def translate_command() -> list[str]:
    """The ``translate`` console script next to this Python (the venv's), else ``python -m translate.cli``."""
    script = Path(sys.executable).with_name("translate")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "translate.cli"]


def torch_threads(requested: int | None):
    """Threads for the PyTorch steps: ``requested``, else the cores the 1-minute load average leaves free
    (``translate.threads``, the rule ``translate train --threads auto`` uses).

    On a 2-core machine that is busy with anything else, PyTorch's 2-thread kernels spend most of
    their time waiting for each other: measured here under a load of about 4, one pix2pix step took
    about 0.4 s with 1 thread and about 2 s with 2. With idle cores, use them all.
    """
    from translate.threads import AUTO, TORCH, choose_threads

    return choose_threads(requested or AUTO, TORCH)


def subprocess_env(threads: int) -> dict[str, str]:
    """Environment for the ``translate`` subprocesses: the thread count for torch's OpenMP/MKL pools."""
    return {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}


THREADS = {"n": 0}  # set once in main(); read by translate() and train_with_budget()


def show(cmd: list[str]) -> None:
    """Print a command the way a user would type it (``translate ...`` with paths relative to the repo)."""
    words = ["translate"] + cmd[len(translate_command()):]
    rel = [os.path.relpath(w, ROOT) if os.path.isabs(w) and w.startswith(str(ROOT)) else w for w in words]
    print(f"\n$ {shlex.join(rel)}", flush=True)


def translate(*args: str, timeout: float = 600) -> str:
    """Run ``translate ARGS``; stderr (progress bars) stays on the terminal, stdout is echoed and returned."""
    cmd = translate_command() + list(args)
    show(cmd)
    try:
        done = subprocess.run(cmd, cwd=ROOT, timeout=timeout, stdout=subprocess.PIPE, text=True,
                              env=subprocess_env(THREADS["n"]))
    except subprocess.TimeoutExpired as exc:
        raise DemoError(f"`translate {args[0]}` did not finish within {timeout:.0f} s") from exc
    print(done.stdout, end="", flush=True)
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
        print(f"\n=== [{len(self.seconds) + 1}] {name}: {what} "
              f"(demo time so far {time.perf_counter() - self.t0:.0f} s) ===", flush=True)
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


# --- training with a time budget ---------------------------------------------------------------

def train_with_budget(args: list[str], budget_s: float, max_steps: int, grace_s: float = 300) -> bool:
    """Run ``translate train ... --max-minutes`` (the trainer stops at a step boundary, saves, exits 0).

    Returns True when the budget stopped training (False when it reached ``max_steps`` first).
    SIGTERM, then a kill, only if the trainer outlives its budget by ``grace_s`` (a hang).
    """
    cmd = translate_command() + args + ["--max-minutes", f"{budget_s / 60:.4g}"]
    show(cmd)
    proc = subprocess.Popen(cmd, cwd=ROOT, env=subprocess_env(THREADS["n"]))
    try:
        try:
            proc.wait(timeout=budget_s + grace_s)
        except subprocess.TimeoutExpired:
            print(f"\n[demo] training ran {grace_s:.0f} s past its budget: sending SIGTERM", flush=True)
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=grace_s)
    finally:
        if proc.poll() is None:  # only when something above failed: never leave a trainer behind
            proc.kill()
            proc.wait()
    if proc.returncode != 0:
        raise DemoError(f"`translate train` exited with code {proc.returncode} (see its messages above)")
    return checkpoint_step(newest_checkpoint(Path(args[args.index("--out") + 1]))) < max_steps


def checkpoint_step(path: Path) -> int:
    """The step of a ``step_XXXXXXXX.pt`` file."""
    return int(path.stem.split("_")[-1])


def newest_checkpoint(run_dir: Path) -> Path:
    """The last ``step_*.pt`` the trainer wrote."""
    found = sorted((run_dir / "checkpoints").glob("step_*.pt"))
    if not found:
        raise DemoError(f"no checkpoint in {run_dir / 'checkpoints'} after training")
    return found[-1]


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
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=self.log, text=True)
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
            print(f"[serve] {line.rstrip()}", flush=True)
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
                        print(f"[demo] grpc.health.v1 says SERVING at {self.address}", flush=True)
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
                print("[demo] server did not stop within the grace period; killing it", flush=True)
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


# --- report -------------------------------------------------------------------------------------

def evaluate(translated: Path, real: Path) -> list[dict]:
    """PSNR/SSIM (RGB, 8-bit) of every translated image against the real photo with the same name."""
    from translate.images import read_image
    from translate.metrics import psnr, ssim

    rows = []
    for out in sorted(translated.glob("*.png")):
        fake, ref = read_image(out).pixels, read_image(real / out.name).pixels
        rows.append({"name": out.stem, "psnr_db": round(psnr(fake, ref), 2), "ssim": round(ssim(fake, ref), 4)})
    if not rows:
        raise DemoError(f"no translated images in {translated}")
    return rows


def contact_sheet(groups: list[tuple[str, list[Path], Path, Path]], path: Path, cell: int = 256) -> None:
    """Rows of edges | output | real photo, one labelled block per group (held out, seen in training).

    ``groups``: (title, translated images, folder of their edge maps, folder of the real photos).
    """
    from PIL import Image as PILImage
    from PIL import ImageDraw, ImageFont

    try:
        font = ImageFont.load_default(size=14)
    except TypeError:  # Pillow < 10.1 has only the fixed bitmap font
        font = ImageFont.load_default()
    header, label_h, pad = 28, 20, 6
    blocks = groups
    height = header + sum(label_h + len(files) * (cell + pad) for _, files, _, _ in blocks)
    sheet = PILImage.new("RGB", (3 * (cell + pad) + pad, height), "white")
    draw = ImageDraw.Draw(sheet)
    for c, title in enumerate(("edges (input)", "pix2pix output (server)", "real photo")):
        draw.text((pad + c * (cell + pad), 8), title, fill="black", font=font)
    y = header
    for title, files, a_dir, b_dir in blocks:
        draw.text((pad, y + 2), title, fill=(90, 90, 90), font=font)
        y += label_h
        for f in files:
            for c, src in enumerate((a_dir / f.name, f, b_dir / f.name)):
                # Nearest for the one-pixel edge lines (bicubic would grey them out), bicubic for photos.
                resample = PILImage.Resampling.NEAREST if c == 0 else PILImage.Resampling.BICUBIC
                img = PILImage.open(src).convert("RGB").resize((cell, cell), resample)
                sheet.paste(img, (pad + c * (cell + pad), y))
            y += cell + pad
    sheet.save(path)


def print_table(summary: dict) -> None:
    """The human-readable summary printed at the end."""
    print("\n=== demo summary ===")
    for group in ("heldout", "seen"):
        rows = summary["quality"][group]["images"]
        print(f"\n{group:>8}  {'image':<22} {'PSNR dB':>8} {'SSIM':>7}")
        for r in rows:
            print(f"{'':>8}  {r['name']:<22} {r['psnr_db']:>8.2f} {r['ssim']:>7.4f}")
        q = summary["quality"][group]
        print(f"{'':>8}  {'mean':<22} {q['mean_psnr_db']:>8.2f} {q['mean_ssim']:>7.4f}")
    t = summary["throughput"]
    print(f"\ntranslate run --server: {t['images']} images in {t['seconds']:.2f} s = {t['images_per_s']:.2f} images/s "
          "(two whole commands, CLI start-up included)")
    print(f"training: {summary['training']['steps']} steps"
          f"{' (stopped by the time budget)' if summary['training']['stopped_by_budget'] else ''}")
    print("\nseconds per stage: " + ", ".join(f"{k} {v:.1f}" for k, v in summary["seconds"].items()))
    print(f"total: {summary['total_seconds']:.0f} s")


# --- main ---------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="photos -> edges -> pix2pix -> ONNX -> server -> translated photos")
    p.add_argument("--out", default=str(ROOT / "demo-output"), help="output folder (default demo-output/)")
    p.add_argument("--size", type=int, default=128, help="crop size of the pairs in pixels (default 128)")
    p.add_argument("--crops-per-image", type=int, default=16, help="random crops per training photo (default 16)")
    p.add_argument("--train-seconds", type=float, default=240,
                   help="training time budget in seconds (default 240, so that make demo on a fresh clone, "
                        "install included, stays under 10 minutes on 2 cores)")
    p.add_argument("--max-steps", type=int, default=1500,
                   help="training steps (default 1500) unless the time budget ends training first")
    p.add_argument("--ngf", type=int, default=32, help="U-Net base filters (default 32)")
    p.add_argument("--ndf", type=int, default=16, help="PatchGAN base filters (default 16)")
    p.add_argument("--seed", type=int, default=0, help="seed for the crops and the training run")
    p.add_argument("--threads", type=int, default=0,
                   help="PyTorch threads for data and training (default: the cores the load average leaves free)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the whole demo; 0 on success, 1 when a stage failed (the server is stopped either way)."""
    args = parse_args(argv)
    choice = torch_threads(args.threads)
    THREADS["n"] = choice.threads
    print(f"[demo] PyTorch threads for data/training/export: {choice.describe()}", flush=True)
    out = Path(args.out).resolve()
    stages = Stages()
    server: Server | None = None
    summary: dict = {"size": args.size, "model": MODEL, "torch_threads": THREADS["n"]}
    try:
        fresh_output(out)
        photos, data, run_dir, models = out / "photos", out / "data", out / "run", out / "models"
        translated = out / "translated"

        with stages.stage("photos", "sample photos shipped inside pip packages"):
            found = find_sample_photos()
            heldout = [p.stem for p in found if p.stem in HELDOUT]
            train = [p.stem for p in found if p.stem not in HELDOUT]
            if len(train) < 2 or not heldout:
                raise DemoError(f"only {len(found)} sample photos found; is scikit-image installed in this venv?")
            copy_sample_photos(photos / "train", train)
            copy_sample_photos(photos / "heldout", heldout)
            print(f"training photos ({len(train)}): {', '.join(train)}")
            print(f"held out ({len(heldout)}): {', '.join(heldout)}")
            summary["photos"] = {"train": train, "heldout": heldout}

        pairs = data / "edges2photo"
        with stages.stage("data", "HED edge maps -> paired edges2photo set"):
            seed = str(args.seed)
            translate("data", "edges", str(photos / "train"), str(pairs / "train"), "--detector", "hed",
                      "--size", str(args.size), "--crops-per-image", str(args.crops_per_image), "--seed", seed)
            translate("data", "edges", str(photos / "heldout"), str(data / "heldout"), "--detector", "hed",
                      "--size", str(args.size), "--layout", "folders")
            translate("data", "edges", str(photos / "train"), str(data / "seen"), "--detector", "hed",
                      "--size", str(args.size), "--layout", "folders")
            translate("data", "combine", str(data / "heldout" / "A"), str(data / "heldout" / "B"), str(pairs / "val"))
            translate("data", "check", str(pairs), "--method", "pix2pix")

        with stages.stage("train", f"pix2pix on the CPU, {args.train_seconds:.0f} s budget"):
            stopped = train_with_budget([
                "train", "pix2pix", "--data", str(pairs), "--out", str(run_dir), "--preset", "pix2pix-tiny",
                "--seed", str(args.seed),
                "--set", f"max_steps={args.max_steps}", "--set", f"netG_kwargs.ngf={args.ngf}",
                "--set", f"netD_kwargs.ndf={args.ndf}", "--set", "netD_kwargs.n_layers=3", "--set", "batch_size=4",
                "--set", f"load_size={args.size + args.size // 16}", "--set", f"crop_size={args.size}",
                "--set", "log_every=25", "--set", "sample_every=250", "--set", "ckpt_every=500",
            ], budget_s=args.train_seconds, max_steps=args.max_steps)
            ckpt = newest_checkpoint(run_dir)
            summary["training"] = {"checkpoint": str(ckpt.relative_to(out)), "stopped_by_budget": stopped,
                                   "steps": checkpoint_step(ckpt)}

        with stages.stage("export", "ONNX into a model repository, verified against PyTorch"):
            verify_image = sorted((data / "heldout" / "A").glob("*.png"))[0]
            translate("export", str(ckpt), "--repo", str(models), "--name", MODEL, "--verify-image", str(verify_image))

        with stages.stage("serve", "gRPC server on a free loopback port"):
            server = Server(models, out / "server.log")
            address = server.start()

        with stages.stage("translate", "held-out and seen edge maps through the server"):
            start = time.perf_counter()
            translate("run", "--server", address, "--model", MODEL, "-i", str(data / "heldout" / "A"),
                      "-o", str(translated / "heldout"))
            translate("run", "--server", address, "--model", MODEL, "-i", str(data / "seen" / "A"),
                      "-o", str(translated / "seen"))
            seconds = time.perf_counter() - start
            n = len(list(translated.glob("*/*.png")))
            summary["throughput"] = {"images": n, "seconds": round(seconds, 3), "images_per_s": round(n / seconds, 3)}

        with stages.stage("report", "metrics, contact sheet, summary"):
            summary["quality"] = {}
            for group in ("heldout", "seen"):
                rows = evaluate(translated / group, data / group / "B")
                summary["quality"][group] = {
                    "images": rows,
                    "mean_psnr_db": round(sum(r["psnr_db"] for r in rows) / len(rows), 2),
                    "mean_ssim": round(sum(r["ssim"] for r in rows) / len(rows), 4),
                }
            seen = sorted(translated.glob("seen/*.png"))
            seen = [f for f in seen if f.stem in SHEET_SEEN] or seen[:3]
            contact_sheet([("held out (never seen in training)", sorted(translated.glob("heldout/*.png")),
                            data / "heldout" / "A", data / "heldout" / "B"),
                           ("seen in training (centred crops)", seen, data / "seen" / "A", data / "seen" / "B")],
                          out / "contact_sheet.png")
            print(f"wrote {out / 'contact_sheet.png'}")
    except DemoError as exc:
        print(f"\n[demo] FAILED: {exc}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print("\n[demo] interrupted", file=sys.stderr, flush=True)
        return 130
    finally:
        if server is not None:
            code = server.stop()
            print(f"[demo] server stopped (exit code {code})", flush=True)
    summary["seconds"] = stages.seconds
    summary["total_seconds"] = round(time.perf_counter() - stages.t0, 1)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print_table(summary)
    print(f"\noutputs in {out}: translated/, contact_sheet.png, summary.json, models/, run/, server.log")
    return 0


if __name__ == "__main__":
    sys.exit(main())
