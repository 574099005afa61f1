"""`translate generate`: seed syntax, reproducibility, classes, latent walks, grids (local models).

The same command through a server (``--server``) is tested in tests/serving/test_remote.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import PIL.Image
import pytest
from server_fixtures import make_repo, tiny_generator

from translate.cli import main
from translate.errors import ConfigError, LabelError
from translate.modelinfo import ModelInfo
from translate.seeds import parse_seeds, seeds_from_count


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """Tiny ONNX generators: 'faces' (unconditional, nz 8, 8x8) and 'digits' (3 classes)."""
    return make_repo(tmp_path_factory.mktemp("models"))


def _gen(*argv) -> int:
    return main(["generate", *map(str, argv)])


def _images(folder: Path) -> dict[str, np.ndarray]:
    out = {}
    for p in sorted(folder.glob("*.png")):
        with PIL.Image.open(p) as im:
            out[p.name] = np.asarray(im)
    return out


def test_parse_seeds():
    assert parse_seeds("0-3,120") == [0, 1, 2, 3, 120]
    assert parse_seeds(" 7 , 2-3, 7") == [7, 2, 3]  # order kept, duplicates dropped
    assert seeds_from_count(3, 10) == [10, 11, 12]
    for bad, message in [("", "empty"), ("1,,2", "empty item"), ("x", "bad seed"), ("-3", "bad seed"),
                         ("9-3", "reversed range"), ("0-2000000", "more than")]:
        with pytest.raises(ConfigError, match=message):
            parse_seeds(bad)
    with pytest.raises(ConfigError, match="--count"):
        seeds_from_count(0, 1)


def test_seeds_are_reproducible_and_count_equals_range(tmp_path, repo, capsys):
    model = repo / "faces" / "1" / "model.onnx"
    assert _gen("--model", model, "--seeds", "0-2,5", "-o", tmp_path / "a") == 0
    assert _gen("--model", model, "--seeds", "0-2,5", "-o", tmp_path / "b") == 0
    a, b = _images(tmp_path / "a"), _images(tmp_path / "b")
    assert list(a) == ["seed000000.png", "seed000001.png", "seed000002.png", "seed000005.png"]
    assert all(np.array_equal(a[k], b[k]) for k in a)  # same seed, same pixels, run after run
    assert not np.array_equal(a["seed000000.png"], a["seed000001.png"])  # different seeds differ
    assert _gen("--model", model, "--count", "2", "--seed", "1", "-o", tmp_path / "c") == 0
    c = _images(tmp_path / "c")
    assert list(c) == ["seed000001.png", "seed000002.png"]
    assert all(np.array_equal(c[k], a[k]) for k in c)
    assert "wrote 2 images" in capsys.readouterr().out


def test_class_conditional_rules(tmp_path, repo, capsys):
    faces, digits = repo / "faces/1/model.onnx", repo / "digits/1/model.onnx"
    assert _gen("--model", faces, "--seeds", "0", "--class", "1", "-o", tmp_path) == 2
    assert "unconditional" in capsys.readouterr().err
    assert _gen("--model", digits, "--seeds", "0", "--class", "3", "-o", tmp_path) == 2
    # a file without recorded names is named by its label numbers
    assert "unknown --class '3'; this model's classes are '0', '1', '2'" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.png"))
    assert _gen("--model", digits, "--seeds", "0", "-o", tmp_path) == 2
    assert "pass --class NAME with one of: 0, 1, 2" in capsys.readouterr().err
    assert _gen("--model", digits, "--seeds", "0", "--class", "0", "-o", tmp_path / "c0") == 0
    assert _gen("--model", digits, "--seeds", "0", "--class", "1", "-o", tmp_path / "c1") == 0
    c0, c1 = _images(tmp_path / "c0"), _images(tmp_path / "c1")
    assert list(c0) == ["seed000000-class0.png"] and list(c1) == ["seed000000-class1.png"]
    assert not np.array_equal(c0["seed000000-class0.png"], c1["seed000000-class1.png"])  # the class matters


def _named_generator(path: Path, names: list[str]) -> Path:
    """The tiny conditional generator, its metadata carrying class names (as training now records them)."""
    import onnx
    from onnx import helper

    tiny_generator(path, seed=5, num_classes=len(names))
    model = onnx.load(str(path))
    info = ModelInfo.from_metadata({p.key: p.value for p in model.metadata_props})
    info.class_names = list(names)
    del model.metadata_props[:]
    helper.set_model_props(model, info.to_metadata())
    onnx.save(model, str(path))
    return path


def test_classes_are_chosen_by_name(tmp_path, capsys):
    """Class folders 1, 5, 7, 8 are labels 0..3: `--class 7` is label 2, and `--class 2` is no class of the model."""
    from translate.backends import load_backend
    from translate.latents import Sampler

    model = _named_generator(tmp_path / "m" / "1" / "model.onnx", ["1", "5", "7", "8"])
    assert _gen("--model", model, "--seeds", "0-1", "--class", "7", "-o", tmp_path / "by-name") == 0
    written = _images(tmp_path / "by-name")
    assert list(written) == ["seed000000-class7.png", "seed000001-class7.png"]
    sampler = Sampler(load_backend(str(model), device="cpu"))
    by_label = sampler.generate(seeds=[0, 1], labels=2)
    assert np.array_equal(written["seed000000-class7.png"], by_label[0].pixels)
    assert np.array_equal(sampler.generate_arrays(seeds=[1], classes="7"), sampler.generate_arrays(seeds=[1], labels=2))
    assert not np.array_equal(sampler.generate_arrays(seeds=[1], classes="8"),
                              sampler.generate_arrays(seeds=[1], labels=2))
    capsys.readouterr()
    assert _gen("--model", model, "--seeds", "0", "--class", "2", "-o", tmp_path / "bad") == 2
    assert "unknown --class '2'; this model's classes are '1', '5', '7', '8'" in capsys.readouterr().err
    with pytest.raises(LabelError, match="unknown class name '3'"):
        sampler.generate(seeds=[0], classes=["7", "3"])
    assert main(["info", str(model)]) == 0
    assert "classes (--class NAME -> label): 1 -> 0, 5 -> 1, 7 -> 2, 8 -> 3" in capsys.readouterr().out


def test_interpolation_strip_and_grid(tmp_path, repo):
    model = repo / "faces/1/model.onnx"
    assert _gen("--model", model, "--seeds", "3,7", "-o", tmp_path / "ends") == 0
    assert _gen("--model", model, "--interpolate", "3,7", "--steps", "5", "-o", tmp_path / "walk",
                "--grid", tmp_path / "grid.png") == 0
    ends, walk = _images(tmp_path / "ends"), _images(tmp_path / "walk")
    frames = [walk[f"interp-3-7-{k:03d}.png"] for k in range(5)]
    # slerp starts at seed 3's latent and ends at seed 7's (float rounding at most 1 grey level)
    assert np.abs(frames[0].astype(int) - ends["seed000003.png"]).max() <= 1
    assert np.abs(frames[-1].astype(int) - ends["seed000007.png"]).max() <= 1
    strip = walk["interp-3-7.png"]
    assert strip.shape == (8, 5 * 8 + 4 * 2, 3)  # frames side by side, 2 px gaps
    assert np.array_equal(strip[:, 10:18], frames[1])
    with PIL.Image.open(tmp_path / "grid.png") as im:
        assert im.size == (3 * 8 + 2 * 2, 2 * 8 + 2)  # 5 images: 3 columns, 2 rows


def test_usage_errors(tmp_path, repo, capsys):
    faces = repo / "faces/1/model.onnx"
    assert _gen("--model", faces, "--seeds", "9-3", "-o", tmp_path) == 2
    assert "reversed range" in capsys.readouterr().err
    assert _gen("--model", faces, "--interpolate", "1", "-o", tmp_path) == 2
    assert _gen("--model", faces, "--count", "2000", "--grid", tmp_path / "g.png", "-o", tmp_path) == 2
    assert "at most 1024" in capsys.readouterr().err
    assert _gen("--model", faces, "--seeds", "1", "--truncation", "0", "-o", tmp_path) == 2
    assert _gen("--model", repo / "photo2art/1/model.onnx", "--seeds", "1", "-o", tmp_path) == 2
    assert "translate run" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:  # --seeds and --count exclude each other
        _gen("--model", faces, "--seeds", "1", "--count", "2", "-o", tmp_path)
    assert exc.value.code == 2
    assert not list(tmp_path.glob("*.png"))


def test_class_names_work_through_a_server(tmp_path, capsys):
    """The remote processor reads the model file's metadata too: --server resolves the same names."""
    from server_fixtures import start_server

    model = _named_generator(tmp_path / "models" / "named" / "1" / "model.onnx", ["1", "5", "7", "8"])
    rs = start_server(tmp_path / "models")
    try:
        assert _gen("--server", rs.address, "--model", "named", "--seeds", "0", "--class", "7",
                    "-o", tmp_path / "remote") == 0
        assert _gen("--server", rs.address, "--model", "named", "--seeds", "0", "--class", "2",
                    "-o", tmp_path / "bad") == 2
        assert "unknown --class '2'; this model's classes are '1', '5', '7', '8'" in capsys.readouterr().err
    finally:
        rs.server.drain(1)
    assert _gen("--model", model, "--seeds", "0", "--class", "7", "-o", tmp_path / "local") == 0
    assert np.array_equal(_images(tmp_path / "remote")["seed000000-class7.png"],
                          _images(tmp_path / "local")["seed000000-class7.png"])
