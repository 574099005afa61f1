"""`translate run --engine ray` on a real local Ray cluster: the same files as the local engine, byte for byte.

One 2-CPU cluster (started here, shut down at the end) serves every test of this module, and
the module runs in one pytest-xdist group, so `make test` starts Ray once. The folder holds a
few dozen images of mixed sizes and formats (grey, alpha, sub-folders, a name collision, images
larger than the tile) plus a truncated JPEG and a text file.
"""

from __future__ import annotations

import io
import re
import shutil
import sys
from pathlib import Path

import pytest
import ray
from image_folders import make_folder, output_files, pil_image
from server_fixtures import make_repo

from translate.cli import main

pytestmark = [
    pytest.mark.xdist_group("ray"),  # one cluster per module: `make test` (--dist loadgroup) keeps these on one worker
    pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.*"),  # Ray Data reading its own deprecated settings
]

SIZES = [(16, 16), (37, 29), (70, 41), (23, 64), (90, 75), (12, 31)]
MODES = ["RGB", "L", "RGBA", "RGB", "LA", "RGB"]
FORMATS = [("PNG", ".png"), ("JPEG", ".jpg"), ("WEBP", ".webp"), ("BMP", ".bmp"), ("TIFF", ".tif"), ("PNG", ".PNG")]


def _make_inputs(root: Path, count: int = 24) -> Path:
    """``make_folder``'s 6 good + 2 bad files, plus ``count`` more in nested folders, and an x.jpg/x.png pair."""
    make_folder(root, bad_first=True)  # the truncated JPEG sorts first: 0_corrupt.jpg
    for k in range(count):
        (w, h), mode = SIZES[k % len(SIZES)], MODES[(k // 2) % len(MODES)]
        fmt, suffix = FORMATS[k % len(FORMATS)]
        if fmt in ("JPEG", "BMP") and mode in ("RGBA", "LA"):
            mode = "RGB"  # these formats cannot hold alpha
        folder = root / ("a/b" if k % 3 == 0 else "a" if k % 3 == 1 else "")
        folder.mkdir(parents=True, exist_ok=True)
        img = pil_image((w, h), "RGBA" if mode == "LA" else mode, seed=100 + k)
        img = img.convert("LA") if mode == "LA" else img
        img.save(folder / f"img{k:02d}{suffix}", format=fmt, **({"lossless": True} if fmt == "WEBP" else {}))
    for suffix, fmt in ((".jpg", "JPEG"), (".png", "PNG")):
        pil_image((27, 22), "RGB", seed=7).save(root / f"x{suffix}", format=fmt)
    return root


def _run(*argv) -> int:
    return main(["run", *map(str, argv), "--no-progress"])


def _failed_lines(text: str) -> list[str]:
    return sorted(line for line in text.splitlines() if line.startswith("FAILED "))


def _summary(text: str) -> str:
    """The summary line without its timing (which differs between runs)."""
    line = [ln for ln in text.splitlines() if ln.startswith("done ")][-1]
    return re.sub(r" in [0-9.]+ s \(.*\)$", "", line)


def _assert_same_files(a: Path, b: Path) -> list[str]:
    names = output_files(a)
    assert output_files(b) == names
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), f"{name} differs between the engines"
    return names


@pytest.fixture(scope="module")
def cluster():
    """A local 2-CPU Ray cluster for this module (no dashboard, a small object store); shut down afterwards."""
    for attempt in (1, 2):  # Ray waits a fixed 30 s for its raylet: a heavily loaded machine can miss that once
        try:
            ray.init(num_cpus=2, include_dashboard=False, object_store_memory=128 * 1024 * 1024,
                     logging_level="WARNING")
            break
        except Exception as exc:
            ray.shutdown()
            if attempt == 2 or "timed out during startup" not in str(exc):
                raise
    yield ray.cluster_resources()
    ray.shutdown()


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    """A tiny exported ONNX translator (conv3x3 + tanh, pad multiple 4)."""
    return make_repo(tmp_path_factory.mktemp("models")) / "photo2art" / "1" / "model.onnx"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    return _make_inputs(tmp_path_factory.mktemp("ray") / "in")


def test_same_outputs_failures_and_summary_as_local_then_rerun_redoes_only_missing(
        cluster, model, inputs, tmp_path, capsys):
    common = ["-m", model, "-i", inputs, "-r", "--format", "same", "--tile", "32", "--tile-overlap", "8"]
    assert _run(*common, "-o", tmp_path / "local") == 1
    local = capsys.readouterr().out
    assert _run(*common, "-o", tmp_path / "ray", "--engine", "ray") == 1
    on_ray = capsys.readouterr().out
    names = _assert_same_files(tmp_path / "local", tmp_path / "ray")
    assert len(names) == 32  # 6 + 24 + the x.jpg/x.png pair: every good input, nothing for the bad ones
    assert {"a/b/img00.png", "a/img01.jpg", "img02.webp", "img05.PNG", "x.jpg", "x.png", "sub/deep.png"} <= set(names)
    assert _failed_lines(on_ray) == _failed_lines(local)
    assert [ln.split(":")[0] for ln in _failed_lines(on_ray)] == [f"FAILED {inputs / '0_corrupt.jpg'}",
                                                                   f"FAILED {inputs / 'notes.txt'}"]
    assert _summary(on_ray) == _summary(local) == "done 32, skipped 0, failed 2"

    # A re-run skips every finished output and redoes only what is missing (the bad files fail again).
    kept = tmp_path / "ray" / "img02.webp"
    before = kept.stat().st_mtime_ns
    for name in ("a/b/img00.png", "alpha.webp"):
        (tmp_path / "ray" / name).unlink()
    assert _run(*common, "-o", tmp_path / "ray", "--engine", "ray") == 1
    rerun = capsys.readouterr().out
    assert _summary(rerun) == "done 2, skipped 30, failed 2"
    assert kept.stat().st_mtime_ns == before
    _assert_same_files(tmp_path / "local", tmp_path / "ray")


def test_alpha_fallback_skip_and_overwrite(cluster, model, inputs, tmp_path, capsys):
    """--format jpg keeps alpha in a PNG; a re-run knows (by decoding, in Ray) that those are finished."""
    common = ["-m", model, "-i", inputs, "-r", "--format", "jpg"]
    assert _run(*common, "-o", tmp_path / "local") == 1
    assert _run(*common, "-o", tmp_path / "ray", "--engine", "ray") == 1
    capsys.readouterr()
    names = _assert_same_files(tmp_path / "local", tmp_path / "ray")
    assert "alpha.png" in names and "sub/deep.png" in names and "photo.jpg" in names
    (tmp_path / "in2").mkdir()
    for name in ("alpha.webp", "photo.bmp", "grey.jpg"):
        shutil.copy(inputs / name, tmp_path / "in2" / name)
    fewer = ["-m", model, "-i", tmp_path / "in2", "--format", "jpg", "-o", tmp_path / "ray", "--engine", "ray"]
    # alpha.webp has only its fallback alpha.png: decoded in the read stage and skipped there
    (tmp_path / "ray" / "photo.jpg").unlink()
    assert _run(*fewer) == 0
    assert _summary(capsys.readouterr().out) == "done 1, skipped 2, failed 0"
    stamp = (tmp_path / "ray" / "alpha.png").stat().st_mtime_ns
    assert _run(*fewer, "--overwrite") == 0
    assert _summary(capsys.readouterr().out) == "done 3, skipped 0, failed 0"
    assert (tmp_path / "ray" / "alpha.png").stat().st_mtime_ns != stamp
    _assert_same_files(tmp_path / "local", tmp_path / "ray")


def test_object_store_uris_through_pyarrow(cluster, model, inputs, tmp_path, capsys):
    """file:// URIs take the object-store code path (pyarrow.fs listing, reads and writes) and a URI glob."""
    pattern = str(inputs / "**" / "*.png")
    assert _run("-m", model, "-i", pattern, "-r", "-o", tmp_path / "local") == 0
    uri_in, uri_out = f"file://{inputs}/**/*.png", f"file://{tmp_path / 'ray'}"
    assert _run("-m", model, "-i", uri_in, "-r", "-o", uri_out, "--engine", "ray") == 0
    out = capsys.readouterr().out
    assert _summary(out).startswith("done ")
    names = _assert_same_files(tmp_path / "local", tmp_path / "ray")
    assert "a/b/img00.png" in names and "sub/deep.png" in names
    assert not list((tmp_path / "ray").rglob(".*"))  # no temp files left behind


def test_fail_fast_stops_at_the_first_failure_in_input_order(cluster, model, inputs, tmp_path, capsys):
    assert _run("-m", model, "-i", inputs, "-r", "-o", tmp_path / "out", "--engine", "ray", "--fail-fast") == 1
    out = capsys.readouterr().out
    assert [ln.split(":")[0] for ln in _failed_lines(out)] == [f"FAILED {inputs / '0_corrupt.jpg'}"]
    done, not_attempted = re.search(r"done (\d+), skipped 0, failed 1, not attempted (\d+)", out).groups()
    assert int(done) + int(not_attempted) + 1 == 34 and int(not_attempted) > 0


def test_checkpoint_model_with_direction(cluster, tmp_path, capsys):
    """A training checkpoint runs in the actors too (PyTorch), with --direction, equal to the local engine."""
    from tiny_models import make_tiny_checkpoint

    ckpt = make_tiny_checkpoint("cyclegan", tmp_path / "cg.pt")
    src = tmp_path / "in"
    src.mkdir()
    for k, mode in enumerate(("RGB", "L", "RGBA")):
        pil_image((30 + k, 26), mode, seed=k).save(src / f"{k}.png")
    common = ["-m", ckpt, "-i", src, "--direction", "BtoA", "--device", "cpu"]
    assert _run(*common, "-o", tmp_path / "local") == 0
    assert _run(*common, "-o", tmp_path / "ray", "--engine", "ray") == 0
    assert _summary(capsys.readouterr().out) == "done 3, skipped 0, failed 0"
    _assert_same_files(tmp_path / "local", tmp_path / "ray")


@pytest.mark.parametrize(("argv", "message"), [
    (["--ray-actors", "2"], "leave no CPU for reading and writing"),
    (["--ray-actor-cpus", "2"], "leave no CPU for reading and writing"),
    (["--ray-actors", "0"], "must be >= 1"),
    (["--device", "cuda"], "has no GPU"),
])
def test_pool_that_would_starve_reads_is_refused(cluster, model, inputs, tmp_path, capsys, argv, message):
    """2 actors on 2 CPUs deadlock (the read tasks never get a CPU): refused up front, nothing written."""
    assert _run("-m", model, "-i", inputs, "-o", tmp_path / "out", "--engine", "ray", *argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("argv", "message"), [
    (["--ray-actors", "1"], "only apply with --engine ray"),
    (["--address", "auto"], "only apply with --engine ray"),
    (["--engine", "ray", "--server", "127.0.0.1:1"], "cannot be combined with --server"),
])
def test_ray_usage_errors(model, inputs, tmp_path, capsys, argv, message):
    assert _run("-m", model, "-i", inputs, "-o", tmp_path / "out", *argv) == 2
    assert message in capsys.readouterr().err


def test_missing_extra_names_the_install_command(model, inputs, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` sees without the extra
    assert _run("-m", model, "-i", inputs, "-o", tmp_path / "out", "--engine", "ray") == 2
    assert "pip install 'translate[ray]'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_uri_glob_rules_match_the_local_glob(tmp_path):
    """translate.uris.glob_regex follows glob's rules ('*' stays in one folder, '**' spans folders)."""
    from translate.uris import glob_regex

    cases = {("*.png", False): ["a.png"], ("**/*.png", True): ["a.png", "d/b.png", "d/e/c.png"],
             ("**/*.png", False): ["d/b.png"], ("d/*/c.[pj]ng", False): ["d/e/c.png"],
             ("?.png", False): ["a.png"], ("[!a].png", False): []}
    names = ["a.png", "d/b.png", "d/e/c.png", "a.jpg"]
    for (pattern, recursive), expected in cases.items():
        assert [n for n in names if glob_regex(pattern, recursive).match(n)] == expected, pattern


def test_uri_listing_reading_and_writing(tmp_path):
    """file:// through pyarrow: hidden files and the output folder are not inputs; writes are atomic, reads exact."""
    from translate.errors import ConfigError
    from translate.uris import discover, existing_files, read_bytes, write_bytes

    root = tmp_path / "in"
    (root / "s").mkdir(parents=True)
    (root / "out").mkdir()
    for name in ("a.png", "s/b.png", ".hidden.png", "out/old.png"):
        (root / name).write_bytes(name.encode())
    base = f"file://{root}"
    found = [rel.as_posix() for _, rel in discover(base, recursive=True, exclude=f"file://{root}/out")]
    assert found == ["a.png", "s/b.png"]
    assert [rel.as_posix() for _, rel in discover(base)] == ["a.png"]
    assert discover(base + "/s/b.png") == [(base + "/s/b.png", Path("b.png"))]
    with pytest.raises(ConfigError, match="does not exist"):
        discover(base + "/missing")
    with pytest.raises(ConfigError, match="no input files"):
        discover(base + "/*.gif")
    buf = io.BytesIO(b"\x89PNG" + bytes(range(256)))
    write_bytes(base + "/new/a b/x.png", buf.getvalue())  # a space: quoted for the URI parser, not in the name
    assert read_bytes(base + "/new/a b/x.png") == buf.getvalue()
    assert (root / "new" / "a b" / "x.png").read_bytes() == buf.getvalue()
    assert "new/a b/x.png" in existing_files(base)
    assert existing_files(base + "/nothing-here") == set()
