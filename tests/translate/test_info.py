"""`translate info`: checkpoints and exported ONNX models describe themselves; bad files exit 1.

Spec: translate/commands/info.py (issue 2: `translate info MODEL_OR_CHECKPOINT`; issue 4:
metadata round trip through `translate info`).
"""

from __future__ import annotations

import json

from tiny_models import make_tiny_checkpoint

from translate.cli import main
from translate.export import export_to_repository
from translate.nets import build_network


def _info_json(capsys, path) -> dict:
    assert main(["info", str(path), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_checkpoint_description(tmp_path, capsys):
    ckpt = make_tiny_checkpoint("cyclegan", tmp_path / "c.pt", ema=True)
    d = _info_json(capsys, ckpt)
    assert d["kind"] == "checkpoint" and d["family"] == "cyclegan"
    assert set(d["networks"]) == {"G_A", "G_B", "D_A", "D_B"}
    g = d["networks"]["G_A"]
    assert g["arch"] == "resnet_6blocks" and g["kwargs"]["ngf"] == 4
    expected = sum(p.numel() for p in build_network("resnet_6blocks", **g["kwargs"]).parameters())
    assert g["parameters"] == expected
    assert d["processing"]["G_B"]["direction"] == "BtoA" and d["ema"] == ["G_A", "G_B"]
    assert d["resumable"] is False and d["provenance"]["run_name"] == "tiny-cyclegan"
    assert main(["info", str(ckpt)]) == 0  # the human-readable form names the same things
    text = capsys.readouterr().out
    assert "resnet_6blocks" in text and f"{expected:,} parameters" in text and "EMA" in text


def test_onnx_metadata_round_trip(tmp_path, capsys):
    ckpt = make_tiny_checkpoint("dcgan", tmp_path / "c.pt")
    (report,) = export_to_repository(ckpt, tmp_path / "m", "digits", verify=False, exporter="torchscript")
    assert _info_json(capsys, tmp_path / "m" / "digits")["path"].endswith("digits/1/model.onnx")  # newest version
    d = _info_json(capsys, tmp_path / "m" / "digits" / "1")  # a version directory works too
    assert d["kind"] == "onnx" and d["opset"] == 18
    info = d["model_info"]
    for key, value in report.info.to_dict().items():
        assert info[key] == value, key  # everything the exporter wrote comes back unchanged
    assert info["task"] == "generate" and info["latent_size"] == 16 and info["num_classes"] == 3
    assert info["provenance"]["step"] == "123" and info["provenance"]["dataset"] == "tiny-dcgan-data"
    assert [i["name"] for i in d["inputs"]] == ["z", "label"]
    assert isinstance(d["inputs"][0]["shape"][0], str) and d["inputs"][0]["shape"][1] == 16  # dynamic batch
    assert d["inputs"][1]["dtype"] == "int64" and d["outputs"][0]["shape"][1:] == [3, 32, 32]


def test_corrupt_files_exit_1_with_a_clear_message(tmp_path, capsys):
    bad_onnx = tmp_path / "broken.onnx"
    bad_onnx.write_bytes(b"\x08\x07garbage that is not protobuf" * 3)
    assert main(["info", str(bad_onnx)]) == 1
    assert "broken.onnx is not a readable ONNX file" in capsys.readouterr().err
    bad_ckpt = tmp_path / "broken.pt"
    bad_ckpt.write_bytes(b"PK\x03\x04truncated")
    assert main(["info", str(bad_ckpt)]) == 1
    err = capsys.readouterr().err
    assert "broken.pt" in err and "corrupt" in err
    assert main(["info", str(tmp_path / "missing.onnx")]) == 1
    assert "does not exist" in capsys.readouterr().err
