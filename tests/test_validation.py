"""The argument layer (``jaxpool/_args.py``): every failing call of issue 15's table, as a regression test.

Each bad call must raise jaxpool's own TypeError/ValueError naming the argument (``match=``), without hanging,
overflowing or allocating; each valid spelling the issue found rejected must give the brute-force reference's
value. The closed-form geometry checks (padding-only windows, average divisors) are compared with brute-force
loops over every window position on a full grid of small cases.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from reference import pool_reference, pool_reference_output_shape
from strategies import hang_guard

import jaxpool
import jaxpool.linen as jpl
import jaxpool.nnx as jpn
from jaxpool._geometry import AxisGeometry, first_padding_only_window

X = jnp.ones((1, 6, 1))  # the input
XR = np.random.default_rng(0).normal(size=(2, 7, 3)).astype(np.float32)
HANG_BOUND_S = 60  # generous: every check here takes milliseconds; this only turns a hang into a failure




# (call, exception, argument name) -- the rows of issue 15's table, one or more example each.
BAD_CALLS = {
    # hangs: loops over range(window) in validation
    "hang_blur_filter_2**62": (lambda: jaxpool.blur_pool(X, 2, 2**62, padding="zero"), ValueError, "filter_size"),
    "hang_linen_lp_10**30": (lambda: jpl.LPPool(2.0, 10**30, padding="same"), ValueError, "window_shape"),
    "hang_nnx_lp_10**30": (lambda: jpn.LPPool(2.0, 10**30, padding="same"), ValueError, "window_shape"),
    # OverflowError
    "overflow_strides_2**63": (lambda: jaxpool.max_pool(X, 2, strides=2**63), ValueError, "strides"),
    "overflow_norm_10**400": (lambda: jaxpool.lp_pool(X, 10**400, 2), ValueError, "norm_type"),
    "overflow_adaptive_2**63": (lambda: jaxpool.adaptive_avg_pool(X, 2**63), ValueError, "output_size"),
    "overflow_dilation_2**63": (lambda: jaxpool.avg_pool(X, 2, dilation=2**63), ValueError, "dilation"),
    "overflow_unpool_2**63": (lambda: jaxpool.max_unpool(X, jnp.zeros((1, 6, 1), jnp.int32), 2**63), ValueError,
                              "output_size"),
    # MemoryError / OOM before validation
    "oom_padding_2**31": (lambda: jaxpool.max_pool(jnp.ones((2, 5, 3), jnp.int8), 1, 3, ((0, 2**31),)), ValueError,
                          "padding"),
    "oom_padding_only_window": (lambda: jaxpool.max_pool(jnp.ones((2, 5, 3), jnp.int8), 1, 3, ((0, 2**31 - 1),)),
                                ValueError, "padding"),
    "oom_padded_extent_2**31": (lambda: jaxpool.max_pool(X, 2**31 - 1, 1, 2**30), ValueError, "padding"),
    # unhelpful messages (a fresh user's review)
    "ceil_mode_valid_says_padding_0": (lambda: jaxpool.max_pool(X, 2, 2, ceil_mode=True), ValueError,
                                       "ceil_mode=True needs explicit padding.*pass padding=0"),
    "rank_1_int_window": (lambda: jaxpool.max_pool(jnp.ones((4,)), 2), ValueError,
                          "rank 1 has no spatial dim when window_shape is a single int.*sequence of N ints"),
    "rank_1_global": (lambda: jaxpool.global_avg_pool(jnp.ones((4,))), ValueError,
                      "rank 1 has no spatial dim when num_spatial_dims is not given.*num_spatial_dims=N"),
    # empty sequences: named, not read as "no spatial dim" (a fresh user's review)
    "empty_window": (lambda: jaxpool.max_pool(jnp.ones((1, 5, 5, 1)), ()), ValueError,
                     r"window_shape=\(\) is empty; give an int or one entry per spatial dim"),
    "empty_strides": (lambda: jaxpool.avg_pool(jnp.ones((1, 5, 5, 1)), 2, ()), ValueError, r"strides=\(\) is empty"),
    "empty_dilation": (lambda: jaxpool.max_pool(jnp.ones((1, 5, 5, 1)), 2, dilation=()), ValueError,
                       r"dilation=\(\) is empty"),
    "empty_window_output_shape": (lambda: jaxpool.pool_output_shape((1, 5, 5, 1), ()), ValueError,
                                  r"window_shape=\(\) is empty"),
    "empty_blur_strides": (lambda: jaxpool.blur_pool(jnp.ones((3, 9, 9, 2)), ()), ValueError,
                           r"strides=\(\) is empty"),
    "empty_adaptive": (lambda: jaxpool.adaptive_avg_pool(jnp.ones((1, 5, 5, 1)), ()), ValueError,
                       r"output_size=\(\) is empty"),
    "none_adaptive": (lambda: jaxpool.adaptive_avg_pool(jnp.ones((1, 5, 5, 1)), None), TypeError,
                      r"output_size must be a positive int or a sequence of positive ints or None, got None"),
    "oom_nnx_global_2**31": (lambda: jpn.GlobalAvgPool(num_spatial_dims=2**31), ValueError, "num_spatial_dims"),
    "oom_linen_global_2**31": (lambda: jpl.GlobalMaxPool(num_spatial_dims=2**31), ValueError, "num_spatial_dims"),
    # errors raised inside numpy / jax
    "numpy_padding_10**30": (lambda: jaxpool.max_pool(X, 2, 1, 10**30), ValueError, "padding"),
    "jax_string_inputs": (lambda: jaxpool.max_pool("abc", 2), TypeError, "inputs"),
    "none_inputs": (lambda: jaxpool.avg_pool(None, 2), TypeError, "inputs"),
    "none_values_unpool": (lambda: jaxpool.max_unpool(None, np.zeros((1, 1, 1), np.int32), 2), TypeError, "values"),
    "object_inputs": (lambda: jaxpool.sum_pool(np.array([[[object()]]]), 1), TypeError, "inputs"),
    "bytes_inputs": (lambda: jaxpool.global_avg_pool(b"abc"), TypeError, "inputs"),
    "empty_global_avg": (lambda: jaxpool.global_avg_pool(np.ones((1, 0, 4, 1), np.float32)), ValueError,
                         "global_avg_pool: spatial dim 0"),
    "empty_global_max": (lambda: jaxpool.global_max_pool(np.ones((1, 4, 0, 1), np.float32)), ValueError,
                         "global_max_pool: spatial dim 1"),
    # messages naming no argument
    "ragged_inputs": (lambda: jaxpool.max_pool([[[1.0], [2.0]], [[1.0]]], 1), TypeError, "inputs"),
    "ragged_adaptive": (lambda: jaxpool.adaptive_max_pool([[[1.0], [2.0]], [[1.0]]], 1), TypeError, "inputs"),
    # silently accepted
    "bool_window": (lambda: jaxpool.max_pool(X, (True,)), TypeError, "window_shape"),
    "bytes_window": (lambda: jaxpool.max_pool(X, b"\x02"), TypeError, "window_shape"),
    "float_input_shape": (lambda: jaxpool.pool_output_shape((1, 5.9, 1), 2), TypeError, "input_shape"),
    "str_input_shape": (lambda: jaxpool.pool_output_shape(("1", "6", "1"), 2), TypeError, "input_shape"),
    "string_input_shape": (lambda: jaxpool.pool_output_shape("161", 2), TypeError, "input_shape"),
    "bool_padding_entry": (lambda: jaxpool.max_pool(X, 2, 1, ((True, 0),)), TypeError, "padding"),
    "float_output_size": (lambda: jaxpool.adaptive_avg_pool(X, 2.0), TypeError, "output_size"),
    "bool_divisor": (lambda: jaxpool.avg_pool(X, 2, divisor_override=True), TypeError, "divisor_override"),
    "bool_filter_size": (lambda: jaxpool.blur_pool(X, 2, True), TypeError, "filter_size"),
    "int_flag": (lambda: jaxpool.global_max_pool(X, keepdims=1), TypeError, "keepdims"),
    "float_array_window": (lambda: jaxpool.max_pool(X, (np.asarray(2.0),)), TypeError, "window_shape"),
    # PyTorch / Keras spellings
    "torch_kernel_size": (lambda: jaxpool.max_pool(X, kernel_size=2, stride=2), TypeError, "window_shape"),
    "torch_stride": (lambda: jaxpool.avg_pool(X, 2, stride=2), TypeError, "strides"),
    "torch_return_indices": (lambda: jaxpool.max_pool(X, 2, return_indices=True), TypeError,
                             "max_pool_with_indices"),
    "torch_output_size": (lambda: jaxpool.max_pool(X, 2, output_size=3), TypeError, "adaptive"),
    "torch_input": (lambda: jaxpool.min_pool(input=X, window_shape=2), TypeError, "inputs"),
    "torch_blur_kernel": (lambda: jaxpool.blur_pool(X, kernel_size=3), TypeError, "filter_size"),
    "torch_unpool_kernel": (lambda: jaxpool.max_unpool(X, X.astype(jnp.int32), 6, kernel_size=2), TypeError,
                            "output_size"),
    "torch_linen_kernel": (lambda: jpl.MaxPool(kernel_size=2), TypeError, "window_shape"),
    "torch_nnx_stride": (lambda: jpn.AvgPool(2, stride=2), TypeError, "strides"),
    "torch_output_shape": (lambda: jaxpool.pool_output_shape((1, 6, 1), kernel_size=2), TypeError, "window_shape"),
}


@pytest.mark.parametrize("name", list(BAD_CALLS))
def test_bad_call_raises_naming_the_argument(name):
    call, exc, arg = BAD_CALLS[name]
    with hang_guard(HANG_BOUND_S), pytest.raises(exc, match=arg):
        call()


def test_huge_valid_geometry_is_checked_in_bounded_time():
    # The hang: a 10**7 window with SAME padding is valid (every window covers the whole input); its
    # validation is closed form now. (Computing it still costs one view per window offset: issue 12.)
    with hang_guard(HANG_BOUND_S):
        assert jaxpool.pool_output_shape((1, 6, 1), 10**7, padding="SAME") == (1, 6, 1)
        assert jaxpool.pool_output_shape((1, 6, 1), 2**31 - 1, 2**31 - 1, padding="SAME") == (1, 1, 1)
        # eff = 2 * 2**28 + 1, out = floor((2**31 - 1 - 2**29 - 1) / 2**29) + 1 = 2 + 1
        assert jaxpool.pool_output_shape((1, 2**31 - 1, 1), 3, 2**29, dilation=2**28) == (1, 3, 1)
        # an input longer than int32 positions is refused naming its size, with or without padding
        for padding in (0, 1):
            with pytest.raises(ValueError, match=r"spatial dim 0 \(input axis 1\) of the input \(shape \(1, "
                                                 r"1099511627776, 1\)\) has size 1099511627776"):
                jaxpool.pool_output_shape((1, 2**40, 1), 3, 2, padding)
        big = jax.ShapeDtypeStruct((1, 2**31 + 10, 1), jnp.float32)
        with pytest.raises(ValueError, match="has size 2147483658, beyond the largest size"):
            jax.eval_shape(lambda v: jaxpool.max_pool(v, 3, 2), big)
        # 2**31 - 1 windows of which the one starting at 3 samples only padding (dilation 2**30 skips the input)
        with pytest.raises(ValueError, match="padding"):
            jaxpool.pool_output_shape((1, 3, 1), 2, 1, 2**30 - 3, dilation=2**30)
        jpl.MaxPool(10**7, padding="SAME")  # builds without tracing the kernel
        jpn.MaxPool(10**7, padding="SAME")


def test_a_stride_beyond_the_input_costs_what_the_input_does():
    # One window per dim: the stride samples nothing, so 10**9 gives the values of a stride the size of the
    # padded input, in bounded time and memory (blur_pool padded to whole strides: 72 GB; max_pool's gradient
    # compiled one phase per stride position: 65 s at 3 * 10**4)
    from reference import blur_reference, pool_reference_vjp

    x = np.random.default_rng(1).normal(size=(1, 6, 5, 2)).astype(np.float32)
    with hang_guard(HANG_BOUND_S):
        y = jaxpool.blur_pool(x, 10**9, 3)
        assert y.shape == (1, 1, 1, 2)
        np.testing.assert_allclose(y, blur_reference(x, 10**9, 3, padding="reflect"), rtol=1e-6)
        g = jax.grad(lambda v: jaxpool.max_pool(v, (3, 2), 10**9).sum())(x)
        ones = np.ones((1, 1, 1, 2), np.float32)
        np.testing.assert_array_equal(g, pool_reference_vjp(x, ones, "max", (3, 2), 10**9))
        # strides beyond the window, several outputs: the reverse pass builds only the phases windows read
        x1 = np.random.default_rng(2).normal(size=(1, 4096, 2)).astype(np.float32)
        grad = jax.jit(jax.grad(lambda v: jaxpool.max_pool(v, 3, 1024, "SAME").sum())).lower(x1).compile()
        small = jax.jit(jax.grad(lambda v: jaxpool.max_pool(v, 3, 4, "SAME").sum())).lower(x1).compile()
        assert len(grad.as_text()) < 2 * len(small.as_text())
        np.testing.assert_array_equal(jaxpool.max_pool(x1, 3, 1024, "SAME"), pool_reference(x1, "max", 3, 1024, "SAME"))
        ct = np.ones((1, 4, 2), np.float32)
        np.testing.assert_array_equal(grad(x1), pool_reference_vjp(x1, ct, "max", 3, 1024, "SAME"))


def test_int64_unpool_indices_do_not_wrap():
    values = jnp.array([[[7.0]]])
    out = jaxpool.max_unpool(values, np.array([[[2**32 + 1]]], np.int64), 4)
    np.testing.assert_array_equal(np.asarray(out).ravel(), [0, 0, 0, 0])  # ignored, as documented
    out = jaxpool.max_unpool(values, np.array([[[2]]], np.int64), 4)
    np.testing.assert_array_equal(np.asarray(out).ravel(), [0, 0, 7, 0])
    out = jaxpool.max_unpool(values, np.array([[[2**32 - 2]]], np.uint32), 4)  # would wrap to -2 as int32
    np.testing.assert_array_equal(np.asarray(out).ravel(), [0, 0, 0, 0])
    with jax.enable_x64(True):
        out = jaxpool.max_unpool(values, jnp.array([[[2**32 + 3]]], jnp.int64), 4)
        np.testing.assert_array_equal(np.asarray(out).ravel(), [0, 0, 0, 0])


def test_numpy_bool_flags_and_array_ints_are_accepted():
    x = XR.transpose(0, 2, 1)[None]  # (1, 2, 3, 7): channels first, 2-D
    ref = pool_reference(x, "max", (3, 3), channels_first=True)
    y = jpl.MaxPool((3, 3), channels_first=np.bool_(True)).apply({}, x)
    np.testing.assert_array_equal(y, ref)
    np.testing.assert_array_equal(jpn.MaxPool((3, 3), channels_first=np.bool_(True))(x), ref)
    ref = pool_reference(XR, "max", (2,))
    np.testing.assert_array_equal(jpn.MaxPool((jnp.asarray(2),))(XR), ref)
    np.testing.assert_array_equal(jpl.MaxPool((jnp.asarray(2),)).apply({}, XR), ref)
    np.testing.assert_array_equal(jaxpool.max_pool(XR, np.asarray(2), np.int64(1)), ref)
    ref = pool_reference(XR, "avg", (3,), (2,), 1, ceil_mode=True, count_include_pad=False)
    y = jaxpool.avg_pool(XR, np.int8(3), jnp.asarray(2), np.int64(1), np.bool_(False), ceil_mode=np.bool_(True))
    np.testing.assert_allclose(y, ref, rtol=1e-6)
    assert jaxpool.pool_output_shape((np.int64(1), jnp.asarray(6), 1), 2) == (1, 5, 1)
    v, i = jaxpool.adaptive_max_pool(XR, jnp.asarray(3), return_indices=np.bool_(True))
    assert v.shape == i.shape == (2, 3, 3)
    np.testing.assert_allclose(jaxpool.global_avg_pool(XR, keepdims=np.bool_(True))[:, 0], XR.mean(1), rtol=1e-6)


def test_nested_lists_are_inputs():
    lst = XR.tolist()
    np.testing.assert_array_equal(jaxpool.max_pool(lst, 3, 2), pool_reference(XR, "max", 3, 2))


def test_traced_sizes_raise_type_error():
    with pytest.raises(TypeError, match="window_shape"):
        jax.jit(lambda x, w: jaxpool.max_pool(x, (w,)))(XR, 2)
    with pytest.raises(TypeError, match="output_size"):
        jax.jit(lambda x, o: jaxpool.adaptive_avg_pool(x, o))(XR, 2)
    with pytest.raises(TypeError, match="norm_type"):
        jax.jit(lambda x, p: jaxpool.lp_pool(x, p, 2))(XR, 2.0)


def _brute_first_padding_only(size, w, s, d, lo, out):
    for i in range(out):
        if not any(0 <= i * s - lo + k * d < size for k in range(w)):
            return i
    return None


def test_closed_form_checks_equal_brute_force_loops():
    """Every (size, window, stride, dilation, low, high) of a small grid: the first padding-only window and the
    avg divisors with and without padding equal loops over every window position."""
    checked = 0
    for size, w, s, d, lo, hi in itertools.product(range(1, 6), range(1, 5), range(1, 4), range(1, 8),
                                                   range(0, 8), range(0, 8)):
        eff = d * (w - 1) + 1
        if size + lo + hi < eff:
            continue
        out = (size + lo + hi - eff) // s + 1
        ax = AxisGeometry(0, size, w, s, d, lo, hi, out)
        assert first_padding_only_window(ax) == _brute_first_padding_only(size, w, s, d, lo, out)
        for lo_b, hi_b, include in ((-lo, size + hi, True), (0, size, False)):
            brute = [sum(lo_b <= i * s - lo + k * d < hi_b for k in range(w)) for i in range(out)]
            np.testing.assert_array_equal(ax.counts(include), brute)
        checked += 1
    assert checked > 10000


@pytest.mark.parametrize("shape", [(1, 9, 1), (2, 3, 7, 2)])
def test_reference_shape_where_valid(shape):
    # the reference's own geometry on spellings the issue found silently coerced (np.int64, 0-d arrays)
    for args in [((3,), (np.int64(2),), 1), ((np.asarray(2),), None, ((1, 0),))]:
        w, s, p = args
        n = len(w)
        want = pool_reference_output_shape(shape, tuple(int(v) for v in w),
                                           None if s is None else tuple(int(v) for v in s), p)
        if len(shape) - 2 >= n:
            assert jaxpool.pool_output_shape(shape, w, s, p) == want
