"""Property tests, one per class of fault in ``cases/pitfalls.md`` (the table at its top).

``test_pitfalls.py`` pins each published case; here hypothesis searches the whole class around it
against the brute-force reference (``tests/reference.py``): pad split, shape formula, validation, NaN,
tie-breaking, forward mode, window larger than the input, argument errors, batch handling, low precision and
integer dtypes. The classes whose property is the float32 value and gradient (padding value, gradient
accumulation, ceil_mode, dilation) are drawn by ``test_core_values.test_float32_values_and_gradients``, so that
check runs in one file only. Problems
come from ``strategies.pool_cases`` (small shapes, every argument spelling) or from a strategy
aimed at the class. Ops run under ``jax.jit`` (eager calls are covered by ``test_pitfalls.py``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from jax import lax
from reference import (
    pool_reference,
    pool_reference_exact,
    pool_reference_output_shape,
    pool_reference_vjp,
    pool_reference_winners,
)
from strategies import PoolCase, make_data, pool_cases

import jaxpool

# Each example of the gradient tests compiles a fresh program (~0.5-1 s on CI); they draw a
# fraction of the profile's examples so the default run stays short (``thorough`` scales them up).
HEAVY = settings(max_examples=max(4, settings.default.max_examples // 3))

FNS = {"max": jaxpool.max_pool, "min": jaxpool.min_pool, "sum": jaxpool.sum_pool,
       "avg": jaxpool.avg_pool}


def pool_fn(case: PoolCase, **override):
    """The jaxpool call ``case`` describes, as a function of the input array."""
    kw = dict(case.geometry_kwargs(), **override)
    if case.op == "lp":
        return lambda x: jaxpool.lp_pool(x, case.norm_type, **kw)
    if case.op == "avg":
        kw.update(count_include_pad=case.count_include_pad, divisor_override=case.divisor_override)
    return lambda x: FNS[case.op](x, **kw)


def _close(got, want, rtol=1e-5, atol=1e-5, msg=""):
    np.testing.assert_allclose(np.asarray(got, np.float64), np.asarray(want, np.float64),
                               rtol=rtol, atol=atol, err_msg=msg)


def check_values(case: PoolCase, x: np.ndarray | None = None) -> np.ndarray:
    """jit(op)(x) has the reference's values, shape and dtype; returns the result."""
    x = case.x.astype(np.float32) if x is None else x
    want = pool_reference(x, case.op, **case.ref_kwargs())
    got = jax.jit(pool_fn(case))(x)
    assert got.shape == want.shape and got.dtype == want.dtype, (got.shape, got.dtype, want.dtype)
    _close(got, want, msg=repr(case))
    return np.asarray(got)


def index_tangent(case: PoolCase) -> np.ndarray:
    """A tangent holding each element's flat spatial index within its plane (float32, exact)."""
    geom = case.geometry()
    shape = [1] * case.x.ndim
    for a, size in zip(geom.spatial_axes, geom.sizes, strict=True):
        shape[a] = size
    idx = np.arange(int(np.prod(geom.sizes)), dtype=np.float32).reshape(shape)
    return np.broadcast_to(idx, case.x.shape).copy()


def check_case(case: PoolCase, *, jvp: bool = True, winners: bool = False) -> np.ndarray:
    """Values, grad and (with ``jvp``) jvp of the op on float32 ``case.x`` vs the reference.

    One jit per call. The gradient of <ct, op(x)> for a random cotangent (jax.vjp, or the
    transpose of jax.linearize when the jvp is checked too) must equal the reference VJP. With
    ``winners`` (max/min) the tangent holds each element's index, so the jvp names the selected
    element, which must be the reference winner, as must ``*_pool_with_indices``;
    otherwise the jvp along a random tangent t must obey <ct, jvp(t)> = <vjp_ref(ct), t>.
    """
    x = case.x.astype(np.float32)
    kw = case.ref_kwargs()
    want = pool_reference(x, case.op, **kw)
    rng = np.random.default_rng(case.seed % 2**32)
    ct = rng.standard_normal(want.shape).astype(np.float32)
    t = index_tangent(case) if winners else rng.standard_normal(x.shape).astype(np.float32)
    f = pool_fn(case)

    def body(a, t, ct):
        if not jvp:
            y, f_vjp = jax.vjp(f, a)
            return y, None, f_vjp(ct)[0]
        y, f_jvp = jax.linearize(f, a)  # grad = transpose of the same linear map
        return y, f_jvp(t), jax.linear_transpose(f_jvp, a)(ct)[0]

    y, ty, g = jax.jit(body)(x, t, ct)
    assert y.shape == want.shape and y.dtype == want.dtype, (y.shape, y.dtype, want.dtype)
    _close(y, want, msg=repr(case))
    ref_g = pool_reference_vjp(x, ct, case.op, **kw)
    _close(g, ref_g, rtol=1e-4, atol=1e-4, msg=f"grad {case!r}")
    if not jvp:
        return np.asarray(y)
    if winners:
        ref_idx = pool_reference_winners(x, case.op, **case.geometry_kwargs())
        np.testing.assert_array_equal(np.asarray(ty), ref_idx, err_msg=f"jvp {case!r}")
        with_idx = getattr(jaxpool, f"{case.op}_pool_with_indices")  # missing: AttributeError, a failure
        values, idx = jax.jit(lambda a: with_idx(a, **case.geometry_kwargs()))(x)
        assert idx.dtype == jnp.int32
        np.testing.assert_array_equal(np.asarray(idx), ref_idx, err_msg=f"indices {case!r}")
        _close(values, want)
    else:
        lhs = np.sum(ct.astype(np.float64) * np.asarray(ty, np.float64))
        _close(lhs, np.sum(ref_g * t), rtol=1e-4, atol=1e-4, msg=f"jvp {case!r}")
    return np.asarray(y)


# --- pad split ----------------------------------------------------------------------------------
@st.composite
def same_problems(draw):
    n = draw(st.integers(1, 3))
    sizes = tuple(draw(st.integers(1, {1: 9, 2: 6, 3: 4}[n])) for _ in range(n))
    window = tuple(draw(st.integers(1, 4)) for _ in range(n))
    strides = tuple(draw(st.integers(1, 3)) for _ in range(n))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(n))
    mode = draw(st.sampled_from(["SAME", "SAME_LOWER", "same", "same_lower"]))
    op = draw(st.sampled_from(["sum", "avg", "max"]))
    x = make_data(np.random.default_rng(draw(st.integers(0, 2**31))), (1, *sizes, 1), "ties")
    return PoolCase(op, x, window, strides, mode, dilation)


@given(case=same_problems())
def test_pad_split_matches_padtype_to_pads(case):
    eff = [d * (w - 1) + 1 for w, d in zip(case.window_shape, case.dilation, strict=True)]
    pads = lax.padtype_to_pads(case.x.shape[1:-1], eff, case.strides, case.padding.upper())
    try:
        explicit = pool_reference(case.x, case.op, **dict(case.ref_kwargs(), padding=pads))
    except ValueError:
        with pytest.raises(ValueError, match="padding|dilation"):
            pool_fn(case)(case.x.astype(np.float32))
        return
    got = check_values(case)
    _close(got, explicit)
    shape = jaxpool.pool_output_shape(case.x.shape, case.window_shape, case.strides, pads,
                                      dilation=case.dilation)
    assert tuple(shape) == got.shape


# --- shape formula ------------------------------------------------------------------------------
@given(case=pool_cases())
def test_shape_formula(case):
    kw = case.geometry_kwargs()
    want = pool_reference_output_shape(case.x.shape, **kw)
    assert tuple(jaxpool.pool_output_shape(case.x.shape, **kw)) == want
    spec = jax.ShapeDtypeStruct(case.x.shape, jnp.float32)
    assert jax.eval_shape(pool_fn(case), spec).shape == want
    assert jax.jit(pool_fn(case))(case.x.astype(np.float32)).shape == want


# --- validation ---------------------------------------------------------------------------------
@st.composite
def padding_geometries(draw):
    """1-/2-D geometries with wide pads/dilations; half are forced to hold a padding-only window."""
    n = draw(st.integers(1, 2))
    sizes, window, strides, dil, pads = [], [], [], [], []
    for _ in range(n):
        sizes.append(draw(st.integers(1, 5)))
        window.append(draw(st.integers(1, 3)))
        strides.append(draw(st.integers(1, 3)))
        dil.append(draw(st.integers(1, 4)))
        eff = dil[-1] * (window[-1] - 1) + 1
        pads.append((draw(st.integers(0, eff + 1)), draw(st.integers(0, eff + 1))))
    if draw(st.booleans()):
        d = draw(st.integers(0, n - 1))
        eff = dil[d] * (window[d] - 1) + 1
        pads[d] = (eff + draw(st.integers(0, 1)), pads[d][1]) if draw(st.booleans()) else \
            (pads[d][0], eff + draw(st.integers(0, 1)))
    form = draw(st.sampled_from(["pairs", "SAME", "SAME_LOWER"]))
    padding = tuple(pads) if form == "pairs" else form
    return tuple(sizes), tuple(window), tuple(strides), tuple(dil), padding


def _padding_only(sizes, window, strides, dil, padding) -> bool | None:
    """True if some window samples only padding; None if some output dim is empty."""
    if isinstance(padding, str):
        eff = [d * (w - 1) + 1 for w, d in zip(window, dil, strict=True)]
        padding = lax.padtype_to_pads(sizes, eff, strides, padding)
    bad = False
    for size, w, s, d, (lo, hi) in zip(sizes, window, strides, dil, padding, strict=True):
        span = size + lo + hi - d * (w - 1) - 1
        if span < 0:
            return None
        for i in range(span // s + 1):
            bad |= not any(0 <= i * s + k * d - lo < size for k in range(w))
    return bad


@given(geom=padding_geometries(), op=st.sampled_from(["max", "min", "sum", "avg", "lp"]))
def test_padding_only_windows_raise(geom, op):
    sizes, window, strides, dil, padding = geom
    bad = _padding_only(*geom)
    assume(bad is not None)
    x = np.arange(np.prod(sizes), dtype=np.float32).reshape(1, *sizes, 1)
    case = PoolCase(op, x, window, strides, padding, dil, norm_type=2.0 if op == "lp" else None)
    if bad:
        for call in (pool_fn(case), lambda a: jaxpool.pool_output_shape(a.shape, window, strides,
                                                                          padding, dilation=dil)):
            with pytest.raises(ValueError, match="padding|dilation"):
                call(x)
    else:
        check_values(case)


# --- NaN ----------------------------------------------------------------------------------------
@HEAVY
@given(case=pool_cases(ops=("max", "min"), data=("nan",)))
def test_nan_wins_and_routes_to_first_nan(case):
    got = check_case(case, winners=True)
    ref = pool_reference(case.x, case.op, **case.ref_kwargs())
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))


@given(case=pool_cases(ops=("sum", "avg"), data=("nan",)))
def test_nan_propagates_in_sums(case):
    check_values(case)


# --- tie-breaking -------------------------------------------------------------------------------
@HEAVY
@given(case=pool_cases(ops=("max", "min"), data=("ties",)))
def test_ties_same_element_in_every_mode(case):
    check_case(case, winners=True)


# --- forward mode -------------------------------------------------------------------------------
@HEAVY
@given(case=pool_cases(data=("ties", "distinct"), batch_dims=(0, 1)))
def test_forward_mode_equals_reverse_and_reference(case):
    check_case(case, winners=case.op in ("max", "min"))
    x = case.x.astype(np.float32)
    if x.size <= 128:
        f = pool_fn(case)
        jf, jr = jax.jit(lambda a: (jax.jacfwd(f)(a), jax.jacrev(f)(a)))(x)
        _close(jf, jr, rtol=1e-5, atol=1e-6, msg=repr(case))


# --- window > input -----------------------------------------------------------------------------
@st.composite
def big_windows(draw):
    n = draw(st.integers(1, 2))
    sizes = tuple(draw(st.integers(1, 4)) for _ in range(n))
    window = tuple(s + draw(st.integers(1, 4)) for s in sizes)
    strides = tuple(draw(st.integers(1, 3)) for _ in range(n))
    op = draw(st.sampled_from(["max", "min", "sum", "avg", "lp"]))
    mode = draw(st.sampled_from(["SAME", "SAME_LOWER"]))
    x = make_data(np.random.default_rng(draw(st.integers(0, 2**31))), (1, *sizes, 1),
                  "positive" if op == "lp" else "ties")
    case = PoolCase(op, x, window, strides, mode, norm_type=2.0 if op == "lp" else None)
    if op == "avg":
        case.count_include_pad = draw(st.booleans())
    return case


@HEAVY
@given(case=big_windows())
def test_window_larger_than_input(case):
    check_case(case, jvp=False)
    with pytest.raises(ValueError, match="window"):
        pool_fn(case, padding="VALID")(case.x.astype(np.float32))


# --- argument errors ----------------------------------------------------------------------------
@st.composite
def bad_arguments(draw):
    """(op, kwargs, exception, argument name) with one invalid argument in a valid call."""
    op = draw(st.sampled_from(["max", "min", "sum", "avg", "lp"]))
    kw = {"window_shape": (2, 2), "strides": (1, 1), "padding": "VALID"}
    bad_int = draw(st.integers(-3, 0))
    kind = draw(st.sampled_from(
        ["window_value", "window_rank", "window_type", "strides_value", "strides_len",
         "strides_type", "dilation_value", "dilation_len", "padding_neg", "padding_len",
         "padding_entry", "padding_str", "padding_type", "ceil_mode", "channels_first", "dtype"]
        + (["norm_type", "norm_type_type"] if op == "lp" else [])
        + (["divisor_override", "count_include_pad"] if op == "avg" else [])))
    pos = draw(st.integers(0, 1))
    other_len = draw(st.sampled_from([1, 3]))
    table = {
        "window_value": ("window_shape", (bad_int, 2) if pos else (2, bad_int), ValueError),
        "window_rank": ("window_shape", (2,) * draw(st.integers(4, 5)), ValueError),
        "window_type": ("window_shape", draw(st.sampled_from([2.5, (2.0, 2), "2"])), TypeError),
        "strides_value": ("strides", (1, bad_int) if pos else bad_int, ValueError),
        "strides_len": ("strides", (1,) * other_len, ValueError),
        "strides_type": ("strides", draw(st.sampled_from([1.5, (1, 1.0)])), TypeError),
        "dilation_value": ("dilation", (bad_int, 1) if pos else bad_int, ValueError),
        "dilation_len": ("dilation", (1,) * other_len, ValueError),
        "padding_neg": ("padding", draw(st.sampled_from([bad_int - 1, ((0, bad_int - 1), (1, 1)),
                                                         (1, bad_int - 1)])), ValueError),
        "padding_len": ("padding", ((1, 1),) * other_len, ValueError),
        "padding_entry": ("padding", ((1, 1, 1), (0, 0)), ValueError),
        "padding_str": ("padding", draw(st.sampled_from(["FULL", "", "causal"])), ValueError),
        "padding_type": ("padding", draw(st.sampled_from([1.5, None])), (TypeError, ValueError)),
        "ceil_mode": ("ceil_mode", True, ValueError),
        "channels_first": ("channels_first", "yes", TypeError),
        "dtype": ("inputs", None, TypeError),
        "norm_type": ("norm_type", draw(st.sampled_from([0.5, 0.0, -2.0, np.inf, np.nan])),
                      ValueError),
        "norm_type_type": ("norm_type", "2", TypeError),
        "divisor_override": ("divisor_override", bad_int, ValueError),
        "count_include_pad": ("count_include_pad", "yes", TypeError),
    }
    name, value, exc = table[kind]
    if kind == "ceil_mode":
        kw["padding"] = draw(st.sampled_from(["SAME", "valid"]))
    if kind.startswith("window"):
        kw["strides"] = None  # the window alone sets N
    if name != "inputs":
        kw[name] = value
    dtype = np.complex64 if kind == "dtype" else np.float32
    return op, kw, exc, name, dtype


@given(args=bad_arguments())
def test_bad_arguments_raise_naming_the_argument(args):
    op, kw, exc, name, dtype = args
    x = np.ones((2, 5, 5, 3), dtype)
    pattern = "complex|dtype" if name == "inputs" else name
    norm = kw.pop("norm_type", 2.0)
    call = (lambda a: jaxpool.lp_pool(a, norm, **kw)) if op == "lp" else \
        (lambda a: FNS[op](a, **kw))
    with pytest.raises(exc, match=pattern):
        call(x)


def test_traced_geometry_raises_type_error():
    x = np.ones((1, 4, 4, 1), np.float32)
    with pytest.raises(TypeError, match="window_shape"):
        jax.jit(lambda a, w: jaxpool.max_pool(a, (w, 2)))(x, 2)
    with pytest.raises(TypeError, match="strides"):
        jax.jit(lambda a, s: jaxpool.avg_pool(a, (2, 2), (s, 1)))(x, 1)


# --- batch handling -----------------------------------------------------------------------------
@given(case=pool_cases(batch_dims=(0,), data=("ties", "distinct"), int_args=False),
       batch=st.lists(st.integers(1, 2), min_size=0, max_size=2),
       strides_none=st.booleans())
def test_batch_axes_equal_vmap_and_default_stride(case, batch, strides_none):
    if strides_none:
        case.strides = None
    x = np.random.default_rng(case.seed).standard_normal(tuple(batch) + case.x.shape)
    x = (np.abs(x) if case.op == "lp" else x).astype(np.float32)
    f = pool_fn(case)
    vf = f
    for _ in batch:
        vf = jax.vmap(vf)
    got = jax.jit(f)(x)
    _close(got, jax.jit(vf)(x), rtol=1e-6, atol=1e-6)
    kw = case.ref_kwargs()
    if strides_none:
        n = len(case.window_shape)
        kw["strides"] = (1,) * n
    _close(got, pool_reference(x, case.op, **kw))


# --- low precision ------------------------------------------------------------------------------
@st.composite
def growing_windows(draw, big=False):
    """Sum/avg problems whose windows hold 2 to 1024 (``big``: 512 to 4096) elements."""
    n = draw(st.integers(1, 2))
    if big:
        w = draw(st.sampled_from([64] if n == 2 else [512, 1024]))
    else:
        w = draw(st.sampled_from([2, 4, 8, 16, 32] if n == 2 else [2, 8, 32, 128]))
    window = (w,) * n
    sizes = tuple(w + draw(st.integers(0, 2)) for _ in range(n))
    strides = tuple(draw(st.integers(max(1, w // 2), w)) for _ in range(n))
    op = draw(st.sampled_from(["sum", "avg"]))
    padding = draw(st.sampled_from(["VALID", "SAME"]))
    x = np.random.default_rng(draw(st.integers(0, 2**31))).random((1, *sizes, 1))
    return PoolCase(op, x, window, strides, padding)


def _ulp(values: np.ndarray, dtype) -> np.ndarray:
    return np.spacing(np.abs(values).astype(dtype)).astype(np.float64)


@HEAVY
@given(case=growing_windows(), dtype=st.sampled_from([jnp.bfloat16, jnp.float16]))
def test_low_precision_within_one_ulp(case, dtype):
    _check_low_precision(case, dtype)


@pytest.mark.slow
@HEAVY
@given(case=growing_windows(big=True), dtype=st.sampled_from([jnp.bfloat16, jnp.float16]))
def test_low_precision_big_windows_within_one_ulp(case, dtype):
    _check_low_precision(case, dtype)


def _check_low_precision(case: PoolCase, dtype) -> None:
    """bf16/f16 values and VJP within one ulp of the float64 reference on the rounded inputs."""
    x = case.x.astype(dtype)
    x64 = x.astype(np.float64)
    f = pool_fn(case)
    out_shape = pool_reference_output_shape(x.shape, **case.geometry_kwargs())
    ct = np.random.default_rng(1).random(out_shape).astype(dtype)
    got, g = jax.jit(lambda a, c: (f(a), jax.vjp(f, a)[1](c)[0]))(x, ct)
    assert got.dtype == dtype
    exact = pool_reference_exact(x64, case.op, **case.ref_kwargs())
    err = np.abs(np.asarray(got, np.float64) - exact)
    assert np.all(err <= _ulp(exact, dtype)), (case, float(err.max()))
    assert g.dtype == dtype
    g_exact = pool_reference_vjp(x64, ct.astype(np.float64), case.op, **case.ref_kwargs())
    g_err = np.abs(np.asarray(g, np.float64) - g_exact)
    assert np.all(g_err <= _ulp(g_exact, dtype)), (case, float(g_err.max()))


# --- integer dtypes -----------------------------------------------------------------------------
@given(case=pool_cases(data=("ties",)),
       dtype=st.sampled_from(["int8", "int16", "int32", "uint8", "uint32", "bool"]), extremes=st.booleans())
def test_integer_dtypes(case, dtype, extremes):
    """Integer and bool inputs (ties from [-3, 3]; with ``extremes`` +-3 become the dtype's limits, the identity
    of max/min padding) against the reference, with the result dtypes of docs/semantics.md §3."""
    x = case.x
    if dtype == "bool":
        x = x > 0
    elif dtype.startswith("uint"):
        x = x + 3
    if extremes and dtype != "bool":
        info = np.iinfo(dtype)
        x = np.where(case.x == -3, info.min, np.where(case.x == 3, info.max, x))
    x = x.astype(dtype)
    if case.op == "lp":
        case.norm_type = float(round(case.norm_type))
        assume(not (extremes and dtype in ("int32", "uint32")))  # x**p would overflow float32
    got = check_values(case, x)
    if case.op in ("max", "min"):
        assert got.dtype == np.dtype(dtype)
    else:
        # jnp.sum/jnp.mean rules: sums of signed ints and bool give int32, of unsigned uint32.
        default = "float32" if case.op in ("avg", "lp") else \
            "uint32" if dtype.startswith("uint") else "int32"
        assert got.dtype == np.dtype(default)
