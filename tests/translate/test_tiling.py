"""Tiled inference (translate.images.tiling): tiled == whole image for local, translation-equivariant
functions when ``overlap // 4`` covers the receptive-field radius; blending is a partition of unity.

Tolerance: 1e-5 absolute on float32 outputs in about [-3, 3] (float rounding of the weighted sum).
"""

from __future__ import annotations

import numpy as np
import pytest

from translate.errors import ConfigError, ModelError
from translate.images import Image, apply_model, blend_window, choose_tile, default_tiling, run_tiled
from translate.modelinfo import ModelInfo

RNG = np.random.default_rng(7)
KERNEL_A = RNG.standard_normal((2, 3, 3, 3)).astype(np.float32)  # [C_out, C_in, 3, 3]
KERNEL_B = RNG.standard_normal((3, 2, 3, 3)).astype(np.float32)


def conv3x3(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    """'same' 3x3 convolution with reflect padding, numpy only: [N, Ci, H, W] -> [N, Co, H, W]."""
    h, w = x.shape[2:]
    p = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="reflect")
    out = np.zeros((x.shape[0], k.shape[0], h, w), np.float32)
    for i in range(3):
        for j in range(3):
            out += np.einsum("oc,nchw->nohw", k[:, :, i, j], p[:, :, i:i + h, j:j + w])
    return out


def two_convs(x: np.ndarray) -> np.ndarray:
    """Receptive-field radius 2 (5x5), channels 3 -> 2 -> 3, with a nonlinearity in between."""
    return conv3x3(np.tanh(conv3x3(x, KERNEL_A)), KERNEL_B)


def sr_x2(x: np.ndarray) -> np.ndarray:
    """SR-like: 3x3 conv at low resolution, nearest x2 upsample, 3x3 conv at high resolution."""
    y = np.tanh(conv3x3(x, KERNEL_A))
    return conv3x3(y.repeat(2, axis=2).repeat(2, axis=3), KERNEL_B)


def pool4_net(x: np.ndarray) -> np.ndarray:
    """Strided (U-Net-like): 4x4 average pool, nearest x4 upsample, 3x3 conv. Shift-equivariant only by 4."""
    n, c, h, w = x.shape
    pooled = x.reshape(n, c, h // 4, 4, w // 4, 4).mean(axis=(3, 5))
    return conv3x3(pooled.repeat(4, axis=2).repeat(4, axis=3), KERNEL_A)


@pytest.mark.parametrize(("h", "w", "tile", "overlap"), [(70, 97, 32, 8), (64, 64, 24, 12), (20, 150, 40, 16)])
def test_tiled_equals_whole_for_local_conv(h, w, tile, overlap):
    x = RNG.standard_normal((1, 3, h, w)).astype(np.float32)
    whole = two_convs(x)
    tiled = run_tiled(two_convs, x, tile=tile, overlap=overlap, batch_size=3)
    assert tiled.shape == whole.shape
    np.testing.assert_allclose(tiled, whole, atol=1e-5, rtol=0)


def test_too_small_overlap_is_not_exact():
    # Sanity check of the test itself: with overlap 4 (zero margin 1 < radius 2) the seams differ.
    x = RNG.standard_normal((1, 3, 64, 64)).astype(np.float32)
    err = np.abs(run_tiled(two_convs, x, tile=24, overlap=4) - two_convs(x)).max()
    assert err > 1e-3


def test_tiled_equals_whole_for_super_resolution():
    x = RNG.standard_normal((1, 3, 45, 61)).astype(np.float32)
    whole = sr_x2(x)
    tiled = run_tiled(sr_x2, x, tile=16, overlap=8, scale=2)
    assert tiled.shape == (1, 3, 90, 122)
    np.testing.assert_allclose(tiled, whole, atol=1e-5, rtol=0)


def test_tiles_start_on_the_pad_multiple_for_strided_nets():
    x = RNG.standard_normal((1, 3, 72, 88)).astype(np.float32)
    whole = pool4_net(x)
    tiled = run_tiled(pool4_net, x, tile=30, overlap=16, multiple=4)  # tile rounds down to 28
    np.testing.assert_allclose(tiled, whole, atol=1e-5, rtol=0)


def test_input_not_a_multiple_is_padded_and_cropped():
    x = RNG.standard_normal((1, 3, 50, 45)).astype(np.float32)
    shapes = []

    def fn(t):
        shapes.append(t.shape)
        return pool4_net(t)

    out = run_tiled(fn, x, tile=24, overlap=8, multiple=8)
    assert out.shape == (1, 2, 50, 45)
    assert all(s[2] % 8 == 0 and s[3] % 8 == 0 for s in shapes)


def test_blending_is_a_partition_of_unity():
    # A constant output must come back constant for every geometry, including strides forced by
    # a coarse pad multiple (tile == multiple) and overlaps close to the tile.
    for h, w, tile, overlap, multiple in [(300, 200, 64, 60, 1), (517, 300, 256, 200, 256), (33, 70, 16, 15, 1)]:
        x = np.zeros((1, 1, h, w), np.float32)
        out = run_tiled(lambda t: np.ones_like(t) * 0.5, x, tile=tile, overlap=overlap, multiple=multiple)
        np.testing.assert_allclose(out, 0.5, rtol=1e-6)


def test_blend_window_shape():
    w = blend_window(16, lead=True, trail=False, margin=2, ramp=4)
    np.testing.assert_array_equal(w[:2], 0)
    assert np.all(np.diff(w[2:6]) > 0) and 0 < w[2] < w[5] < 1
    np.testing.assert_array_equal(w[6:], 1)
    np.testing.assert_array_equal(blend_window(8, False, False, 2, 4), np.ones(8))


def test_batches_and_equal_tile_shapes():
    x = RNG.standard_normal((1, 3, 100, 100)).astype(np.float32)
    calls = []

    def fn(t):
        calls.append(t.shape)
        return t

    out = run_tiled(fn, x, tile=40, overlap=8, batch_size=4)
    assert len({c[1:] for c in calls}) == 1 and calls[0][1:] == (3, 40, 40)
    assert max(c[0] for c in calls) == 4 and sum(c[0] for c in calls) == 9  # 3 x 3 tiles
    np.testing.assert_allclose(out, x, atol=1e-6)


def test_bad_tiling_arguments():
    x = np.zeros((1, 3, 64, 64), np.float32)
    with pytest.raises(ConfigError, match="overlap"):
        run_tiled(lambda t: t, x, tile=32, overlap=32)
    with pytest.raises(ModelError, match="tile function returned"):
        run_tiled(lambda t: t[:, :, :8], x, tile=32, overlap=8)
    with pytest.raises(ConfigError, match="one image"):
        run_tiled(lambda t: t, np.zeros((2, 3, 8, 8), np.float32), tile=4, overlap=1)


def test_choose_tile():
    assert choose_tile(500, 300) is None  # fits in the default 512 tile
    assert choose_tile(2000, 300) == 512
    assert choose_tile(2000, 300, multiple=256, tile=600) == 512
    assert choose_tile(250, 250, multiple=256, tile=256) is None  # padded to 256: one tile


def test_apply_model_tiled_identity_returns_same_pixels():
    pixels = RNG.integers(0, 256, (130, 75, 3), dtype=np.uint8)
    alpha = RNG.integers(0, 256, (130, 75), dtype=np.uint8)
    info = ModelInfo(family="cyclegan", task="translate", pad_multiple=4, direction="AtoB")
    out = apply_model(lambda t: t, Image(pixels, alpha), info, tile=48, overlap=16)
    np.testing.assert_array_equal(out.pixels, pixels)
    np.testing.assert_array_equal(out.alpha, alpha)


def test_apply_model_tiled_matches_whole_for_sr():
    pixels = RNG.integers(0, 256, (50, 40, 3), dtype=np.uint8)
    info = ModelInfo(family="srgan", task="super_resolve", scale=2)
    whole = apply_model(sr_x2, Image(pixels), info)
    tiled = apply_model(sr_x2, Image(pixels), info, tile=24, overlap=8)
    assert whole.pixels.shape == (100, 80, 3)
    assert np.abs(whole.pixels.astype(int) - tiled.pixels).max() <= 1  # float noise may flip a rounding


def test_per_tile_offsets_blend_without_hard_seams():
    # Networks with global context (instance norm) give each tile its own colour shift. Blending
    # must turn those steps into ramps: with overlap 32 the raised cosine spans 16 px, so the
    # largest step between neighbouring pixels is about pi/32 of the offset range, not all of it.
    x = np.zeros((1, 1, 200, 200), np.float32)
    rng = np.random.default_rng(3)

    def shifted(t):
        return t + rng.uniform(-1, 1, (t.shape[0], 1, 1, 1)).astype(np.float32)

    out = run_tiled(shifted, x, tile=64, overlap=32, batch_size=1)[0, 0]
    spread = out.max() - out.min()
    steps = max(np.abs(np.diff(out, axis=0)).max(), np.abs(np.diff(out, axis=1)).max())
    assert spread > 0.5  # the tiles really differ
    assert steps < 0.12 * 2  # offsets lie in [-1, 1]: a hard seam could jump by up to 2


@pytest.mark.parametrize("scale, tile, overlap, expected", [
    (1, None, None, (512, 32)),  # translators: 512 px tiles, 32 px overlap
    (4, None, None, (128, 8)),  # x4 super-resolution: tiles near 512 output pixels
    (16, None, None, (64, 8)),  # never below 64 px, 8 px
    (1, 0, None, (None, 32)),  # 0 = never tile
    (2, 40, None, (40, 16)),
    (1, 20, None, (20, 5)),  # the default overlap would be half the tile or more: a quarter instead
    (1, 96, 44, (96, 44)),  # explicit values are kept
])
def test_default_tiling(scale, tile, overlap, expected):
    assert default_tiling(scale, tile, overlap) == expected
