"""Winners of overlapping windows of a few views, recomputed inside the reverse pass (docs/semantics.md §3–4).

On CPU, a group of overlapping windows (stride below the window's extent) with at most ``_dispatch``'s
``fuse_winners_views`` views leaves its compare chain to XLA to fuse into the reverse pass instead of storing
the winners behind a conditional. The winners must stay the first maximal element, the first NaN and never
padding: each case is checked on tie-heavy data with NaN and +-inf against the brute-force reference (values,
``grad`` of ``sum(out * cotangent)``, ``jvp`` and the returned indices), under both settings of the field.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from kernel_table import replaced
from reference import pool_reference, pool_reference_vjp, pool_reference_winners
from strategies import ties_and_specials

import jaxpool

CASES = [  # (shape, window, strides, padding): 2 or 3 overlapping views
    ((2, 11, 3), (2,), (1,), "SAME"),
    ((2, 11, 3), (2,), (1,), "VALID"),
    ((2, 12, 3), (3,), (1,), "SAME"),
    ((2, 12, 3), (3,), (2,), "SAME"),
    ((2, 7, 5, 3), (2, 1), (1, 1), "SAME"),
    ((2, 7, 5, 3), (1, 3), (1, 2), "VALID"),
]


@pytest.fixture(params=[0, 3], ids=["stored", "recomputed"])
def fuse_views(request):
    with replaced(fuse_winners_views=request.param):
        yield request.param


@pytest.mark.parametrize("shape,window,strides,padding", CASES)
@pytest.mark.parametrize("op", ["max", "min"])
def test_overlapping_values_gradients_and_indices(fuse_views, shape, window, strides, padding, op):
    fn = jaxpool.max_pool if op == "max" else jaxpool.min_pool
    with_idx = jaxpool.max_pool_with_indices if op == "max" else jaxpool.min_pool_with_indices
    kw = dict(strides=strides, padding=padding)
    for seed in range(2):
        x = ties_and_specials(shape, seed)
        want = pool_reference(x, op, window, strides, padding)
        np.testing.assert_array_equal(np.asarray(jax.jit(lambda v: fn(v, window, **kw))(x)), want)
        ct = np.random.default_rng(seed + 10).standard_normal(want.shape).astype(np.float32)
        grad = jax.jit(jax.grad(lambda v, c=ct: jnp.sum(fn(v, window, **kw) * c)))(x)
        np.testing.assert_allclose(np.asarray(grad), pool_reference_vjp(x, ct, op, window, strides, padding),
                                   rtol=1e-5, atol=1e-6)
        winners = pool_reference_winners(x, op, window, strides, padding)
        _, idx = jax.jit(lambda v: with_idx(v, window, **kw))(x)
        np.testing.assert_array_equal(np.asarray(idx), winners)
        t = np.random.default_rng(seed + 20).standard_normal(shape).astype(np.float32)
        _, dy = jax.jvp(lambda v: fn(v, window, **kw), (jnp.asarray(x),), (jnp.asarray(t),))
        planes = t.reshape(shape[0], -1, shape[-1])
        want_dy = np.take_along_axis(planes, winners.reshape(shape[0], -1, shape[-1]), axis=1)
        np.testing.assert_array_equal(np.asarray(dy), want_dy.reshape(want.shape))
