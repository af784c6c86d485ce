"""Every invalid argument of docs/semantics.md §2, §3 and §6 raises the right exception with a helpful message.

Each case asserts the exception type and that the message names the argument and the offending
value (and, where SPEC asks, the input rank and layout, or the dim, its size and the effective
window). The same checks run through every op and through ``pool_output_shape`` where they apply.
"""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxpool

X2 = np.arange(2 * 5 * 6 * 3, dtype=np.float32).reshape(2, 5, 6, 3)  # (batch, H, W, C)
OPS = {
    "max_pool": lambda x, *a, **k: jaxpool.max_pool(x, *a, **k),
    "min_pool": lambda x, *a, **k: jaxpool.min_pool(x, *a, **k),
    "sum_pool": lambda x, *a, **k: jaxpool.sum_pool(x, *a, **k),
    "avg_pool": lambda x, *a, **k: jaxpool.avg_pool(x, *a, **k),
    "lp_pool": lambda x, *a, **k: jaxpool.lp_pool(x, 2.0, *a, **k),
    "pool_output_shape": lambda x, *a, **k: jaxpool.pool_output_shape(np.shape(x), *a, **k),
}


def token(value) -> str:
    """A regex matching ``value`` as a standalone token (not inside a longer number)."""
    return rf"(?<![\w.]){re.escape(str(value))}(?![\w.])"


def assert_raises(exc, fn, *args, names=(), values=(), match=None, **kwargs) -> str:
    """Call fn; assert ``exc`` matching ``match`` (default: the first name, else the first value), and that each
    name (substring) and value (token) is named."""
    if match is None:
        match = re.escape(names[0]) if names else token(values[0])
    with pytest.raises(exc, match=match) as info:
        fn(*args, **kwargs)
    msg = str(info.value)
    for name in names:
        assert name in msg, f"message does not name {name!r}: {msg!r}"
    for value in values:
        assert re.search(token(value), msg), f"message does not show {value!r}: {msg!r}"
    return msg


@pytest.mark.parametrize("op", list(OPS))
def test_window_longer_than_rank_allows(op):
    # P19: (4, 3) with a 3-entry window would pool over the batch in Flax.
    msg = assert_raises(ValueError, OPS[op], np.zeros((4, 3), np.float32), (2, 2, 2),
                        names=("window_shape", "(*batch, *spatial, features)"))
    assert re.search(r"rank\D{0,12}2|2-d|ndim\D{0,12}2|2 dim", msg), msg
    assert_raises(ValueError, OPS[op], np.zeros((4, 3), np.float32), (2, 2, 2),
                  channels_first=True, names=("window_shape", "(*batch, features, *spatial)"))


@pytest.mark.parametrize("shape", [(5,), (4, 4)])
def test_all_int_arguments_need_rank_at_least_three(shape):
    # All ints: N = ndim - 2, which is < 1 here.
    assert_raises(ValueError, jaxpool.max_pool, np.zeros(shape, np.float32), 2,
                  names=("window_shape",))


@pytest.mark.parametrize("op", list(OPS))
@pytest.mark.parametrize(("kwargs", "name"), [
    ({"window_shape": (2, 2), "strides": (1, 1, 1)}, "strides"),
    ({"window_shape": (2, 2), "dilation": (1,)}, "dilation"),
    ({"window_shape": 2, "strides": (1, 2), "dilation": (1, 2, 3)}, "dilation"),
    ({"window_shape": (2, 2), "padding": ((1, 1), (1, 1), (1, 1))}, "padding"),
    ({"window_shape": (2, 2), "padding": (1, 1, 1)}, "padding"),
    ({"window_shape": (2, 2), "padding": ((1, 1),)}, "padding"),
])
def test_tuple_length_mismatch(op, kwargs, name):
    assert_raises(ValueError, OPS[op], X2, names=(name,), **kwargs)


@pytest.mark.parametrize("op", list(OPS))
@pytest.mark.parametrize(("kwargs", "name", "bad"), [
    ({"window_shape": (0, 2)}, "window_shape", 0),
    ({"window_shape": (2, -1)}, "window_shape", -1),
    ({"window_shape": 0}, "window_shape", 0),
    ({"window_shape": (2, 2), "strides": (1, 0)}, "strides", 0),
    ({"window_shape": (2, 2), "strides": -2}, "strides", -2),
    ({"window_shape": (2, 2), "dilation": (0, 1)}, "dilation", 0),
    ({"window_shape": (2, 2), "dilation": -1}, "dilation", -1),
])
def test_non_positive_window_stride_dilation(op, kwargs, name, bad):
    assert_raises(ValueError, OPS[op], X2, names=(name,), values=(bad,), **kwargs)


@pytest.mark.parametrize("name", ["window_shape", "strides", "dilation"])
def test_non_integer_window_stride_dilation(name):
    kwargs = {"window_shape": (2, 2), name: (2, 1.5)}
    assert_raises((TypeError, ValueError), jaxpool.max_pool, X2, names=(name,), values=(1.5,),
                  **kwargs)


@pytest.mark.parametrize("op", list(OPS))
@pytest.mark.parametrize(("padding", "bad"), [
    (-1, -1), ((0, -2), -2), (((0, 0), (1, -1)), -1),
    ("FOO", "FOO"), ("", None), (((1, 2, 3), (0, 0)), None), (((1,), (0, 0)), None),
])
def test_malformed_or_negative_padding(op, padding, bad):
    values = () if bad is None else (bad,)
    assert_raises(ValueError, OPS[op], X2, (2, 2), 1, padding, names=("padding",), values=values)


@pytest.mark.parametrize("padding", [1.5, ((0.5, 1), (0, 0)), None, {"a": 1}])
def test_padding_of_wrong_type(padding):
    assert_raises((TypeError, ValueError), jaxpool.max_pool, X2, (2, 2), 1, padding,
                  names=("padding",))


@pytest.mark.parametrize("op", list(OPS))
@pytest.mark.parametrize("padding", ["SAME", "VALID", "same", "SAME_LOWER"])
def test_ceil_mode_with_string_padding(op, padding):
    assert_raises(ValueError, OPS[op], X2, (2, 2), 2, padding, ceil_mode=True,
                  names=("ceil_mode",), values=(padding,))


@pytest.mark.parametrize("op", list(OPS))
def test_windows_sampling_only_padding(op):
    x = np.asarray([[1, 2], [3, 4]], np.float32)[None, :, :, None]  # P05
    assert_raises(ValueError, OPS[op], x, (2, 2), 1, 2, names=("padding",))
    assert OPS[op](x, (2, 2), 1, 1) is not None  # padding 1 is fine
    # Dilation: size 2, window 2, dilation 3, SAME pads (2, 2); the middle windows see no input.
    x1 = np.ones((1, 2, 1), np.float32)
    assert_raises(ValueError, OPS[op], x1, (2,), 1, "SAME", dilation=3, match="padding|dilation")
    # Explicit: size 3, window 2, dilation 4, padding 2: window 1 samples positions -1 and 3.
    x3 = np.ones((1, 3, 1), np.float32)
    assert_raises(ValueError, OPS[op], x3, (2,), 1, 2, dilation=4, match="padding|dilation")


@pytest.mark.parametrize("op", list(OPS))
def test_empty_output_names_dim_size_and_effective_window(op):
    x = np.ones((1, 3, 3, 1), np.float32)  # P16: window 4x4 on 3x3, VALID
    msg = assert_raises(ValueError, OPS[op], x, (4, 4), values=(3, 4))
    assert re.search(r"dim|axis", msg), msg
    x = np.ones((1, 5, 6, 1), np.float32)  # dim 1: size 6, window 3, dilation 3 -> effective 7
    msg = assert_raises(ValueError, OPS[op], x, (2, 3), dilation=(1, 3), values=(6, 7))
    assert re.search(r"(dim|axis)\D{0,3}1", msg), msg
    x = np.ones((1, 2, 1), np.float32)  # P14: ones(2), window 3, dilation 2 (effective 5), VALID
    assert_raises(ValueError, OPS[op], x, (3,), dilation=2, values=(2, 5))


@pytest.mark.parametrize("norm_type", [0.5, 0.0, -1.0, float("inf"), float("nan"), -float("inf")])
def test_lp_norm_must_be_finite_and_at_least_one(norm_type):
    assert_raises(ValueError, jaxpool.lp_pool, X2, norm_type, (2, 2), names=("norm_type",),
                  values=(norm_type,))


@pytest.mark.parametrize("op", [o for o in OPS if o != "pool_output_shape"])
@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_complex_inputs_raise_type_error(op, dtype):
    assert_raises(TypeError, OPS[op], X2.astype(dtype), (2, 2), match="complex")


@pytest.mark.parametrize("name", ["window_shape", "strides", "dilation", "padding"])
def test_traced_static_arguments_raise_type_error(name):
    def f(x, v):
        kwargs = {"window_shape": (2, 2), name: (v, 1)}
        if name == "padding":
            kwargs[name] = ((v, v), (0, 0))
        return jaxpool.max_pool(x, **kwargs)

    assert_raises(TypeError, jax.jit(f), jnp.asarray(X2), 1, names=(name,))


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"channels_first": "yes"}, "channels_first"), ({"channels_first": None}, "channels_first"),
    ({"ceil_mode": "yes"}, "ceil_mode"),
])
@pytest.mark.parametrize("op", list(OPS))
def test_bad_flag_types(op, kwargs, name):
    assert_raises(TypeError, OPS[op], X2, (2, 2), names=(name,), **kwargs)


@pytest.mark.parametrize(("kwargs", "exc", "name"), [
    ({"divisor_override": 0}, ValueError, "divisor_override"),
    ({"divisor_override": -3}, ValueError, "divisor_override"),
    ({"divisor_override": 1.5}, (TypeError, ValueError), "divisor_override"),
    ({"count_include_pad": "no"}, TypeError, "count_include_pad"),
])
def test_bad_avg_options(kwargs, exc, name):
    assert_raises(exc, jaxpool.avg_pool, X2, (2, 2), names=(name,), **kwargs)


def test_errors_come_before_any_compute():
    """Validation is static: it fails while tracing, on shapes alone (no array data needed)."""
    spec = jax.ShapeDtypeStruct((2, 3, 3, 1), jnp.float32)
    with pytest.raises(ValueError, match="window_shape"):
        jax.eval_shape(lambda v: jaxpool.max_pool(v, (0, 2)), spec)
    with pytest.raises(ValueError, match="padding"):
        jax.eval_shape(lambda v: jaxpool.avg_pool(v, (2, 2), 1, -1), spec)
