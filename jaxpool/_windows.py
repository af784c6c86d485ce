"""The kernel toolkit: one-axis window passes built from strided slices of the padded input.

Every pooling op in jaxpool is *separable*: an N-d window is a box, so an N-d reduction is N one-axis reductions
applied one spatial axis at a time. For sums that is plain algebra. For max/min with the first-maximal tie rule
(SPEC §4) it also holds, provided the passes run from the last spatial axis to the first: the first maximal
element in row-major window order lies in the first "row" (along the earlier axes) that holds the maximum, at
the first position of that row holding it. So one exact 1-D kernel serves every N.

A one-axis pass pads the input along that axis, then combines the ``window`` strided slices
``xp[k*dilation :: stride]`` elementwise. XLA fuses the slices into one loop, which on CPU is several times
faster than ``lax.reduce_window``; the transposes of these slices are interior pads that fuse the same way, so
the reverse pass built from them (see ``_max.py``) is fast too.

Static facts about each axis (which offsets touch padding, divisors) come from ``_geometry`` as NumPy arrays
and become compile-time constants.
"""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxpool._geometry import AxisGeometry, PoolGeometry

Array = jnp.ndarray


def pad_axis(x: Array, ax: AxisGeometry, value: Array | float | int) -> Array:
    """Pad ``x`` along ``ax.axis`` with ``value`` so that every window of ``ax`` fits."""
    high = ax.padded_extent - ax.size - ax.low
    if ax.low == 0 and high == 0:
        return x
    config = [(0, 0, 0)] * x.ndim
    config[ax.axis] = (ax.low, high, 0)
    return lax.pad(x, jnp.asarray(value, dtype=x.dtype), config)


def window_slice(xp: Array, ax: AxisGeometry, offset: int) -> Array:
    """The elements that window ``offset`` samples, for every output position along ``ax.axis``."""
    start = offset * ax.dilation
    return lax.slice_in_dim(xp, start, start + (ax.out - 1) * ax.stride + 1, ax.stride, ax.axis)


def axis_mask(geom: PoolGeometry, ax: AxisGeometry, mask: np.ndarray) -> Array:
    """A static boolean vector over outputs of ``ax``, shaped to broadcast against an array of full rank."""
    return jnp.asarray(mask.reshape(geom.broadcast_shape(ax, ax.out)))


def sum_pass(x: Array, geom: PoolGeometry, ax: AxisGeometry, fn: Callable[[Array], Array] | None = None) -> Array:
    """Window sums along one axis, padding contributing zero; ``fn`` maps each slice first (e.g. x**p)."""
    xp = pad_axis(x, ax, 0)
    total = None
    for k in range(ax.window):
        term = window_slice(xp, ax, k)
        if fn is not None:
            term = fn(term)
        total = term if total is None else total + term
    assert total is not None
    return total


def extreme_pass(x: Array, ax: AxisGeometry, identity: Array, take_max: bool) -> Array:
    """Window max (or min) values along one axis; NaN propagates, padding holds ``identity``."""
    xp = pad_axis(x, ax, identity)
    combine = jnp.maximum if take_max else jnp.minimum
    best = window_slice(xp, ax, 0)
    for k in range(1, ax.window):
        best = combine(best, window_slice(xp, ax, k))
    return best


def offset_dtype(window: int) -> np.dtype:
    """The smallest integer dtype that holds a window offset (int8 for windows up to 127)."""
    return np.dtype(np.int8) if window <= 127 else np.dtype(np.int32)


def argextreme_pass(
    x: Array, geom: PoolGeometry, ax: AxisGeometry, identity: Array, take_max: bool
) -> tuple[Array, Array]:
    """Window max (or min) along one axis, plus the winning window offset (SPEC §3–4).

    The winner is the first maximal (minimal) element in window order; NaN beats every number and the first NaN
    wins; padded positions never win, even when every input in the window equals ``identity``.

    Returns:
      ``(values, offsets)``: offsets index the window (0 ≤ offset < window), in :func:`offset_dtype`.
    """
    xp = pad_axis(x, ax, identity)
    odt = offset_dtype(ax.window)
    best = window_slice(xp, ax, 0)
    arg = jnp.zeros(best.shape, odt)
    seen = ax.valid(0)  # static: has some earlier offset sampled a real element?
    is_float = jnp.issubdtype(x.dtype, jnp.floating)
    for k in range(1, ax.window):
        v = window_slice(xp, ax, k)
        better = (v > best) if take_max else (v < best)
        if is_float:
            better = better | (jnp.isnan(v) & ~jnp.isnan(best))
        valid = ax.valid(k)
        if not valid.all():
            better = better & axis_mask(geom, ax, valid)
        first_real = valid & ~seen
        if first_real.any():
            better = better | axis_mask(geom, ax, first_real)
        seen = seen | valid
        best = jnp.where(better, v, best)
        arg = jnp.where(better, jnp.asarray(k, odt), arg)
    return best, arg


def gather_pass(t: Array, ax: AxisGeometry, arg: Array) -> Array:
    """Pick, for each output along ``ax.axis``, the element at window offset ``arg`` (any dtype).

    Linear in ``t``; its transpose scatters each output back to its winner through fused interior pads, which
    is the fast reverse pass of max/min pooling.
    """
    tp = pad_axis(t, ax, 0)
    out = window_slice(tp, ax, 0)
    for k in range(1, ax.window):
        out = jnp.where(arg == k, window_slice(tp, ax, k), out)
    return out
