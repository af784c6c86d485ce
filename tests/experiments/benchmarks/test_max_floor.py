"""The reference passes of the max-pooling floor benchmark compute what their names say (NumPy brute force)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from experiments.benchmarks import max_floor


def _x() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((2, 32, 3)).astype(np.float32)


def test_shifted_max_is_a_stride_1_window_max_padded_at_the_end() -> None:
    x = _x()
    for k in (1, 2, 8):
        want = np.stack([x[:, i : i + k].max(axis=1) for i in range(32)], axis=1)
        np.testing.assert_array_equal(np.asarray(max_floor.shifted_max(jnp.asarray(x), k)), want)


def test_gil_werman_max_is_the_valid_window_max_and_block_max() -> None:
    x = _x()
    for block in (4, 8):
        want = np.stack([x[:, i : i + block].max(axis=1) for i in range(32 - block + 1)], axis=1)
        np.testing.assert_array_equal(np.asarray(max_floor.gil_werman_max(jnp.asarray(x), block)), want)
    want = x.reshape(2, 4, 8, 3).max(axis=2)
    np.testing.assert_array_equal(np.asarray(max_floor.block_max(jnp.asarray(x), 8)), want)
