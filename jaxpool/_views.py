"""Window views of the input: one array per window offset, and the interior/border blocks of a padded group.

A pooling pass (``_windows``) combines one view of its input per window offset (offsets in row-major order,
:func:`offsets`). :class:`SliceViews` builds them from strided slices of the *unpadded* input, padding only
the stride phases whose rows run past it; :class:`PhaseViews` reshapes the padded input into stride phases
(whose JAX transposes are unstrided pads; blur pooling, which JAX differentiates itself, uses it). Outputs of
a padded group split into an interior block, whose windows lie inside the input, and thin border blocks
(:func:`interior_blocks`, :func:`join_blocks`, :func:`blockwise`): padding the input first would copy it, and a
pad fused into the reduction loop puts a bounds check on every element (2-3x slower forward on XLA:CPU).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Sequence
from typing import Any

import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxpool._geometry import AxisGeometry

Array = jnp.ndarray


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


def blockwise(axes: Sequence[AxisGeometry], block: Callable[[Sequence[AxisGeometry]], Any]) -> Any:
    """``block(axes)``, run per :func:`interior_blocks` block and joined when some window overhangs the
    input; ``block`` returns an array or a tuple of arrays (joined element by element)."""
    blocks = interior_blocks(axes)
    if blocks is None:
        return block(axes)
    parts = [block(b) for b in blocks]
    if isinstance(parts[0], tuple):
        return tuple(join_blocks(list(p), blocks) for p in zip(*parts))
    return join_blocks(parts, blocks)


__all__ = [
    "PhaseViews",
    "SliceViews",
    "blockwise",
    "group_out_shape",
    "interior_blocks",
    "join_blocks",
    "offset_dtype",
    "offsets",
    "phase_and_row",
    "static_mask",
]
