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
