"""Large windows split into passes of small windows (``_levels``) against the NumPy reference.

Every case checks that its window is split (``_routes.split_passes``) and then compares values, gradients,
jvp and indices (max/min; values and gradients for sum/avg/lp) with the brute-force reference: padding (low
runs of padding that the outer pass sees as its own), strides, dilation, ceil_mode, ties, NaN, infinities
equal to the padding's identity, integers, several axes, and the plan's arithmetic by hand.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from reference import pool_reference_exact, pool_reference_vjp, pool_reference_winners

import jaxpool
from jaxpool import _dispatch, _levels, _max
from jaxpool._geometry import AxisGeometry, resolve


@pytest.fixture(autouse=True)
def split_everything():
    """Split every window the plan splits (no blocked or stride-block scheme), so small inputs exercise it."""
    backend = jax.default_backend()
    saved = _dispatch.TABLE[backend]
    _dispatch.TABLE[backend] = dataclasses.replace(saved, large_extreme_window=1 << 30, split_extreme_window=2,
                                                   large_sum_window=1 << 30, split_sum_window=2,
                                                   stride_block_min_window=1 << 30)
    jax.clear_caches()
    yield
    _dispatch.TABLE[backend] = saved
    jax.clear_caches()


FNS = {"max": (jaxpool.max_pool, jaxpool.max_pool_with_indices),
       "min": (jaxpool.min_pool, jaxpool.min_pool_with_indices)}
# (window, strides, padding, dilation, ceil_mode), 1-D; every window here is split.
GEOMS_1D = [
    (20, 1, "VALID", 1, False),
    (24, 1, "SAME", 1, False),
    (31, 4, "SAME", 1, False),
    (22, 5, ((21, 3),), 2, False),
    (40, 3, ((39, 39),), 1, True),
    (63, 7, 20, 1, True),
]


def _split_passes(shape, w, s, pad, dil, ceil):
    geom = resolve(shape, w, s, pad, dilation=dil, ceil_mode=ceil)
    passes = _max._passes(geom)
    assert any(joined for _, joined in passes), (shape, w, passes)
    return passes


def _check(op, x, w, s, pad, dil=1, ceil=False):
    _split_passes(x.shape, w, s, pad, dil, ceil)
    pool, with_indices = FNS[op]
    kw = dict(dilation=dil, ceil_mode=ceil)
    f = lambda v: pool(v, w, s, pad, **kw)  # noqa: E731
    y = f(jnp.asarray(x))
    np.testing.assert_array_equal(np.asarray(y), pool_reference_exact(x, op, w, s, pad, **kw).astype(x.dtype))
    if not jnp.issubdtype(x.dtype, jnp.floating):
        return
    rng = np.random.default_rng(1)
    g = rng.standard_normal(y.shape).astype(np.float32)
    dx = jax.jit(lambda v, c: jax.vjp(f, v)[1](c)[0])(jnp.asarray(x), jnp.asarray(g))
    np.testing.assert_allclose(np.asarray(dx, np.float64), pool_reference_vjp(x, g, op, w, s, pad, **kw),
                               rtol=1e-6, atol=1e-6)
    v, idx = with_indices(jnp.asarray(x), w, s, pad, **kw)
    winners = pool_reference_winners(x, op, w, s, pad, **kw)
    np.testing.assert_array_equal(np.asarray(idx), winners)
    np.testing.assert_array_equal(np.asarray(v), np.asarray(y))
    t = rng.standard_normal(x.shape).astype(np.float32)
    _, jt = jax.jvp(f, (jnp.asarray(x),), (jnp.asarray(t),))
    planes = t.reshape(x.shape[0], -1, x.shape[-1])
    expected = np.take_along_axis(planes, winners.reshape(x.shape[0], -1, x.shape[-1]).astype(np.int64), axis=1)
    np.testing.assert_array_equal(np.asarray(jt), expected.reshape(jt.shape))


# min runs the max kernel with the comparison flipped: its split passes are checked by the infinity and 2-D
# tests below, and over every geometry here with --runslow.
@pytest.mark.parametrize("geom", GEOMS_1D, ids=lambda g: f"w{g[0]}s{g[1]}p{g[2]}d{g[3]}c{int(g[4])}")
@pytest.mark.parametrize("op", ["max", pytest.param("min", marks=pytest.mark.slow)])
def test_1d_values_grad_jvp_indices(op, geom):
    w, s, pad, dil, ceil = geom
    x = np.random.default_rng(0).standard_normal((1, 83, 2)).astype(np.float32)
    _check(op, x, w, s, pad, dil, ceil)


def test_ties_go_to_the_first_element():
    # Three distinct values: most windows hold several maximal elements, often in overlapping runs.
    x = np.random.default_rng(2).integers(-1, 2, (2, 90, 2)).astype(np.float32)
    _check("max", x, 25, 1, "SAME")
    _check("max", x, 21, 3, ((9, 8),), dil=2)


def test_nan_windows_route_to_the_first_nan():
    x = np.random.default_rng(3).standard_normal((1, 90, 2)).astype(np.float32)
    x[0, [10, 12, 40], 0] = np.nan
    x[0, [60, 61], 1] = np.nan
    _check("max", x, 24, 2, "SAME")
    # Hand check: window 24 stride 1 VALID; outputs 0..10 hold position 10 (the first NaN) in channel 0.
    _, idx = jaxpool.max_pool_with_indices(x, 24)
    np.testing.assert_array_equal(np.asarray(idx)[0, :11, 0], 10)


@pytest.mark.parametrize("op", ["max", pytest.param("min", marks=pytest.mark.slow)])
def test_infinite_inputs_beside_padding_never_lose_to_padding(op):
    # Runs wholly in padding are never computed, and runs partly in it never let padding win a tie with a
    # real element equal to the padding's identity.
    x = np.random.default_rng(4).standard_normal((1, 90, 1)).astype(np.float32)
    fill = -np.inf if op == "max" else np.inf
    x[0, :35] = fill
    x[0, -30:] = fill
    _check(op, x, 33, 1, ((32, 32),))
    _check(op, x, 27, 2, ((26, 21),), ceil=True)


def test_integer_max_with_padding():
    x = np.random.default_rng(5).integers(-128, 128, (1, 90, 2)).astype(np.int8)
    x[0, :30] = -128  # the dtype's min is the padding's identity
    _check("max", x, 29, 2, ((28, 28),))
    _, idx = jaxpool.max_pool_with_indices(x, 29, 2, ((28, 28),))
    np.testing.assert_array_equal(np.asarray(idx), pool_reference_winners(x, "max", 29, 2, ((28, 28),)))


# With border blocks (no backend's table does that for two split axes now): with --runslow.
@pytest.mark.parametrize("unblocked", [2, pytest.param(1 << 30, marks=pytest.mark.slow)],
                         ids=["no_border_blocks", "border_blocks"])
def test_2d_both_axes_split(unblocked):
    # Split on two axes the CPU table runs the passes without border blocks (``unblocked_split_axes``); both
    # formulations give the reference's values, gradient, jvp and indices.
    backend = jax.default_backend()
    _dispatch.TABLE[backend] = dataclasses.replace(_dispatch.TABLE[backend], unblocked_split_axes=unblocked)
    jax.clear_caches()
    passes = _max._passes(resolve((1, 30, 26, 1), (21, 20), (1, 2), "SAME"))
    assert len(passes) == 4 and all(a.border_blocks == (unblocked > 2) for axes, _ in passes for a in axes)
    x = np.round(np.random.default_rng(6).standard_normal((1, 30, 26, 1)) * 2).astype(np.float32)
    _check("max", x, (21, 20), (1, 2), "SAME")


def test_2d_split_without_border_blocks_nan_and_infinities_beside_padding():
    # -inf equals max's padding identity and must still win over padding; the first NaN wins its windows (min
    # runs the same passes with the comparison flipped).
    assert _dispatch.kernels().unblocked_split_axes == 2
    x = np.round(np.random.default_rng(7).standard_normal((1, 24, 22, 2)) * 2).astype(np.float32)
    x[0, :3, :, 0] = -np.inf
    x[0, 10, 5, 1] = np.nan
    x[0, 12, 4, 1] = np.nan
    passes = _max._passes(resolve(x.shape, (21, 20), (1, 1), ((9, 7), (3, 12))))
    assert all(not a.border_blocks for axes, _ in passes for a in axes)
    _check("max", x, (21, 20), (1, 1), ((9, 7), (3, 12)))


@pytest.mark.slow
def test_2d_min_one_axis_split_with_ceil_mode():
    x = np.round(np.random.default_rng(6).standard_normal((1, 30, 26, 1)) * 2).astype(np.float32)
    _check("min", x, (20, 3), (3, 1), ((5, 4), (1, 1)), dil=(1, 1), ceil=True)


def test_hessian_vector_product_matches_the_reference_routing():
    # Max pooling is piecewise linear: the HVP of sum(pool(x)**2) is 2 * (routing^T routing) v.
    x = np.random.default_rng(9).standard_normal((1, 70, 1)).astype(np.float32)
    v = np.random.default_rng(10).standard_normal(x.shape).astype(np.float32)
    f = lambda z: jnp.sum(jaxpool.max_pool(z, 30, 2, "SAME") ** 2)  # noqa: E731
    hvp = jax.jvp(jax.grad(f), (jnp.asarray(x),), (jnp.asarray(v),))[1]
    winners = pool_reference_winners(x, "max", 30, 2, "SAME").reshape(-1)
    routed = v.reshape(-1)[winners]  # d pool(x) . v
    expected = np.zeros(x.size)
    np.add.at(expected, winners, 2 * routed)
    np.testing.assert_allclose(np.asarray(hvp).reshape(-1), expected, rtol=1e-6, atol=1e-6)


def test_plan_arithmetic_by_hand():
    # Runs of b at k starts spaced e cover the window: b + (k - 1) * e == w and e <= b.
    for w in range(2, 300):
        span, plan = w, _levels._plan(w)
        for k, e in plan:
            b = span - (k - 1) * e
            assert 1 <= e <= b < span and k <= _levels.MAX_VIEWS
            span = b
    assert _levels._plan(8) == ()  # one pass of 8 views is cheapest
    # 64 = runs of 8 at 8 starts spaced 8; cost 2 * (PASS_COST + 8) against PASS_COST + 64.
    assert _levels._plan(64) == ((8, 8),)
    # 128: three passes of 4, 4, 8 views (3 * PASS_COST + 16 = 40) tie with two of 8 and 16 (2 * PASS_COST + 24
    # = 40); the plan with fewer passes wins the tie: runs of 16 at 8 starts spaced 16.
    assert _levels.PASS_COST == 8 and _levels._plan(128) == ((8, 16),)
    # SAME window 31 over 100: padding 15 each side, 99 + 4 * 6 + 1 = 124 run starts; runs of b = 31 - 4 * 6 = 7
    # reach the input from p0 = 15 - 6 = 9 to p1 = 15 + 100 = 115 (106 runs; the last spans 114..120).
    a = AxisGeometry(axis=1, size=100, window=31, stride=1, dilation=1, low=15, high=15, out=100)
    inner, outer = _levels.split(a, 7, 5, 6)
    assert inner == AxisGeometry(axis=1, size=100, window=7, stride=1, dilation=1, low=6, high=6, out=106)
    assert outer == AxisGeometry(axis=1, size=106, window=5, stride=1, dilation=6, low=9, high=9, out=100)


def test_program_size_grows_with_the_number_of_passes_only():
    """The traced fwd+bwd program of a split window grows with its passes (log of the window), not the window."""
    x = jnp.zeros((1, 8192, 1), jnp.float32)

    def count(w: int) -> int:
        return len(str(jax.make_jaxpr(jax.grad(lambda v: jaxpool.max_pool(v, w, 1, "SAME").sum()))(x)).splitlines())

    assert len(_levels.passes(resolve(x.shape, 4096, 1, "SAME").axes[0])) == 4
    small, big = count(64), count(4096)  # 2 passes of 8 views; 4 passes of 8 views
    assert big < 2.5 * small, (small, big)


SUM_GEOMS = [
    (24, 1, "SAME", 1, False),
    (32, 4, ((30, 1),), 1, True),
    (20, 3, 7, 2, False),
    (36, 5, "VALID", 1, False),
]


@pytest.mark.parametrize("geom", SUM_GEOMS, ids=lambda g: f"w{g[0]}s{g[1]}p{g[2]}d{g[3]}c{int(g[4])}")
@pytest.mark.parametrize("op", ["sum", "avg", "lp"])
def test_window_sums_values_and_grad(op, geom):
    from jaxpool import _routes
    w, s, pad, dil, ceil = geom
    g0 = resolve((2, 83, 2), w, s, pad, dilation=dil, ceil_mode=ceil)
    split = _routes.split_passes(g0.axes, "sum")
    assert split is not None and len(split) > 1
    x = np.random.default_rng(11).standard_normal((2, 83, 2)).astype(np.float32)
    kw = dict(dilation=dil, ceil_mode=ceil)
    ref_kw = dict(kw, norm_type=2.0) if op == "lp" else kw
    f = (lambda v: jaxpool.lp_pool(v, 2.0, w, s, pad, **kw)) if op == "lp" else \
        (lambda v: {"sum": jaxpool.sum_pool, "avg": jaxpool.avg_pool}[op](v, w, s, pad, **kw))
    y = f(jnp.asarray(x))
    np.testing.assert_allclose(np.asarray(y, np.float64), pool_reference_exact(x, op, w, s, pad, **ref_kw),
                               rtol=1e-5, atol=1e-5)
    g = np.random.default_rng(12).standard_normal(y.shape).astype(np.float32)
    dx = jax.jit(lambda v, c: jax.vjp(f, v)[1](c)[0])(jnp.asarray(x), jnp.asarray(g))
    np.testing.assert_allclose(np.asarray(dx, np.float64), pool_reference_vjp(x, g, op, w, s, pad, **ref_kw),
                               rtol=1e-5, atol=1e-5)


def test_prime_sum_window_is_not_split():
    from jaxpool import _routes
    assert _routes.split_passes(resolve((1, 200, 1), 37, 1, "SAME").axes, "sum") is None
    assert _levels._plan(64, exact=True) == ((8, 8),) and _levels._plan(37, exact=True) == ()


def test_float32_average_of_4096_keeps_float32_accuracy_when_split(monkeypatch):
    # The CPU table with splitting at every length (by default 4096 takes the anchored sums, checked in
    # test_large_windows): width 4096 splits into four passes of 8-term sums.
    backend = jax.default_backend()
    monkeypatch.setitem(_dispatch.TABLE, backend, dataclasses.replace(_dispatch._CPU, split_sum_below=1 << 30))
    jax.clear_caches()
    from jaxpool import _routes
    n, w = 12288, 4096
    assert len(_routes.split_passes(resolve((1, n, 1), w, 1, "VALID").axes, "sum")) == 4  # 8 * 8 * 8 * 8
    x = (1000.0 + np.random.default_rng(9).standard_normal(n)).astype(np.float32)
    y = np.asarray(jaxpool.avg_pool(x.reshape(1, n, 1), w)).ravel()
    c = np.concatenate([[0.0], np.cumsum(x.astype(np.float64))])
    ref = (c[w:] - c[:-w]) / w  # float64 reference of the float32 inputs
    assert np.max(np.abs(y - ref) / ref) < 1e-5


def test_split_sums_through_slice_views():
    # Backends whose table routes 1-D sums through slice views: the split passes go through _group_sum.
    backend = jax.default_backend()
    _dispatch.TABLE[backend] = dataclasses.replace(_dispatch.TABLE[backend], sum_reduce_window_1d=False)
    jax.clear_caches()
    x = np.random.default_rng(13).standard_normal((1, 83, 2)).astype(np.float32)
    f = lambda v: jaxpool.avg_pool(v, 24, 3, "SAME", count_include_pad=False)  # noqa: E731
    y = f(jnp.asarray(x))
    np.testing.assert_allclose(np.asarray(y, np.float64),
                               pool_reference_exact(x, "avg", 24, 3, "SAME", count_include_pad=False),
                               rtol=1e-5, atol=1e-5)
    g = np.random.default_rng(14).standard_normal(y.shape).astype(np.float32)
    dx = jax.vjp(f, jnp.asarray(x))[1](jnp.asarray(g))[0]
    np.testing.assert_allclose(np.asarray(dx, np.float64),
                               pool_reference_vjp(x, g, "avg", 24, 3, "SAME", count_include_pad=False),
                               rtol=1e-5, atol=1e-5)
