"""The kernel passes: forward passes over window views and hand-written reverse passes (docs/semantics.md §7).

A pooling pass reduces a *group* of spatial axes at once by combining, elementwise, one view of the input per
window offset (offsets in row-major order).

* **Forward** (:func:`sum_pass`, :func:`extreme_pass`, :func:`argextreme_pass`): views are strided slices of the
  *unpadded* input (``_views.SliceViews``). The outputs are split into an interior block, whose windows lie
  inside the input, and thin border blocks, whose windows overhang it (``_views.interior_blocks``); only border
  views carry a pad. Padding the input first would copy it, and a pad fused into the reduction loop puts a
  bounds check on every element; both made the forward 2-3x slower on XLA:CPU.
* **Reverse** (:func:`scatter_pass`): input position ``p = q * stride + r`` (phase ``r``) receives the cotangent
  of output ``q - q_k`` from every window offset ``k`` with ``divmod(k * dilation, stride) == (q_k, r)``. Windows
  that tile the input (stride == window) broadcast the cotangent along an offset axis; stride 1 is itself a
  window reduction over the cotangent (same blocks as the forward); other strides sum unstrided slices per
  phase and interleave the phases. No interior pads and no scatter: XLA's automatic transpose of strided
  slices (interior pads) runs several times slower on CPU.
* ``_fence.materialize`` keeps XLA from fusing the winners' compare/select chain into the reverse pass (which
  reads each winner several times and would recompute the chain per read).

Windows are boxes, so a reduction over all spatial axes can be split into passes over consecutive groups of
axes (``_routes.axis_groups``, which also picks each pass's kernel), last axes first. For sums that is
algebra; for max/min with the first-maximal tie rule it holds too: the first maximal element in row-major order
lies in the first leading-axes position that holds the maximum, at the first trailing-axes position holding it
there. Small windows use one group (one fused loop), large windows one axis per pass.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxpool import _large_windows as _large
from jaxpool._dispatch import kernels
from jaxpool._geometry import AxisGeometry
from jaxpool._routes import abutting, is_tiling, large_axis
from jaxpool._sharding import reshape_like
from jaxpool._stride_blocks import resize
from jaxpool._views import SliceViews, blockwise, group_out_shape, offset_dtype, offsets, static_mask

Array = jnp.ndarray


def sum_pass(x: Array, axes: Sequence[AxisGeometry]) -> Array:
    """Window sums over a group of axes, padding contributing zero."""
    axes = tuple(sorted(axes, key=lambda a: a.axis))
    if (big := large_axis(axes, "sum")) is not None:
        return _large.sum_pass(x, big)
    return blockwise(axes, lambda b: _sum_block(x, b))


def _sum_block(x: Array, axes: Sequence[AxisGeometry]) -> Array:
    views = SliceViews(x, axes, 0)
    shape = group_out_shape(x.shape, axes)
    total = None
    for k in offsets(axes):
        term = views.view(k, shape)
        total = term if total is None else total + term
    assert total is not None
    return total


def extreme_pass(x: Array, axes: Sequence[AxisGeometry], identity: Array, take_max: bool) -> Array:
    """Window max (min) values over a group of axes; NaN propagates, padding holds ``identity``."""
    axes = tuple(sorted(axes, key=lambda a: a.axis))
    if (big := large_axis(axes, "extreme")) is not None:
        return _large.extreme_pass(x, big, identity, take_max, with_code=False)[0]
    return blockwise(axes, lambda b: _extreme_block(x, b, identity, take_max))


def _extreme_block(x: Array, axes: Sequence[AxisGeometry], identity: Array, take_max: bool) -> Array:
    views = SliceViews(x, axes, identity)
    shape = group_out_shape(x.shape, axes)
    combine = jnp.maximum if take_max else jnp.minimum
    best = None
    for k in offsets(axes):
        v = views.view(k, shape)
        best = v if best is None else combine(best, v)
    assert best is not None
    return best


def argextreme_pass(
    x: Array, axes: Sequence[AxisGeometry], identity: Array, take_max: bool
) -> tuple[Array, Array]:
    """Window max (min) over a group of axes plus the flat row-major offset of the winner (docs/semantics.md §3–4).

    The winner is the first maximal (minimal) element in row-major window order; NaN beats every number and
    the first NaN wins; padded positions never win, even when every input in the window equals ``identity``.

    Padding holds ``identity``, which never beats anything strictly, so a padded element can only "win" as
    the chain's starting point (offset 0, padded where some axis has low padding); those outputs are handed
    to their first real element by a static mask. The chain runs in 32-bit lanes and the offsets are narrowed
    to int8 once at the end (mixed-width selects do not vectorize on CPU).

    A large window (:func:`large_axis`) records a uint8 code of its winners instead (``_large_windows``);
    :func:`gather_pass` and :func:`scatter_pass` take either form, by the same test.
    """
    axes = tuple(sorted(axes, key=lambda a: a.axis))
    if (big := large_axis(axes, "extreme")) is not None:
        return _large.extreme_pass(x, big, identity, take_max, with_code=True)  # type: ignore[return-value]
    return blockwise(axes, lambda b: _argextreme_block(x, b, identity, take_max))


def _argextreme_block(
    x: Array, axes: Sequence[AxisGeometry], identity: Array, take_max: bool
) -> tuple[Array, Array]:
    if is_tiling(axes) and len(offsets(axes)) <= kernels().match_winners_views:
        return _argextreme_match(x, axes, identity, take_max)
    views = SliceViews(x, axes, identity)
    shape = group_out_shape(x.shape, axes)
    offs = offsets(axes)
    odt = offset_dtype(len(offs))
    is_float = jnp.issubdtype(x.dtype, jnp.floating)
    best = views.view(offs[0], shape)
    arg = lax.full_like(best, 0, jnp.int32)
    seen = static_mask(shape, axes, [a.valid(k) for a, k in zip(axes, offs[0])])
    for flat, k in enumerate(offs[1:], start=1):
        v = views.view(k, shape)
        if is_float:
            # v > best, or v is NaN and best is not; never replaces a NaN best.
            better = ~((v <= best) if take_max else (v >= best)) & (best == best)
        else:
            better = (v > best) if take_max else (v < best)
        if not seen.all():
            valid = static_mask(shape, axes, [a.valid(kk) for a, kk in zip(axes, k)])
            first_real = valid & ~seen
            if first_real.any():
                better = better | jnp.asarray(first_real)
            seen = seen | valid
        best = lax.select(better, v, best)
        arg = lax.select(better, lax.full_like(arg, flat), arg)
    return best, arg.astype(odt)


def _argextreme_match(
    x: Array, axes: Sequence[AxisGeometry], identity: Array, take_max: bool
) -> tuple[Array, Array]:
    """:func:`_argextreme_block` in two steps: the window extreme (a max/min chain, NaN-propagating), then the
    first view that equals it or is NaN, scanning the views from the last (the first-maximal rule: the first
    NaN when there is one, else the first maximal element). For tiling windows only: no view is padded, so
    the padding rule needs no mask. Faster than the compare/select chain for small
    tiling windows on XLA:CPU (``_dispatch``), slower for overlapping ones."""
    assert is_tiling(axes)
    views = SliceViews(x, axes, identity)
    shape = group_out_shape(x.shape, axes)
    offs = offsets(axes)
    vs = [views.view(k, shape) for k in offs]
    combine = jnp.maximum if take_max else jnp.minimum
    best = vs[0]
    for v in vs[1:]:
        best = combine(best, v)
    is_float = jnp.issubdtype(x.dtype, jnp.floating)
    arg = lax.full_like(best, 0, jnp.int32)
    for flat in reversed(range(len(offs))):
        v = vs[flat]
        hit = (v == best) | (v != v) if is_float else v == best
        arg = lax.select(hit, lax.full_like(arg, flat), arg)
    return best, arg.astype(offset_dtype(len(offs)))


def gather_pass(t: Array, axes: Sequence[AxisGeometry], arg: Array) -> Array:
    """For each output, the element of ``t`` at flat window offset ``arg`` (any dtype).

    Linear in ``t``; its transpose sends each output back to its winner through per-phase pads and one
    interleaving concatenate — the fast reverse pass of max/min pooling.
    """
    axes = tuple(sorted(axes, key=lambda a: a.axis))
    if (big := large_axis(axes, "extreme")) is not None:
        return _large.extreme_gather(t, big, arg)
    views = SliceViews(t, axes, 0)
    zero = None
    out = None
    for flat, k in enumerate(offsets(axes)):
        v = views.view(k, arg.shape)
        zero = lax.full_like(v, 0) if zero is None else zero
        term = lax.select(arg == lax.full_like(arg, flat), v, zero)
        out = term if out is None else out + term
    assert out is not None
    return out


def scatter_pass(ct: Array, axes: Sequence[AxisGeometry], in_shape: Sequence[int],
                 arg: Array | None = None) -> Array:
    """Transpose of :func:`gather_pass` (``arg`` given) or of a window sum (``arg=None``), written for speed.

    Input position ``p = q * stride + r`` of phase ``r`` receives the cotangent of output ``q - q_k`` from every
    window offset ``k`` with ``divmod(k * dilation, stride) == (q_k, r)`` (and, for max/min, only where that
    output's winner is ``k``). So each phase is a sum of unstrided slices of the cotangent padded once, and the
    phases are interleaved back by a stack and a reshape. Every op is a dense slice, select or add: XLA:CPU
    runs this several times faster than the interior pads of the automatic transpose.
    """
    axes = tuple(sorted(axes, key=lambda a: a.axis))
    if (big := large_axis(axes, "sum" if arg is None else "extreme")) is not None:
        return _large.sum_scatter(ct, big) if arg is None else _large.extreme_scatter(ct, big, arg)
    if all(abutting(a) for a in axes):
        return _tiling_scatter(ct, axes, in_shape, arg)
    if all(a.stride == 1 for a in axes):
        return _stride1_scatter(ct, axes, in_shape, arg)
    rows = {a.axis: -(-a.padded_extent // a.stride) for a in axes}
    shifts = {a.axis: ((a.window - 1) * a.dilation) // a.stride for a in axes}
    config = [(0, 0, 0)] * ct.ndim
    for a in axes:
        config[a.axis] = (shifts[a.axis], max(0, rows[a.axis] - a.out), 0)
    ctp = lax.pad(ct, jnp.zeros((), ct.dtype), config)
    argp = None if arg is None else lax.pad(arg, jnp.asarray(-1, arg.dtype), config)
    phase_shape = list(ct.shape)
    for a in axes:
        phase_shape[a.axis] = rows[a.axis]
    offs = offsets(axes)
    flat_of = {k: i for i, k in enumerate(offs)}
    # Phases past the last one a window offset reads get no cotangent: they are zeros padded in when the phases
    # are interleaved, so the program grows with the window, not with a stride beyond it.
    used = [max((k * a.dilation) % a.stride for k in range(a.window)) + 1 for a in axes]
    per_axis = [
        [[k for k in range(a.window) if (k * a.dilation) % a.stride == r] for r in range(n)]
        for a, n in zip(axes, used)
    ]
    phases: dict[tuple[int, ...], Array] = {}
    for rs in itertools.product(*(range(n) for n in used)):
        total = None
        for k in itertools.product(*(per_axis[j][r] for j, r in enumerate(rs))):
            c, m = ctp, argp
            for a, kk in zip(axes, k):
                start = shifts[a.axis] - (kk * a.dilation) // a.stride
                c = lax.slice_in_dim(c, start, start + rows[a.axis], 1, a.axis)
                if m is not None:
                    m = lax.slice_in_dim(m, start, start + rows[a.axis], 1, a.axis)
            term = c if m is None else lax.select(m == lax.full_like(m, flat_of[k]), c, lax.full_like(c, 0))
            total = term if total is None else total + term
        phases[rs] = jnp.zeros(phase_shape, ct.dtype) if total is None else total
    # Interleave phases, one axis at a time (last group axis first): (rows, stride) -> rows * stride.
    for j in reversed(range(len(axes))):
        a = axes[j]
        merged: dict[tuple[int, ...], Array] = {}
        for key in {r[:j] + r[j + 1:] for r in phases}:
            parts = [phases[key[:j] + (r,) + key[j:]] for r in range(used[j])]
            if a.stride == 1:
                merged[key] = parts[0]
                continue
            stacked = resize(jnp.stack(parts, axis=a.axis + 1), a.axis + 1, 0, a.stride, 0)
            shape = list(parts[0].shape)
            shape[a.axis] *= a.stride
            merged[key] = reshape_like(stacked, shape, parts[0])
        phases = merged
    dx = phases[()]
    for a in axes:
        dx = lax.slice_in_dim(dx, a.low, a.low + a.size, 1, a.axis)
    assert tuple(dx.shape) == tuple(in_shape), (dx.shape, in_shape)
    return dx


def _stride1_scatter(ct: Array, axes: Sequence[AxisGeometry], in_shape: Sequence[int],
                     arg: Array | None) -> Array:
    """:func:`scatter_pass` for stride 1: itself a window reduction over the cotangent.

    Input ``p`` receives output ``p + low - k * dilation`` from offset ``k``; with ``k' = window - 1 - k`` that
    is a window of the cotangent with low padding ``(window - 1) * dilation - low``. So the reverse pass runs
    through the same interior/border blocks and slice views as the forward pass (no padded copy of the
    cotangent), masking each term by ``arg == k`` for max/min.
    """
    gaxes = tuple(
        dataclasses.replace(a, size=a.out, low=(a.window - 1) * a.dilation - a.low, out=a.size,
                            high=a.size - a.out + a.low)
        for a in axes
    )
    flat_of = {k: i for i, k in enumerate(offsets(axes))}

    def block(baxes: Sequence[AxisGeometry]) -> Array:
        cviews = SliceViews(ct, baxes, 0)
        aviews = None if arg is None else SliceViews(arg, baxes, -1)
        shape = group_out_shape(ct.shape, baxes)
        total = zero = None
        for kp in offsets(baxes):
            term = cviews.view(kp, shape)
            if aviews is not None:
                k = tuple(a.window - 1 - j for a, j in zip(baxes, kp))
                av = aviews.view(kp, shape)
                zero = lax.full_like(term, 0) if zero is None else zero
                term = lax.select(av == lax.full_like(av, flat_of[k]), term, zero)
            total = term if total is None else total + term
        assert total is not None
        return total

    dx = blockwise(gaxes, block)
    assert tuple(dx.shape) == tuple(in_shape), (dx.shape, in_shape)
    return dx


def _tiling_scatter(ct: Array, axes: Sequence[AxisGeometry], in_shape: Sequence[int],
                    arg: Array | None) -> Array:
    """:func:`scatter_pass` for windows that tile the input (stride == window, no dilation).

    Window offset ``k`` of output ``q`` is input ``q * stride + k - low``: broadcast the cotangent along a new
    offset axis after each spatial axis (masked by ``arg == k`` for max/min) and merge the two axes by a
    reshape. A broadcast is pure index arithmetic for XLA, where interleaving phases by concatenation is a
    per-element branch.
    """
    shape: list[int] = []
    expand: list[int] = []
    for ax, n in enumerate(ct.shape):
        shape.append(n)
        a = next((a for a in axes if a.axis == ax), None)
        if a is not None:
            expand.append(len(shape))
            shape.append(a.window)
    c = jnp.expand_dims(ct, expand)
    full = jnp.broadcast_to(c, shape)
    if arg is not None:
        flat = None
        for pos, a in zip(expand, axes):
            term = lax.broadcasted_iota(arg.dtype, shape, pos)
            flat = term if flat is None else flat * jnp.asarray(a.window, arg.dtype) + term
        hit = jnp.expand_dims(arg, expand) == flat
        full = jnp.where(hit, full, jnp.zeros((), ct.dtype))
    merged = list(ct.shape)
    for a in axes:
        merged[a.axis] = a.out * a.window
    dx = reshape_like(full, merged, ct)
    config = [(0, 0, 0)] * dx.ndim
    for a in axes:
        config[a.axis] = (-a.low, a.size + a.low - a.out * a.window, 0)
    if any(c != (0, 0, 0) for c in config):
        dx = lax.pad(dx, jnp.zeros((), ct.dtype), config)
    assert tuple(dx.shape) == tuple(in_shape), (dx.shape, in_shape)
    return dx


def reduce_window_pass(x: Array, axes: Sequence[AxisGeometry], init: Array | float | int,
                       computation) -> Array:
    """The same pass as :func:`sum_pass` / :func:`extreme_pass`, through ``lax.reduce_window``."""
    dims, strides, dil, pads = [1] * x.ndim, [1] * x.ndim, [1] * x.ndim, [(0, 0)] * x.ndim
    for a in axes:
        dims[a.axis], strides[a.axis], dil[a.axis] = a.window, a.stride, a.dilation
        pads[a.axis] = (a.low, a.padded_extent - a.size - a.low)
    return lax.reduce_window(x, np.asarray(init, x.dtype)[()], computation, tuple(dims), tuple(strides),
                             tuple(pads), window_dilation=tuple(dil))

