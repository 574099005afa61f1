"""`translate ui` for real: the command in a subprocess, the page in a real browser (Playwright + chromium).

The browser uploads an image, runs the model, and the output image is read back from the page
and compared, pixel for pixel, with what ``translate run`` writes for the same file; the same for
generated samples against ``translate generate``. Every request the page makes must stay on this
machine. Screenshots are kept: ``ui-translate.png`` and ``ui-generate.png`` in the test's pytest
tmp dir, and also in ``$TRANSLATE_TEST_ARTIFACTS`` when that is set (``.ci/run`` sets it to
``test-artifacts/`` in the checkout).

Playwright drives the system's chromium (``executable_path``), since ``playwright install`` needs a
download; without chromium or Playwright the browser test skips and says how to enable it.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import PIL.Image
import pytest

pytest.importorskip("gradio", reason="the ui extra is not installed: pip install 'translate[ui]'")

from server_fixtures import png_bytes, tiny_generator, tiny_super_resolver  # noqa: E402
from tiny_models import make_tiny_repo  # noqa: E402

from translate.cli import main  # noqa: E402
from translate.images import decode_image  # noqa: E402

CHROMIUM = os.environ.get("TRANSLATE_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run"]
ENABLE = ("install a browser and Playwright to run it: `apt-get install chromium` and "
          "`pip install 'translate[ui]' playwright` (or set TRANSLATE_TEST_CHROMIUM to a chromium binary)")
START_TIMEOUT = 180  # seconds: importing Gradio takes a while on a loaded 2-core machine
STEP_TIMEOUT = 120_000  # ms for one page action


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """Tiny exported CycleGAN generators (tests/tiny_models.py), a x2 super-resolver, a generator of 3 named classes."""
    root = tmp_path_factory.mktemp("ui")
    models = make_tiny_repo(root, families=("cyclegan",))
    tiny_super_resolver(models / "sr" / "1" / "model.onnx")
    tiny_generator(models / "digits" / "1" / "model.onnx", seed=5, num_classes=3, class_names=["zero", "one", "two"])
    return models


class UiProcess:
    """`translate ui` started as a user would; ``ready`` is its JSON ready line."""

    def __init__(self, *args: str, tmpdir: Path | None = None) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GRADIO_")}
        if tmpdir is not None:  # where its scratch folder goes (tempfile honours TMPDIR)
            env["TMPDIR"] = str(tmpdir)
        self.proc = subprocess.Popen([sys.executable, "-m", "translate.cli", "ui", *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=env)
        lines: queue.Queue = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(target=lambda: [lines.put(ln) for ln in self.proc.stdout], daemon=True).start()
        threading.Thread(target=lambda: [self.stderr.append(ln) for ln in self.proc.stderr], daemon=True).start()
        try:
            self.ready = json.loads(lines.get(timeout=START_TIMEOUT))
        except queue.Empty:
            self.stop()
            raise AssertionError("translate ui printed no ready line:\n" + "".join(self.stderr)) from None

    def stop(self) -> int:
        """SIGTERM, as a service manager would; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise


def _pixels(path) -> np.ndarray:
    with PIL.Image.open(path) as im:
        return np.asarray(im)


def _keep(page, tmp_path: Path, name: str) -> Path:
    """Screenshot into the test's tmp dir and, when asked, into $TRANSLATE_TEST_ARTIFACTS."""
    shot = page.screenshot(path=str(tmp_path / name), full_page=True)
    assert shot[:8] == b"\x89PNG\r\n\x1a\n"
    artifacts = os.environ.get("TRANSLATE_TEST_ARTIFACTS")
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        shutil.copy(tmp_path / name, Path(artifacts) / name)
    return tmp_path / name


def test_the_command_prints_its_address_serves_and_stops_on_sigterm(repo, tmp_path):
    import httpx

    ui = UiProcess("--models", str(repo), "--port", "0", tmpdir=tmp_path)
    try:
        scratch = list(tmp_path.glob("translate-ui-*"))
        assert len(scratch) == 1 and scratch[0].is_dir()  # uploads and results stay in a private folder
        ready = ui.ready
        assert ready["event"] == "ui" and ready["host"] == "127.0.0.1" and ready["port"] > 0
        assert ready["url"] == f"http://127.0.0.1:{ready['port']}/"
        assert ready["models"] == ["cyclegan-AtoB", "cyclegan-BtoA", "digits", "sr"]
        page = httpx.get(ready["url"], timeout=60)
        assert page.status_code == 200 and "<gradio-app" in page.text
        assert "fonts.googleapis.com" not in page.text and "cdn.jsdelivr" not in page.text
    finally:
        code = ui.stop()
    assert code == 0, "".join(ui.stderr)
    assert "Traceback" not in "".join(ui.stderr)
    assert not scratch[0].exists(), "the scratch folder must be removed when the page stops"


def _upload(page, path: Path) -> None:
    """Put one file in the #files drop zone and wait until the page lists it under its name.

    The listed name is read from the row's ``aria-label``: the visible text is split into a stem
    and an extension span, which a text selector does not always match (CI once waited 120 s for
    a file that was listed). Extra rows (the zone takes several files) would fail the test later,
    so exactly one is required.
    """
    page.set_input_files("#files input[type=file]", str(path))
    page.wait_for_selector(f"#files tr.file td.filename[aria-label='{path.name}']")
    assert page.locator("#files tr.file").count() == 1


def _browser_or_skip():
    """Playwright's sync API, or a skip saying how to enable the test (a failure where CI requires the browser)."""
    missing = None
    try:
        from playwright import sync_api
    except ImportError:
        missing = "Playwright is not installed"
    if missing is None and not Path(CHROMIUM).is_file():
        missing = f"no chromium at {CHROMIUM}"
    if missing is None:
        return sync_api
    if os.environ.get("TRANSLATE_REQUIRE_BROWSER"):  # .ci/run installs the browser: a skip there would hide a bug
        pytest.fail(f"{missing}, and TRANSLATE_REQUIRE_BROWSER is set; {ENABLE}")
    pytest.skip(f"{missing}; {ENABLE}")


def test_the_page_in_a_real_browser_gives_translate_runs_pixels(repo, tmp_path):
    sync_api = _browser_or_skip()

    photo = tmp_path / "photo.png"
    photo.write_bytes(png_bytes(40, 52, seed=8))
    assert main(["run", "-m", str(repo / "cyclegan-AtoB"), "-i", str(photo), "-o", str(tmp_path / "cli"),
                 "--no-progress"]) == 0
    want = _pixels(tmp_path / "cli" / "photo.png")
    assert main(["generate", "-m", str(repo / "digits"), "--seeds", "3,5", "--class", "two",
                 "-o", str(tmp_path / "cli-gen")]) == 0

    ui = UiProcess("--models", str(repo), "--port", "0")
    hosts: set[str] = set()
    console: list[str] = []
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            page = None
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
                page.set_default_timeout(STEP_TIMEOUT)
                page.on("request", lambda r: hosts.add(urlparse(r.url).hostname or r.url))
                page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
                page.goto(ui.ready["url"])

                # translate: the first model is selected on load
                page.wait_for_selector("#card h3:has-text('cyclegan-AtoB')")
                _upload(page, photo)
                page.click("#run")
                page.wait_for_selector("#status :text('1 image in')")
                src = page.get_attribute("#output-image img", "src")
                shown = decode_image(page.request.get(src).body()).pixels
                assert np.array_equal(shown, want), "the page shows other pixels than translate run writes"
                with page.expect_download() as download:
                    page.click("#downloads a[download='photo.png']")
                saved = download.value.path()
                assert download.value.suggested_filename == "photo.png"
                assert np.array_equal(_pixels(saved), want), "the download differs from translate run's file"
                _keep(page, tmp_path, "ui-translate.png")

                # generate: a class-conditional generator, class and seeds chosen on the page
                page.click("#model input")
                page.get_by_role("option", name="digits", exact=True).click()
                page.wait_for_selector("#card h3:has-text('digits')")
                page.wait_for_selector("#generate-panel", state="visible")
                page.click("#class input")
                page.get_by_role("option", name="two", exact=True).click()
                page.fill("#seeds textarea, #seeds input", "3,5")
                page.click("#generate")
                page.wait_for_selector("#generate-status :text('2 images in')")
                samples = page.query_selector_all("#samples img")
                assert len(samples) == 2
                for seed, img in zip((3, 5), samples):
                    got = decode_image(page.request.get(img.get_attribute("src")).body()).pixels
                    assert np.array_equal(got, _pixels(tmp_path / "cli-gen" / f"seed{seed:06d}-classtwo.png")), seed
                _keep(page, tmp_path, "ui-generate.png")
            except Exception:  # what the page showed and said, for whoever reads the CI log
                if page is not None:
                    _keep(page, tmp_path, "ui-failure.png")
                print("browser console:", *console, "translate ui stderr:", *ui.stderr, sep="\n")
                raise
            finally:
                browser.close()
    finally:
        code = ui.stop()
    assert code == 0, "".join(ui.stderr)
    assert hosts == {"127.0.0.1"}, f"the page fetched from elsewhere: {hosts}"
