"""jaxpool against the pooling of PyTorch and Flax, on the options each of them has (docs/semantics.md §1–4).

- torch: ``torch.nn.functional.{max,avg,lp}_pool{1,2,3}d`` values and gradients, on symmetric
  padding up to half the window, dilation (max), ceil_mode, count_include_pad, divisor_override,
  ties, both layouts (torch is NCHW; channels-last inputs are transposed for it). lp only on
  positive inputs without overhanging ceil_mode windows (docs/semantics.md §3). Skipped where torch is missing.
- Flax: ``flax.linen.max_pool``/``avg_pool`` and ``flax.linen.pooling.min_pool`` values,
  ``jax.grad`` and ``jax.jvp`` on tie-free inputs with VALID/SAME/explicit-pair padding, strides,
  count_include_pad, 0–2 batch axes, called with the very same arguments (drop-in). Flax's avg_pool
  needs standard dtype promotion, so every Flax call runs under
  ``jax.numpy_dtype_promotion("standard")``.
Where docs/semantics.md §4 deliberately differs from Flax (NaN windows, -inf beside padding, low-precision sums)
the brute-force reference is the oracle (here and in test_core_values.py).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import assume, given, settings
from reference import pool_reference, pool_reference_vjp
from strategies import PoolCase, call, pool_cases

import jaxpool

TORCH_REASON = "torch is the optional PyTorch oracle (installed by the `test` extra)"
TORCH_PAD = lambda w, d: w // 2  # torch: "padding should be at most half of kernel size"


def to_ncs(a: np.ndarray, case: PoolCase) -> np.ndarray:
    """The case's layout -> torch's (batch, C, *spatial), all batch axes folded into one."""
    g = case.geometry()
    perm = list(g.batch_axes) + [g.feature_axis] + list(g.spatial_axes)
    t = np.transpose(a, perm)
    return t.reshape((-1,) + t.shape[len(g.batch_axes):])


def from_ncs(a: np.ndarray, case: PoolCase) -> np.ndarray:
    """Inverse of to_ncs for an output (or input-shaped) array of the case."""
    g = case.geometry()
    batch = tuple(case.x.shape[i] for i in g.batch_axes)
    y = a.reshape(batch + a.shape[1:])
    return y if case.channels_first else np.moveaxis(y, len(batch), -1)


def torch_pool(torch, case: PoolCase, x_ncs):
    """The torch op matching ``case`` (padding symmetric ints, as the strategy draws it)."""
    F = torch.nn.functional
    g = case.geometry()
    n, k, s = g.n, g.window, g.strides
    p = tuple(lo for lo, _ in g.pads)
    if case.op == "max":
        return getattr(F, f"max_pool{n}d")(x_ncs, k, s, p, g.dilation, ceil_mode=case.ceil_mode)
    if case.op == "lp":  # lp_pool1d wants ints
        k, s = (k[0], s[0]) if n == 1 else (k, s)
        return getattr(F, f"lp_pool{n}d")(x_ncs, case.norm_type, k, s, ceil_mode=case.ceil_mode)
    if n == 1 and case.divisor_override is not None:  # avg_pool1d has no divisor_override
        y = F.avg_pool2d(x_ncs[..., None], (k[0], 1), (s[0], 1), (p[0], 0), case.ceil_mode,
                         case.count_include_pad, case.divisor_override)
        return y[..., 0]
    extra = () if n == 1 else (case.divisor_override,)
    return getattr(F, f"avg_pool{n}d")(x_ncs, k, s, p, case.ceil_mode, case.count_include_pad,
                                       *extra)


def check_against_torch(case: PoolCase) -> None:
    torch = pytest.importorskip("torch", reason=TORCH_REASON)
    x = case.x.astype(np.float32)
    t = torch.tensor(to_ncs(x, case), requires_grad=True)
    ty = torch_pool(torch, case, t)
    ours = np.asarray(jax.jit(lambda v: call(case, v))(jnp.asarray(x)))
    want = from_ncs(ty.detach().numpy(), case)
    assert ours.shape == want.shape, (ours.shape, want.shape, case)
    np.testing.assert_allclose(ours, want, rtol=1e-5, atol=1e-5, err_msg=repr(case))
    ct = np.random.default_rng(case.seed).normal(size=ours.shape).astype(np.float32)
    ty.backward(torch.tensor(to_ncs(ct, case)))
    g = jax.jit(jax.grad(lambda v: jnp.sum(call(case, v) * jnp.asarray(ct))))(jnp.asarray(x))
    np.testing.assert_allclose(np.asarray(g), from_ncs(t.grad.numpy(), case), rtol=1e-4,
                               atol=1e-5, err_msg=f"grad of {case!r}")


@given(case=pool_cases(ops=("max",), data=("ties", "distinct"), paddings=("int", "ints"),
                       max_pad=TORCH_PAD))
def test_max_pool_matches_torch(case: PoolCase):
    check_against_torch(case)


@given(case=pool_cases(ops=("avg",), data=("ties",), paddings=("int", "ints"), dilation=False,
                       max_pad=TORCH_PAD))
def test_avg_pool_matches_torch(case: PoolCase):
    g = case.geometry()  # torch's avg_pool3d wants every input dim at least the window
    assume(g.n < 3 or all(size >= w for size, w in zip(g.sizes, g.window, strict=True)))
    check_against_torch(case)


@given(case=pool_cases(ops=("lp",), data=("positive",), paddings=("VALID", "int"),
                       dilation=False, max_pad=lambda w, d: 0, no_overhang=True))
def test_lp_pool_matches_torch(case: PoolCase):
    check_against_torch(case)


def test_max_pool_ties_match_torch_cpu_rule():
    """P07/P08 through torch: ties and overlapping windows, every layout of a 3-D input."""
    torch = pytest.importorskip("torch", reason=TORCH_REASON)
    x = np.ones((2, 3, 4, 5, 4), np.float32)  # (B, C, D, H, W): all ties
    x[:, :, 1:3, 2, 1] = 2.0
    t = torch.tensor(x, requires_grad=True)
    ty = torch.nn.functional.max_pool3d(t, (2, 3, 2), (1, 2, 1), (1, 1, 0), ceil_mode=True)
    ty.sum().backward()
    for cf in (True, False):
        xin = x if cf else np.moveaxis(x, 1, -1)
        f = lambda v, cf=cf: jnp.sum(jaxpool_max(v, cf))
        got = np.asarray(jax.jit(jax.grad(f))(jnp.asarray(xin)))
        np.testing.assert_array_equal(got if cf else np.moveaxis(got, -1, 1), t.grad.numpy())


def jaxpool_max(v, channels_first: bool):
    return jaxpool.max_pool(v, (2, 3, 2), (1, 2, 1), ((1, 1), (1, 1), (0, 0)), ceil_mode=True,
                            channels_first=channels_first)


FLAX = {"max": nn.max_pool, "min": nn.pooling.min_pool, "avg": nn.avg_pool}


def flax_call(case: PoolCase, x):
    args = (x, case.window_shape, case.strides, case.padding)
    with jax.numpy_dtype_promotion("standard"):
        if case.op == "avg":
            return FLAX["avg"](*args, count_include_pad=case.count_include_pad)
        return FLAX[case.op](*args)


# Two programs to compile per example (ours and Flax's): half the profile's examples.
@settings(max_examples=max(10, settings.default.max_examples // 2))
@given(case=pool_cases(ops=("max", "min", "avg"), data=("distinct",), dilation=False,
                       ceil_mode=False, paddings=("VALID", "SAME", "pairs"), int_args=False,
                       divisor_override=False, layouts=(False,)))
def test_matches_flax_values_grad_and_jvp(case: PoolCase):
    # Flax pads explicitly only with exactly one batch axis (it prepends a single (0, 0) pair).
    assume(case.x.ndim == case.geometry().n + 2 or isinstance(case.padding, str))
    x = jnp.asarray(case.x, jnp.float32)
    rng = np.random.default_rng(case.seed)
    tangent = jnp.asarray(rng.normal(size=x.shape), jnp.float32)
    results = []
    for f in (lambda v: call(case, v), lambda v: flax_call(case, v)):
        primal, tan = jax.jit(lambda v, t, f=f: jax.jvp(f, (v,), (t,)))(x, tangent)
        if not results:
            ct = jnp.asarray(rng.normal(size=primal.shape), jnp.float32)
        grad = jax.jit(jax.grad(lambda v, f=f, c=ct: jnp.sum(f(v) * c)))(x)
        results.append([np.asarray(a) for a in (primal, grad, tan)])
    for what, ours, theirs in zip(("values", "grad", "jvp tangent"), *results, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6, err_msg=f"{what}: {case!r}")


@pytest.mark.parametrize(("x", "padding"), [
    ([[-np.inf, -np.inf], [-np.inf, -np.inf]], "SAME"),  # Flax sends the cotangent to padding
    ([[1.0, np.nan], [np.nan, 4.0]], ((1, 0), (0, 1))),  # JAX routes a NaN window past the NaN
    ([[np.nan, -np.inf], [np.nan, np.nan]], "VALID"),
])
@pytest.mark.parametrize("op", ["max", "min"])
def test_where_flax_deliberately_differs_the_reference_decides(x, padding, op):
    x = np.asarray(x, np.float32)[None, :, :, None]
    case = PoolCase(op, x, (2, 2), (1, 1), padding)
    ours = call(case, x)
    np.testing.assert_array_equal(ours, pool_reference(x, op, **case.geometry_kwargs()))
    g = jax.jit(jax.grad(lambda v: jnp.sum(call(case, v))))(jnp.asarray(x))
    want = pool_reference_vjp(x, np.ones(ours.shape), op, **case.geometry_kwargs())
    np.testing.assert_array_equal(g, want)
