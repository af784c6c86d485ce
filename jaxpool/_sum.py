"""Sum, average and Lp pooling.

All three are window sums (of ``x`` or of ``x**p``), computed separably — one group of axes at a time — as the
sum of the window's slice views of the input (``_windows.sum_pass``). The window sum is a ``jax.custom_jvp``
whose tangent is written as the transpose of the hand-made reverse pass (``_windows.scatter_pass``), so
``grad`` runs that pass rather than JAX's interior pads; for one axis with overlapping strided windows (1-D
3/2 SAME) ``lax.reduce_window`` and its JAX transpose are as fast or faster on CPU and are used instead. Lp's
root gets its own rule: gradient 0 where the window sum is 0 (docs/semantics.md §4; for p = 1 the op *is* the window
sum,
so the gradient there is 1).

Precision (docs/semantics.md §3): float16/bfloat16 inputs are accumulated in float32 and rounded once at the end, in the
forward pass and in the gradient (the cotangents overlapping windows send to one element add up in float32).
Result dtypes follow ``jnp.sum`` (sum) and ``jnp.mean`` (avg, lp). Average divisors come in closed form per axis
from ``_geometry.avg_divisor``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxpool import _fence, _routes, _sharding, _windows
from jaxpool._args import DOC_ARGS, Padding, as_int, check_flag, shared_doc, show, torch_names
from jaxpool._args import accumulation_dtype as _acc_dtype
from jaxpool._args import result_dtype as _result_dtype
from jaxpool._dispatch import kernels
from jaxpool._geometry import PoolGeometry, avg_divisor, prepare

Array = jax.Array


def _stored_sum(x: Array, axes: tuple, op: str) -> Array:
    """``sum_pass(x, axes)`` for pooling ``op``; computed and stored by itself (``_fence.fenced``) where windows
    overlap and ``op`` is "sum", or overlap with a stride above 1 and ``op`` is "avg".

    A reverse pass of overlapping windows reads its cotangent through several views. When that cotangent is an
    elementwise function of these window sums (a loss or an activation right after the pooling), XLA:CPU fuses
    the forward sums into every view read and recomputes them there (sum 3x3/1 SAME train step 9x slower than
    its forward plus reverse pass); stored, the sums are read instead (``_dispatch``: ``store_overlapping_sums``).
    Sum pooling stores them wherever windows overlap, average pooling only for strided windows: at stride 1
    XLA keeps its window sums in a loop of their own (the division in between), where a stored sum only costs
    the forward pass one more sweep (``_dispatch``, measured); lp pooling never.
    """
    if kernels().store_overlapping_sums and _routes.overlapping(axes) and (
            op == "sum" or (op == "avg" and any(a.stride > 1 for a in axes))):
        return _fence.fenced(lambda v: _windows.sum_pass(v, axes), x)
    return _windows.sum_pass(x, axes)


@functools.partial(jax.custom_jvp, nondiff_argnums=(1, 2, 3))
def _group_sum(x: Array, axes: tuple, in_shape: tuple, op: str) -> Array:
    """Window sums over one group of axes through slice views, with the hand-made reverse pass."""
    return _stored_sum(x, axes, op)


@_group_sum.defjvp
def _group_sum_jvp(axes: tuple, in_shape: tuple, op: str, primals: tuple, tangents: tuple) -> tuple:
    # Linear: the tangent is the window sum of the tangent, written as the transpose of the hand-made reverse
    # pass so that grad runs ``scatter_pass`` (dense slices) rather than JAX's interior pads.
    (x,), (t,) = primals, tangents
    y = _stored_sum(x, axes, op)
    sum_t = jax.linear_transpose(lambda c: _windows.scatter_pass(c, axes, in_shape),
                                 _sharding.transpose_spec(y, t.dtype))
    (dy,) = sum_t(t)
    return y, dy


def _window_sum(x: Array, geom: PoolGeometry, op: str) -> Array:
    """Window sums over every spatial axis, one group of axes at a time (last axes first).

    A group for which ``lax.reduce_window`` is faster (one axis, not tiling) goes through it and JAX's own
    derivative of it; the others through :func:`_group_sum` (``op``, the pooling op: see :func:`_stored_sum`).
    """
    for g in _routes.axis_groups(geom, "sum"):
        group = tuple(geom.axes[i] for i in g)
        for i, axes in enumerate(_routes.split_passes(group, "sum") or [group]):
            if _routes.prefer_reduce_window(axes):
                x = _windows.reduce_window_pass(x, axes, 0, lax.add)
            else:
                # a run of a split window through slice views: its input is stored once, or XLA fuses the
                # passes back into one loop of ``w`` views (reduce_window passes are never fused that way)
                x = _group_sum(_fence.materialize(x) if i else x, axes, tuple(x.shape), op)
    return x


def _divide(s: Array, geom: PoolGeometry, count_include_pad: bool, divisor_override: int | None) -> Array:
    vectors = avg_divisor(geom, count_include_pad, divisor_override)
    if divisor_override is not None:
        return s / jnp.asarray(vectors[0][0], s.dtype)
    divisor = np.ones((1,) * s.ndim)
    for ax, vec in zip(geom.axes, vectors):
        if not (vec == vec[0]).all() or vec[0] != 1:
            divisor = divisor * vec.reshape(geom.broadcast_shape(ax, ax.out))
    if divisor.size == 1:
        d = float(divisor.reshape(()))
        return s if d == 1.0 else s / jnp.asarray(d, s.dtype)
    return s / jnp.asarray(divisor, s.dtype)


@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4, 5))
def _pool(x: Array, geom: PoolGeometry, op: str, p: float, count_include_pad: bool,
          divisor_override: int | None) -> Array:
    """sum/avg/lp pooling of a validated array (jitted on the static geometry, so eager calls compile once)."""
    x = _sharding.whole_axes(x, geom.spatial_axes)
    out_dtype = _result_dtype(x.dtype, jnp.sum if op == "sum" else jnp.mean)
    xa = x.astype(_acc_dtype(out_dtype))
    if op == "lp" and p != 1.0:
        xa = _power_fn(p)(xa)
    s = _window_sum(xa, geom, op)
    if op == "avg":
        s = _divide(s, geom, count_include_pad, divisor_override)
    if op != "lp" or p == 1.0:
        return s.astype(out_dtype)
    zero = s == 0
    safe = jnp.where(zero, jnp.ones_like(s), s)
    mag = jnp.abs(safe)
    root = jnp.sign(safe) * (jnp.sqrt(mag) if p == 2.0 else jnp.power(mag, jnp.asarray(1.0 / p, s.dtype)))
    return jnp.where(zero, jnp.zeros_like(s), root).astype(out_dtype)


@torch_names
@shared_doc(DOC_ARGS)
def sum_pool(
    inputs: Any,
    window_shape: int | Sequence[int],
    strides: int | Sequence[int] | None = None,
    padding: Padding = "VALID",
    *,
    dilation: int | Sequence[int] | None = None,
    ceil_mode: bool = False,
    channels_first: bool = False,
) -> Array:
    """N-d sum pooling: the sum over each window, padding contributing 0.

    Same arguments and defaults as :func:`jaxpool.max_pool`. float16/bfloat16 accumulate in float32 and round
    once (also in the gradient); the result dtype follows ``jnp.sum`` (ints and bool give the default int).
    Equals ``lax.reduce_window(x, 0, lax.add, ...)`` in value.
    """
    x, geom = prepare(inputs, window_shape, strides, padding, dilation=dilation, ceil_mode=ceil_mode,
                      channels_first=channels_first)
    return _pool(x, geom, "sum", 1.0, True, None)


@torch_names
@shared_doc(DOC_ARGS)
def avg_pool(
    inputs: Any,
    window_shape: int | Sequence[int],
    strides: int | Sequence[int] | None = None,
    padding: Padding = "VALID",
    count_include_pad: bool = True,
    *,
    divisor_override: int | None = None,
    dilation: int | Sequence[int] | None = None,
    ceil_mode: bool = False,
    channels_first: bool = False,
) -> Array:
    """N-d average pooling; a drop-in for ``flax.linen.avg_pool`` with PyTorch's options.

    Value = window sum / divisor. ``count_include_pad=True`` (default, as Flax and PyTorch): the divisor counts
    the sampled positions inside the padded extent (``ceil_mode`` overhang excluded); ``False``: only those
    inside the input; ``divisor_override=d`` (keyword-only, positive int): divisor d. Matches
    ``torch.nn.functional.avg_pool{1,2,3}d`` and ``flax.linen.avg_pool`` on their options (to one ulp: XLA
    multiplies by the divisor's rounded reciprocal where PyTorch divides; docs/semantics.md §3). float16/bfloat16
    accumulate in float32; the result dtype follows ``jnp.mean`` (ints and bool give the default float).
    ``count_include_pad`` must be a bool, ``divisor_override`` a positive int (TypeError/ValueError otherwise).
    """
    count_include_pad = check_flag(count_include_pad, "count_include_pad")
    if divisor_override is not None:
        divisor_override = as_int(divisor_override, "divisor_override", minimum=1)
    x, geom = prepare(inputs, window_shape, strides, padding, dilation=dilation, ceil_mode=ceil_mode,
                      channels_first=channels_first)
    return _pool(x, geom, "avg", 1.0, count_include_pad, divisor_override)


def _check_norm(norm_type: Any) -> float:
    """``norm_type``: a real number (int, float, NumPy scalar or concrete 0-d real array), finite and >= 1."""
    if isinstance(norm_type, jax.core.Tracer):
        raise TypeError(f"norm_type={show(norm_type)} is traced; it must be a concrete number >= 1")
    if isinstance(norm_type, (np.ndarray, jax.Array)) and np.ndim(norm_type) == 0 and (
            jnp.issubdtype(norm_type.dtype, jnp.floating) or jnp.issubdtype(norm_type.dtype, jnp.integer)):
        norm_type = norm_type.item()
    if isinstance(norm_type, (bool, np.bool_)) or not isinstance(norm_type, (int, float, np.integer, np.floating)):
        raise TypeError(f"norm_type must be a real number >= 1, got {show(norm_type)} of type "
                        f"{type(norm_type).__name__}")
    try:
        p = float(norm_type)
    except OverflowError:
        p = math.inf
    if not math.isfinite(p) or p < 1:
        raise ValueError(f"norm_type={show(norm_type)} must be a finite number >= 1 (use max_pool for p = inf)")
    return p


def _power_fn(p: float) -> Callable[[Array], Array]:
    if p.is_integer():
        return lambda v: lax.integer_pow(v, int(p))
    return lambda v: jnp.power(v, jnp.asarray(p, v.dtype))


@torch_names
@shared_doc(DOC_ARGS)
def lp_pool(
    inputs: Any,
    norm_type: float,
    window_shape: int | Sequence[int],
    strides: int | Sequence[int] | None = None,
    padding: Padding = "VALID",
    *,
    dilation: int | Sequence[int] | None = None,
    ceil_mode: bool = False,
    channels_first: bool = False,
) -> Array:
    """N-d power-average (Lp) pooling: ``sign(s) * |s| ** (1 / p)`` with ``s = sum(x ** p)`` over the window.

    ``norm_type`` (p) is a finite float >= 1 (ValueError otherwise; use max_pool for p = inf); padding
    contributes 0; ``x ** p`` uses x itself, not ``|x|`` (negative x with non-integer p gives NaN, as torch).
    Matches ``torch.nn.functional.lp_pool{1,2,3}d`` on non-negative inputs without overhanging ``ceil_mode``
    windows (torch rescales a clipped average there). ``p = 1`` equals :func:`sum_pool`. The gradient is 0
    where the window sum is 0 (never NaN). Accumulates in float32 for float16/bfloat16; result dtype follows
    ``jnp.mean``.
    """
    p = _check_norm(norm_type)
    x, geom = prepare(inputs, window_shape, strides, padding, dilation=dilation, ceil_mode=ceil_mode,
                      channels_first=channels_first)
    return _pool(x, geom, "lp", p, True, None)
