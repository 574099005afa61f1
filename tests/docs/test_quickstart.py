"""The README's quickstart runs as written: its marked blocks, in order, with the real CLI, in an empty folder.

``<!-- docs-test: run -->`` blocks run in bash (python blocks with the venv's python); the one
``<!-- docs-test: serve -->`` block starts ``translate serve`` in the background, on a free port
(``--port 0`` appended) that replaces ``50051`` in the blocks after it, and is stopped with SIGTERM
at the end, which must drain and exit 0. The folder has a link to the checkout's ``scripts/``,
as a user running from next to the checkout would.
"""

from __future__ import annotations

import json
import os
import select
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from markdown_blocks import README, ROOT, blocks_of, shell_lines

MAX_README_LINES = 300


def test_readme_is_a_short_front_door():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) < MAX_README_LINES, f"README.md has {len(lines)} lines; move details into docs/"


def _ready_port(proc: subprocess.Popen, timeout: float) -> int:
    """The port from the server's one-line JSON ready event on stdout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"translate serve exited with code {proc.returncode} before it was ready")
        ready, _, _ = select.select([proc.stdout], [], [], 0.5)
        if ready:
            line = proc.stdout.readline()
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("event") == "serving":
                return int(event["port"])
    raise AssertionError(f"translate serve printed no ready line within {timeout:.0f} s")


@pytest.mark.slow
@pytest.mark.timeout(900)  # about 55 s of CPU; a machine shared with other jobs has stretched it past 2 minutes
def test_readme_quickstart_runs_in_order(tmp_path):
    blocks = [b for b in blocks_of(README) if b.mark in ("run", "serve")]
    assert sum(b.mark == "serve" for b in blocks) == 1 and len(blocks) >= 6
    (tmp_path / "scripts").symlink_to(ROOT / "scripts")
    bin_dir = str(Path(sys.executable).parent)  # the venv whose `translate` the tests use (= activated .venv)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}  # tiny nets on a shared 2-core machine
    server, port = None, None
    server_log = tmp_path / "server.log"
    try:
        for block in blocks:
            text = block.text if port is None else block.text.replace(":50051", f":{port}")
            if block.mark == "serve":
                (line,) = shell_lines(block)
                assert line.startswith("translate serve "), f"{block.where}: the serve block must start the server"
                with open(server_log, "w") as log:
                    server = subprocess.Popen([*shlex.split(line), "--port", "0"], cwd=tmp_path, env=env, text=True,
                                              stdout=subprocess.PIPE, stderr=log)
                port = _ready_port(server, timeout=120)
                continue
            cmd = ["bash", "-euo", "pipefail", "-c", text] if block.lang == "bash" else [sys.executable, "-c", text]
            done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
            assert done.returncode == 0, (f"{block.where} failed (exit {done.returncode}):\n{text}\n"
                                          f"--- stdout\n{done.stdout[-4000:]}\n--- stderr\n{done.stderr[-4000:]}")
        # What the README says the blocks leave behind.
        for run in ("pix2pix", "cyclegan", "srgan", "dcgan"):  # no validation split: last.pt, and no best.pt
            assert (tmp_path / "runs" / run / "checkpoints" / "last.pt").is_file()
            assert not (tmp_path / "runs" / run / "checkpoints" / "best.pt").exists()
        for out in ("pix2pix", "cyclegan", "srgan", "served"):
            assert len(list((tmp_path / "out" / out).glob("*.png"))) == len(list((tmp_path / "photos").iterdir()))
        assert len(list((tmp_path / "out" / "dcgan").glob("seed*.png"))) == 16
        assert (tmp_path / "out" / "dcgan-grid.png").is_file() and (tmp_path / "out" / "chelsea-served.png").is_file()
        assert (tmp_path / "models" / "edges2photo" / "1" / "model.onnx").is_file()
    finally:
        if server is not None and server.poll() is None:
            server.send_signal(signal.SIGINT)  # Ctrl-C, as the README says
            try:
                assert server.wait(timeout=60) == 0, f"translate serve did not exit 0 on Ctrl-C; see {server_log}"
            finally:
                if server.poll() is None:
                    server.kill()
                    server.wait()
