"""scripts/bench/gpu.py, the one-GPU check, on a CPU: options, parity helpers, the JSON schema, skipping
without CUDA or time, the watchdog, and its sections on tiny networks (what can run without a GPU)."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "bench" / "gpu.py"


@pytest.fixture(scope="module")
def gpu():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _args(gpu, *argv):
    return gpu.parse_args(["--device", "cpu", "--tiny", "--steps", "2", "--timed-steps", "1", "--exporter",
                           "torchscript", *argv])  # the TorchScript exporter: seconds faster for tiny nets


def test_options_defaults_and_refusals(gpu):
    args = gpu.parse_args([])
    assert (args.device, args.budget_s, args.sections, args.steps) == ("cuda", 450.0, list(gpu.SECTIONS), 20)
    assert args.train_cases == ["pix2pix", "cyclegan", "srgan/gan"]
    for bad in (["--budget-s", "0"], ["--steps", "0"], ["--sections", "nccl"], ["--device", "tpu"]):
        with pytest.raises(SystemExit):
            gpu.parse_args(bad)


def test_parity_helpers(gpu):
    a = np.zeros((2, 3, 4, 4))
    assert gpu.psnr_db(a, a) == math.inf
    assert gpu.psnr_db(a + 0.02, a) == pytest.approx(10 * math.log10(4 / 0.0004))  # peak 2: values in [-1, 1]
    assert gpu.psnr_db(torch.ones(3), torch.zeros(3), peak=1.0) == pytest.approx(0.0)
    assert math.isnan(gpu.psnr_db(np.array([np.nan]), np.array([0.0])))
    assert gpu.max_abs_err(torch.tensor([1.0, -2.0]), np.array([1.5, 0.0])) == 2.0
    with pytest.raises(ValueError, match="shapes differ"):
        gpu.psnr_db(np.zeros(3), np.zeros(4))
    assert gpu.finite_json({"x": [math.inf, 1.0, {"y": math.nan}]}) == {"x": ["inf", 1.0, {"y": "nan"}]}


def test_schema_validation_names_what_is_wrong(gpu):
    good = gpu.Report(_args(gpu)).snapshot()
    assert gpu.validate_report(good) == []
    json.dumps(good, allow_nan=False)  # standard JSON
    bad = {**good, "status": "great", "sections": {"training": {"status": "skipped"}, "gpu": {"status": "ok"}},
           "checks": [{"name": "x", "ok": 1}]}
    del bad["device"]
    problems = "\n".join(gpu.validate_report(bad))
    for expected in ("device: missing", "status: 'great'", "training: skipped without a reason", "sections.gpu",
                     "checks[0]"):
        assert expected in problems


def test_without_cuda_every_section_is_skipped_with_the_reason(gpu, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    doc, code = gpu.run(gpu.parse_args([]))
    assert code == 0 and doc["status"] == "skipped"
    assert {n: s["reason"] for n, s in doc["sections"].items()} == dict.fromkeys(gpu.SECTIONS, "no CUDA device")
    assert gpu.validate_report(doc) == []


def test_sections_that_do_not_fit_the_budget_are_skipped(gpu):
    doc, code = gpu.run(_args(gpu, "--budget-s", "5", "--sections", "training", "onnx"))
    assert code == 0
    for name in ("training", "onnx"):
        assert doc["sections"][name]["status"] == "skipped"
        assert doc["sections"][name]["reason"].startswith("time budget")
    assert gpu.validate_report(doc) == []


def test_training_variants_on_tiny_nets_match_fp32_and_fp16_is_left_out_on_a_cpu(gpu, tmp_path):
    args = _args(gpu, "--cases", "pix2pix")
    report = gpu.Report(args)
    gpu.run_training(report, args, gpu.Budget(300), tmp_path)
    sec = report.snapshot()["sections"]["training"]
    assert sec["status"] == "ok"
    rows = {r["variant"]: r for r in sec["rows"]}
    assert list(rows) == ["fp32", "fp32+cl", "bf16", "bf16+cl"]  # no fp16 without CUDA
    assert all(r["status"] == "ok" and r["it_per_s"] > 0 and r["losses_finite"] for r in rows.values())
    assert rows["fp32"]["speedup_vs_fp32"] == 1.0
    assert rows["fp32+cl"]["psnr_vs_fp32_db"] > 60  # same arithmetic, other memory layout
    assert 20 < rows["bf16"]["psnr_vs_fp32_db"] < math.inf  # bf16 really ran, and stayed close
    assert all(c["ok"] for c in report.doc["checks"]) and len(report.doc["checks"]) == 7


def test_ddp_world_size_one_trains_like_plain(gpu, tmp_path):
    args = _args(gpu)
    report = gpu.Report(args)
    gpu.run_ddp(report, args, gpu.Budget(300), tmp_path)
    sec = report.doc["sections"]["ddp"]
    assert (sec["status"], sec["backend"], sec["world_size"]) == ("ok", "gloo", 1)
    assert sec["max_param_diff"] < 1e-6
    assert [c["ok"] for c in report.doc["checks"]] == [True, True]


def test_onnx_and_server_sections_on_the_cpu_provider(gpu, tmp_path):
    args = _args(gpu, "--cases", "pix2pix")
    report = gpu.Report(args)
    gpu.run_onnx(report, args, gpu.Budget(300), tmp_path)
    rows = report.doc["sections"]["onnx"]["rows"]
    ort_row = next(r for r in rows if r["runtime"] == "onnxruntime")
    assert ort_row["provider_used"] == "CPUExecutionProvider" and ort_row["psnr_db"] > 40
    assert [(r["runtime"], r["precision"]) for r in rows] == [("torch", "fp32"), ("onnxruntime", "fp32")]
    gpu.run_server(report, args, gpu.Budget(300), tmp_path)
    server = report.doc["sections"]["server"]
    assert server["status"] == "ok" and server["rows"][0]["max_pixel_diff"] <= 1
    assert all(c["ok"] for c in report.doc["checks"]), report.doc["checks"]


def test_fp16_conversion_keeps_fp32_inputs_and_outputs(gpu):
    import onnx
    from tiny_models import tiny_networks

    from translate.export import build_onnx

    nets, processing = tiny_networks("pix2pix")
    data, _ = build_onnx(nets["G"].eval(), processing["G"], verify=False, exporter="torchscript")
    half = onnx.load_from_string(gpu.to_fp16_model(data))
    assert half.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert half.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in half.graph.initializer)


def test_the_watchdog_writes_the_partial_report_and_exits_3(tmp_path):
    out = tmp_path / "gpu.json"
    code = textwrap.dedent(f"""
        import importlib.util, time
        spec = importlib.util.spec_from_file_location("gpu_check", {str(SCRIPT)!r})
        gpu = importlib.util.module_from_spec(spec); spec.loader.exec_module(gpu)
        args = gpu.parse_args(["--device", "cpu", "--budget-s", "0.5"])
        report = gpu.Report(args)
        report.section("training", "running", rows=[{{"case": "pix2pix"}}])
        gpu.start_watchdog(report, gpu.Budget(0.5, report.started), __import__("pathlib").Path({str(out)!r}))
        time.sleep(30)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3, proc.stderr
    doc = json.loads(out.read_text())
    assert doc["status"] == "timeout" and doc["sections"]["training"]["rows"] == [{"case": "pix2pix"}]
    assert "time budget of 0 s spent" in proc.stdout
