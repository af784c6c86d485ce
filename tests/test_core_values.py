"""Values, gradients and dtypes of the core ops against the brute-force reference (docs/semantics.md §1–4).

Hypothesis draws problems over N = 1, 2, 3, every padding form, dilation, ceil_mode,
count_include_pad, divisor_override, both layouts and 0–2 batch axes, with tie-heavy and NaN/inf
data, and from the fault classes of cases/pitfalls.md that are value-and-gradient checks (overlapping windows,
ceil_mode, dilation, padding beside +-inf); each value is checked eagerly (NumPy input) and under ``jit``, and
``jax.grad`` of ``sum(out * cotangent)`` against the reference's brute-force gradient. This is the only file
that runs that check on generated problems (the other files check hand-derived values, transformations and
oracles). Low-precision sums are held to one ulp of the exact result (docs/semantics.md §3: float32
accumulation, one rounding); x64 has its own test. Integer/bool values are in test_pitfall_classes.py (P24),
finite differences in test_transforms.py.
"""

from __future__ import annotations

import inspect

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import (
    pool_reference,
    pool_reference_exact,
    pool_reference_output_shape,
    pool_reference_vjp,
    result_dtype,
)
from strategies import FNS, PoolCase, call, pool_cases

import jaxpool


def value_of(case: PoolCase, x, *, jit: bool):
    """Eager on the NumPy array itself, or jitted on a jax array."""
    return jax.jit(lambda v: call(case, v))(jnp.asarray(x)) if jit else call(case, x)


def grad_of(case: PoolCase, x, ct, *, jit: bool):
    loss = lambda v: jnp.sum(call(case, v) * ct)
    g = jax.grad(loss)
    return np.asarray(jax.jit(g)(x) if jit else g(x))


def ulp(v: np.ndarray, dtype) -> np.ndarray:
    """Spacing of ``dtype`` numbers at |v| (v float64)."""
    info = ml_dtypes.finfo(dtype)
    mag = np.maximum(np.abs(np.nan_to_num(v)), float(info.smallest_normal))
    return 2.0 ** (np.floor(np.log2(mag)) - info.nmant)


def check_values(case: PoolCase, x_np: np.ndarray, got, rtol: float) -> None:
    ref = pool_reference(x_np, case.op, **case.ref_kwargs())
    got = np.asarray(got)
    assert got.dtype == ref.dtype, (got.dtype, ref.dtype)
    assert got.shape == ref.shape, (got.shape, ref.shape)
    np.testing.assert_allclose(got.astype(np.float64), ref.astype(np.float64), rtol=rtol,
                               atol=rtol, err_msg=f"values of {case!r}")


def _dilated(case: PoolCase) -> bool:
    d = case.dilation
    return d is not None and (d > 1 if isinstance(d, int) else max(d) > 1)


# The one home of the float32 value-and-gradient check against the reference: the whole problem space, plus the
# fault classes of cases/pitfalls.md that need it (test_pitfall_classes.py checks their other properties):
# overlapping windows (stride <= 2), ceil_mode, dilation, and the padding value beside +-inf for max/min/avg.
FLOAT32_CASES = st.one_of(
    pool_cases(data=("ties", "nan", "inf", "distinct")),
    pool_cases(max_stride=2, data=("ties", "distinct")),
    pool_cases(paddings=("int", "ints", "pairs"), data=("ties", "distinct")).filter(lambda c: c.ceil_mode),
    pool_cases(data=("ties", "distinct")).filter(_dilated),
    pool_cases(ops=("max", "min", "avg"), data=("ties", "inf")),
)


@settings(max_examples=settings.default.max_examples * 8 // 5)
@given(case=FLOAT32_CASES, jit=st.booleans())
def test_float32_values_and_gradients(case: PoolCase, jit: bool):
    x_np = case.x.astype(np.float32)
    rtol = 1e-5 if case.op == "lp" else 1e-6
    check_values(case, x_np, value_of(case, x_np, jit=jit), rtol)
    shape = jaxpool.pool_output_shape(x_np.shape, **case.geometry_kwargs())
    assert tuple(shape) == pool_reference_output_shape(x_np.shape, **case.geometry_kwargs())
    ct = np.random.default_rng(case.seed).normal(size=shape).astype(np.float32)
    want = pool_reference_vjp(x_np, ct, case.op, **case.ref_kwargs())
    got = grad_of(case, jnp.asarray(x_np), jnp.asarray(ct), jit=jit)
    assert got.dtype == np.float32 and got.shape == x_np.shape
    tol = 1e-4 if case.op == "lp" else 1e-5
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol, err_msg=f"grad of {case!r}")


@given(case=pool_cases(data=("ties", "nan", "inf"), ns=(1, 2)),
       dtype=st.sampled_from([jnp.bfloat16, jnp.float16]))
def test_low_precision_sums_round_once(case: PoolCase, dtype):
    x_np = case.x.astype(dtype)
    got = np.asarray(value_of(case, x_np, jit=True))
    assert got.dtype == np.dtype(dtype)
    exact = pool_reference_exact(x_np, case.op, **case.ref_kwargs()).astype(np.float64)
    got64 = got.astype(np.float64)
    np.testing.assert_array_equal(np.isnan(got64), np.isnan(exact), err_msg=repr(case))
    with np.errstate(invalid="ignore"):  # inf - inf where both are inf
        ok = np.isnan(exact) | (got64 == exact) | (np.abs(got64 - exact) <= ulp(exact, dtype))
    assert ok.all(), f"{case!r}\nexact={exact.ravel()}\ngot={got64.ravel()}"
    rng = np.random.default_rng(case.seed)
    ct = rng.normal(size=got.shape).astype(dtype)
    want = pool_reference_vjp(x_np, ct.astype(np.float64), case.op, **case.ref_kwargs())
    g = grad_of(case, jnp.asarray(x_np), jnp.asarray(ct), jit=True)
    assert g.dtype == np.dtype(dtype)
    g64 = g.astype(np.float64)
    if case.op == "lp":  # the derivative is a product of powers: a couple of roundings
        np.testing.assert_allclose(g64, want, rtol=2.0 ** -6, atol=1e-3, err_msg=repr(case))
        return
    scale = pool_reference_vjp(x_np, np.abs(ct.astype(np.float64)), case.op, **case.ref_kwargs())
    bad = np.abs(g64 - want) > ulp(want, dtype) + 2.0 ** -20 * scale
    assert not bad.any(), f"{case!r}\nwant={want[bad]}\ngot={g64[bad]}"


@given(case=pool_cases(data=("ties", "nan", "distinct"), ns=(1, 2)))
def test_float64_values_and_gradients_x64(case: PoolCase):
    with jax.enable_x64(True):
        x = jnp.asarray(case.x, jnp.float64)
        check_values(case, case.x, value_of(case, x, jit=True), 1e-12)
        shape = pool_reference_output_shape(case.x.shape, **case.geometry_kwargs())
        ct = np.random.default_rng(case.seed).normal(size=shape)
        want = pool_reference_vjp(case.x, ct, case.op, **case.ref_kwargs())
        got = grad_of(case, x, jnp.asarray(ct), jit=True)
        assert got.dtype == np.float64
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12, err_msg=repr(case))


DTYPE_TABLE = [  # (input dtype, op) -> docs/semantics.md §3 result dtype, x64 off
    (np.bool_, "max", np.bool_), (np.bool_, "min", np.bool_), (np.bool_, "sum", np.int32),
    (np.bool_, "avg", np.float32), (np.bool_, "lp", np.float32),
    (np.int8, "max", np.int8), (np.int8, "sum", np.int32), (np.int8, "avg", np.float32),
    (np.uint8, "min", np.uint8), (np.uint8, "sum", np.uint32), (np.int32, "lp", np.float32),
    (np.int16, "avg", np.float32), (jnp.bfloat16, "avg", jnp.bfloat16),
    (jnp.bfloat16, "sum", jnp.bfloat16), (np.float16, "lp", np.float16),
    (np.float16, "max", np.float16), (np.float32, "sum", np.float32),
]


@pytest.mark.parametrize(("dtype", "op", "want"), DTYPE_TABLE)
def test_result_dtypes(dtype, op, want):
    x = np.arange(1, 13).reshape(1, 3, 4, 1).astype(dtype)
    case = PoolCase(op, x, (2, 2), norm_type=2.0 if op == "lp" else None)
    assert result_dtype(dtype, op) == np.dtype(want)  # the reference agrees with the table
    check_values(case, x, call(case, x), 1e-2)
    assert np.asarray(call(case, x)).dtype == np.dtype(want)


@pytest.mark.parametrize(("dtype", "op", "want"), [  # jnp.mean of int8/int32 is float32 under x64
    (np.float64, "max", np.float64), (np.float64, "avg", np.float64),
    (np.float64, "lp", np.float64),
    (np.int32, "sum", np.int64), (np.uint8, "sum", np.uint64), (np.int8, "avg", np.float32),
    (np.bool_, "sum", np.int64), (np.int64, "avg", np.float64), (np.int64, "lp", np.float64),
    (np.int64, "max", np.int64)])
def test_result_dtypes_x64(dtype, op, want):
    with jax.enable_x64(True):
        x = np.arange(1, 13).reshape(1, 3, 4, 1).astype(dtype)
        case = PoolCase(op, x, (2, 2), norm_type=2.0 if op == "lp" else None)
        assert result_dtype(dtype, op) == np.dtype(want)  # jnp.sum / jnp.mean under x64
        assert np.asarray(call(case, x)).dtype == np.dtype(want)
        check_values(case, x, call(case, x), 1e-6)


@pytest.mark.parametrize("op", list(FNS))
@pytest.mark.parametrize("shape", [(0, 5, 4, 2), (1, 5, 4, 0), (2, 0, 5, 4)])
def test_zero_size_batch_and_features(op, shape):
    channels_first = shape[1] == 0
    case = PoolCase(op, np.zeros(shape, np.float32), (2, 3), (2, 1), 1,
                    channels_first=channels_first, norm_type=2.0 if op == "lp" else None)
    want = pool_reference_output_shape(shape, **case.geometry_kwargs())
    assert np.asarray(call(case, case.x)).shape == want
    ct = jnp.zeros(want, jnp.float32)
    assert grad_of(case, jnp.asarray(case.x), ct, jit=True).shape == shape


def test_lp_norm_one_equals_sum_pool():
    x = np.random.default_rng(3).integers(-3, 4, size=(2, 6, 5, 3)).astype(np.float32)
    lp = jaxpool.lp_pool(x, 1.0, (3, 2), (2, 1), "SAME")
    np.testing.assert_allclose(lp, jaxpool.sum_pool(x, (3, 2), (2, 1), "SAME"), rtol=1e-6)


@pytest.mark.parametrize("name", ["max_pool", "min_pool", "avg_pool"])
def test_signatures_are_flax_drop_in(name):
    import flax.linen as nn

    flax_fn = nn.pooling.min_pool if name == "min_pool" else getattr(nn, name)
    ours = list(inspect.signature(getattr(jaxpool, name)).parameters.values())
    theirs = list(inspect.signature(flax_fn).parameters.values())
    for p, q in zip(ours, theirs, strict=False):
        assert (p.name, p.default, p.kind) == (q.name, q.default, q.kind)
    assert [p.name for p in ours[len(theirs):]] == (
        ["divisor_override", "dilation", "ceil_mode", "channels_first"] if name == "avg_pool"
        else ["dilation", "ceil_mode", "channels_first"])
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in ours[len(theirs):])


@pytest.mark.parametrize("op", ["max", "min", "avg"])
def test_ceil_mode_window_may_outgrow_the_input(op):
    """docs/semantics.md §2 formula and torch: size 1, window 2, stride 2, ceil_mode -> one output; size 3,
    window 4, stride 2 -> one output (torch.nn.functional.max_pool1d / avg_pool1d agree)."""
    for x, w, want in (([2.0], 2, 2.0), ([1.0, 2.0, 3.0], 4, {"max": 3.0, "min": 1.0, "avg": 2.0})):
        x = np.asarray(x, np.float32)[None, :, None]
        case = PoolCase(op, x, (w,), (2,), 0, ceil_mode=True)
        got = np.asarray(call(case, x))
        assert got.shape == (1, 1, 1)
        assert got.item() == (want[op] if isinstance(want, dict) else want)


@pytest.mark.parametrize(("op", "x"), [("max", [1.0, 5.0, 2.0]), ("min", [5.0, 1.0, 2.0])])
@pytest.mark.parametrize("ct", [[2.0**-8, 2.0**-8, 1.0], [1.0, 2.0**-8, 2.0**-8]])
def test_bf16_max_gradient_accumulates_in_float32(op, x, ct):
    """docs/semantics.md §3: cotangents that overlapping windows send to one element sum in float32 and round
    once. All three windows pick element 1, so its gradient is 1 + 2**-7 (a bf16 number); a bf16
    running sum loses both 2**-8 terms to round-to-even and gives 1."""
    x = jnp.asarray(x, jnp.bfloat16)[None, :, None]
    c = jnp.asarray(ct, jnp.bfloat16)[None, :, None]
    case = PoolCase(op, np.zeros(x.shape), (3,), 1, "SAME")
    g = np.asarray(grad_of(case, x, c, jit=True)).astype(np.float64)
    np.testing.assert_array_equal(g.ravel(), [0.0, 1.0 + 2.0**-7, 0.0])
