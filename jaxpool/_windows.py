"""The kernel toolkit: window views, forward passes and hand-written reverse passes (docs/semantics.md §7).

A pooling pass reduces a *group* of spatial axes at once by combining, elementwise, one view of the input per
window offset (offsets in row-major order).

* **Forward** (:func:`sum_pass`, :func:`extreme_pass`, :func:`argextreme_pass`): views are strided slices of the
  *unpadded* input (:class:`SliceViews`). The outputs are split into an interior block, whose windows lie
  inside the input, and thin border blocks, whose windows overhang it (:func:`interior_blocks`); only border
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
axes (:func:`axis_groups`), last axes first. For sums that is algebra; for max/min with the first-maximal tie
rule it holds too: the first maximal element in row-major order lies in the first leading-axes position that
holds the maximum, at the first trailing-axes position holding it there. Small windows use one group (one fused
loop), large windows one axis per pass. :class:`PhaseViews` (reshape-and-split views of the padded input,
whose JAX transposes are unstrided pads) serves blur pooling, which JAX differentiates itself.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxpool import _large_windows as _large
from jaxpool import _levels, _stride_blocks
from jaxpool._dispatch import kernels
from jaxpool._geometry import AxisGeometry, PoolGeometry
from jaxpool._sharding import reshape_like

Array = jnp.ndarray


def large_axis(axes: Sequence[AxisGeometry], op: str) -> AxisGeometry | None:
    """The axis of a single-axis pass whose window takes the blocked large-window scheme
    (``_large_windows``) for ``op`` ("sum" or "extreme") on this backend, else None (``_dispatch`` table).
    Strided windows of a few stride-aligned blocks (``_stride_blocks``) take it from a smaller window on."""
    if len(axes) != 1:
        return None
    k, a = kernels(), axes[0]
    if a.window >= (k.large_sum_window if op == "sum" else k.large_extreme_window):
        return a
    return a if a.window >= k.stride_block_min_window and _stride_blocks.applies(a) else None


def split_passes(axes: Sequence[AxisGeometry], op: str) -> list[tuple[AxisGeometry]] | None:
    """The passes of a single-axis window split into passes of small windows (``_levels``) for ``op`` ("sum"
    or "extreme") on this backend, innermost first; None where the pass stays whole (``_dispatch`` table):
    windows below the split crossover, strided windows of a few stride-aligned blocks (``_stride_blocks``),
    window sums from ``split_sum_below`` and max/min windows from ``large_extreme_window`` on, and window sums
    with no factor up to 16."""
    if len(axes) != 1:
        return None
    k, a = kernels(), axes[0]
    if a.window < (k.split_sum_window if op == "sum" else k.split_extreme_window):
        return None
    if (a.window >= k.stride_block_min_window and _stride_blocks.applies(a)) \
            or a.window >= (k.split_sum_below if op == "sum" else k.large_extreme_window):
        return None
    passes = _levels.passes(a, op)
    return [(p,) for p in passes] if len(passes) > 1 else None


def axis_groups(geom: PoolGeometry, op: str) -> list[tuple[int, ...]]:
    """Consecutive groups of spatial-dim indices, in pass order (last dims first); trivial dims dropped.

    ``op`` ("sum", "extreme", or "extreme_values" / "extreme_values_narrow" for max/min values without
    winners of a float32 / 16-bit input) picks the group size limits of the ``_dispatch`` table."""
    dims = [
        i for i, a in enumerate(geom.axes)
        if not (a.window == 1 and a.stride == 1 and a.low == 0 and a.out == a.size)
    ]
    groups: list[list[int]] = []
    for i in reversed(dims):
        if groups and _fits(geom, [i, *groups[-1]], op):
            groups[-1].insert(0, i)
        else:
            groups.append([i])
    return [tuple(g) for g in groups]


def _fits(geom: PoolGeometry, dims: Sequence[int], op: str) -> bool:
    """Whether the windows of ``dims`` are few enough to reduce in one fused pass (``_dispatch`` table)."""
    axes = [geom.axes[j] for j in dims]
    k = kernels()
    extreme, values = op.startswith("extreme"), op.startswith("extreme_values")
    if extreme and op != "extreme_values_narrow" and k.split_channels_first_extreme and overlapping(axes) \
            and geom.axes[-1].axis == len(geom.input_shape) - 1:
        # channels first (the last array axis is spatial): overlapping max/min windows, one pass per axis (values
        # of a 16-bit input stay fused: one pass widens each view on the fly, several would store float32)
        return False
    if extreme and all(a.stride == 1 for a in axes):
        limit = k.max_group_window_stride1
    elif values and overlapping(axes):
        limit = k.max_group_window_values
    else:
        limit = k.max_group_window
    return math.prod(a.window for a in axes) <= limit


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


def phase_and_row(axes: Sequence[AxisGeometry], offset: Sequence[int]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Per axis, the stride phase ``r`` and first row ``q`` that window ``offset`` reads:
    ``q, r = divmod(k * dilation, stride)``; returns ``(phases, rows)``."""
    pairs = [divmod(k * a.dilation, a.stride) for a, k in zip(axes, offset)]
    return tuple(r for _, r in pairs), tuple(q for q, _ in pairs)


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
        rs, starts = phase_and_row(self.axes, offset)
        v = self.phases[rs]
        for a, q in zip(self.axes, starts):
            v = lax.slice_in_dim(v, q, q + a.out, 1, self.row_axis[a.axis])
        return v.reshape(out_shape)


class SliceViews:
    """Window views of ``x`` built from strided slices of the *unpadded* input, padded per stride phase.

    Same interface as :class:`PhaseViews`. Window offset ``k`` of an axis reads phase ``r`` (input positions
    ``≡ r - low (mod stride)``) at rows ``[q, q + out)``, ``q, r = divmod(k * dilation, stride)``. Each phase is
    a strided slice of ``x`` covering the rows its offsets read; only where those rows run past the input is
    the phase padded (so VALID windows pad nothing and a SAME window pads one small phase, not a copy of the
    whole input). Views are then unstrided slices of their phase.
    """

    def __init__(self, x: Array, axes: Sequence[AxisGeometry], value: Array | float | int):
        self.axes = tuple(sorted(axes, key=lambda a: a.axis))
        self.x = x
        self.value = jnp.asarray(value, dtype=x.dtype)
        self.phases: dict[tuple[int, ...], tuple[Array, tuple[int, ...]]] = {}
        # Rows each phase must hold, per axis: union of [q, q + out) over the offsets of that phase.
        need: list[dict[int, tuple[int, int]]] = []
        for a in self.axes:
            d: dict[int, tuple[int, int]] = {}
            for k in range(a.window):
                q, r = divmod(k * a.dilation, a.stride)
                lo, hi = d.get(r, (q, q + a.out))
                d[r] = (min(lo, q), max(hi, q + a.out))
            need.append(d)
        self.need = need

    def _phase(self, rs: tuple[int, ...]) -> tuple[Array, tuple[int, ...]]:
        if rs in self.phases:
            return self.phases[rs]
        start = [0] * self.x.ndim
        limit = list(self.x.shape)
        step = [1] * self.x.ndim
        config = [(0, 0, 0)] * self.x.ndim
        origin = []
        for a, r, d in zip(self.axes, rs, self.need):
            q0, q1 = d[r]
            origin.append(q0)
            # Row q of phase r is input position q * stride + r - low; keep rows in [q0, q1) inside the input.
            first = max(q0, -((r - a.low) // a.stride))  # smallest q with q * s + r - low >= 0
            last = min(q1 - 1, (a.size - 1 - r + a.low) // a.stride)
            count = last - first + 1
            ax = a.axis
            step[ax] = a.stride
            if count <= 0:
                start[ax] = limit[ax] = 0
                config[ax] = (q1 - q0, 0, 0)
            else:
                start[ax] = first * a.stride + r - a.low
                limit[ax] = start[ax] + (count - 1) * a.stride + 1
                config[ax] = (first - q0, q1 - 1 - last, 0)
        v = lax.slice(self.x, start, limit, step)
        if any(c != (0, 0, 0) for c in config):
            v = lax.pad(v, self.value, config)
        self.phases[rs] = (v, tuple(origin))
        return self.phases[rs]

    def view(self, offset: Sequence[int], out_shape: Sequence[int]) -> Array:
        rs, qs = phase_and_row(self.axes, offset)
        v, origin = self._phase(rs)
        for a, q, q0 in zip(self.axes, qs, origin):
            v = lax.slice_in_dim(v, q - q0, q - q0 + a.out, 1, a.axis)
        return v.reshape(out_shape)


def group_out_shape(shape: Sequence[int], axes: Sequence[AxisGeometry]) -> tuple[int, ...]:
    out = list(shape)
    for a in axes:
        out[a.axis] = a.out
    return tuple(out)


def interior_blocks(axes: Sequence[AxisGeometry]) -> list[tuple[AxisGeometry, ...]] | None:
    """Split the outputs of a padded group into blocks: the interior, whose windows lie inside the input,
    and the border slabs, whose windows overhang it. None when no window overhangs (nothing to split).

    Each block is the group's geometry restricted to an output range (``out`` shortened, ``low`` shifted), in
    row-major block order; :func:`join_blocks` puts the per-block results back together. Reducing the interior
    with plain strided slices keeps the bulk of the work free of padding (per-element bounds checks). None
    too for a group with ``border_blocks`` off (``_dispatch``: ``unblocked_split_axes``).
    """
    if not all(a.border_blocks for a in axes):
        return None
    segments = []
    split = False
    for a in axes:
        i0 = min(a.out, max(0, -(-a.low // a.stride)))
        i1 = max(i0, min(a.out, (a.size - 1 + a.low - (a.window - 1) * a.dilation) // a.stride + 1))
        segs = [(b0, b1) for b0, b1 in ((0, i0), (i0, i1), (i1, a.out)) if b1 > b0]
        split = split or segs != [(0, a.out)]
        segments.append([dataclasses.replace(a, low=a.low - b0 * a.stride, out=b1 - b0) for b0, b1 in segs])
    if not split:
        return None
    return list(itertools.product(*segments))


def join_blocks(parts: Sequence[Array], blocks: Sequence[tuple[AxisGeometry, ...]]) -> Array:
    """Concatenate per-block results (in the order of :func:`interior_blocks`) into one output array."""
    n = len(blocks[0])
    counts = [len({b[j].low for b in blocks}) for j in range(n)]
    arrays = list(parts)
    for j in reversed(range(n)):  # join along the last group axis first
        axis, step = blocks[0][j].axis, counts[j]
        arrays = [lax.concatenate(arrays[i:i + step], axis) if step > 1 else arrays[i]
                  for i in range(0, len(arrays), step)]
    assert len(arrays) == 1
    return arrays[0]


def _blockwise(axes: Sequence[AxisGeometry], block: Callable[[Sequence[AxisGeometry]], Any]) -> Any:
    """``block(axes)``, run per :func:`interior_blocks` block and joined when some window overhangs the
    input; ``block`` returns an array or a tuple of arrays (joined element by element)."""
    blocks = interior_blocks(axes)
    if blocks is None:
        return block(axes)
    parts = [block(b) for b in blocks]
    if isinstance(parts[0], tuple):
        return tuple(join_blocks(list(p), blocks) for p in zip(*parts))
    return join_blocks(parts, blocks)


def sum_pass(x: Array, axes: Sequence[AxisGeometry]) -> Array:
    """Window sums over a group of axes, padding contributing zero."""
    axes = tuple(sorted(axes, key=lambda a: a.axis))
    if (big := large_axis(axes, "sum")) is not None:
        return _large.sum_pass(x, big)
    return _blockwise(axes, lambda b: _sum_block(x, b))


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
    return _blockwise(axes, lambda b: _extreme_block(x, b, identity, take_max))


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
    return _blockwise(axes, lambda b: _argextreme_block(x, b, identity, take_max))


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
    if all(_abutting(a) for a in axes):
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
    per_axis = [
        [[k for k in range(a.window) if (k * a.dilation) % a.stride == r] for r in range(a.stride)]
        for a in axes
    ]
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
            term = c if m is None else lax.select(m == lax.full_like(m, flat_of[k]), c, lax.full_like(c, 0))
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

    dx = _blockwise(gaxes, block)
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


def _abutting(a: AxisGeometry) -> bool:
    """Whether consecutive windows of an axis abut: stride == window, no dilation (padding allowed)."""
    return a.window == a.stride and a.dilation == 1


def overlapping(axes: Sequence[AxisGeometry]) -> bool:
    """Whether consecutive windows of a group share elements: stride below the window's extent on an axis."""
    return any(a.stride < (a.window - 1) * a.dilation + 1 for a in axes)


def is_tiling(axes: Sequence[AxisGeometry]) -> bool:
    """Whether the windows of a group tile the input: stride == window, no dilation, no padding."""
    return all(_abutting(a) and a.low == 0 and a.padded_extent == a.size for a in axes)


def prefer_reduce_window(axes: Sequence[AxisGeometry]) -> bool:
    """Whether a *window-sum* pass should be ``lax.reduce_window`` (differentiated by JAX) on XLA:CPU.

    Measured: for a single axis XLA's own reduce_window and its transpose match or beat the slice views
    (whose phases must be interleaved by a concatenate) except when the windows tile the axis (stride ==
    window, no dilation), where the broadcast reverse pass wins; groups of several axes are faster as slices.
    """
    if len(axes) != 1 or large_axis(axes, "sum") is not None:
        return False
    return kernels().sum_reduce_window_1d and not _abutting(axes[0])


def prefer_reduce_window_extreme(axes: Sequence[AxisGeometry]) -> bool:
    """Whether a max/min *values* pass (no winners) is faster through ``lax.reduce_window`` on XLA:CPU.

    Measured: a padded single-axis pass (1-D SAME) runs faster in XLA's own reduce_window than as border
    blocks of slice views; unpadded passes and multi-axis groups are faster as slices.
    """
    if len(axes) != 1 or large_axis(axes, "extreme") is not None or not kernels().extreme_reduce_window_padded_1d:
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
    return lax.reduce_window(x, np.asarray(init, x.dtype)[()], computation, tuple(dims), tuple(strides),
                             tuple(pads), window_dilation=tuple(dil))

