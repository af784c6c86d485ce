"""Which max/min windows fuse into one multi-axis pass, and that every choice stays exact (docs/semantics.md §7).

Two ``_dispatch`` fields decide it besides the group size limits: ``split_channels_first_extreme`` (channels
first: overlapping windows run one pass per axis) and ``max_group_window_values`` (values without winners:
overlapping strided groups of more views split into smaller groups). The first test pins the grouping the CPU
entry picks; the next holds values, ``grad``, ``jvp`` and indices to the brute-force reference on tie-heavy data
with NaN and +-inf, under both settings of each field. The last holds sum and average pooling's train-step
gradients to the reference with their window sums stored or not (``store_overlapping_sums``).
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
from jaxpool import _dispatch, _max
from jaxpool._geometry import prepare


def _geom(shape, window, strides, channels_first):
    _, geom = prepare(jnp.zeros(shape), window, strides, "SAME", dilation=None, ceil_mode=False,
                      channels_first=channels_first)
    return geom


def _pass_axes(geom, values_only=False, narrow=False):
    return [tuple(a.axis for a in axes) for axes, _ in _max._passes(geom, values_only=values_only, narrow=narrow)]


def test_cpu_groups_channels_first_overlapping_windows_one_axis_per_pass():
    k = _dispatch.kernels("cpu")
    assert k.split_channels_first_extreme and k.max_group_window_values == 16 and k.store_overlapping_sums
    with jax.default_device(jax.devices("cpu")[0]):
        # NCHW 3x3/2: the W pass (array axis 3) first, then H; NHWC keeps one fused 2-D group
        assert _pass_axes(_geom((2, 3, 9, 9), (3, 3), (2, 2), True)) == [(3,), (2,)]
        assert _pass_axes(_geom((2, 9, 9, 3), (3, 3), (2, 2), False)) == [(1, 2)]
        # ... but the values alone of a 16-bit channels-first input stay fused (widened view by view)
        assert _pass_axes(_geom((2, 3, 9, 9), (3, 3), (2, 2), True), values_only=True, narrow=True) == [(2, 3)]
        assert _pass_axes(_geom((2, 3, 9, 9), (3, 3), (2, 2), True), values_only=True) == [(3,), (2,)]
        # tiling windows stay fused in either layout
        assert _pass_axes(_geom((2, 3, 8, 8), (2, 2), (2, 2), True)) == [(2, 3)]
        # values alone: 3x3x3/2 (27 views) splits into an (H, W) group of 9 and a D pass; winners stay fused
        g3 = _geom((2, 9, 9, 9, 3), (3, 3, 3), (2, 2, 2), False)
        assert _pass_axes(g3, values_only=True) == [(2, 3), (1,)]
        assert _pass_axes(g3) == [(1, 2, 3)]


@pytest.fixture(params=[False, True], ids=["fused", "split"])
def table(request):
    """The backend's entry with both fields set to fuse (False) or to split (True)."""
    with replaced(split_channels_first_extreme=request.param,
                  max_group_window_values=1 if request.param else 32):
        yield request.param


_SLOW = pytest.mark.slow
CASES = [  # (op, shape, window, strides, channels_first, run by default with the table set to fuse / to split)
    ("max", (2, 3, 9, 8), (3, 3), (2, 2), True, (True, True)),
    # min runs the max kernels with the comparison flipped
    ("min", (2, 3, 9, 8), (3, 3), (2, 2), True, (False, False)),
    ("max", (2, 3, 7, 6), (3, 3), (1, 1), True, (True, True)),
    ("max", (2, 3, 9, 8), (5, 5), (2, 2), True, (True, True)),
    # 3-D: about 8 s per case; by default only the table's choice for each layout (channels first: split;
    # channels last: fused winners, values in groups of at most 16 views)
    ("max", (1, 2, 7, 6, 5), (3, 3, 3), (2, 2, 2), True, (False, True)),
    ("max", (1, 7, 6, 5, 2), (3, 3, 3), (2, 2, 2), False, (True, False)),
    ("min", (1, 7, 6, 5, 2), (3, 3, 3), (2, 2, 2), False, (False, False)),
    ("max", (2, 9, 8, 3), (5, 5), (2, 2), False, (True, True)),
]
TABLE_CASES = [
    pytest.param(split, *case, id=f"{'split' if split else 'fused'}-{case[0]}-{'x'.join(map(str, case[1]))}-"
                 f"w{case[2][0]}s{case[3][0]}{'-cf' if case[4] else ''}",
                 marks=() if default[split] else _SLOW)
    for split in (False, True) for *case, default in CASES]


@pytest.mark.parametrize("split,op,shape,window,strides,channels_first", TABLE_CASES)
def test_values_gradients_jvp_and_indices_match_the_reference(split, op, shape, window, strides, channels_first):
    with replaced(split_channels_first_extreme=split, max_group_window_values=1 if split else 32):
        _check_against_reference(op, shape, window, strides, channels_first)


def _check_against_reference(op, shape, window, strides, channels_first):
    fn = jaxpool.max_pool if op == "max" else jaxpool.min_pool
    with_idx = jaxpool.max_pool_with_indices if op == "max" else jaxpool.min_pool_with_indices
    kw = dict(strides=strides, padding="SAME", channels_first=channels_first)
    ref_kw = dict(channels_first=channels_first)
    x = ties_and_specials(shape, seed=len(shape) + window[0])
    want = pool_reference(x, op, window, strides, "SAME", **ref_kw)
    np.testing.assert_array_equal(np.asarray(jax.jit(lambda v: fn(v, window, **kw))(x)), want)
    ct = np.random.default_rng(1).standard_normal(want.shape).astype(np.float32)
    grad = jax.jit(jax.grad(lambda v: jnp.sum(fn(v, window, **kw) * ct)))(x)
    np.testing.assert_allclose(np.asarray(grad), pool_reference_vjp(x, ct, op, window, strides, "SAME", **ref_kw),
                               rtol=1e-5, atol=1e-6)
    winners = pool_reference_winners(x, op, window, strides, "SAME", **ref_kw)
    values, idx = jax.jit(lambda v: with_idx(v, window, **kw))(x)
    np.testing.assert_array_equal(np.asarray(values), want)
    np.testing.assert_array_equal(np.asarray(idx), winners)
    # jvp: the tangent of each output is the tangent at its winner (the same flat spatial index per plane)
    t = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    _, dy = jax.jvp(lambda v: fn(v, window, **kw), (jnp.asarray(x),), (jnp.asarray(t),))
    if channels_first:
        planes = t.reshape(shape[0], shape[1], -1)
        want_dy = np.take_along_axis(planes, winners.reshape(shape[0], shape[1], -1), axis=2)
    else:
        planes = t.reshape(shape[0], -1, shape[-1])
        want_dy = np.take_along_axis(planes, winners.reshape(shape[0], -1, shape[-1]), axis=1)
    np.testing.assert_array_equal(np.asarray(dy), want_dy.reshape(want.shape))


@pytest.mark.parametrize("window,strides", [((3, 3), (1, 1)), ((3, 3), (2, 2))])
def test_bfloat16_channels_first_values_and_indices_match_the_reference(table, window, strides):
    # the values of a 16-bit input take their own grouping ("extreme_values_narrow"); bfloat16 holds these
    # small integers, infinities and NaN exactly, so the reference sees the same values
    x = jnp.asarray(ties_and_specials((2, 3, 9, 8), seed=7), jnp.bfloat16)
    kw = dict(strides=strides, padding="SAME", channels_first=True)
    want = pool_reference(np.asarray(x, np.float32), "max", window, strides, "SAME", channels_first=True)
    got = jax.jit(lambda v: jaxpool.max_pool(v, window, **kw))(x)
    assert got.dtype == jnp.bfloat16
    np.testing.assert_array_equal(np.asarray(got, np.float32), want)
    _, idx = jax.jit(lambda v: jaxpool.max_pool_with_indices(v, window, **kw))(x)
    np.testing.assert_array_equal(
        np.asarray(idx),
        pool_reference_winners(np.asarray(x, np.float32), "max", window, strides, "SAME", channels_first=True))


@pytest.fixture(params=[False, True], ids=["recomputed", "stored"])
def store_sums(request):
    with replaced(store_overlapping_sums=request.param):
        yield request.param


@pytest.mark.parametrize("op,shape,window,strides", [("sum", (2, 7, 6, 3), (3, 3), (1, 1)),
                                                      ("sum", (1, 5, 6, 4, 2), (3, 3, 3), (1, 1, 1)),
                                                      ("sum", (2, 9, 8, 3), (3, 3), (2, 2)),
                                                      ("avg", (1, 7, 6, 5, 2), (3, 3, 3), (2, 2, 2)),
                                                      ("avg", (2, 7, 6, 3), (3, 3), (1, 1))])
def test_train_step_gradient_matches_the_reference(store_sums, op, shape, window, strides):
    # the cotangent depends on the window sums themselves (the case where XLA:CPU recomputed them per view)
    fn = jaxpool.sum_pool if op == "sum" else jaxpool.avg_pool
    x = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
    y = pool_reference(x, op, window, strides, "SAME")
    grad = jax.jit(jax.grad(lambda v: 0.5 * jnp.sum(fn(v, window, strides, "SAME") ** 2)))(x)
    np.testing.assert_allclose(np.asarray(grad), pool_reference_vjp(x, y, op, window, strides, "SAME"),
                               rtol=1e-5, atol=1e-5)
