"""Max and min pooling: values, winners, and the custom derivative that makes the reverse pass fast.

Design (docs/semantics.md §4, §7). JAX differentiates ``lax.reduce_window(max)`` through ``select_and_gather_add``,
which is
slow on CPU and has no rule for dilated windows. jaxpool instead defines max/min pooling with a
``jax.custom_jvp`` whose tangent rule is *linear in the tangent*: the forward pass records, per output and per
axis group, the flat offset of the winning element inside the window (int8), and the tangent of the output is
the tangent of the input gathered at those winners. That gather is written as ``jax.linear_transpose`` of the
hand-made reverse pass (``_windows.scatter_pass``), so JAX obtains every mode from the one rule:

* reverse mode (``grad``, ``vjp``) transposes the gather back into exactly ``scatter_pass`` — dense slices,
  broadcasts and selects that XLA fuses into one loop per pass, no scatter, deterministic, dilation works;
* forward mode (``jvp``, ``jacfwd``) evaluates the gather directly;
* higher orders (Hessian-vector products, ``hessian``) differentiate the rule again; winners are integers and
  carry no tangent.

A bare ``custom_vjp`` would break forward mode, and a ``custom_vjp`` nested in a ``custom_jvp`` rule fails to
transpose under ``grad``; the linear custom_jvp keeps all transformations (``vmap``, ``jit``, ``checkpoint``,
``eval_shape``, ``export``) working.

Ties go to the first maximal (minimal) element in row-major window order, NaN beats every number (first NaN
wins), and padded positions never win — the same element for values, jvp, grad and ``max_pool_with_indices``.
Windows are separable, so the N-d op is one pass per group of axes, last spatial axes first (see
``_windows``).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from jaxpool import _fence, _routes, _sharding, _views, _windows
from jaxpool._args import DOC_ARGS, Padding, shared_doc, torch_names
from jaxpool._args import accumulation_dtype as _compute_dtype
from jaxpool._args import identity as _identity
from jaxpool._dispatch import kernels
from jaxpool._geometry import PoolGeometry, prepare

Array = jax.Array


def _passes(geom: PoolGeometry, values_only: bool = False, narrow: bool = False) -> list[tuple[tuple, bool]]:
    """The passes, as ``(AxisGeometry tuple, joined)``: axis groups, last spatial dims first (row-major tie
    rule), a large single-axis window split into passes of small windows (``_levels``, innermost first).
    ``values_only``: the passes of values without winners (their groups have their own size limit); ``narrow``:
    of a 16-bit input.
    ``joined`` marks a pass that reads the previous pass's result as a run of the same split window: that
    result is materialized (``_fence.materialize``), or XLA fuses the passes back into one of ``w`` views."""
    out: list[tuple[tuple, bool]] = []
    op = ("extreme_values_narrow" if narrow else "extreme_values") if values_only else "extreme"
    groups = [tuple(geom.axes[i] for i in g) for g in _routes.axis_groups(geom, op)]
    splits = [_routes.split_passes(axes, "extreme") for axes in groups]
    # Windows split on several axes: their passes skip the border blocks (``_dispatch``: unblocked_split_axes)
    unblocked = sum(bool(s) for s in splits) >= kernels().unblocked_split_axes
    for axes, split in zip(groups, splits):
        if split:
            if unblocked:
                split = [tuple(dataclasses.replace(a, border_blocks=False) for a in p) for p in split]
            out.extend((p, i > 0) for i, p in enumerate(split))
        else:
            out.append((axes, False))
    return out


def _groups(geom: PoolGeometry) -> list[tuple]:
    return [axes for axes, _ in _passes(geom)]


def _values(x: Array, geom: PoolGeometry, take_max: bool) -> Array:
    dtype = x.dtype
    compute = _compute_dtype(dtype)
    reducer = lax.max if take_max else lax.min
    passes = _passes(geom, values_only=True, narrow=compute != dtype)
    for i, (axes, _) in enumerate(passes):
        if _routes.prefer_reduce_window_extreme(axes) or (compute != dtype and _routes.is_tiling(axes)):
            # XLA's own reduce_window, in the input dtype: faster for padded 1-D passes, and for values alone
            # (no winners) of float16/bfloat16 over tiling windows than widening every slice view (the max is
            # exact in either precision). Large overlapping low-precision windows stay on the float32 slices,
            # where XLA's low-precision reduce_window is up to 10x slower.
            x = _windows.reduce_window_pass(x.astype(dtype), axes, _identity(dtype, take_max), reducer)
        else:
            x = _fence_if(_next_joined(passes, i), lambda v, axes=axes: _windows.extreme_pass(
                v, axes, _identity(compute, take_max), take_max), x.astype(compute), axes)
    return x.astype(dtype)


def _next_joined(passes: list[tuple[tuple, bool]], i: int) -> bool:
    return i + 1 < len(passes) and passes[i + 1][1]


def _fence_if(cond: bool, fn, x: Array, axes: tuple):
    if not cond:
        return fn(x)
    if _routes.large_axis(tuple(sorted(axes, key=lambda a: a.axis)), "extreme") is not None:
        # the blocked scheme's winner codes have another rank than ``x``: stored after the fact
        return jax.tree.map(_fence.materialize, fn(x))
    return _fence.fenced(fn, x)


def winners(x: Array, geom: PoolGeometry, take_max: bool) -> tuple[Array, tuple[Array, ...]]:
    """Pooled values and the per-pass winning flat offsets (in pass order)."""
    dtype = x.dtype
    x = x.astype(_compute_dtype(dtype))
    ident = _identity(x.dtype, take_max)
    args = []
    passes = _passes(geom)
    for i, (axes, _) in enumerate(passes):
        # a pass whose result a joined pass reads, or whose winners the reverse pass reads several times, is
        # computed and stored by itself (``_fence.fenced``); overlapping windows of a few views are cheaper
        # recomputed in the reverse pass (``_dispatch``: ``fuse_winners_views``)
        views = len(_views.offsets(axes))
        fused = _routes.overlapping(axes) and views <= kernels().fuse_winners_views
        fence = _next_joined(passes, i) or (views > 1 and not fused)
        x, arg = _fence_if(fence, lambda v, axes=axes: _windows.argextreme_pass(v, axes, ident, take_max), x, axes)
        args.append(arg)
    return x.astype(dtype), tuple(args)


def gather(t: Array, geom: PoolGeometry, args: Sequence[Array]) -> Array:
    """Gather ``t`` (input-shaped, any dtype) at the winners recorded by :func:`winners`."""
    for (axes, joined), arg in zip(_passes(geom), args):
        t = _windows.gather_pass(_fence.materialize(t) if joined else t, axes, arg)
    return t


def scatter(ct: Array, geom: PoolGeometry, args: Sequence[Array]) -> Array:
    """The transpose of :func:`gather`: each output's cotangent sent to its winner (the reverse pass)."""
    dtype = ct.dtype
    if jnp.issubdtype(dtype, jnp.floating) and jnp.finfo(dtype).bits < 32:
        # overlapping windows' cotangents add up in float32, rounded once (docs/semantics.md §3)
        ct = ct.astype(jnp.float32)
    shapes = [geom.input_shape]
    for axes in _groups(geom)[:-1]:
        shapes.append(_views.group_out_shape(shapes[-1], axes))
    for (axes, joined), arg, shape in reversed(list(zip(_passes(geom), args, shapes))):
        ct = _windows.scatter_pass(ct, axes, shape, arg)
        if joined:  # the input of the previous pass's reverse pass, as in the forward direction
            ct = _fence.materialize(ct)
    return ct.astype(dtype)


@functools.partial(jax.custom_jvp, nondiff_argnums=(1, 2))
def _pool_float(x: Array, geom: PoolGeometry, take_max: bool) -> Array:
    return _values(x, geom, take_max)


@_pool_float.defjvp
def _pool_float_jvp(geom: PoolGeometry, take_max: bool, primals: tuple, tangents: tuple) -> tuple:
    (x,), (t,) = primals, tangents
    y, args = winners(x, geom, take_max)
    # The tangent map is written as the transpose of the hand-made reverse pass, so that JAX's transpose of it
    # (what grad runs) is exactly ``scatter``; forward mode evaluates the transposed ops (a gather).
    gather_t = jax.linear_transpose(lambda c: scatter(c, geom, args), _sharding.transpose_spec(y, t.dtype))
    (dy,) = gather_t(t)
    return y, dy


@functools.partial(jax.jit, static_argnums=(1, 2))
def extreme_pool(x: Array, geom: PoolGeometry, take_max: bool) -> Array:
    """Max (or min) pooling of an already validated array; bool means any (all).

    Jitted with the (hashable, static) geometry so that eager calls compile one program, cached per shape.
    """
    x = _sharding.whole_axes(x, geom.spatial_axes)
    if x.dtype == jnp.bool_:
        return _values(x.astype(jnp.uint8), geom, take_max).astype(jnp.bool_)
    if jnp.issubdtype(x.dtype, jnp.floating):
        return _pool_float(x, geom, take_max)
    return _values(x, geom, take_max)


@torch_names
@shared_doc(DOC_ARGS)
def max_pool(
    inputs: Any,
    window_shape: int | Sequence[int],
    strides: int | Sequence[int] | None = None,
    padding: Padding = "VALID",
    *,
    dilation: int | Sequence[int] | None = None,
    ceil_mode: bool = False,
    channels_first: bool = False,
) -> Array:
    """N-d max pooling with exact, fast gradients; a drop-in for ``flax.linen.max_pool``.

    Same parameter names, order and defaults as ``flax.linen.max_pool``, plus PyTorch's ``dilation`` and
    ``ceil_mode`` (values match ``torch.nn.functional.max_pool{1,2,3}d``). Ties: the gradient (and jvp) goes
    wholly to the first maximal element in row-major window order; a window holding NaN gives NaN and routes
    to its first NaN (PyTorch's CPU kernel picks the last NaN). Bool inputs give ``any``. float16/bfloat16
    compare in float32 (exact: the cast preserves order and NaN, and is much faster on CPU).
    """
    x, geom = prepare(inputs, window_shape, strides, padding, dilation=dilation, ceil_mode=ceil_mode,
                      channels_first=channels_first)
    return extreme_pool(x, geom, True)


@torch_names
@shared_doc(DOC_ARGS)
def min_pool(
    inputs: Any,
    window_shape: int | Sequence[int],
    strides: int | Sequence[int] | None = None,
    padding: Padding = "VALID",
    *,
    dilation: int | Sequence[int] | None = None,
    ceil_mode: bool = False,
    channels_first: bool = False,
) -> Array:
    """N-d min pooling with exact, fast gradients; a drop-in for ``flax.linen.pooling.min_pool``.

    The mirror of :func:`max_pool`: ties go to the first minimal element, NaN counts as smaller than every
    number (a window holding NaN gives NaN), padding holds +inf (the dtype's max for integers) and never wins.
    Bool inputs give ``all``.
    """
    x, geom = prepare(inputs, window_shape, strides, padding, dilation=dilation, ceil_mode=ceil_mode,
                      channels_first=channels_first)
    return extreme_pool(x, geom, False)
