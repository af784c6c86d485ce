"""The kernel toolkit: window views of the padded input as stride-phase slices.

A pooling pass reduces a *group* of spatial axes at once by combining, elementwise, one view of the padded
input per window offset (offsets in row-major order). A view is never a strided slice: the padded input is
reshaped so that each spatial axis of length ``L = P * stride`` becomes ``(P, stride)``, split into its
``stride`` phases (``lax.split``), and window offset ``k`` is the *unstrided* slice ``[q, q + out)`` of phase
``r``, where ``q, r = divmod(k * dilation, stride)``. The transposes JAX derives from these ops are unstrided pads
(no interior padding) added within each phase and a ``concatenate`` that interleaves the phases back. XLA:CPU
fuses those into a few dense loops; strided slices would transpose into interior pads, which it runs several
times slower. This is the stride-phase backward pass of SPEC §7, obtained as a plain transpose.

Windows are boxes, so a reduction over all spatial axes can be split into passes over consecutive groups of
axes (:func:`axis_groups`), last axes first. For sums that is algebra; for max/min with the first-maximal tie
rule it holds too: the first maximal element in row-major order lies in the first leading-axes position that
holds the maximum, at the first trailing-axes position holding it there. Small windows use one group (one fused
loop; separate passes would make XLA fuse and recompute across them), large windows one axis per pass.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxpool._geometry import AxisGeometry, PoolGeometry

Array = jnp.ndarray

#: Largest window (number of offsets) reduced in a single fused pass.
MAX_GROUP_WINDOW = 32


def axis_groups(geom: PoolGeometry) -> list[tuple[int, ...]]:
    """Consecutive groups of spatial-dim indices, in pass order (last dims first); trivial dims dropped."""
    dims = [
        i for i, a in enumerate(geom.axes)
        if not (a.window == 1 and a.stride == 1 and a.low == 0 and a.out == a.size)
    ]
    groups: list[list[int]] = []
    for i in reversed(dims):
        if groups and math.prod(geom.axes[j].window for j in groups[-1]) * geom.axes[i].window \
                <= MAX_GROUP_WINDOW:
            groups[-1].insert(0, i)
        else:
            groups.append([i])
    return [tuple(g) for g in groups]


def offsets(axes: Sequence[AxisGeometry]) -> list[tuple[int, ...]]:
    """Window offsets of a group in row-major order (last axis fastest)."""
    return list(itertools.product(*(range(a.window) for a in axes)))


def offset_dtype(window: int) -> np.dtype:
    """The smallest integer dtype that holds a window offset (int8 for windows up to 127)."""
    return np.dtype(np.int8) if window <= 127 else np.dtype(np.int32)


def static_mask(shape: Sequence[int], axes: Sequence[AxisGeometry], vectors: Sequence[np.ndarray]) -> np.ndarray:
    """Outer product (logical and) of per-axis boolean vectors, shaped to broadcast over ``shape``."""
    mask = np.ones((1,) * len(shape), dtype=bool)
    for a, v in zip(axes, vectors):
        bshape = [1] * len(shape)
        bshape[a.axis] = a.out
        mask = mask & v.reshape(bshape)
    return mask


class PhaseViews:
    """Window views of ``x`` padded with ``value`` for the group ``axes``, as stride-phase slices."""

    def __init__(self, x: Array, axes: Sequence[AxisGeometry], value: Array | float | int):
        self.axes = tuple(sorted(axes, key=lambda a: a.axis))
        self.ndim = x.ndim
        config = [(0, 0, 0)] * x.ndim
        for a in self.axes:
            length = -(-a.padded_extent // a.stride) * a.stride
            config[a.axis] = (a.low, length - a.size - a.low, 0)
        if any(c != (0, 0, 0) for c in config):
            x = lax.pad(x, jnp.asarray(value, dtype=x.dtype), config)
        # Reshape each axis (P * s) -> (P, s); phase axis of group axis j sits right after its row axis.
        shape: list[int] = []
        self.row_axis: dict[int, int] = {}
        for ax, n in enumerate(x.shape):
            a = next((a for a in self.axes if a.axis == ax), None)
            if a is None or a.stride == 1:
                if a is not None:
                    self.row_axis[ax] = len(shape)
                shape.append(n)
            else:
                self.row_axis[ax] = len(shape)
                shape += [n // a.stride, a.stride]
        x = x.reshape(shape)
        # Nested split over the phase axes: phases[(r_0, r_1, ...)].
        self.phases: dict[tuple[int, ...], Array] = {(): x}
        for a in self.axes:
            if a.stride == 1:
                self.phases = {r + (0,): v for r, v in self.phases.items()}
                continue
            paxis = self.row_axis[a.axis] + 1
            new = {}
            for r, v in self.phases.items():
                for i, part in enumerate(lax.split(v, [1] * a.stride, axis=paxis)):
                    new[r + (i,)] = part
            self.phases = new
        self.out_shape = list(x.shape)

    def view(self, offset: Sequence[int], out_shape: Sequence[int]) -> Array:
        """Elements sampled by the window offset (one int per group axis, in axis order)."""
        rs, starts = [], []
        for a, k in zip(self.axes, offset):
            q, r = divmod(k * a.dilation, a.stride)
            rs.append(r)
            starts.append(q)
        v = self.phases[tuple(rs)]
        for a, q in zip(self.axes, starts):
            v = lax.slice_in_dim(v, q, q + a.out, 1, self.row_axis[a.axis])
        return v.reshape(out_shape)


def group_out_shape(shape: Sequence[int], axes: Sequence[AxisGeometry]) -> tuple[int, ...]:
    out = list(shape)
    for a in axes:
        out[a.axis] = a.out
    return tuple(out)


def sum_pass(x: Array, axes: Sequence[AxisGeometry]) -> Array:
    """Window sums over a group of axes, padding contributing zero."""
    axes = tuple(sorted(axes, key=lambda a: a.axis))
    views = PhaseViews(x, axes, 0)
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
    views = PhaseViews(x, axes, identity)
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
    """Window max (min) over a group of axes plus the flat row-major offset of the winner (SPEC §3–4).

    The winner is the first maximal (minimal) element in row-major window order; NaN beats every number and
    the first NaN wins; padded positions never win, even when every input in the window equals ``identity``.
    """
    axes = tuple(sorted(axes, key=lambda a: a.axis))
    views = PhaseViews(x, axes, identity)
    shape = group_out_shape(x.shape, axes)
    offs = offsets(axes)
    odt = offset_dtype(len(offs))
    is_float = jnp.issubdtype(x.dtype, jnp.floating)
    best = views.view(offs[0], shape)
    arg = jnp.zeros(shape, odt)
    seen = static_mask(shape, axes, [a.valid(k) for a, k in zip(axes, offs[0])])
    for flat, k in enumerate(offs[1:], start=1):
        v = views.view(k, shape)
        better = (v > best) if take_max else (v < best)
        if is_float:
            better = better | (jnp.isnan(v) & ~jnp.isnan(best))
        valid = static_mask(shape, axes, [a.valid(kk) for a, kk in zip(axes, k)])
        if not valid.all():
            better = better & jnp.asarray(valid)
        first_real = valid & ~seen
        if first_real.any():
            better = better | jnp.asarray(first_real)
        seen = seen | valid
        best = jnp.where(better, v, best)
        arg = jnp.where(better, jnp.asarray(flat, odt), arg)
    return best, arg


def gather_pass(t: Array, axes: Sequence[AxisGeometry], arg: Array) -> Array:
    """For each output, the element of ``t`` at flat window offset ``arg`` (any dtype).

    Linear in ``t``; its transpose sends each output back to its winner through per-phase pads and one
    interleaving concatenate — the fast reverse pass of max/min pooling.
    """
    axes = tuple(sorted(axes, key=lambda a: a.axis))
    views = PhaseViews(t, axes, 0)
    zero = jnp.zeros((), t.dtype)
    out = None
    for flat, k in enumerate(offsets(axes)):
        term = jnp.where(arg == flat, views.view(k, arg.shape), zero)
        out = term if out is None else out + term
    assert out is not None
    return out


def materialize(a: Array) -> Array:
    """Return ``a`` unchanged, but make XLA compute and store it once.

    The reverse pass reads each winner offset several times (once per window offset, and more for overlapping
    windows). XLA:CPU fuses the cheap compare/select chain that computes the winners into that consumer and
    recomputes it per read, which made ``jit(grad)`` 10-60x slower in our measurements; an
    ``optimization_barrier`` does not prevent that fusion. XLA never fuses across a conditional, so on CPU the
    winners pass through a ``lax.cond`` whose branches are both the identity. Elsewhere (a conditional would
    read its predicate on the host) a scatter with unique, sorted indices does the same job; both are exact and
    deterministic.
    """
    if a.size == 0:
        return a
    if jax.default_backend() == "cpu":
        return lax.cond(a.reshape(-1)[0] >= 0, lambda v: v, lambda v: v, a)
    flat = a.reshape(-1)
    n = flat.shape[0]
    buf = jnp.zeros((n + 1,), a.dtype).at[lax.iota(jnp.int32, n)].set(
        flat, indices_are_sorted=True, unique_indices=True, mode="promise_in_bounds"
    )
    return buf[:n].reshape(a.shape)


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
    per_axis = [
        [[k for k in range(a.window) if (k * a.dilation) % a.stride == r] for r in range(a.stride)]
        for a in axes
    ]
    zero = jnp.zeros((), ct.dtype)
    phases: dict[tuple[int, ...], Array] = {}
    for rs in itertools.product(*(range(a.stride) for a in axes)):
        total = None
        for k in itertools.product(*(per_axis[j][r] for j, r in enumerate(rs))):
            c, m = ctp, argp
            for a, kk in zip(axes, k):
                start = shifts[a.axis] - (kk * a.dilation) // a.stride
                c = lax.slice_in_dim(c, start, start + rows[a.axis], 1, a.axis)
                if m is not None:
                    m = lax.slice_in_dim(m, start, start + rows[a.axis], 1, a.axis)
            term = c if m is None else jnp.where(m == flat_of[k], c, zero)
            total = term if total is None else total + term
        phases[rs] = jnp.zeros(phase_shape, ct.dtype) if total is None else total
    # Interleave phases, one axis at a time (last group axis first): (rows, stride) -> rows * stride.
    for j in reversed(range(len(axes))):
        a = axes[j]
        merged: dict[tuple[int, ...], Array] = {}
        for key in {r[:j] + r[j + 1:] for r in phases}:
            parts = [phases[key[:j] + (r,) + key[j:]] for r in range(a.stride)]
            if a.stride == 1:
                merged[key] = parts[0]
                continue
            stacked = jnp.stack(parts, axis=a.axis + 1)
            shape = list(parts[0].shape)
            shape[a.axis] *= a.stride
            merged[key] = stacked.reshape(shape)
        phases = merged
    dx = phases[()]
    for a in axes:
        dx = lax.slice_in_dim(dx, a.low, a.low + a.size, 1, a.axis)
    assert tuple(dx.shape) == tuple(in_shape), (dx.shape, in_shape)
    return dx


def prefer_reduce_window(axes: Sequence[AxisGeometry]) -> bool:
    """Whether a forward pass is faster as ``lax.reduce_window`` than as fused slices (measured on XLA:CPU).

    A padded single-axis pass: XLA fuses the pad into the slices' loop with a bounds check per element and
    runs it 2-3x slower than its own reduce_window; for multi-axis groups and unpadded passes the slices win.
    """
    if len(axes) != 1:
        return False
    a = axes[0]
    return a.low > 0 or a.padded_extent > a.size


def reduce_window_pass(x: Array, axes: Sequence[AxisGeometry], init: Array | float | int,
                       computation) -> Array:
    """The same pass as :func:`sum_pass` / :func:`extreme_pass`, through ``lax.reduce_window``."""
    dims, strides, dil, pads = [1] * x.ndim, [1] * x.ndim, [1] * x.ndim, [(0, 0)] * x.ndim
    for a in axes:
        dims[a.axis], strides[a.axis], dil[a.axis] = a.window, a.stride, a.dilation
        pads[a.axis] = (a.low, a.padded_extent - a.size - a.low)
    return lax.reduce_window(x, jnp.asarray(init, x.dtype), computation, tuple(dims), tuple(strides),
                             tuple(pads), window_dilation=tuple(dil))
