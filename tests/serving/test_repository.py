"""serving.repository: each model file parsed once; an empty or wrongly laid out --models folder is named."""

from __future__ import annotations

import logging
import subprocess
import sys
import time

import onnx
import onnxruntime as ort
import pytest
from server_fixtures import make_repo, png_bytes, start_server, tiny_translator

from serving.client import TranslateClient
from serving.repository import READY, UNAVAILABLE, ModelRepository
from translate.errors import ConfigError


def test_each_model_file_is_parsed_once_on_load(tmp_path, monkeypatch):
    root = make_repo(tmp_path)
    opened = []
    real_session = ort.InferenceSession

    def counting_session(path, *args, **kwargs):
        opened.append(str(path))
        return real_session(path, *args, **kwargs)

    def no_onnx_load(*args, **kwargs):
        raise AssertionError("the server parsed a model file with onnx.load as well as ONNX Runtime")

    monkeypatch.setattr(ort, "InferenceSession", counting_session)
    monkeypatch.setattr(onnx, "load", no_onnx_load)
    repo = ModelRepository(root)
    try:
        repo.poll()
        states = {r.name: r.state for r in repo.records()}
        assert states == {"broken": UNAVAILABLE, "digits": READY, "faces": READY, "grey": READY,
                          "photo2art": READY, "sr": READY}
        assert sorted(opened) == sorted(str(p) for p in root.glob("*/1/model.onnx"))  # one session per file
        with repo.lease("digits") as mv:  # everything the servicers need, read from that one session
            assert mv.info.num_classes == 3 and mv.metadata["family"] == "dcgan"
            assert [(t.name, t.dtype, t.shape) for t in mv.inputs] == [("z", "float32", [-1, 8]),
                                                                     ("label", "int64", [-1])]
            assert [(t.name, t.shape) for t in mv.outputs] == [("output", [-1, 3, 8, 8])]
        assert "not a readable ONNX file" in repo.record("broken").error
    finally:
        repo.close()


# ----------------------------------------------------------------------------- an empty or wrong --models
def _serve(models) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "translate.cli", "serve", "--models", str(models), "--port", "0",
                           "--reload", "off"], capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


def test_serving_an_empty_or_wrong_folder_is_an_error_that_names_what_is_there(tmp_path):
    """`translate serve` used to log "serving 0 model(s)" and run on any folder."""
    tiny_translator(tmp_path / "models" / "m" / "1" / "model.onnx")
    (tmp_path / "empty").mkdir()
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "best.pt").write_bytes(b"x")
    (tmp_path / "bare").mkdir()
    (tmp_path / "bare" / "gen.onnx").write_bytes(b"x")
    cases = {
        tmp_path / "empty": "it is empty; expected model.onnx files at <name>/<version>/model.onnx",
        tmp_path / "models" / "m": f"one model's folder (version folders 1); serve its parent folder instead: "
                                   f"--models {tmp_path / 'models'}",
        tmp_path / "models" / "m" / "1": "one version folder",
        run: "training run or checkpoint folder (checkpoints); export the checkpoint first",
        run / "checkpoints": "training run or checkpoint folder (best.pt)",
        tmp_path / "bare": "bare ONNX files (gen.onnx)",
    }
    for folder, what in cases.items():
        with pytest.raises(ConfigError) as info:
            start_server(folder)
        assert f"no model to serve in {folder}: " in str(info.value) and what in str(info.value), str(info.value)
        assert "--allow-empty" in str(info.value)
    proc = _serve(tmp_path / "models" / "m")
    assert proc.returncode == 2 and "one model's folder" in proc.stderr, proc.stderr[-2000:]


def test_allow_empty_starts_with_a_warning_and_hot_reload_fills_the_repository(tmp_path, caplog):
    root = tmp_path / "models"
    root.mkdir()
    with caplog.at_level(logging.WARNING, logger="serving.server"):
        rs = start_server(root, allow_empty=True)
    try:
        assert any("serving an empty repository" in r.getMessage() and "it is empty" in r.getMessage()
                   for r in caplog.records)
        with TranslateClient(rs.address, retries=0) as client:
            assert client.health() == "SERVING" and client.list_models() == []
            tiny_translator(root / "late" / "1" / "model.onnx")  # hot reload picks it up
            end = time.monotonic() + 30
            while time.monotonic() < end and client.health("late") != "SERVING":
                time.sleep(0.05)
            assert client.translate(png_bytes(), "late").width == 24
    finally:
        rs.server.drain(1)
