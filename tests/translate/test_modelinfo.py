"""ModelInfo.check_labels: the one class-label check (backends, Sampler, `translate generate`)."""

from __future__ import annotations

import numpy as np
import pytest

from translate.errors import ConfigError, LabelError, ModelError
from translate.modelinfo import ModelInfo

CONDITIONAL = ModelInfo(family="dcgan", task="generate", in_channels=0, latent_size=8, num_classes=3)
UNCONDITIONAL = ModelInfo(family="dcgan", task="generate", in_channels=0, latent_size=8)


def test_good_labels_come_back_as_int64():
    np.testing.assert_array_equal(CONDITIONAL.check_labels([0, 2, 1], 3), [0, 2, 1])
    assert CONDITIONAL.check_labels(np.array([[1], [2]], np.int32), 2).dtype == np.int64  # [N, 1] is flattened
    assert CONDITIONAL.check_labels(2).tolist() == [2]  # one label, no count to match
    assert UNCONDITIONAL.check_labels(None, 5) is None


@pytest.mark.parametrize("info, labels, count, message", [
    (UNCONDITIONAL, [0], 1, "unconditional \\(num_classes = 0\\): drop labels"),
    (CONDITIONAL, None, 1, "class-conditional \\(3 classes\\): pass labels with values in 0..2"),
    (CONDITIONAL, [0.5], 1, "integer class numbers in 0..2, got float64"),
    (CONDITIONAL, [0, 1], 3, "one label per sample \\(3\\), got 2"),
    (CONDITIONAL, [3, -1, 1], 3, "out of range: this model has classes 0..2 \\(got -1, 3\\)"),
])
def test_bad_labels_say_what_to_do(info, labels, count, message):
    with pytest.raises(LabelError, match=message) as caught:
        info.check_labels(labels, count)
    # a usage error for the CLI (exit 2) and the server (INVALID_ARGUMENT), a model mismatch for callers
    assert isinstance(caught.value, ConfigError) and isinstance(caught.value, ModelError)


def test_messages_use_the_callers_name_for_the_argument():
    with pytest.raises(LabelError, match="pass --class C with values in 0..2"):
        CONDITIONAL.check_labels(None, name="--class C")
    with pytest.raises(LabelError, match="--class C out of range"):
        CONDITIONAL.check_labels([7], name="--class C")


NAMED = ModelInfo(family="dcgan", task="generate", in_channels=0, latent_size=8, num_classes=4,
                  class_names=["1", "5", "7", "8"])


def test_class_names_travel_in_checkpoints_and_onnx_metadata():
    assert ModelInfo.from_dict(NAMED.to_dict()).class_names == ["1", "5", "7", "8"]
    md = NAMED.to_metadata()
    assert md["class_names"] == '["1", "5", "7", "8"]'  # one JSON list under one metadata key
    assert ModelInfo.from_metadata(md).class_names == ["1", "5", "7", "8"]
    assert "class_names" not in UNCONDITIONAL.to_metadata() and UNCONDITIONAL.class_names == []


def test_files_without_names_are_named_by_their_label_numbers():
    old = {k: v for k, v in NAMED.to_dict().items() if k != "class_names"}
    assert ModelInfo.from_dict(old).class_names == ["0", "1", "2", "3"]
    md = {k: v for k, v in NAMED.to_metadata().items() if k != "class_names"}
    info = ModelInfo.from_metadata(md)
    assert info.class_names == ["0", "1", "2", "3"] and info.label_of("3") == 3


def test_names_resolve_exactly_and_unknown_ones_list_the_known():
    assert NAMED.label_of("7") == 2 and NAMED.labels_of(["8", "1"]).tolist() == [3, 0]
    assert NAMED.labels_of("5").dtype == np.int64
    with pytest.raises(LabelError, match="unknown class '2'; this model's classes are '1', '5', '7', '8'"):
        NAMED.label_of("2")  # a number that is not a name is not read as a label number either
    with pytest.raises(LabelError, match="unknown class '07'"):
        NAMED.label_of("07")
    with pytest.raises(LabelError, match="unconditional"):
        UNCONDITIONAL.label_of("7")


@pytest.mark.parametrize("names, k, message", [
    (["a", "b"], 3, "2 class_names for 3 classes"),
    (["a", "a"], 2, "distinct"),
    (["a", ""], 2, "non-empty strings"),
    (["a"], 0, "unconditional"),
])
def test_bad_class_names_are_refused(names, k, message):
    with pytest.raises(ModelError, match=message):
        ModelInfo(family="dcgan", task="generate", in_channels=0, latent_size=8, num_classes=k, class_names=names)
    if k:
        md = {**ModelInfo(family="dcgan", task="generate", latent_size=8, num_classes=k).to_metadata(),
              "class_names": "not json"}
        with pytest.raises(ModelError, match="class_names is not a JSON list"):
            ModelInfo.from_metadata(md)
