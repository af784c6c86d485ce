"""Large window sums anchored at sub-block starts: O(1) work per element, no long prefix-sum difference.

All stride-1 window sums of one axis, ``out[j] = sum_{t < w} z[j + t]``, for a window ``w = m * k + e`` cut
into sub-blocks of ``k = SUB`` positions (``0 <= e < k``):

* the sums at the sub-block starts, ``W[a] = out[a * k]``, are the width-``m`` window sums of the sub-block
  sums ``T`` (the same scheme on a ``k``-times shorter axis, recursively, until the window is below
  ``VIEWS_BELOW``, where slice views add it up) plus the first ``e`` entries of sub-block ``a + m``;
* every other start ``j = a * k + r`` (``0 < r < k``) is ``W[a]`` moved by ``r`` positions:
  ``W[a] + sum_{t < r} (z[a * k + t + w] - z[a * k + t])``.

So a pass reads the input three times (sub-block sums, the two shifted views) whatever the window, and its
program grows with ``log_k(w)`` (one level per factor ``k``). Accuracy: every partial result is a sum of whole
sub-blocks or of at most ``2 (k - 1)`` input entries added to one window sum; no result is the difference of
two long prefix sums, whose rounding error grows with the *position*. The error here is that of ordinary
summation: a few ulps of ``sum |z|`` over the window and its ``k`` neighbours. A width-4096 stride-1 average of
16384 float32 values near 1000: 3.4e-7 relative, against 7.3e-6 for a float32 prefix-sum difference
(tests/test_large_windows.py holds it below 2e-6).

Dilation ``d`` becomes a phase axis: the padded axis is reshaped to ``(n / d, d)`` and every window is ``w``
consecutive entries of one phase. Every operation is a pad, slice, reshape, add or constant-mask select, so
JAX transposes and differentiates the pass as written (``_large_windows`` uses it for the forward and the
reverse pass). The sub-block sums and the anchors are stored (``_fence.materialize``): XLA:CPU otherwise fuses
them into the final sweep and recomputes them per element (sum fwd+bwd at ``w = 4096``: 59.9 ms unfenced,
3.6 ms fenced).
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax

from jaxpool._fence import materialize
from jaxpool._stride_blocks import resize

Array = jnp.ndarray

#: Sub-block length ``k``. Forward window sums of (8, 16384, 16) float32, stride 1, 2-core CPU, one process,
#: k = 4 / 8 / 16 (prototypes of this scheme, two padded copies): w=4096 3.8 / 3.0 / 2.6 ms, w=1000 3.0 / 2.7 /
#: 2.5 ms, w=64 2.4 / 1.9 / 2.1 ms; with one padded copy (as here), k = 8 / 16: w=4096 2.1 / 2.6, w=1000 1.5 /
#: 2.4, w=64 2.1 / 3.3 ms.
SUB = 8
#: Windows below this many offsets are added up as slice views.
VIEWS_BELOW = 2 * SUB


def _views(z: Array, ax: int, w: int, starts: int) -> Array:
    zp = resize(z, ax, 0, starts + w - 1, 0)
    total = lax.slice_in_dim(zp, 0, starts, 1, ax)
    for t in range(1, w):
        total = total + lax.slice_in_dim(zp, t, t + starts, 1, ax)
    return total


def _split(shape: tuple[int, ...], ax: int, outer: int, inner: int) -> list[int]:
    out = list(shape)
    out[ax:ax + 1] = [outer, inner]
    return out


def _sums(z: Array, ax: int, w: int, starts: int, low: int = 0) -> Array:
    """``out[j] = sum_{t < w} zp[j + t]`` for ``j < starts`` along ``ax``, ``zp`` = ``z`` after ``low`` zeros
    (and zero beyond its end)."""
    if w < VIEWS_BELOW:
        return _views(resize(z, ax, low, low + z.shape[ax], 0), ax, w, starts)
    k = SUB
    anchors = -(-starts // k)
    m, e = divmod(w, k)
    blocks = anchors + m + 1  # the last window's shifted view ends before the end of block anchors + m
    zp = resize(z, ax, low, blocks * k, 0)
    zb = zp.reshape(_split(zp.shape, ax, blocks, k))
    cols = [lax.index_in_dim(zb, t, ax + 1, keepdims=False) for t in range(k)]
    block_sums = cols[0]
    for c in cols[1:]:
        block_sums = block_sums + c
    block_sums = materialize(block_sums)
    anchor = _sums(block_sums, ax, m, anchors)
    for t in range(e):
        anchor = anchor + lax.slice_in_dim(cols[t], m, m + anchors, 1, ax)
    anchor = materialize(anchor)
    n = anchors * k
    moved = lax.slice_in_dim(zp, w, w + n, 1, ax) - lax.slice_in_dim(zp, 0, n, 1, ax)
    mb = moved.reshape(_split(moved.shape, ax, anchors, k))
    r_shape = [1] * mb.ndim
    r_shape[ax + 1] = k
    r = lax.broadcasted_iota(jnp.int32, r_shape, ax + 1)
    zero = jnp.zeros((), z.dtype)
    out = jnp.expand_dims(anchor, ax + 1)
    for t in range(k - 1):
        out = out + jnp.where(r > t, lax.slice_in_dim(mb, t, t + 1, 1, ax + 1), zero)
    return lax.slice_in_dim(out.reshape(moved.shape), 0, starts, 1, ax)


def window_sums(z: Array, ax: int, w: int, d: int, starts: int, low: int = 0) -> Array:
    """All window sums of one axis: ``out[j] = sum_{t < w} zp[j + t * d]`` for ``j < starts``.

    Args:
      z: the input; ``zp`` is ``z`` after ``low`` zeros along ``ax`` (``low`` may be negative: the first
        ``-low`` entries dropped), and zero beyond its end.
      ax: the array axis of the window.
      w: window length (offsets), ``d``: dilation, ``starts``: number of window starts (output length).

    Returns:
      ``z`` with axis ``ax`` of length ``starts``, same dtype.
    """
    if d == 1:
        return _sums(z, ax, w, starts, low)
    per_phase = -(-starts // d)
    zp = resize(z, ax, low, (per_phase + w - 1) * d, 0)
    zb = zp.reshape(_split(zp.shape, ax, per_phase + w - 1, d))
    out = _sums(zb, ax, w, per_phase)
    shape = list(out.shape)
    shape[ax:ax + 2] = [per_phase * d]
    return lax.slice_in_dim(out.reshape(shape), 0, starts, 1, ax)


__all__ = ["window_sums"]
