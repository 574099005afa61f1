"""serving.repository loads each model file once: the description comes from the ONNX Runtime session."""

from __future__ import annotations

import onnx
import onnxruntime as ort
from server_fixtures import make_repo

from serving.repository import READY, UNAVAILABLE, ModelRepository


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
