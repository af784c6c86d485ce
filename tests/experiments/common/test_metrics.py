"""Metrics: circular shifts vs np.roll, shift consistency on invariant and hand-built models, FLOPs
  and
parameter counts against hand-derived numbers."""

from __future__ import annotations

import numpy as np
import pytest

from experiments.common.metrics import (
    circular_shift,
    count_params,
    crop_shift,
    crop_shift_consistency,
    flops_per_example,
    shift_consistency,
)


def test_circular_shift_is_per_example_np_roll() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 5, 6, 2))
    offsets = np.array([[0, 0], [1, -2], [-7, 3], [5, 6]])
    out = circular_shift(x, offsets)
    for n in range(4):
        np.testing.assert_array_equal(out[n], np.roll(x[n], tuple(offsets[n]), axis=(0, 1)))
    with pytest.raises(ValueError, match="offsets"):
        circular_shift(x, offsets[:, :1])


def _global_max_class(x: np.ndarray) -> np.ndarray:
    """Exactly shift-invariant: the class is the channel holding the largest value anywhere."""
    return np.argmax(x.max(axis=tuple(range(1, x.ndim - 1))), axis=-1)


@pytest.mark.parametrize("spatial", [(40,), (12, 12)])
def test_shift_invariant_model_is_100_percent_consistent(spatial: tuple[int, ...]) -> None:
    x = np.random.default_rng(1).standard_normal((300, *spatial, 10))
    y = _global_max_class(x)
    out = shift_consistency(_global_max_class, x, y, max_shift=4, passes=5, seed=0)
    assert out == {"shift_consistency": 100.0, "shifted_test_acc": 100.0}


def test_spike_detector_has_the_closed_form_consistency() -> None:
    """A model that answers 1 iff the first position holds the spike: after a shift by o it answers
    1 iff o == 0, so with o uniform on {-8..8} consistency is (1/17)^2 + (16/17)^2 = 88.93 % and
    accuracy
    under shift (label 1) is 1/17 = 5.88 %."""
    x = np.zeros((2000, 40, 1))
    x[:, 0, 0] = 1.0
    y = np.ones(2000, np.int64)
    predict = lambda inputs: (inputs[:, 0, 0] > 0.5).astype(np.int64)
    out = shift_consistency(predict, x, y, max_shift=8, passes=5, seed=0)
    assert out["shift_consistency"] == pytest.approx(
        100 * 257 / 289, abs=1.5
    )  # ~5 sigma of 10k pairs
    assert out["shifted_test_acc"] == pytest.approx(100 / 17, abs=1.2)
    assert shift_consistency(predict, x, y, max_shift=0)["shift_consistency"] == 100.0


def test_shift_consistency_follows_the_documented_protocol() -> None:
    """Brute force: explicit loops with np.roll and the documented offset draws."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((50, 9, 7, 1))
    y = rng.integers(0, 2, 50)
    predict = lambda inputs: (inputs[:, 0, :3, 0].sum(axis=-1) > 0).astype(np.int64)
    same, acc = [], []
    for p in range(3):
        draws = np.random.default_rng((5, p))
        a = draws.integers(-2, 3, size=(50, 2))
        b = draws.integers(-2, 3, size=(50, 2))
        for n in range(50):
            pa = predict(np.roll(x[n], tuple(a[n]), axis=(0, 1))[None])[0]
            pb = predict(np.roll(x[n], tuple(b[n]), axis=(0, 1))[None])[0]
            same.append(pa == pb)
            acc.append(pa == y[n])
    out = shift_consistency(predict, x, y, max_shift=2, passes=3, seed=5)
    assert out["shift_consistency"] == pytest.approx(100 * np.mean(same), abs=1e-9)
    assert out["shifted_test_acc"] == pytest.approx(100 * np.mean(acc), abs=1e-9)


def test_shift_consistency_rejects_bad_settings() -> None:
    x, y = np.zeros((2, 4, 1)), np.zeros(2)
    with pytest.raises(ValueError, match="max_shift"):
        shift_consistency(lambda v: np.zeros(len(v)), x, y, max_shift=-1)
    with pytest.raises(ValueError, match="passes"):
        shift_consistency(lambda v: np.zeros(len(v)), x, y, max_shift=1, passes=0)


def test_flops_of_a_matmul_is_2mnk() -> None:
    weights = np.ones((40, 10), np.float32)
    apply = lambda w, x: x.reshape(x.shape[0], -1) @ w
    assert flops_per_example(apply, weights, (40, 1)) == 2 * 40 * 10
    assert flops_per_example(apply, weights, (40, 1), batch=8) == 2 * 40 * 10


def test_count_params() -> None:
    tree = {"a": np.zeros((3, 4)), "b": [np.zeros(5), {"c": np.zeros((2, 2, 2))}]}
    assert count_params(tree) == 12 + 5 + 8


def test_crop_shift_keeps_every_sample_no_wrap_around() -> None:
    """On an arange canvas (value = position) every shifted window is the exact slice of the canvas: for
    margin S = 3 and width 5 (canvas 11), a shift by o is canvas[3 - o : 8 - o]."""
    canvas = np.arange(2 * 11, dtype=np.float32).reshape(2, 11, 1)  # example 1 holds 11 .. 21
    offsets = np.array([[3], [-2]])
    out = crop_shift(canvas, 3, offsets)
    np.testing.assert_array_equal(out[0, :, 0], [0, 1, 2, 3, 4])  # o = +3: canvas[0:5], content moved right
    np.testing.assert_array_equal(out[1, :, 0], [16, 17, 18, 19, 20])  # o = -2: canvas[5:10] of 11 .. 21
    # Consecutive samples stay consecutive (a wrap-around would jump), and offset 0 is the centre.
    assert np.all(np.diff(out[..., 0], axis=1) == 1)
    np.testing.assert_array_equal(crop_shift(canvas, 3, np.zeros((2, 1), int))[0, :, 0], [3, 4, 5, 6, 7])
    # Where np.roll does not wrap, the crop agrees with the circular shift of the centre.
    centre = canvas[:, 3:8]
    np.testing.assert_array_equal(crop_shift(canvas, 3, offsets)[0, 3:], circular_shift(centre, offsets)[0, 3:])
    assert circular_shift(centre, offsets)[0, 0, 0] == 5  # ... and where it wraps, it brings in the far end


def test_crop_shift_2d_is_the_exact_window() -> None:
    canvas = np.arange(3 * 8 * 9, dtype=np.float32).reshape(3, 8, 9, 1)  # spatial (4, 5) + margin 2
    offsets = np.array([[0, 0], [2, -1], [-2, 2]])
    out = crop_shift(canvas, 2, offsets)
    assert out.shape == (3, 4, 5, 1)
    for n, (o1, o2) in enumerate(offsets):
        np.testing.assert_array_equal(out[n], canvas[n, 2 - o1 : 6 - o1, 2 - o2 : 7 - o2])


def test_crop_shift_rejects_offsets_beyond_the_margin() -> None:
    canvas = np.zeros((1, 11, 1))
    with pytest.raises(ValueError, match="beyond the canvas margin 3"):
        crop_shift(canvas, 3, np.array([[4]]))
    with pytest.raises(ValueError, match="offsets has shape"):
        crop_shift(canvas, 3, np.zeros((1, 2), int))
    with pytest.raises(ValueError, match="margin=6"):
        crop_shift(canvas, 6, np.zeros((1, 1), int))
    with pytest.raises(ValueError, match="max_shift=4"):
        crop_shift_consistency(lambda v: np.zeros(len(v)), canvas, 3, np.zeros(1, int), max_shift=4)


def test_crop_shift_consistency_uses_the_circular_tests_offsets() -> None:
    """A detector of a spike at the first sample, on canvases whose spike is at the centre's first sample: it
    answers 1 iff the offset is 0, under crops and under circular shifts alike (|o| <= 4 < 10 never rolls the
    spike back), so with the same seed both tests give the same figures; in expectation consistency is
    (1/9)^2 + (8/9)^2 = 65/81 = 80.2 % and accuracy under shift (label 1) 1/9 = 11.1 %."""
    n, s = 600, 4
    canvas = np.zeros((n, 10 + 2 * s, 1), np.float32)
    canvas[:, s, 0] = 1.0
    y = np.ones(n, np.int64)

    def predict(v: np.ndarray) -> np.ndarray:
        return (v[:, 0, 0] == 1.0).astype(np.int64)

    crop = crop_shift_consistency(predict, canvas, s, y, max_shift=s, passes=3, seed=7)
    circ = shift_consistency(predict, canvas[:, s : s + 10], y, max_shift=s, passes=3, seed=7)
    assert crop["shift_consistency_crop"] == circ["shift_consistency"]
    assert crop["shifted_test_acc_crop"] == circ["shifted_test_acc"]
    assert crop["shift_consistency_crop"] == pytest.approx(100 * 65 / 81, abs=2.5)
    assert crop["shifted_test_acc_crop"] == pytest.approx(100 / 9, abs=2.0)
    assert crop_shift_consistency(predict, canvas, s, y, max_shift=0) == {
        "shift_consistency_crop": 100.0,
        "shifted_test_acc_crop": 100.0,
    }
