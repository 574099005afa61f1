"""ONNX export: parity with PyTorch for every family, dynamic shapes, repository layout, errors.

Spec: translate/export.py (issue 4). Tiny networks; most exports use the fast TorchScript
exporter, one test covers the torch.export-based (dynamo) exporter that ``auto`` prefers.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from tiny_models import make_tiny_checkpoint

from translate.checkpoint import load_generator
from translate.cli import main
from translate.errors import CheckpointError, ConfigError, ExportError
from translate.export import (
    _batch_mode_reference,
    export_onnx,
    export_to_repository,
)
from translate.modelrepo import read_onnx_info

FAST = {"exporter": "torchscript"}


def _session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("family", ["pix2pix", "cyclegan", "srgan", "dcgan"])
def test_every_family_exports_and_matches_pytorch(tmp_path, family):
    ckpt = make_tiny_checkpoint(family, tmp_path / "c.pt")
    direction = "BtoA" if family == "cyclegan" else None
    report = export_onnx(ckpt, tmp_path / "m.onnx", direction=direction, **FAST)
    assert report.verified and report.passed
    assert report.max_abs_err < 1e-4 and report.psnr > 80
    model = onnx.load(str(tmp_path / "m.onnx"))
    names = [i.name for i in model.graph.input]
    dims = [[d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in model.graph.input]
    if family == "dcgan":
        assert names == ["z", "label"]
        assert isinstance(dims[0][0], str) and dims[0][1] == 16  # dynamic batch, fixed nz
        assert len(report.checks) == 2
    else:
        assert names == ["input"]
        assert all(isinstance(d, str) for d in (dims[0][0], dims[0][2], dims[0][3]))  # batch, H, W dynamic
        assert any("padded" in c.name for c in report.checks) or family == "srgan"
        assert len({c.input_shape[2:] for c in report.checks}) >= 2  # several sizes, one session
    info = read_onnx_info(tmp_path / "m.onnx")
    assert info.family == family
    assert info.provenance["run_name"] == f"tiny-{family}" and info.provenance["step"] == "123"
    assert info.provenance["dataset"] == f"tiny-{family}-data"
    assert len(info.provenance["source_sha256"]) == 12 and info.provenance["exporter"] == "torchscript"
    if family == "cyclegan":
        assert info.direction == "BtoA" and info.provenance["generator"] == "G_B"


def test_dynamo_exporter_gives_dynamic_height_and_width(tmp_path):
    ckpt = make_tiny_checkpoint("srgan", tmp_path / "c.pt")
    report = export_onnx(ckpt, tmp_path / "m.onnx", exporter="dynamo", verify=False)  # checked below
    assert report.exporter == "dynamo" and report.opset == 18
    sess = _session(tmp_path / "m.onnx")
    net, _ = load_generator(ckpt)
    for shape in [(1, 3, 20, 24), (3, 3, 33, 17)]:  # two sizes and batches in one session
        x = np.random.default_rng(1).uniform(-1, 1, shape).astype(np.float32)
        got = sess.run(None, {"input": x})[0]
        with torch.no_grad():
            want = net(torch.from_numpy(x)).numpy()
        assert got.shape == (shape[0], 3, shape[2] * 2, shape[3] * 2)
        assert np.abs(got - want).max() < 1e-4


def test_repository_cyclegan_both_directions_and_triton_config(tmp_path):
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    ckpt = make_tiny_checkpoint("cyclegan", tmp_path / "c.pt")
    repo = tmp_path / "models"
    reports = export_to_repository(ckpt, repo, "h2z", direction="both", verify=False, **FAST)
    assert [r.path for r in reports] == [repo / "h2z-AtoB" / "1" / "model.onnx", repo / "h2z-BtoA" / "1" / "model.onnx"]
    assert [read_onnx_info(r.path).direction for r in reports] == ["AtoB", "BtoA"]
    cfg = text_format.Parse((repo / "h2z-AtoB" / "config.pbtxt").read_text(), model_config_pb2.ModelConfig())
    assert cfg.name == "h2z-AtoB" and cfg.platform == "onnxruntime_onnx" and cfg.max_batch_size == 8
    assert cfg.input[0].name == "input" and cfg.input[0].data_type == model_config_pb2.TYPE_FP32
    assert list(cfg.input[0].dims) == [3, -1, -1] and list(cfg.output[0].dims) == [3, -1, -1]
    assert cfg.output[0].name == "output" and cfg.HasField("dynamic_batching")
    # the next export without --version gets version 2; an explicit existing version needs --force
    again = export_to_repository(ckpt, repo, "h2z", direction="AtoB", verify=False, **FAST)
    assert again[0].path == repo / "h2z" / "1" / "model.onnx"  # single direction keeps the plain name
    v2 = export_to_repository(ckpt, repo, "h2z-AtoB", direction="AtoB", verify=False, **FAST)
    assert v2[0].path.parent.name == "2"
    with pytest.raises(ExportError, match="--force"):
        export_to_repository(ckpt, repo, "h2z-AtoB", version=1, direction="AtoB", verify=False, **FAST)
    before = (repo / "h2z-AtoB" / "1" / "model.onnx").stat().st_mtime_ns
    export_to_repository(ckpt, repo, "h2z-AtoB", version=1, direction="AtoB", force=True, verify=False, **FAST)
    assert (repo / "h2z-AtoB" / "1" / "model.onnx").stat().st_mtime_ns != before
    assert sorted(p.name for p in (repo / "h2z-AtoB").iterdir()) == ["1", "2", "config.pbtxt"]  # no temp dirs left


def test_conditional_generator_triton_config(tmp_path):
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    ckpt = make_tiny_checkpoint("dcgan", tmp_path / "c.pt")
    export_to_repository(ckpt, tmp_path / "m", "digits", verify=False, max_batch_size=4, **FAST)
    cfg = text_format.Parse((tmp_path / "m" / "digits" / "config.pbtxt").read_text(), model_config_pb2.ModelConfig())
    assert [i.name for i in cfg.input] == ["z", "label"] and cfg.max_batch_size == 4
    assert list(cfg.input[0].dims) == [16] and cfg.input[1].data_type == model_config_pb2.TYPE_INT64
    assert list(cfg.input[1].dims) == [1] and list(cfg.input[1].reshape.shape) == []
    assert list(cfg.output[0].dims) == [3, 32, 32]


def test_batchnorm_modes_differ_and_each_matches_its_reference(tmp_path):
    ckpt = make_tiny_checkpoint("pix2pix", tmp_path / "c.pt")
    export_onnx(ckpt, tmp_path / "running.onnx", batchnorm_mode="running", verify=False, **FAST)  # checked below
    r_bat = export_onnx(ckpt, tmp_path / "batch.onnx", batchnorm_mode="batch", **FAST)
    assert r_bat.passed and r_bat.info.batchnorm_mode == "batch"
    assert read_onnx_info(tmp_path / "batch.onnx").batchnorm_mode == "batch"
    assert read_onnx_info(tmp_path / "running.onnx").batchnorm_mode == "running"
    net, _ = load_generator(ckpt)
    x = np.random.default_rng(2).uniform(-1, 1, (2, 3, 128, 128)).astype(np.float32)
    run = _session(tmp_path / "running.onnx").run(None, {"input": x})[0]
    bat = _session(tmp_path / "batch.onnx").run(None, {"input": x})[0]
    assert np.abs(run - bat).max() > 0.05  # the two modes are really different computations
    with torch.no_grad():
        want_run = net(torch.from_numpy(x)).numpy()
        want_bat = _batch_mode_reference(net)(torch.from_numpy(x)).numpy()  # BN in train mode, batch of 1
    assert np.abs(run - want_run).max() < 1e-4 and np.abs(bat - want_bat).max() < 1e-4
    # per-image statistics: an image's result does not depend on what else is in the batch
    alone = _session(tmp_path / "batch.onnx").run(None, {"input": x[:1]})[0]
    assert np.abs(alone - bat[:1]).max() < 1e-5
    assert all(not m.training for m in net.modules())  # the reference never touched the loaded net


def test_ema_weights_are_exported_unless_no_ema(tmp_path):
    ckpt = make_tiny_checkpoint("srgan", tmp_path / "c.pt", ema=True)
    export_onnx(ckpt, tmp_path / "ema.onnx", verify=False, **FAST)
    export_onnx(ckpt, tmp_path / "raw.onnx", ema=False, verify=False, **FAST)
    x = np.random.default_rng(0).uniform(-1, 1, (1, 3, 16, 16)).astype(np.float32)
    ema_out = _session(tmp_path / "ema.onnx").run(None, {"input": x})[0]
    raw_out = _session(tmp_path / "raw.onnx").run(None, {"input": x})[0]
    net, _ = load_generator(ckpt, ema=True)
    with torch.no_grad():
        assert np.abs(ema_out - net(torch.from_numpy(x)).numpy()).max() < 1e-4
    assert np.abs(ema_out - raw_out).max() > 1e-3
    assert read_onnx_info(tmp_path / "ema.onnx").provenance["ema"] == "true"
    assert read_onnx_info(tmp_path / "raw.onnx").provenance["ema"] == "false"


def test_static_shape(tmp_path):
    ckpt = make_tiny_checkpoint("cyclegan", tmp_path / "c.pt")
    report = export_onnx(ckpt, tmp_path / "s.onnx", direction="AtoB", static_shape=(32, 48), **FAST)
    assert report.passed and [c.input_shape[2:] for c in report.checks] == [(32, 48), (32, 48)]
    graph_input = onnx.load(str(tmp_path / "s.onnx")).graph.input[0]
    dims = [d.dim_param or d.dim_value for d in graph_input.type.tensor_type.shape.dim]
    assert dims[1:] == [3, 32, 48] and isinstance(dims[0], str)
    with pytest.raises(ConfigError, match="multiples of the pad multiple 4"):
        export_onnx(ckpt, tmp_path / "t.onnx", direction="AtoB", static_shape=(30, 48), **FAST)


def test_failed_verification_writes_nothing(tmp_path):
    ckpt = make_tiny_checkpoint("dcgan", tmp_path / "c.pt")
    with pytest.raises(ExportError, match="(?s)beyond tolerance.*FAIL"):
        export_onnx(ckpt, tmp_path / "m.onnx", tolerance=-1.0, **FAST)  # any error is "too large"
    assert not (tmp_path / "m.onnx").exists() and list(tmp_path.iterdir()) == [tmp_path / "c.pt"]


def test_existing_file_needs_force_and_unwritable_destination(tmp_path):
    ckpt = make_tiny_checkpoint("dcgan", tmp_path / "c.pt")
    export_onnx(ckpt, tmp_path / "m.onnx", verify=False, **FAST)
    with pytest.raises(ExportError, match="already exists; pass --force"):
        export_onnx(ckpt, tmp_path / "m.onnx", verify=False, **FAST)
    export_onnx(ckpt, tmp_path / "m.onnx", verify=False, force=True, **FAST)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(ExportError, match="cannot write to .*writable"):
        export_onnx(ckpt, blocker / "m.onnx", verify=False, **FAST)
    with pytest.raises(ExportError, match="cannot write to"):
        export_to_repository(ckpt, blocker, "x", verify=False, **FAST)


def test_cli_export_and_errors(tmp_path, capsys):
    sr = make_tiny_checkpoint("srgan", tmp_path / "sr.pt")
    assert main(["export", str(sr), "-o", str(tmp_path / "sr.onnx"), "--exporter", "torchscript"]) == 0
    out = capsys.readouterr().out
    assert "PASS" in out and "max abs err" in out and "PSNR" in out
    ckpt = make_tiny_checkpoint("cyclegan", tmp_path / "c.pt")
    assert main(["export", str(ckpt), "-o", str(tmp_path / "g.onnx"), "--exporter", "torchscript",
                 "--no-verify"]) == 0
    assert (tmp_path / "g-AtoB.onnx").is_file() and (tmp_path / "g-BtoA.onnx").is_file()  # default: both
    assert "not verified" in capsys.readouterr().out
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"PK\x03\x04 this is not a checkpoint")
    assert main(["export", str(bad), "-o", str(tmp_path / "x.onnx")]) == 1
    assert "corrupt" in capsys.readouterr().err
    assert main(["export", str(ckpt), "--repo", str(tmp_path / "m")]) == 2  # --name missing: usage error
    assert "--name" in capsys.readouterr().err
    with pytest.raises(CheckpointError, match="bad.pt"):
        export_onnx(bad, tmp_path / "y.onnx")


def test_auto_exporter_falls_back_to_torchscript(tmp_path, monkeypatch, caplog):
    ckpt = make_tiny_checkpoint("dcgan", tmp_path / "c.pt")
    real_export = torch.onnx.export

    def dynamo_breaks(*args, dynamo=True, **kwargs):
        if dynamo:
            raise RuntimeError("simulated torch.export failure")
        return real_export(*args, dynamo=False, **kwargs)

    monkeypatch.setattr(torch.onnx, "export", dynamo_breaks)
    report = export_onnx(ckpt, tmp_path / "m.onnx", exporter="auto")
    assert report.exporter == "torchscript" and report.passed
    assert "simulated torch.export failure" in caplog.text
    with pytest.raises(ExportError, match="dynamo: RuntimeError: simulated"):
        export_onnx(ckpt, tmp_path / "n.onnx", exporter="dynamo")
