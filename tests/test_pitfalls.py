"""One test per case of ``cases/pitfalls.md`` (P01…P24), asserting the hand-derived values there.

Each case is a small input some widely used pooling library got wrong. Layout is channels last with
one batch element and one feature unless a case says otherwise; ``_img`` adds those axes and ``_sp``
strips them. Every value, gradient and jvp is checked under ``jax.jit`` and, with --runslow, eagerly (the
``jit`` parameter). Every op is looked up as an attribute of ``jaxpool``, so a public function that goes missing
fails the suite (no skips). The class-level property tests live in ``test_pitfall_classes.py``.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import jaxpool

# Eager variants run with --runslow (eager dispatch of the gradients compiles every primitive on its own: twice the
# jit variant's time); the default run checks each case under jit, and eager calls of every op on NumPy inputs are
# checked against the reference by test_core_values.test_float32_values_and_gradients (its jit=False examples).
JIT = pytest.mark.parametrize("jit", [pytest.param(False, marks=pytest.mark.slow), True], ids=["eager", "jit"])
INF = np.inf
NAN = np.nan


def _img(rows, dtype=np.float32) -> np.ndarray:
    """Spatial array -> (1, *spatial, 1)."""
    return np.asarray(rows, dtype=dtype)[None, ..., None]


def _sp(y) -> np.ndarray:
    """(1, *spatial, 1) -> spatial array."""
    return np.asarray(y)[0, ..., 0]


def _maybe_jit(fn, jit):
    return jax.jit(fn) if jit else fn


def _pool(op, x, jit, *args, **kw):
    return _maybe_jit(lambda a: op(a, *args, **kw), jit)(x)


def _grad_sum(op, x, jit, *args, **kw):
    return _maybe_jit(jax.grad(lambda a: jnp.sum(op(a, *args, **kw))), jit)(x)


def _jvp(op, x, t, jit, *args, **kw):
    return _maybe_jit(lambda a, b: jax.jvp(lambda z: op(z, *args, **kw), (a,), (b,)), jit)(x, t)


def _close(got, want, **kw):
    np.testing.assert_allclose(np.asarray(got, np.float64), np.asarray(want, np.float64), **kw)


_lp2 = functools.partial(jaxpool.lp_pool, norm_type=2.0)


@JIT
def test_P01_avg_same_count_include_pad(jit):
    x = _img([[2, 4], [6, 8]])
    kw = dict(window_shape=(2, 2), strides=1, padding="SAME")
    for include, val, grad in [
        (True, [[5, 3], [3.5, 2]], [[0.25, 0.5], [0.5, 1.0]]),
        (False, [[5, 6], [7, 8]], [[0.25, 0.75], [0.75, 2.25]]),
    ]:
        _close(_sp(_pool(jaxpool.avg_pool, x, jit, count_include_pad=include, **kw)), val)
        _close(_sp(_grad_sum(jaxpool.avg_pool, x, jit, count_include_pad=include, **kw)), grad)


@JIT
def test_P02_same_pad_split_and_divisor(jit):
    x = _img(np.arange(2, 20, 2).reshape(3, 3))
    kw = dict(window_shape=(2, 2), strides=2, padding="SAME")
    avg = functools.partial(_pool, jaxpool.avg_pool, x, jit, **kw)
    _close(_sp(avg(count_include_pad=False)), [[6, 9], [15, 18]])
    _close(_sp(avg(count_include_pad=True)), [[6, 4.5], [7.5, 4.5]])
    # 1-D max, window 2, stride 1: pads (0, 1), so the last window holds 40 and padding.
    y = _pool(jaxpool.max_pool, _img([10, 20, 30, 40]), jit, (2,), 1, "SAME")
    _close(_sp(y), [20, 30, 40, 40])
    # Length 6, window 4, stride 1: pads (1, 2), visible in window sums of distinct powers of 10.
    assert lax.padtype_to_pads((6,), (4,), (1,), "SAME") == [(1, 2)]
    x6 = _img(10.0 ** np.arange(6))
    want = [111, 1111, 11110, 111100, 111000, 110000]
    _close(_sp(_pool(jaxpool.sum_pool, x6, jit, (4,), 1, "SAME")), want)
    # SAME_LOWER puts the odd pad first: (2, 1).
    want_lower = [11, 111, 1111, 11110, 111100, 111000]
    _close(_sp(_pool(jaxpool.sum_pool, x6, jit, (4,), 1, "same_lower")), want_lower)


@JIT
@pytest.mark.parametrize(
    "size,window,stride,padding,out",
    [(8, 2, 2, "SAME", 4), (8, 2, 2, 1, 5), (6, 4, 1, "SAME", 6), (6, 4, 1, 2, 7)],
)
def test_P03_output_shape_formula(jit, size, window, stride, padding, out):
    shape = jaxpool.pool_output_shape((1, size, 1), (window,), stride, padding)
    assert tuple(shape) == (1, out, 1)
    x = np.ones((1, size, 1), np.float32)
    for op in (jaxpool.max_pool, jaxpool.avg_pool, jaxpool.sum_pool):
        assert _pool(op, x, jit, (window,), stride, padding).shape == (1, out, 1)


@JIT
def test_P04_max_min_padding_never_wins_negative(jit):
    rows = [[2, -3, 0], [-1, 4, 1], [0, 5, -6]]
    kw = dict(window_shape=(2, 2), strides=2, padding="SAME")
    _close(_sp(_pool(jaxpool.max_pool, _img(rows), jit, **kw)), [[4, 1], [5, -6]])
    grad = np.zeros((3, 3))
    grad[1, 1] = grad[1, 2] = grad[2, 1] = grad[2, 2] = 1
    _close(_sp(_grad_sum(jaxpool.max_pool, _img(rows), jit, **kw)), grad)
    neg = -np.asarray(rows, np.float32)
    _close(_sp(_pool(jaxpool.min_pool, _img(neg), jit, **kw)), [[-4, -1], [-5, 6]])
    _close(_sp(_grad_sum(jaxpool.min_pool, _img(neg), jit, **kw)), grad)
    # Inputs equal to the identity: value and gradient still go to an input element, never padding.
    x = _img([-INF, -INF, -INF])
    _close(_sp(_pool(jaxpool.max_pool, x, jit, (2,), 2, "SAME")), [-INF, -INF])
    _close(_sp(_grad_sum(jaxpool.max_pool, x, jit, (2,), 2, "SAME")), [1, 0, 1])
    _close(_sp(_grad_sum(jaxpool.min_pool, -x, jit, (2,), 2, "SAME")), [1, 0, 1])


@JIT
@pytest.mark.parametrize("name", ["max", "min", "avg", "sum", "lp"])
def test_P05_padding_only_windows_raise(jit, name):
    op = {"max": jaxpool.max_pool, "min": jaxpool.min_pool, "avg": jaxpool.avg_pool,
          "sum": jaxpool.sum_pool, "lp": _lp2}[name]
    x = _img([[1, 2], [3, 4]])
    with pytest.raises(ValueError, match="padding"):
        _pool(op, x, jit, window_shape=(2, 2), strides=1, padding=2)
    y = _sp(_pool(op, x, jit, window_shape=(2, 2), strides=1, padding=1))
    assert y.shape == (3, 3)
    if name == "max":
        _close(y, [[1, 2, 2], [3, 4, 4], [3, 4, 4]])
    elif name == "sum":
        _close(y, [[1, 3, 2], [4, 10, 6], [3, 7, 4]])


@JIT
@pytest.mark.parametrize("name", ["max", "min"])
@pytest.mark.parametrize(
    "row,grad", [([NAN, 0], [1, 0]), ([0, NAN], [0, 1]), ([NAN, NAN], [1, 0])],
    ids=["nan_first", "nan_second", "nan_both"],
)
def test_P06_nan_wins_and_gets_gradient(jit, name, row, grad):
    op = jaxpool.max_pool if name == "max" else jaxpool.min_pool
    x = _img(row)
    y = _sp(_pool(op, x, jit, (2,), 2))
    assert y.shape == (1,) and np.isnan(y[0])
    _close(_sp(_grad_sum(op, x, jit, (2,), 2)), grad)
    primal, tangent = _jvp(op, x, _img([10, 20]), jit, (2,), 2)
    assert np.isnan(_sp(primal)[0])
    _close(_sp(tangent), [10 if grad[0] else 20])
    # The case asks for the difference from PyTorch (last NaN) to be documented.
    assert "NaN" in op.__doc__ and "PyTorch" in jaxpool.max_pool.__doc__


@JIT
@pytest.mark.parametrize("name", ["max", "min"])
def test_P07_ties_first_element_everywhere(jit, name):
    sign = 1.0 if name == "max" else -1.0
    op = jaxpool.max_pool if name == "max" else jaxpool.min_pool
    x1 = _img(sign * np.array([[0.5, 0.9], [0.9, 0.9]]))
    _close(_sp(_grad_sum(op, x1, jit, (2, 2), 2)), [[0, 1], [0, 0]])
    x2 = _img(sign * np.array([7, 7, 7, 7]))
    _close(_sp(_grad_sum(op, x2, jit, (2,), 1)), [1, 1, 1, 0])
    x3 = _img(sign * np.array([2, 2, 1, 2]))
    t = _img([10, 20, 30, 40])
    primal, tangent = _jvp(op, x3, t, jit, (4,))
    _close(_sp(primal), [sign * 2])
    _close(_sp(tangent), [10])
    _close(_sp(_grad_sum(op, x3, jit, (4,))), [1, 0, 0, 0])
    with_idx = jaxpool.max_pool_with_indices if name == "max" else jaxpool.min_pool_with_indices
    for x, args, want in [(x1, ((2, 2), 2), [[1]]), (x2, ((2,), 1), [0, 1, 2]), (x3, ((4,),), [0])]:
        _, idx = _maybe_jit(lambda a, args=args: with_idx(a, *args), jit)(x)
        assert idx.dtype == jnp.int32
        np.testing.assert_array_equal(_sp(idx), want)


@JIT
def test_P08_overlapping_windows_accumulate(jit):
    x = np.arange(1, 26, dtype=np.float32).reshape(5, 5)
    x[1, 1] = 99
    kw = dict(window_shape=(3, 3), strides=2, padding=1)
    y = _pool(jaxpool.max_pool, _img(x), jit, **kw)
    _close(_sp(y), [[99, 99, 10], [99, 99, 20], [22, 24, 25]])
    grad = np.zeros((5, 5))
    grad[1, 1] = 4
    for v in (10, 20, 22, 24, 25):
        grad[x == v] = 1
    _close(_sp(_grad_sum(jaxpool.max_pool, _img(x), jit, **kw)), grad)
    # Stride larger than the window: elements between windows get nothing.
    x1 = _img([4, 9, 1, 7, 3, 8, 2, 6])
    _close(_sp(_pool(jaxpool.max_pool, x1, jit, (2,), 3)), [9, 7, 6])
    _close(_sp(_grad_sum(jaxpool.max_pool, x1, jit, (2,), 3)), [0, 1, 0, 1, 0, 0, 0, 1])


@JIT
def test_P09_ceil_mode_drops_window_past_input(jit):
    x = np.arange(24, dtype=np.float32).reshape(4, 6)
    kw = dict(window_shape=(1, 1), strides=2, padding=0, ceil_mode=True)
    assert tuple(jaxpool.pool_output_shape((1, 4, 6, 1), **kw)) == (1, 2, 3, 1)
    y = _sp(_pool(jaxpool.max_pool, _img(x), jit, **kw))
    np.testing.assert_array_equal(y, x[::2, ::2])
    g = np.zeros((4, 6))
    g[::2, ::2] = 1
    _close(_sp(_grad_sum(jaxpool.max_pool, _img(x), jit, **kw)), g)


@JIT
def test_P10_ceil_mode_with_padding(jit):
    x = _img(np.arange(1, 8))
    kw = dict(window_shape=(2,), strides=2, padding=1, ceil_mode=True)
    assert tuple(jaxpool.pool_output_shape((1, 7, 1), **kw)) == (1, 4, 1)
    _close(_sp(_pool(jaxpool.max_pool, x, jit, **kw)), [1, 3, 5, 7])
    _close(_sp(_pool(jaxpool.avg_pool, x, jit, count_include_pad=True, **kw)), [0.5, 2.5, 4.5, 6.5])
    _close(_sp(_pool(jaxpool.avg_pool, x, jit, count_include_pad=False, **kw)), [1, 2.5, 4.5, 6.5])
    assert tuple(jaxpool.pool_output_shape((1, 12, 1), (4,), 2, 0, ceil_mode=True)) == (1, 5, 1)
    x5 = _img(np.arange(1, 6))
    for include in (True, False):
        y = _pool(jaxpool.avg_pool, x5, jit, (3,), 3, 0, include, ceil_mode=True)
        _close(_sp(y), [2, 4.5])
    # Gradient of the overhanging window divides by its 2 in-extent positions.
    g = _grad_sum(jaxpool.avg_pool, x5, jit, (3,), 3, 0, ceil_mode=True)
    _close(_sp(g), [1 / 3, 1 / 3, 1 / 3, 0.5, 0.5])


@JIT
def test_P12_forward_mode_max_pool(jit):
    x, t = _img([1, 3, 2, 0]), _img([10, 20, 30, 40])
    primal, tangent = _jvp(jaxpool.max_pool, x, t, jit, (2,), 2)
    _close(_sp(primal), [3, 2])
    _close(_sp(tangent), [20, 30])
    jac = _maybe_jit(jax.jacfwd(lambda a: jaxpool.max_pool(a, (2,), 2)), jit)(x)
    _close(jac.reshape(2, 4), [[0, 1, 0, 0], [0, 0, 1, 0]])
    # Forward mode through the gradient (Hessian-vector product): defined, and zero for max.
    g = jax.grad(lambda a: jnp.sum(jaxpool.max_pool(a, (2,), 2)))
    _, hvp = _maybe_jit(lambda a, b: jax.jvp(g, (a,), (b,)), jit)(x, t)
    _close(hvp, np.zeros_like(x))


@JIT
def test_P14_dilation_shapes_and_gradients(jit):
    x = np.ones((1, 2, 1), np.float32)
    _close(_sp(_pool(jaxpool.sum_pool, x, jit, (3,), 1, "SAME", dilation=2)), [1, 1])
    with pytest.raises(ValueError, match="window") as err:
        _pool(jaxpool.sum_pool, x, jit, (3,), 1, "VALID", dilation=2)
    assert "5" in str(err.value), "the message should name the effective window 5"
    x2 = _img(np.arange(16, 0, -1).reshape(4, 4))
    kw = dict(window_shape=(2, 2), strides=1, padding="VALID", dilation=2)
    _close(_sp(_pool(jaxpool.max_pool, x2, jit, **kw)), [[16, 15], [12, 11]])
    g = np.zeros((4, 4))
    g[:2, :2] = 1
    _close(_sp(_grad_sum(jaxpool.max_pool, x2, jit, **kw)), g)
    _close(_sp(_grad_sum(jaxpool.min_pool, -x2, jit, **kw)), g)


@JIT
def test_P15_adaptive_bins_follow_pytorch(jit):
    run = lambda x, out: _sp(_maybe_jit(lambda a: jaxpool.adaptive_avg_pool(a, out), jit)(x))  # noqa: E731
    _close(run(_img([2, 4, 6, 8, 10]), (3,)), [3, 6, 9])
    _close(run(_img(np.arange(10)), (3,)), [1.5, 4.5, 7.5])
    _close(run(_img([1, 5]), (3,)), [1, 3, 5])


@JIT
def test_P16_window_larger_than_input(jit):
    x = _img(np.ones((3, 3)))
    with pytest.raises(ValueError, match="window") as err:
        _pool(jaxpool.max_pool, x, jit, (4, 4), 1, "VALID")
    msg = str(err.value)
    assert "3" in msg and "4" in msg, "message should name size 3 and window 4"
    x1 = _img([1, 5, 2])
    _close(_sp(_pool(jaxpool.max_pool, x1, jit, (5,), 1, "SAME")), [5, 5, 5])
    _close(_sp(_pool(jaxpool.avg_pool, x1, jit, (5,), 1, "SAME", False)), [8 / 3] * 3)
    _close(_sp(_pool(jaxpool.avg_pool, x1, jit, (5,), 1, "SAME", True)), [8 / 5] * 3)
    _close(_sp(_grad_sum(jaxpool.max_pool, x1, jit, (5,), 1, "SAME")), [0, 3, 0])


@JIT
def test_P19_argument_errors_and_int_args(jit):
    with pytest.raises(ValueError, match="window_shape") as err:
        _pool(jaxpool.max_pool, np.ones((4, 3), np.float32), jit, (2, 2, 2))
    msg = str(err.value)
    assert "rank" in msg and "(*batch, *spatial, features)" in msg
    x = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    # Int window_shape: N = ndim - 2 = 2.
    y = _pool(jaxpool.max_pool, x, jit, 2, 2)
    _close(_sp(y), [[5, 7], [13, 15]])
    # Int padding: both sides of every spatial dim.
    y = _pool(jaxpool.sum_pool, x, jit, (3, 3), 1, 2)
    assert y.shape == (1, 6, 6, 1)
    padded = np.pad(x[0, :, :, 0], 2)
    want = [[padded[i : i + 3, j : j + 3].sum() for j in range(6)] for i in range(6)]
    _close(_sp(y), want)
    # (2, 4, 4, 1) with a 3-entry window is one unbatched 3-D input (no batch axis), and the
    # docstrings must say so, since users read it as a batch of 2-D images.
    for op in (jaxpool.max_pool, jaxpool.min_pool, jaxpool.avg_pool, jaxpool.sum_pool,
               jaxpool.lp_pool):
        assert "unbatched" in op.__doc__ and "(*batch, *spatial, features)" in op.__doc__
    z = np.arange(32, dtype=np.float32).reshape(2, 4, 4, 1)
    y = _pool(jaxpool.max_pool, z, jit, (2, 2, 2))
    assert y.shape == (1, 3, 3, 1)
    _close(y[0, ..., 0], z[1, 1:, 1:, 0])


@JIT
def test_P20_batch_axes_and_default_stride(jit):
    rng = np.random.default_rng(20)
    x = rng.standard_normal((2, 3, 4, 4, 1)).astype(np.float32)
    single = lambda a: jaxpool.max_pool(a, (2, 2), 2)  # noqa: E731
    blocks = lambda a: a.reshape(*a.shape[:-3], 2, 2, 2, 2, 1).max(axis=(-4, -2))  # noqa: E731
    y0 = _maybe_jit(single, jit)(x[0, 0])
    assert y0.shape == (2, 2, 1)
    _close(y0, blocks(x[0, 0]))
    _close(y0, single(x[0, 0][None])[0])
    y2 = _maybe_jit(single, jit)(x)
    assert y2.shape == (2, 3, 2, 2, 1)
    _close(y2, blocks(x))
    _close(y2, jax.vmap(jax.vmap(single))(x))
    y = _pool(jaxpool.max_pool, x[0, 0], jit, (2, 2))
    assert y.shape == (3, 3, 1)
    a = x[0, 0, :, :, 0]
    want = np.max([a[:-1, :-1], a[:-1, 1:], a[1:, :-1], a[1:, 1:]], axis=0)
    _close(y[..., 0], want)


_EAGER_SLOW = pytest.mark.slow  # eager dispatch of a 32/64-wide window takes ~5-10 s


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
@pytest.mark.parametrize(
    "w,jit",
    [(16, False), (16, True), (32, True), (64, True),
     pytest.param(32, False, marks=_EAGER_SLOW), pytest.param(64, False, marks=_EAGER_SLOW)],
)
def test_P22_low_precision_avg_does_not_saturate(jit, dtype, w):
    x = jnp.ones((1, w, w, 1), dtype)
    y = _pool(jaxpool.avg_pool, x, jit, (w, w))
    assert y.dtype == dtype
    assert float(y[0, 0, 0, 0]) == 1.0
    s = _pool(jaxpool.sum_pool, x, jit, (w, w))
    assert s.dtype == dtype and float(s[0, 0, 0, 0]) == w * w
    g = _grad_sum(jaxpool.avg_pool, x, jit, (w, w))
    assert g.dtype == dtype
    np.testing.assert_array_equal(np.asarray(g, np.float32), np.full(x.shape, 1.0 / (w * w)))


@JIT
def test_P24_integer_dtypes(jit):
    kw = dict(window_shape=(2, 2), strides=1)
    cases = [
        (np.int32, [[-3, -1], [-2, -4]], "SAME", [[-1, -1], [-2, -4]]),
        (np.int32, [[-3, -1], [-2, -4]], 1, [[-3, -1, -1], [-2, -1, -1], [-2, -2, -4]]),
        (np.int8, [[-128, -100], [-120, -127]], "SAME", [[-100, -100], [-120, -127]]),
        (np.uint8, [[3, 1], [4, 2]], "SAME", [[4, 2], [4, 2]]),
    ]
    for dtype, rows, padding, want in cases:
        y = _pool(jaxpool.max_pool, _img(rows, dtype), jit, padding=padding, **kw)
        assert y.dtype == dtype
        np.testing.assert_array_equal(_sp(y), want)
    # min mirrors max with the dtype's max as identity.
    y = _pool(jaxpool.min_pool, _img([[127, 100], [120, 126]], np.int8), jit, padding="SAME", **kw)
    assert y.dtype == np.int8
    np.testing.assert_array_equal(_sp(y), [[100, 100], [120, 126]])
    y = _pool(jaxpool.max_pool, _img([[-128, -128], [-128, -128]], np.int8), jit, padding=1, **kw)
    np.testing.assert_array_equal(_sp(y), np.full((3, 3), -128))
    y = _pool(jaxpool.avg_pool, _img([[1, 2], [3, 4]], np.int32), jit, (2, 2))
    assert y.dtype == jnp.float32
    _close(_sp(y), [[2.5]])
