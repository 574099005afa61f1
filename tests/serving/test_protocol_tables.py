"""Units of the protocol-neutral modules: serving.v2 (Open Inference Protocol values) and serving.wire
(translate.v1 enums), plus the client's use of them. No server needed."""

from __future__ import annotations

import numpy as np
import pytest

from serving import engine, v2, wire
from serving.client import TranslateClient
from serving.errors import InvalidRequestError
from serving.gen import translate_pb2 as pb


def test_datatypes_and_raw_tensors():
    assert [v2.datatype_of(t) for t in (np.float32, np.float16, np.uint8, np.int64, np.int32, "bool")] == [
        "FP32", "FP16", "UINT8", "INT64", "INT32", "BOOL"]
    x = np.arange(24, dtype=np.float32).reshape(1, 2, 3, 4)
    back = v2.tensor_from_bytes("input", "FP32", [1, 2, 3, 4], x.tobytes())
    assert np.array_equal(back, x) and not back.flags.writeable  # a view of the wire buffer
    assert v2.tensor_bytes(x.astype(">f4")) == x.tobytes()  # little-endian on the wire, whatever the host order
    with pytest.raises(InvalidRequestError, match="needs 96 bytes \\(24 x 4\\), but its raw_input_contents holds 92"):
        v2.tensor_from_bytes("input", "FP32", [1, 2, 3, 4], x.tobytes()[:-4])
    with pytest.raises(InvalidRequestError, match="datatype 'FP64' is not accepted here \\(accepted: FP32, FP16"):
        v2.tensor_from_bytes("input", "FP64", [1], bytes(8))
    with pytest.raises(InvalidRequestError, match="shape \\[1, -2\\] must list one non-negative size"):
        v2.tensor_spec("input", "FP32", [1, -2])


def test_value_lists():
    assert v2.tensor_from_values("p", "UINT8", [2, 2], [0, 1, 254, 255], where="data").dtype == np.uint8
    for bad, got in (([0, 1, 256, 3], 256), ([0, -1, 2, 3], -1)):
        with pytest.raises(InvalidRequestError, match=f"UINT8 values must lie in 0..255 \\(got {got}\\)"):
            v2.tensor_from_values("p", "UINT8", [2, 2], bad, where="data")
    with pytest.raises(InvalidRequestError, match="holds 4 elements, but contents.fp32_contents has 3"):
        v2.tensor_from_values("z", "FP32", [2, 2], [0.0] * 3, where="contents.fp32_contents")


def test_requests_outputs_versions_and_duplicates():
    assert v2.requested_outputs([("output", {}), ("other", {"binary_data": True})]) == ["output", "other"]
    with pytest.raises(InvalidRequestError, match="classification outputs are not supported"):
        v2.requested_outputs([("output", {"classification": 3})])
    with pytest.raises(InvalidRequestError, match="input 'z' appears twice"):
        v2.named_tensors([("z", np.zeros(1)), ("z", np.zeros(1))])
    assert (v2.parse_version(""), v2.parse_version("12")) == (0, 12)
    with pytest.raises(InvalidRequestError, match="version number of 1 to 18 ASCII digits such as '1'"):
        v2.parse_version("latest")
    assert v2.parse_version("0042") == 42 and v2.parse_version("9" * 18) == 10**18 - 1
    assert v2.server_metadata()["extensions"] == ["model_configuration"]


def test_format_and_tiling_tables_agree_with_the_engine_and_translate_images():
    """Every format the engine answers in has an enum and back; names are normalised like the CLI's."""
    assert {f.lower() for f in engine.OUTPUT_FORMATS} == set(wire.FORMAT_ENUMS)
    assert set(engine.TILING_MODES) == set(wire.TILING_ENUMS)
    for name in wire.FORMAT_ENUMS:
        assert wire.format_name(wire.format_enum(name)) == name
    for mode in wire.TILING_ENUMS:
        assert wire.tiling_name(wire.tiling_enum(mode)) == mode
    assert {wire.format_enum(n) for n in ("jpg", "JPEG", ".jpeg", "jpeg")} == {pb.IMAGE_FORMAT_JPEG}
    assert wire.format_enum("") == pb.IMAGE_FORMAT_UNSPECIFIED and wire.format_name(0) == ""
    for bad in ("bmp", "gif", "same"):  # decodable or not, the server does not answer in these
        with pytest.raises(ValueError, match=f"output_format must be one of png, jpeg, webp or '' \\(got '{bad}'\\)"):
            wire.format_enum(bad)
    with pytest.raises(InvalidRequestError, match="unknown format value 9"):
        wire.format_name(9)
    with pytest.raises(InvalidRequestError, match="unknown tiling mode value 7"):
        wire.tiling_name(7)
    assert set(wire.STATE_NAMES.values()) == {"LOADING", "READY", "UNAVAILABLE"}


def test_client_refuses_bad_names_before_calling_and_returns_the_engines_result_type():
    import serving.client

    assert serving.client.TranslateResult is engine.TranslateResult  # one definition
    client = TranslateClient("127.0.0.1:9", retries=0, timeout=1)  # nothing listens: no call may be made
    try:
        with pytest.raises(ValueError, match="output_format must be one of"):
            client.translate(b"x", "m", output_format="gif")
        with pytest.raises(ValueError, match="output_format must be one of"):  # was a KeyError here
            client.generate("m", seeds=[1], output_format="gif")
        with pytest.raises(ValueError, match="tiling must be auto, always or never"):
            client.translate(b"x", "m", tiling="sometimes")
    finally:
        client.close()


@pytest.mark.parametrize("text", ["\u00b2", "\u0661", "\uff11", "9" * 19, "9" * 5000, "-1", "+1", " 1", "1.0"])
def test_model_version_takes_ascii_digits_only(text):
    """str.isdigit() took "²" (then int() failed: INTERNAL) and Arabic-Indic "١" (as version 1)."""
    with pytest.raises(InvalidRequestError, match="1 to 18 ASCII digits") as info:
        v2.parse_version(text)
    assert len(str(info.value)) < 300  # 5000 digits are not echoed back
