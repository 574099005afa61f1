"""translate.modelrepo: the repository layout (strict version directories, newest version, atomic
installs) and the two ways of reading an exported file (onnx, ONNX Runtime session), which agree."""

from __future__ import annotations

import onnxruntime as ort
import pytest
from server_fixtures import tiny_generator, tiny_super_resolver, tiny_translator

from translate.errors import ExportError, ModelError
from translate.modelrepo import (
    MODEL_FILE,
    file_of_session,
    install_version,
    list_models,
    next_version,
    read_model_file,
    read_onnx_info,
    resolve_model_path,
    version_numbers,
)


def _touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")


def test_version_directories_are_ascii_digits_only(tmp_path):
    model = tmp_path / "repo" / "zebra"
    for name in ("1", "2", "01", "\u00b2", "\u0661", "3a", ".tmp-4-abc"):  # "²" and Arabic-Indic 1 pass isdigit()
        _touch(model / name / MODEL_FILE)
    (model / "10").mkdir()  # a version being copied in: no model file yet
    assert version_numbers(model) == [1, 2]
    assert next_version(model) == 11  # never reuse a half-made version directory
    assert next_version(tmp_path / "new") == 1
    assert version_numbers(tmp_path / "new") == []
    assert resolve_model_path(model) == model / "2" / MODEL_FILE  # the newest version
    assert resolve_model_path(model / "1") == model / "1" / MODEL_FILE
    assert resolve_model_path(tmp_path / "a.onnx") == tmp_path / "a.onnx"  # files (existing or not) pass through
    with pytest.raises(ModelError, match="without model.onnx or numbered versions"):
        resolve_model_path(model / "10")


def test_list_models_skips_hidden_and_empty_models(tmp_path):
    _touch(tmp_path / "b" / "3" / MODEL_FILE)
    _touch(tmp_path / "a" / "1" / MODEL_FILE)
    _touch(tmp_path / ".hidden" / "1" / MODEL_FILE)
    (tmp_path / "empty" / "1").mkdir(parents=True)
    _touch(tmp_path / "notes.txt")
    assert list_models(tmp_path) == {"a": [1], "b": [3]}


def test_install_version_replaces_only_when_forced(tmp_path):
    path = install_version(tmp_path / "m", 1, b"first")
    assert path == tmp_path / "m" / "1" / MODEL_FILE and path.read_bytes() == b"first"
    with pytest.raises(ExportError, match="already exists; pass --force"):
        install_version(tmp_path / "m", 1, b"second")
    assert path.read_bytes() == b"first"
    install_version(tmp_path / "m", 1, b"second", force=True)
    assert path.read_bytes() == b"second"
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["1"]  # no temp or old directories left


def test_onnx_and_session_readings_agree(tmp_path):
    paths = [tiny_translator(tmp_path / "t.onnx", channels=1), tiny_super_resolver(tmp_path / "sr.onnx"),
             tiny_generator(tmp_path / "g.onnx", num_classes=3)]
    for path in paths:
        from_file = read_model_file(path)
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        assert file_of_session(session, path) == from_file, path.name
        assert read_onnx_info(path) == from_file.info
    g = read_model_file(paths[2])
    assert [(t.name, t.dtype, t.shape, t.dim_names) for t in g.inputs] == [
        ("z", "float32", [-1, 8], ["N", ""]), ("label", "int64", [-1], ["N"])]
    assert g.info.num_classes == 3 and g.metadata["format"] == "translate-onnx"


def test_unreadable_and_foreign_files(tmp_path):
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(ModelError, match="junk.onnx is not a readable ONNX file"):
        read_model_file(tmp_path / "junk.onnx")
    with pytest.raises(ModelError, match="does not exist"):
        read_model_file(tmp_path / "missing.onnx")
