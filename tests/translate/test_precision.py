"""The precision vocabulary: CPU flags, fidelity figures in the metadata, gates, the candidates and the tie rule."""

from __future__ import annotations

import math

import pytest

from translate.errors import ConfigError
from translate.precision import (
    DEFAULT_GATES,
    CpuCapabilities,
    Fidelity,
    Gate,
    fidelities,
    file_precision,
    parse_precisions,
    read_cpu_capabilities,
    without_fidelity,
)
from translate.precision_auto import candidates, pick

ZEN4 = CpuCapabilities("AMD EPYC 9R14", frozenset({"avx2", "avx512f", "avx512_bf16", "avx512_vnni"}))
CASCADE_LAKE = CpuCapabilities("Intel Xeon Platinum 8259CL", frozenset({"avx2", "avx512f", "avx512_vnni"}))
OLD = CpuCapabilities("Intel Xeon E5-2690 v4", frozenset({"avx2"}))


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: AMD EPYC 9R14\nflags\t\t: fpu avx2 avx512f avx512_bf16 "
                       "avx512_vnni\n\nprocessor\t: 1\nmodel name\t: other\nflags\t\t: fpu\n")
    caps = read_cpu_capabilities(cpuinfo)
    assert caps.model == "AMD EPYC 9R14" and caps.bf16 and caps.int8
    assert caps.relevant_flags() == ["avx512_bf16", "avx512_vnni"]
    # AVX-512 alone is not bf16 (OpenVINO would emulate it), and a missing file means nothing is native
    assert not CASCADE_LAKE.bf16 and CASCADE_LAKE.int8
    missing = read_cpu_capabilities(tmp_path / "absent")
    assert not missing.bf16 and not missing.int8
    assert read_cpu_capabilities(tmp_path / "absent").describe() == "unknown CPU (no bf16/int8 flags)"


def test_fidelity_round_trips_through_metadata_and_gates():
    fid = Fidelity("openvino", "int8", 39.64, 38.1, 0.21, 16, DEFAULT_GATES["int8"], "bf16")
    md = {"format": "translate-onnx", **fid.to_metadata()}
    assert md["fidelity.openvino-int8.psnr_db"] == "39.64"
    back = fidelities(md)[("openvino", "int8")]
    assert back == fid and back.passed
    assert "PASS" in back.line() and "float ops in bf16" in back.line()
    # under the pooled gate, or one image under the worst-image gate: refused
    assert not Fidelity("openvino", "int8", 34.9, 34.0, 0.1, 16, DEFAULT_GATES["int8"]).passed
    assert not Fidelity("openvino", "int8", 40.0, 32.9, 0.1, 16, DEFAULT_GATES["int8"]).passed
    perfect = Fidelity("openvino", "bf16", math.inf, math.inf, 0.0, 4, DEFAULT_GATES["bf16"])
    assert fidelities(perfect.to_metadata())[("openvino", "bf16")].psnr_db == math.inf
    # a damaged entry is skipped, not fatal
    assert fidelities({"fidelity.openvino-bf16.psnr_db": "x"}) == {}
    assert without_fidelity({**md, "precision": "int8", "quantization.tool": "nncf", "family": "srgan"}) == \
        {"format": "translate-onnx", "family": "srgan"}
    assert file_precision({"precision": "int8"}) == "int8" and file_precision({}) == "fp32"


def test_precision_lists_and_gates_are_checked():
    assert parse_precisions("int8,bf16") == ["fp32", "bf16", "int8"]
    assert parse_precisions(["fp32"]) == ["fp32"]
    with pytest.raises(ConfigError, match="unknown precision fp16"):
        parse_precisions("fp32,fp16")
    with pytest.raises(ConfigError, match="dB >= 0"):
        Gate(-1.0, 33.0)


def test_ties_go_to_the_variant_closer_to_fp32():
    # int8 5 % faster than bf16: within the 10 % tie, bf16 wins; 30 % faster: int8 wins
    assert pick({"onnxruntime-fp32": 2.0, "openvino-bf16": 1.0, "openvino-int8": 0.95}) == "openvino-bf16"
    assert pick({"onnxruntime-fp32": 2.0, "openvino-bf16": 1.0, "openvino-int8": 0.7}) == "openvino-int8"
    assert pick({"onnxruntime-fp32": 1.0, "openvino-bf16": 0.95}) == "onnxruntime-fp32"


def _metadata(**fids: Fidelity) -> dict[str, str]:
    md = {"format": "translate-onnx"}
    for f in fids.values():
        md.update(f.to_metadata())
    return md


def test_candidates_say_why_a_variant_cannot_run(tmp_path):
    model = tmp_path / "model.onnx"
    model.write_bytes(b"")  # candidates() only reads the int8 file; the fp32 file's metadata is passed in
    good_bf16 = Fidelity("openvino", "bf16", 57.0, 55.0, 0.05, 16, DEFAULT_GATES["bf16"])
    md = _metadata(bf16=good_bf16)

    def why(**kw) -> dict[str, str]:
        return {c.key: c.why_not for c in candidates(model, md, device="cpu", **kw)}

    ok = why(capabilities=ZEN4, openvino="2026.4.1")
    assert ok["onnxruntime-fp32"] == "" and ok["openvino-bf16"] == ""
    assert "no int8 variant exported" in ok["openvino-int8"]
    assert "no native bf16" in why(capabilities=CASCADE_LAKE, openvino="2026.4.1")["openvino-bf16"]
    assert "not installed" in why(capabilities=ZEN4, openvino=None)["openvino-bf16"]
    weak = _metadata(bf16=Fidelity("openvino", "bf16", 38.0, 36.0, 0.1, 16, DEFAULT_GATES["bf16"]))
    assert "BELOW GATE" in {c.key: c.why_not for c in candidates(model, weak, device="cpu", capabilities=ZEN4,
                                                                  openvino="2026.4.1")}["openvino-bf16"]
    plain = {c.key: c.why_not for c in candidates(model, {"format": "translate-onnx"}, device="cpu",
                                                   capabilities=ZEN4, openvino="2026.4.1")}
    assert "translate export --precision bf16" in plain["openvino-bf16"]
    # explicit requests narrow the list; OpenVINO fp32 is a candidate only when asked for
    assert [c.key for c in candidates(model, md, backend="openvino", device="cpu", capabilities=ZEN4,
                                      openvino="2026.4.1")] == ["openvino-bf16", "openvino-int8", "openvino-fp32"]
    with pytest.raises(ConfigError, match="bf16 runs on --backend openvino"):
        candidates(model, md, backend="onnxruntime", precision="bf16", device="cpu", capabilities=ZEN4)
    with pytest.raises(ConfigError, match="unknown backend"):
        candidates(model, md, backend="tensorrt")
