"""Class names of a class-conditional generator on the server: listed, described, and usable by name.

The names travel in the ONNX metadata as JSON under ``class_names`` (label i is ``class_names[i]``),
read into ``ModelInfo.class_names``; a file exported before names were recorded is named by its
label numbers ("0" .. "K-1").
"""

from __future__ import annotations

import json

import grpc
import onnx
import pytest
import tritonclient.grpc as tc
from server_fixtures import tiny_generator

from serving.client import InvalidInputError, TranslateClient
from serving.server import InferenceServer, ServerConfig

NAMES = ["1", "5", "7", "8"]  # class folders as a user named them; labels 0..3


def _with_class_names(path, names):
    model = onnx.load(str(path))
    entry = model.metadata_props.add()
    entry.key, entry.value = "class_names", json.dumps(names)
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    _with_class_names(tiny_generator(root / "digits" / "1" / "model.onnx", seed=5, num_classes=4), NAMES)
    tiny_generator(root / "numbered" / "1" / "model.onnx", seed=6, num_classes=2)  # no names recorded
    server = InferenceServer(ServerConfig(models=root, port=0, reload="off", intra_op_threads=1))
    port = server.start()
    yield f"127.0.0.1:{port}"
    server.drain(1)


@pytest.fixture(scope="module")
def client(running):
    with TranslateClient(running, retries=0, timeout=30) as c:
        yield c


def test_list_models_and_get_model_show_the_class_names(client):
    listed = {m.name: m.class_names for m in client.list_models()}
    assert listed == {"digits": NAMES, "numbered": ["0", "1"]}  # no names recorded: the label numbers
    assert client.get_model("digits").class_names == NAMES and client.get_model("digits").num_classes == 4


def test_generate_takes_a_class_by_name(client):
    by_name = client.generate("digits", seeds=[1, 2], class_name="7")
    by_label = client.generate("digits", seeds=[1, 2], label=2)
    other = client.generate("digits", seeds=[1, 2], label=1)
    assert [g.image for g in by_name] == [g.image for g in by_label] != [g.image for g in other]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"model": "digits", "class_name": "9"}, "unknown class_name '9'; this model's classes are '1', '5', '7', '8'"),
    ({"model": "digits", "class_name": "07"}, "unknown class_name '07'"),  # names match exactly
    ({"model": "digits", "class_name": "7", "label": 2}, "set either label (a class number) or class_name"),
    ({"model": "numbered", "class_name": "7"}, "unknown class_name '7'; this model's classes are '0', '1'"),
    ({"model": "numbered", "class_name": "1"}, None),  # unnamed classes are named by their label numbers
    ({"model": "digits"}, "or set class_name to one of '1', '5', '7', '8'"),
])
def test_unknown_or_conflicting_class_names_are_refused(client, kwargs, message):
    if message is None:
        assert len(client.generate(seeds=[1], **kwargs)) == 1
        return
    with pytest.raises(InvalidInputError) as info:
        client.generate(seeds=[1], **kwargs)
    assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT and message in str(info.value)


def test_kserve_model_configuration_carries_the_class_names(running):
    with tc.InferenceServerClient(running) as triton:
        params = triton.get_model_config("digits", as_json=True)["config"]["parameters"]
    assert json.loads(params["class_names"]["string_value"]) == NAMES
