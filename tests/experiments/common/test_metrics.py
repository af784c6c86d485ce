"""Metrics: circular shifts vs np.roll, shift consistency on invariant and hand-built models, FLOPs
  and
parameter counts against hand-derived numbers."""

from __future__ import annotations

import numpy as np
import pytest

from experiments.common.metrics import circular_shift, count_params, flops_per_example, shift_consistency


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
