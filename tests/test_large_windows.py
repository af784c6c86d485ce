"""The large-window scheme (``_large_windows``): values, gradients, jvp and indices against the NumPy reference.

Every case here has a window at or above the backend's crossover (``_dispatch``), which each test checks
through ``_routes.large_axis`` before comparing, so these tests exercise the blocked running reductions and
not the per-offset views. Small batch/feature dims keep the brute-force reference fast.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from reference import pool_reference_exact, pool_reference_vjp, pool_reference_winners

import jaxpool
from jaxpool import _dispatch, _routes
from jaxpool._geometry import resolve


@pytest.fixture(autouse=True)
def low_crossover():
    """Route windows from 8 up through the large-window scheme (none split into passes of small windows), so
    the brute-force reference stays fast; jit caches are cleared on both sides (jaxpool jits on the static
    geometry, not on the table)."""
    backend = jax.default_backend()
    saved = _dispatch.TABLE[backend]
    _dispatch.TABLE[backend] = dataclasses.replace(saved, large_sum_window=8, large_extreme_window=8,
                                                   split_sum_window=1 << 30, split_extreme_window=1 << 30)
    jax.clear_caches()
    yield
    _dispatch.TABLE[backend] = saved
    jax.clear_caches()


FNS = {"max": jaxpool.max_pool, "min": jaxpool.min_pool, "sum": jaxpool.sum_pool, "avg": jaxpool.avg_pool}
# (window, strides, padding, dilation, ceil_mode), 1-D, all above the crossover.
GEOMS_1D = [
    (12, 1, "VALID", 1, False),
    (16, 4, "SAME", 1, False),
    (9, 5, ((7, 3),), 2, False),
    (10, 4, 5, 3, True),
    (20, 3, ((19, 2),), 1, True),
]


def _call(op, x, w, s, pad, dil, ceil, **kw):
    if op == "lp":
        return jaxpool.lp_pool(x, 2.0, w, s, pad, dilation=dil, ceil_mode=ceil)
    return FNS[op](x, w, s, pad, dilation=dil, ceil_mode=ceil, **kw)


def _assert_large(shape, w, s, pad, dil, ceil, op):
    geom = resolve(shape, w, s, pad, dilation=dil, ceil_mode=ceil)
    kind = "extreme" if op in ("max", "min") else "sum"
    larges = [_routes.large_axis((a,), kind) for a in geom.axes]
    assert any(a is not None for a in larges), (shape, w)


def _check(op, x, w, s, pad, dil=1, ceil=False, rtol=1e-5, atol=1e-5):
    """Values and vjp against the reference; for max/min also indices and jvp."""
    _assert_large(x.shape, w, s, pad, dil, ceil, "max" if op in ("max", "min") else op)
    kw = dict(dilation=dil, ceil_mode=ceil)
    ref_kw = dict(kw, norm_type=2.0) if op == "lp" else kw
    y = _call(op, jnp.asarray(x), w, s, pad, dil, ceil)
    np.testing.assert_allclose(np.asarray(y, np.float64), pool_reference_exact(x, op, w, s, pad, **ref_kw),
                               rtol=rtol, atol=atol)
    rng = np.random.default_rng(1)
    g = rng.standard_normal(y.shape).astype(np.float32)
    dx = jax.vjp(lambda v: _call(op, v, w, s, pad, dil, ceil), jnp.asarray(x))[1](jnp.asarray(g, y.dtype))[0]
    np.testing.assert_allclose(np.asarray(dx, np.float64), pool_reference_vjp(x, g, op, w, s, pad, **ref_kw),
                               rtol=rtol, atol=atol)
    if op in ("max", "min"):
        idx_fn = jaxpool.max_pool_with_indices if op == "max" else jaxpool.min_pool_with_indices
        v, idx = idx_fn(jnp.asarray(x), w, s, pad, **kw)
        winners = pool_reference_winners(x, op, w, s, pad, **kw)
        np.testing.assert_array_equal(np.asarray(idx), winners)
        np.testing.assert_array_equal(np.asarray(v), np.asarray(y))
        t = rng.standard_normal(x.shape).astype(np.float32)
        _, jt = jax.jvp(lambda v: _call(op, v, w, s, pad, dil, ceil), (jnp.asarray(x),), (jnp.asarray(t),))
        planes = t.reshape(x.shape[0], -1, x.shape[-1])
        flat_idx = winners.reshape(x.shape[0], -1, x.shape[-1]).astype(np.int64)
        expected = np.take_along_axis(planes, flat_idx, axis=1).reshape(jt.shape)
        np.testing.assert_array_equal(np.asarray(jt), expected)


@pytest.mark.parametrize("op,geom", [
    # min is max with the comparison flipped: by default on one dilated, ceil-mode geometry only, all with
    # --runslow
    pytest.param(op, g, id=f"{op}-w{g[0]}s{g[1]}p{g[2]}d{g[3]}c{int(g[4])}",
                 marks=pytest.mark.slow if op == "min" and g != GEOMS_1D[3] else ())
    for op in ("max", "min", "sum", "avg", "lp") for g in GEOMS_1D])
def test_1d_values_grad_indices(op, geom):
    w, s, pad, dil, ceil = geom
    x = np.random.default_rng(0).standard_normal((2, 61, 2)).astype(np.float32)
    _check(op, x, w, s, pad, dil, ceil)


# min runs the max kernel with the comparison flipped; its large-window values, gradients and indices are checked
# by test_1d_values_grad_indices[min-*] and test_2d_min_with_dilation_and_ceil_mode, its tie/NaN/inf rules by
# these tests with --runslow.
@pytest.mark.parametrize("op", ["max", pytest.param("min", marks=pytest.mark.slow)])
def test_ties_go_to_the_first_element(op):
    # Few distinct values: most windows hold several maximal (minimal) elements.
    x = np.random.default_rng(2).integers(-2, 3, (2, 70, 2)).astype(np.float32)
    _check(op, x, 17, 1, "SAME")
    _check(op, x, 9, 3, ((5, 8),), dil=2)


@pytest.mark.parametrize("op", ["max", pytest.param("min", marks=pytest.mark.slow)])
def test_nan_windows_route_to_the_first_nan(op):
    x = np.random.default_rng(3).standard_normal((1, 80, 2)).astype(np.float32)
    x[0, [10, 12, 40], 0] = np.nan
    x[0, [60, 61], 1] = np.nan
    _check(op, x, 16, 3, "SAME")
    # Hand check: window 16 stride 1 VALID; outputs 0..10 hold position 10 (the first NaN) in channel 0.
    y = jaxpool.max_pool(x, 16) if op == "max" else jaxpool.min_pool(x, 16)
    _, idx = (jaxpool.max_pool_with_indices if op == "max" else jaxpool.min_pool_with_indices)(x, 16)
    assert np.isnan(np.asarray(y)[0, :11, 0]).all()
    np.testing.assert_array_equal(np.asarray(idx)[0, :11, 0], 10)  # index within its (sample, channel) plane


@pytest.mark.parametrize("op", ["max", pytest.param("min", marks=pytest.mark.slow)])
def test_infinite_inputs_beside_padding_never_lose_to_padding(op):
    x = np.random.default_rng(4).standard_normal((1, 70, 1)).astype(np.float32)
    fill = -np.inf if op == "max" else np.inf
    x[0, :25] = fill  # equal to the padding's identity: the first real element must win
    x[0, -20:] = fill
    _check(op, x, 17, 1, ((16, 16),))
    _check(op, x, 13, 2, ((12, 11),), ceil=True)


def test_integer_max_with_padding():
    x = np.random.default_rng(5).integers(-128, 128, (1, 60, 2)).astype(np.int8)
    x[0, :20] = -128  # the dtype's min is the padding's identity
    y, idx = jaxpool.max_pool_with_indices(x, 13, 2, ((12, 12),))
    assert y.dtype == jnp.int8
    np.testing.assert_array_equal(np.asarray(y), pool_reference_exact(x, "max", 13, 2, ((12, 12),)))
    np.testing.assert_array_equal(np.asarray(idx), pool_reference_winners(x, "max", 13, 2, ((12, 12),)))


# max with --runslow: 1-D max/min through the large scheme are checked by default above, 2-D max by test_levels
@pytest.mark.parametrize("op", [pytest.param("max", marks=pytest.mark.slow), "avg"])
def test_2d_large_and_small_axes(op):
    x = np.random.default_rng(6).standard_normal((1, 25, 22, 2)).astype(np.float32)
    _check(op, x, (13, 3), (1, 2), "SAME")
    _check(op, x, (11, 9), (2, 1), ((3, 4), (4, 4)), dil=(1, 1))


@pytest.mark.slow  # the blocked scheme serves 1-D max/min from 8192 only; 1-D min is covered above
def test_2d_min_with_dilation_and_ceil_mode():
    x = np.round(np.random.default_rng(7).standard_normal((1, 40, 12, 1)) * 2).astype(np.float32)
    _check("min", x, (10, 2), (3, 2), ((4, 4), (1, 1)), dil=(2, 1), ceil=True)


@pytest.mark.parametrize("op", ["max", "avg", "sum"])
def test_bfloat16(op):
    x32 = np.random.default_rng(8).standard_normal((2, 70, 2)).astype(np.float32)
    x = jnp.asarray(x32, jnp.bfloat16)
    xr = np.asarray(x.astype(jnp.float32))  # the bf16 values, exactly
    _assert_large(x.shape, 24, 2, "SAME", 1, False, op)
    y = FNS[op](x, 24, 2, "SAME")
    assert y.dtype == jnp.bfloat16
    ref = pool_reference_exact(xr, op, 24, 2, "SAME")
    # Accumulated in float32 and rounded once: within one bf16 rounding of the exact value.
    np.testing.assert_allclose(np.asarray(y.astype(jnp.float32)), ref, rtol=2 ** -8, atol=1e-6)
    g = np.ones(y.shape, np.float32)
    dx = jax.vjp(lambda v: FNS[op](v, 24, 2, "SAME"), x)[1](jnp.asarray(g, jnp.bfloat16))[0]
    assert dx.dtype == jnp.bfloat16
    np.testing.assert_allclose(np.asarray(dx.astype(jnp.float32)), pool_reference_vjp(xr, g, op, 24, 2, "SAME"),
                               rtol=2 ** -8, atol=1e-6)


def test_float32_average_of_4096_keeps_float32_accuracy():
    # Values around 1000: a prefix-sum difference would lose about three digits here.
    n, w = 12288, 4096
    x64 = 1000.0 + np.random.default_rng(9).standard_normal(n)
    x = x64.astype(np.float32)
    _assert_large((1, n, 1), w, 1, "VALID", 1, False, "avg")
    y = np.asarray(jaxpool.avg_pool(x.reshape(1, n, 1), w)).ravel()
    c = np.concatenate([[0.0], np.cumsum(x.astype(np.float64))])
    ref = (c[w:] - c[:-w]) / w  # float64 reference of the float32 inputs
    np.testing.assert_allclose(y, ref, rtol=1e-5)
    assert np.max(np.abs(y - ref) / ref) < 1e-5


def test_program_size_does_not_follow_the_window():
    """The traced program of fwd+bwd grows with log(window) at most, not with the window."""
    x = jnp.zeros((1, 8192, 1), jnp.float32)

    def count(w: int) -> int:
        return len(str(jax.make_jaxpr(jax.grad(lambda v: jaxpool.max_pool(v, w, 1, "SAME").sum()))(x)).splitlines())

    small, big = count(64), count(4096)
    assert big < 2 * small, (small, big)


def test_dispatch_table_has_every_backend():
    for name in ("cpu", "gpu", "tpu"):
        k = _dispatch.TABLE[name]
        assert k.large_sum_window >= 2 and k.large_extreme_window >= 2
    assert _dispatch.kernels("cuda") is _dispatch.TABLE["gpu"]
    assert _dispatch.kernels("rocm") is _dispatch.TABLE["gpu"]
    assert _dispatch.kernels("cpu") is _dispatch.TABLE["cpu"]
    k = _dispatch.kernels()
    geom = resolve((1, 500, 1), k.large_extreme_window, 1, "VALID")
    assert _routes.large_axis(geom.axes, "extreme") == geom.axes[0]
    geom = resolve((1, 500, 1), k.large_extreme_window - 1, 1, "VALID")
    assert _routes.large_axis(geom.axes, "extreme") is None


@pytest.mark.slow  # no backend's table uses this formulation
@pytest.mark.parametrize("op", ["max", "sum"])
def test_associative_scan_formulation(op):
    """The table's other scan formulation (``large_scan="associative"``) gives the same exact results."""
    backend = jax.default_backend()
    saved = _dispatch.TABLE[backend]
    _dispatch.TABLE[backend] = dataclasses.replace(saved, large_scan="associative")
    jax.clear_caches()
    try:
        x = np.round(np.random.default_rng(10).standard_normal((1, 50, 2)) * 2).astype(np.float32)
        x[0, 20, 1] = np.nan if op == "max" else 0.5
        _check(op, x, 12, 3, ((5, 6),), dil=2)
    finally:
        _dispatch.TABLE[backend] = saved
        jax.clear_caches()


# Strided windows that are a few stride-aligned blocks (``_stride_blocks``): (window, stride, padding, ceil_mode).
GEOMS_BLOCKS = [
    (16, 4, "SAME", False),          # 4 blocks of 4
    (12, 8, ((11, 5),), True),       # gcd 4: 3 blocks of 4, stride 2 blocks, low padding of 2+ blocks
    (24, 24, "VALID", False),        # tiling: one block per window
    (18, 12, ((9, 9),), False),      # gcd 6, 3 blocks, stride 2 blocks
]


def _assert_blocks(shape, w, s, pad, ceil):
    from jaxpool import _stride_blocks
    geom = resolve(shape, w, s, pad, ceil_mode=ceil)
    assert any(_stride_blocks.applies(a) for a in geom.axes), (shape, w, s)


# The default run keeps a few cases (the suite's time budget); --runslow runs every op on every geometry.
BLOCK_CASES = [
    pytest.param(op, geom, id=f"{op}-w{geom[0]}s{geom[1]}c{int(geom[3])}",
                 marks=() if (op, i) in {("max", 1), ("min", 3), ("avg", 1)} else pytest.mark.slow)
    for op in ("max", "min", "sum", "avg") for i, geom in enumerate(GEOMS_BLOCKS)
]


@pytest.mark.parametrize("op,geom", BLOCK_CASES)
def test_stride_blocks_values_grad_indices(op, geom):
    w, s, pad, ceil = geom
    x = np.round(np.random.default_rng(11).standard_normal((2, 75, 2)) * 2).astype(np.float32)  # many ties
    _assert_blocks(x.shape, w, s, pad, ceil)
    _check(op, x, w, s, pad, ceil=ceil)


@pytest.mark.parametrize("op", ["max", pytest.param("min", marks=pytest.mark.slow)])
def test_stride_blocks_nan_and_padding_identity(op):
    x = np.random.default_rng(12).standard_normal((1, 90, 3)).astype(np.float32)
    fill = -np.inf if op == "max" else np.inf
    x[0, :30, 0] = fill  # ties with the padding's identity over whole blocks: the first real element wins
    x[0, -25:, 0] = fill
    x[0, [33, 35, 70], 1] = np.nan  # the first NaN of each window wins
    x[0, 40:60, 2] = np.nan
    for w, s, pad in ((16, 4, ((15, 15),)), (20, 10, ((13, 7),))):
        _assert_blocks(x.shape, w, s, pad, False)
        _check(op, x, w, s, pad)
    # Hand check: window 16 stride 4 with 15 low padding: output 0 covers positions 0..0 and output 4 covers
    # positions 1..16 of channel 1 (no NaN), output 9 covers 21..36: its first NaN is position 33.
    _, idx = (jaxpool.max_pool_with_indices if op == "max" else jaxpool.min_pool_with_indices)(
        x, 16, 4, ((15, 15),))
    assert int(np.asarray(idx)[0, 9, 1]) == 33
    assert int(np.asarray(idx)[0, 0, 0]) == 0  # all-infinite window beside padding: the real element wins


# Blocks of 64+ positions find winners from run results (``_stride_blocks.RUNS_FROM``): runs aligned with the
# input's ends (read unpadded), and runs of a padded input.
GEOMS_RUNS = [
    (128, 64, ((40, 40),)),          # g 64, runs of 4 aligned with low padding 40 and length 300
    (192, 96, ((33, 63),)),          # g 96, low padding 33: padded, three runs of 32 per block
    (128, 64, ((63, 1),)),           # g 64, low padding 63: padded, two runs of 32 per block
]


@pytest.mark.parametrize("op,geom", [
    # by default: max on the aligned layout, min on a padded one; every pair with --runslow
    pytest.param(op, g, id=f"{gid}-{op}", marks=() if (op, gid) in {("max", "aligned"), ("min", "padded-3")}
                 else pytest.mark.slow)
    for gid, g in zip(("aligned", "padded-3", "padded-2"), GEOMS_RUNS) for op in ("max", "min")])
def test_stride_blocks_runs_ties_nan_and_padding(op, geom):
    from jaxpool import _stride_blocks
    w, s, pad = geom
    rng = np.random.default_rng(15)
    x = np.round(rng.standard_normal((2, 300, 3)) * 1.5).astype(np.float32)  # ties across and within runs
    fill = -np.inf if op == "max" else np.inf
    x[0, :70, 1] = fill                 # ties with the padding's identity over whole runs and blocks
    x[1, 100:140, 1] = fill
    x[0, [5, 90, 91, 200], 2] = np.nan  # the first NaN of each window wins, also behind a maximal run
    x[1, 130:170, 2] = np.nan
    x[1, 5, 0] = -0.0                   # signed zeros tie
    (a,) = resolve(x.shape, w, s, pad).axes
    assert math.gcd(a.window, a.stride) >= _stride_blocks.RUNS_FROM
    _assert_blocks(x.shape, w, s, pad, False)
    _check(op, x, w, s, pad)


@pytest.mark.parametrize("geom", [(16, 4, ((7, 7),)), GEOMS_RUNS[0]], ids=["blocks", "runs"])
def test_stride_blocks_hessian_vector_product(geom):
    # The block results go through integer order keys; second-order derivatives differentiate those values, so
    # they must carry the tangent at the winner. loss = sum(max_pool(x) ** 2): hvp = P^T (2 P t), P the
    # selection of the winners.
    w, s, pad = geom
    rng = np.random.default_rng(16)
    x = np.round(rng.standard_normal((2, 300, 3)) * 1.5).astype(np.float32)
    t = rng.standard_normal(x.shape).astype(np.float32)
    _assert_blocks(x.shape, w, s, pad, False)

    def loss(v):
        return jnp.sum(jaxpool.max_pool(v, w, s, pad) ** 2)

    hvp = jax.jvp(jax.grad(loss), (jnp.asarray(x),), (jnp.asarray(t),))[1]
    winners = pool_reference_winners(x, "max", w, s, pad)
    pt = np.take_along_axis(t.astype(np.float64), winners, axis=1)
    np.testing.assert_allclose(np.asarray(hvp, np.float64), pool_reference_vjp(x, 2 * pt, "max", w, s, pad),
                               rtol=1e-6, atol=1e-6)
    assert np.abs(np.asarray(hvp)).max() > 1


def test_stride_blocks_integer_max_with_padding():
    x = np.random.default_rng(13).integers(-128, 128, (1, 64, 2)).astype(np.int8)
    x[0, :20] = -128  # the dtype's min is the padding's identity
    _assert_blocks(x.shape, 16, 8, ((12, 12),), False)
    y, idx = jaxpool.max_pool_with_indices(x, 16, 8, ((12, 12),))
    assert y.dtype == jnp.int8
    np.testing.assert_array_equal(np.asarray(y), pool_reference_exact(x, "max", 16, 8, ((12, 12),)))
    np.testing.assert_array_equal(np.asarray(idx), pool_reference_winners(x, "max", 16, 8, ((12, 12),)))


def test_stride_blocks_float32_sum_accuracy():
    # Width 4096, stride 1024 around 1000: block sums in two levels keep float32 accuracy.
    n, w, s = 16384, 4096, 1024
    x = (1000.0 + np.random.default_rng(14).standard_normal(n)).astype(np.float32)
    _assert_blocks((1, n, 1), w, s, "VALID", False)
    y = np.asarray(jaxpool.avg_pool(x.reshape(1, n, 1), w, s)).ravel()
    c = np.concatenate([[0.0], np.cumsum(x.astype(np.float64))])
    ref = (c[w::s] - c[:-w + 1 or None:s][: len(c[w::s])]) / w
    assert np.max(np.abs(y - ref) / ref) < 1e-5


def test_anchored_sums_float32_accuracy_at_stride_1():
    # Width 4096, stride 1, SAME, values near 1000: every window sum is an anchor (a sum of sub-block sums) plus
    # at most 7 differences of neighbouring entries, never a long prefix-sum difference. Forward and gradient.
    n, w = 16384, 4096
    assert _dispatch.kernels().large_sum_scheme == "anchored"
    x = (1000.0 + np.random.default_rng(15).standard_normal(n)).astype(np.float32)
    geom = resolve((1, n, 1), w, 1, "SAME")
    assert _routes.large_axis(geom.axes, "sum") is not None
    y = np.asarray(jaxpool.avg_pool(x.reshape(1, n, 1), w, 1, "SAME")).ravel()
    lo = (w - 1) // 2
    c = np.concatenate([[0.0], np.cumsum(np.concatenate([np.zeros(lo), x.astype(np.float64), np.zeros(w)]))])
    ref = (c[w:w + n] - c[:n]) / w
    # the bound is 1e-5; a float32 prefix-sum difference reaches 7.3e-6 here, the anchored sums 3.4e-7
    assert np.max(np.abs(y - ref) / ref) < 2e-6
    # the gradient of sum(avg_pool * g) is the window sum of g over the windows holding each element
    g = (1000.0 + np.random.default_rng(16).standard_normal(n)).astype(np.float32)
    dx = jax.vjp(lambda v: jaxpool.sum_pool(v, w, 1, "SAME"), jnp.asarray(x.reshape(1, n, 1)))[1](
        jnp.asarray(g.reshape(1, n, 1)))[0]
    gp = np.concatenate([np.zeros(w - 1 - lo), g.astype(np.float64), np.zeros(w)])
    cg = np.concatenate([[0.0], np.cumsum(gp)])
    ref_dx = cg[w:w + n] - cg[:n]
    assert np.max(np.abs(np.asarray(dx).ravel() - ref_dx) / ref_dx) < 2e-6


# avg and lp add a divisor / a power around the same window sums (their anchored paths are checked on small
# windows by test_1d_values_grad_indices): with --runslow.
@pytest.mark.parametrize("op", ["sum", pytest.param("avg", marks=pytest.mark.slow),
                                pytest.param("lp", marks=pytest.mark.slow)])
def test_anchored_sums_several_levels(op):
    # w = 300 = 37 * 8 + 4: anchors from sub-block sums of width 37 (again anchored: 4 * 8 + 5), then views;
    # dilation 2 runs the scheme on each phase; asymmetric padding and ceil_mode.
    x = np.random.default_rng(17).standard_normal((1, 700, 2)).astype(np.float32)
    if op == "lp":
        x = np.abs(x)
    _check(op, x, 300, 1, ((150, 37),), dil=2, ceil=False, rtol=2e-5, atol=2e-4)
    _check(op, x, 300, 1, "SAME", rtol=2e-5, atol=2e-4)


@pytest.mark.slow  # no backend's table uses this formulation
def test_running_sum_formulation():
    """The table's other large-sum formulation (``large_sum_scheme="running"``) gives the same results."""
    backend = jax.default_backend()
    saved = _dispatch.TABLE[backend]
    _dispatch.TABLE[backend] = dataclasses.replace(saved, large_sum_scheme="running")
    jax.clear_caches()
    try:
        x = np.random.default_rng(18).standard_normal((2, 61, 2)).astype(np.float32)
        for w, s, pad, dil, ceil in GEOMS_1D:
            _check("sum", x, w, s, pad, dil, ceil)
    finally:
        _dispatch.TABLE[backend] = saved
        jax.clear_caches()


def test_anchored_window_sums_random_geometries():
    """``_anchored.window_sums`` on random lengths, windows, dilations, start counts and (negative) offsets:
    int32 sums exact against a NumPy brute force (integer arithmetic has no rounding to hide behind)."""
    from jaxpool import _anchored

    rng = np.random.default_rng(19)
    for _ in range(24):
        n, w, d = int(rng.integers(1, 200)), int(rng.integers(1, 300)), int(rng.integers(1, 4))
        starts, low = int(rng.integers(1, 300)), int(rng.integers(-5, 40))
        z = rng.integers(-100, 100, (1, n, 2)).astype(np.int32)
        zp = np.zeros((1, max(0, low) + n + starts + w * d, 2), np.int64)
        src = z[:, max(0, -low):]
        zp[:, max(0, low):max(0, low) + src.shape[1]] = src
        want = np.stack([zp[:, j:j + w * d:d].sum(1) for j in range(starts)], 1)
        got = jax.jit(lambda v, w=w, d=d, s=starts, lo=low: _anchored.window_sums(v, 1, w, d, s, lo))(z)
        np.testing.assert_array_equal(np.asarray(got), want, err_msg=str((n, w, d, starts, low)))
