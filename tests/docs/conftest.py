"""Fixtures for running the docs' Python blocks: a workspace with tiny models and images, real servers.

The workspace (one per test process) is what docs/writing-docs.md promises the examples:
``MODELS/`` with ``horse2zebra-AtoB``/``-BtoA`` (CycleGAN), ``facades`` (pix2pix), ``faces``
(unconditional DCGAN) and ``digits`` (class-conditional DCGAN, 3 classes); the CycleGAN
checkpoint those two exports come from at ``runs/horse2zebra/checkpoints/best.pt``; and the
images ``horse.jpg``, ``photo.jpg``, ``in.png``. Models are a few channels wide and exported
with the fast TorchScript exporter, so the whole workspace takes seconds.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from markdown_blocks import DOCS, blocks_of, shell_lines
from PIL import Image as PILImage
from server_fixtures import start_server
from tiny_models import make_tiny_checkpoint

from translate.export import export_to_repository


def _photo(size: tuple[int, int]) -> PILImage.Image:
    """A real photo (scikit-image's chelsea) at ``size`` (width, height)."""
    from skimage import data

    return PILImage.fromarray(np.asarray(data.chelsea())).resize(size, PILImage.BICUBIC)


@pytest.fixture(scope="session")
def docs_workspace(tmp_path_factory) -> Path:
    """The folder the Python blocks run in (see the module docstring)."""
    ws = tmp_path_factory.mktemp("docs-workspace")
    ckpts = tmp_path_factory.mktemp("docs-checkpoints")
    models = ws / "MODELS"
    run = ws / "runs" / "horse2zebra" / "checkpoints"
    run.mkdir(parents=True)
    fast = {"verify": False, "exporter": "torchscript"}
    export_to_repository(make_tiny_checkpoint("cyclegan", run / "best.pt"), models, "horse2zebra", direction="both",
                         **fast)
    export_to_repository(make_tiny_checkpoint("pix2pix", ckpts / "facades.pt"), models, "facades", **fast)
    export_to_repository(make_tiny_checkpoint("dcgan", ckpts / "faces.pt", conditional=False), models, "faces", **fast)
    export_to_repository(make_tiny_checkpoint("dcgan", ckpts / "digits.pt", seed=1), models, "digits", **fast)
    photo = _photo((192, 128))
    photo.save(ws / "horse.jpg", quality=92)
    photo.save(ws / "photo.jpg", quality=92)
    _photo((96, 64)).save(ws / "in.png")
    return ws


def _security_commands() -> list[str]:
    """The `openssl` and token commands of docs/serving.md's security block, as a user types them."""
    for block in blocks_of(DOCS / "serving.md"):
        lines = shell_lines(block)
        if block.lang == "bash" and any(line.startswith("openssl ") for line in lines):
            return [line for line in lines if line.startswith(("openssl ", "python -c "))]
    raise AssertionError("docs/serving.md shows no `openssl` command for a test certificate any more")


@pytest.fixture(scope="session")
def docs_server(docs_workspace):
    """A real server over the workspace's MODELS/ (plaintext, no tokens); yields its address."""
    rs = start_server(docs_workspace / "MODELS")
    yield rs.address
    rs.server.drain(1)


@pytest.fixture(scope="session")
def docs_http_server(docs_workspace):
    """A real server over the workspace's MODELS/ with ``--http-port`` (plaintext); yields the HTTP address."""
    rs = start_server(docs_workspace / "MODELS", http_port=0)
    yield f"127.0.0.1:{rs.server.http_port}"
    rs.server.drain(1)


@pytest.fixture(scope="session")
def docs_tls_server(docs_workspace):
    """A real server with TLS and a bearer token, set up with the commands docs/serving.md shows."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed, so docs/serving.md's certificate command cannot run "
                    "(apt-get install openssl)")
    bin_dir = str(Path(sys.executable).parent)
    for line in _security_commands():
        words = shlex.split(line)
        out = None
        if ">" in words:  # `python -c ... > tokens.txt`
            words, out = words[: words.index(">")], words[words.index(">") + 1]
        if words[0] == "python":
            words[0] = str(Path(bin_dir) / "python")
        done = subprocess.run(words, cwd=docs_workspace, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"`{line}` failed:\n{done.stderr}"
        if out:
            (docs_workspace / out).write_text(done.stdout)
    rs = start_server(docs_workspace / "MODELS", tls_cert=str(docs_workspace / "server.pem"),
                      tls_key=str(docs_workspace / "server.key"), auth_tokens=str(docs_workspace / "tokens.txt"))
    yield f"localhost:{rs.port}"
    rs.server.drain(1)
