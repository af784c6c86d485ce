"""Winners of tiling windows (stride == window), which take their own kernel on CPU (docs/semantics.md §3–4).

Small tiling groups find the winner as the first view equal to the window's extreme (``_dispatch``'s
``match_winners_views``) instead of a compare/select chain; both must give the same first-maximal element,
first NaN and the same values. Each case is checked on tie-heavy data with NaN and +-inf against the
brute-force reference: values, ``grad`` of ``sum(out * cotangent)``, ``jvp`` and the returned indices.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from reference import pool_reference, pool_reference_vjp, pool_reference_winners

import jaxpool

CASES = [  # (shape, window): 2 to 8 views take the matching kernel, 9 (3x3) the chain
    ((2, 8, 3), (2,)),
    ((2, 12, 3), (4,)),
    ((2, 6, 8, 3), (2, 2)),
    ((2, 4, 6, 4, 3), (2, 2, 2)),
    ((2, 9, 6, 3), (3, 3)),
]


def _data(shape, dtype, seed):
    """Values from {-1, 0, 1, 2}: most windows tie; floats also get NaN, +inf and -inf."""
    rng = np.random.default_rng(seed)
    x = rng.integers(-1, 3, shape)
    if np.issubdtype(dtype, np.integer):
        return x.astype(dtype)
    x = x.astype(np.float32)
    flat = x.reshape(-1)
    for value, count in ((np.nan, 3), (np.inf, 2), (-np.inf, 2)):
        flat[rng.choice(flat.size, count, replace=False)] = value
    return flat.reshape(shape).astype(dtype)


@pytest.mark.parametrize("shape,window", CASES)
@pytest.mark.parametrize("op", ["max", "min"])
def test_tiling_values_gradients_and_indices(shape, window, op):
    fn = jaxpool.max_pool if op == "max" else jaxpool.min_pool
    with_idx = jaxpool.max_pool_with_indices if op == "max" else jaxpool.min_pool_with_indices
    for seed in range(3):
        x = _data(shape, np.float32, seed)
        want = pool_reference(x, op, window, window)
        y = jax.jit(lambda v: fn(v, window, window))(x)
        np.testing.assert_array_equal(np.asarray(y), want)
        ct = np.random.default_rng(seed + 10).standard_normal(want.shape).astype(np.float32)
        grad = jax.jit(jax.grad(lambda v, c=ct: jnp.sum(fn(v, window, window) * c)))(x)
        np.testing.assert_allclose(np.asarray(grad), pool_reference_vjp(x, ct, op, window, window), rtol=1e-6)
        t = np.random.default_rng(seed + 20).standard_normal(shape).astype(np.float32)
        _, dy = jax.jvp(lambda v: fn(v, window, window), (jnp.asarray(x),), (jnp.asarray(t),))
        winners = pool_reference_winners(x, op, window, window)
        _, idx = jax.jit(lambda v: with_idx(v, window, window))(x)
        np.testing.assert_array_equal(np.asarray(idx), winners)
        # the tangent of each output is the tangent of its winner (flat index within its plane)
        planes = t.reshape(shape[0], -1, shape[-1])
        want_dy = np.take_along_axis(planes, winners.reshape(shape[0], -1, shape[-1]), axis=1)
        np.testing.assert_array_equal(np.asarray(dy), want_dy.reshape(want.shape))


@pytest.mark.parametrize("dtype", [np.int32, np.uint8, jnp.bfloat16])
@pytest.mark.parametrize("op", ["max", "min"])
def test_tiling_other_dtypes(dtype, op):
    shape, window = (2, 6, 8, 3), (2, 2)
    with_idx = jaxpool.max_pool_with_indices if op == "max" else jaxpool.min_pool_with_indices
    x = _data(shape, np.dtype(dtype), 0) if dtype is not np.uint8 else _data(shape, np.int32, 0).clip(0).astype(
        np.uint8)
    y, idx = jax.jit(lambda v: with_idx(v, window, window))(x)
    np.testing.assert_array_equal(np.asarray(y.astype(jnp.float32)),
                                  pool_reference(x, op, window, window).astype(np.float32))
    np.testing.assert_array_equal(np.asarray(idx), pool_reference_winners(x, op, window, window))
