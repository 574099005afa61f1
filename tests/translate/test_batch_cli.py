"""`translate run`: mixed folders, failures collected, resumable reruns, tiling parity (local models).

The same command through a server (``--server``) is tested in tests/serving/test_remote.py.

Models are tiny (ResNet generator, ngf 4) and exported to ONNX once per module; every test calls
``translate.cli.main([...])`` the way a user's shell would and checks files, exit code and output.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import PIL.Image
import pytest
from image_folders import BAD, GOOD, make_folder
from image_folders import output_files as _outputs
from image_folders import pil_image as _pil
from image_folders import read_pixels as _pixels
from server_fixtures import local_translate, make_repo, png_bytes

from translate.batch import discover_inputs, plan_jobs
from translate.cli import main
from translate.errors import ConfigError


def _run(*argv: str) -> int:
    return main(["run", *map(str, argv), "--no-progress"])


# ----------------------------------------------------------------------------- planning (no model)
def test_discovery_keeps_relative_paths_and_skips_hidden_and_output(tmp_path):
    make_folder(tmp_path / "in")
    (tmp_path / "in" / ".DS_Store").write_bytes(b"x")
    (tmp_path / "in" / "out").mkdir()
    (tmp_path / "in" / "out" / "old.png").write_bytes(b"x")  # OUT_DIR inside INPUT is never an input
    found = [r.as_posix() for _, r in discover_inputs(tmp_path / "in", recursive=True, exclude=tmp_path / "in/out")]
    assert found == sorted([*GOOD, *BAD])
    assert "sub/deep.png" not in [r.as_posix() for _, r in discover_inputs(tmp_path / "in")]
    pattern = str(tmp_path / "in" / "**" / "*.png")
    globbed = [r.as_posix() for _, r in discover_inputs(pattern, recursive=True)]
    assert globbed == ["out/old.png", "rgb_odd.png", "sub/deep.png"]  # rel paths start below the glob's fixed part
    with pytest.raises(ConfigError, match="does not exist"):
        discover_inputs(tmp_path / "missing")


def test_plan_avoids_collisions_and_same_format_keeps_suffix(tmp_path):
    inputs = [(Path(n), Path(n)) for n in ("x.jpg", "x.png", "y.jpeg", "z.TIFF", "w.gif")]
    png = {j.rel.name: j.out.name for j in plan_jobs(inputs, tmp_path, "png")}
    assert png == {"x.jpg": "x.jpg.png", "x.png": "x.png.png", "y.jpeg": "y.png", "z.TIFF": "z.png", "w.gif": "w.png"}
    same = {j.rel.name: (j.out.name, j.alpha_out and j.alpha_out.name) for j in plan_jobs(inputs, tmp_path, "same")}
    # JPEG keeps its suffix, and its alpha fallback may not land on x.png's result
    assert same == {"x.jpg": ("x.jpg", "x.jpg.png"), "x.png": ("x.png", None), "y.jpeg": ("y.jpeg", "y.png"),
                    "z.TIFF": ("z.TIFF", None), "w.gif": ("w.png", None)}


# ----------------------------------------------------------------------------- with a model
@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """The serving tests' tiny ONNX models (conv3x3 + tanh translator, pixel-shuffle SR, generators)."""
    return make_repo(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def translator(repo):
    return repo / "photo2art" / "1" / "model.onnx"


def test_mixed_folder_collects_failures_and_rerun_skips(tmp_path, translator, capsys):
    src, out = make_folder(tmp_path / "in"), tmp_path / "out"
    assert _run("--model", translator, "-i", src, "-o", out, "--recursive") == 1
    printed = capsys.readouterr().out
    expected = sorted(str(Path(n).with_suffix(".png").as_posix()) for n in GOOD)
    assert _outputs(out) == expected  # one output per good file, sub-folder kept, nothing for the bad ones
    for name in BAD:
        assert f"FAILED {src / name}:" in printed
    assert "not an image" in printed.lower() or "cannot identify" in printed.lower() or "notes.txt" in printed
    assert "done 6, skipped 0, failed 2" in printed
    for name, ((w, h), mode, _fmt) in GOOD.items():
        result = _pixels(out / Path(name).with_suffix(".png"))
        assert result.shape[:2] == (h, w), name  # odd sizes padded for the net and cropped back
        if mode == "RGBA":  # alpha is carried through untouched
            assert result.shape[2] == 4
            with PIL.Image.open(src / name) as im:
                assert np.array_equal(result[..., 3], np.asarray(im.convert("RGBA"))[..., 3]), name
        else:
            assert result.ndim == 3 and result.shape[2] == 3, name  # grey input -> the model's RGB output
    # the written pixels are exactly what the shared processing code computes
    ref = local_translate(translator, (src / "rgb_odd.png").read_bytes())
    assert np.array_equal(_pixels(out / "rgb_odd.png"), ref.pixels)

    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.png")}
    assert _run("--model", translator, "-i", src, "-o", out, "--recursive") == 1  # the two bad files still fail
    assert "done 0, skipped 6, failed 2" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.png")} == before  # nothing rewritten
    assert not [p for p in out.rglob(".*")]  # no temp files left behind

    assert _run("--model", translator, "-i", src, "-o", out, "--recursive", "--overwrite") == 1
    assert "done 6, skipped 0, failed 2" in capsys.readouterr().out


def test_fail_fast_stops_at_first_failure(tmp_path, translator, capsys):
    src, out = make_folder(tmp_path / "in", bad_first=True), tmp_path / "out"
    rc = _run("--model", translator, "-i", src, "-o", out, "--recursive", "--fail-fast", "--jobs", "1")
    printed = capsys.readouterr().out
    assert rc == 1
    assert f"FAILED {src / '0_corrupt.jpg'}" in printed
    assert "done 0, skipped 0, failed 1, not attempted 7 (--fail-fast)" in printed
    assert _outputs(out) == []


def test_all_good_exits_zero_and_format_rules(tmp_path, translator, capsys):
    src = tmp_path / "in"
    src.mkdir()
    _pil((21, 17), "RGB").save(src / "a.jpg", quality=95)
    _pil((19, 23), "RGBA").save(src / "b.png")
    assert _run("--model", translator, "-i", src, "-o", tmp_path / "same", "--format", "same") == 0
    assert _outputs(tmp_path / "same") == ["a.jpg", "b.png"]  # JPEG stays JPEG
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    capsys.readouterr()
    # a finished batch is planned before any model is loaded, so it needs none
    assert _run("--model", broken, "-i", src, "-o", tmp_path / "same", "--format", "same") == 0
    assert "done 0, skipped 2, failed 0" in capsys.readouterr().out
    assert _run("--model", translator, "-i", src, "-o", tmp_path / "jpg", "--format", "jpg") == 0
    # b.png has alpha: JPEG cannot hold it, so it is written as PNG instead of being flattened
    assert _outputs(tmp_path / "jpg") == ["a.jpg", "b.png"]
    assert _pixels(tmp_path / "jpg" / "b.png").shape == (23, 19, 4)
    capsys.readouterr()
    # rerun: b.png's PNG fallback counts as its finished result
    assert _run("--model", translator, "-i", src, "-o", tmp_path / "jpg", "--format", "jpg") == 0
    assert "done 0, skipped 2, failed 0" in capsys.readouterr().out
    # a PNG written by a --format png run is not a JPEG run's result for an input without alpha
    assert _run("--model", translator, "-i", src, "-o", tmp_path / "png") == 0
    assert _run("--model", translator, "-i", src, "-o", tmp_path / "png", "--format", "jpg") == 0
    assert "done 1, skipped 1, failed 0" in capsys.readouterr().out.splitlines()[-1]
    assert _outputs(tmp_path / "png") == ["a.jpg", "a.png", "b.png"]
    single = src / "a.jpg"  # a single file as INPUT
    assert _run("--model", translator, "-i", single, "-o", tmp_path / "one") == 0
    assert _outputs(tmp_path / "one") == ["a.png"]
    assert "done 1, skipped 0, failed 0" in capsys.readouterr().out
    exif = PIL.Image.Exif()
    exif[0x0112] = 6  # EXIF orientation "rotate 90 CW": stored 21x17, shown 17x21
    _pil((21, 17), "RGB").save(tmp_path / "phone.jpg", exif=exif)
    assert _run("--model", translator, "-i", tmp_path / "phone.jpg", "-o", tmp_path / "rot") == 0
    assert _pixels(tmp_path / "rot" / "phone.png").shape == (21, 17, 3)  # upright, as a viewer shows it


@pytest.mark.parametrize("argv, message", [
    (["-i", "{tmp}/missing", "-o", "{tmp}/o"], "does not exist"),
    (["-i", "{tmp}/empty", "-o", "{tmp}/o"], "no input files"),
    (["-i", "{tmp}/empty", "-o", "{tmp}/o", "--tls-ca", "ca.pem"], "only apply with --server"),
    (["-i", "{tmp}/empty", "-o", "{tmp}/o", "--tile", "64", "--tile-overlap", "32"], "less than half"),
])
def test_usage_errors_exit_2(tmp_path, translator, capsys, argv, message):
    (tmp_path / "empty").mkdir()
    argv = [a.format(tmp=tmp_path) for a in argv]
    assert _run("--model", translator, *argv) == 2
    assert message in capsys.readouterr().err


def test_usage_errors_from_argparse_and_model(tmp_path, repo, capsys):
    with pytest.raises(SystemExit) as exc:  # -i missing: argparse's usage error
        main(["run", "--model", "m.onnx", "-o", str(tmp_path)])
    assert exc.value.code == 2
    (tmp_path / "x.png").write_bytes(b"")
    assert _run("--model", tmp_path / "nope.onnx", "-i", tmp_path / "x.png", "-o", tmp_path / "o") == 2
    assert "not found" in capsys.readouterr().err
    gen = repo / "faces" / "1" / "model.onnx"
    assert _run("--model", gen, "-i", tmp_path / "x.png", "-o", tmp_path / "o") == 2
    assert "translate generate" in capsys.readouterr().err


@pytest.fixture(scope="module")
def sr_checkpoint(tmp_path_factory):
    """A tiny SRResNet x2 checkpoint (BatchNorm with running statistics: a purely local operator).

    Its receptive field reaches about 10 input pixels (9x9 head, one residual block, 3x3 convs,
    9x9 tail at 2x), so with ``overlap // 4 >= 10`` tiled inference must equal whole-image inference.
    """
    import torch

    from translate.checkpoint import build_checkpoint, save_checkpoint
    from translate.modelinfo import ModelInfo
    from translate.nets import build_network

    torch.manual_seed(3)
    net = build_network("srresnet", num_feat=4, num_blocks=1, scale=2).eval()
    with torch.no_grad():  # non-trivial BatchNorm statistics, as after training
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    info = ModelInfo(family="srgan", task="super_resolve", scale=2, pad_multiple=1, image_size=24)
    path = tmp_path_factory.mktemp("sr") / "sr.pt"
    return save_checkpoint(build_checkpoint("srgan", {"G": net}, {"G": info}), path)


def test_tiled_matches_whole_image(tmp_path, sr_checkpoint, capsys):
    """Tolerance: at most 1 grey level (float rounding of the blended sum), on a 150x130 RGBA image in 4 tiles."""
    src = tmp_path / "big.png"
    _pil((150, 130), "RGBA", seed=5).save(src)
    common = ["--model", sr_checkpoint, "-i", src, "--device", "cpu"]
    assert _run(*common, "-o", tmp_path / "tiled", "--tile", "96", "--tile-overlap", "44", "--batch-size", "2") == 0
    assert _run(*common, "-o", tmp_path / "whole", "--tile", "0") == 0
    tiled, whole = _pixels(tmp_path / "tiled" / "big.png"), _pixels(tmp_path / "whole" / "big.png")
    assert tiled.shape == whole.shape == (260, 300, 4)  # x2 super-resolution, alpha resized along
    diff = np.abs(tiled.astype(int) - whole.astype(int))
    assert diff.max() <= 1, f"tiled differs from whole by up to {diff.max()} grey levels"


def test_checkpoint_model_and_direction(tmp_path, capsys):
    """A CycleGAN checkpoint runs on PyTorch; --direction picks G_A (AtoB) or G_B (BtoA) and is required."""
    from tiny_models import make_tiny_checkpoint

    from translate.backends.torch import TorchBackend
    from translate.images import apply_model, read_image

    ckpt = make_tiny_checkpoint("cyclegan", tmp_path / "cg.pt")
    src = tmp_path / "in" / "a.png"
    src.parent.mkdir()
    _pil((30, 26), "RGB", seed=2).save(src)
    # two generators and no --direction: a usage error
    assert _run("--model", ckpt, "-i", src, "-o", tmp_path / "ab", "--device", "cpu") == 2
    assert "--direction" in capsys.readouterr().err
    assert _run("--model", ckpt, "-i", src, "-o", tmp_path / "ab", "--direction", "AtoB", "--device", "cpu") == 0
    assert _run("--model", ckpt, "-i", src, "-o", tmp_path / "ba", "--direction", "BtoA", "--device", "cpu") == 0
    ab, ba = _pixels(tmp_path / "ab" / "a.png"), _pixels(tmp_path / "ba" / "a.png")
    assert not np.array_equal(ab, ba)
    backend = TorchBackend.from_checkpoint(ckpt, direction="BtoA", device="cpu")
    assert np.array_equal(ba, apply_model(backend, read_image(src), backend.info).pixels)


def test_interrupt_drops_queued_work_and_leaves_no_thread_behind():
    """Ctrl-C (KeyboardInterrupt in the consuming thread) stops the pipeline before run_pipeline re-raises."""
    import threading

    from translate.batch import Job, run_pipeline

    class Slow:
        concurrency = 1

        def load(self, path):
            return path.name

        def __call__(self, payload):
            threading.Event().wait(0.01)  # like a model call: releases the GIL
            return payload

    jobs = [Job(Path(f"in/{i}.png"), Path(f"{i}.png"), Path(f"out/{i}.png"), "png") for i in range(200)]
    written = []

    def interrupt(outcome):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_pipeline(jobs, Slow(), lambda img, job: written.append(job), jobs_n=2, on_outcome=interrupt)
    for t in threading.enumerate():
        if t.name.startswith("batch-"):
            t.join(timeout=2)
            assert not t.is_alive(), t.name
    assert 1 <= len(written) <= 10  # the file in hand is finished, queued files are dropped


def test_local_run_never_imports_serving(tmp_path, translator):
    """`serving` (and grpc) are imported only with --server: a local batch runs without the serve extra."""
    import subprocess
    import sys
    import textwrap

    (tmp_path / "a.png").write_bytes(png_bytes())
    code = textwrap.dedent(f"""
        import argparse, sys
        from translate.commands import run
        p = argparse.ArgumentParser()
        run.add_arguments(p)
        rc = run.main(p.parse_args(["--model", {str(translator)!r}, "-i", {str(tmp_path / "a.png")!r},
                                    "-o", {str(tmp_path / "out")!r}, "--no-progress"]))
        print(rc, [m for m in ("serving", "grpc") if m in sys.modules])
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "0 []", out.stdout + out.stderr
    assert (tmp_path / "out" / "a.png").is_file()
