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

Dilation ``d`` becomes a phase axis: the axis is reshaped to ``(n / d, d)`` (padded by fewer than ``d`` entries
at each end; whole rows of padding are the phase axis's own ``low``, read run by run like the undilated axis)
and every window is ``w`` consecutive entries of one phase. Sum fwd+bwd (8, 16384, 16) f32 stride 1 SAME, one
process, interleaved, one padded copy vs phase rows: w=512 d=2 2.27 vs 1.62 ms, w=1000 d=3 2.60 vs 2.04,
w=300 d=8 2.97 vs 1.78, w=2000 d=2 2.99 vs 1.86 ms; compile 0.51-0.72 vs 0.57-0.72 s.
Every operation is a pad, slice, reshape, add or constant-mask select, so
JAX transposes and differentiates the pass as written (``_large_windows`` uses it for the forward and the
reverse pass). The sub-block sums and the anchors are stored (``_fence.materialize``): XLA:CPU otherwise fuses
them into the final sweep and recomputes them per element (sum fwd+bwd at ``w = 4096``: 59.9 ms unfenced,
3.6 ms fenced). The input is never padded as a whole: at the first level the sub-block sums and the final
sweep run over runs of sub-blocks that lie wholly inside the input (slices of it) or wholly outside (zeros),
and only the few sub-blocks across its edges read a small padded piece (``_runs``). XLA:CPU stores one padded
copy of the input as a whole and reads it three times: sum fwd+bwd (8, 16384, 16) f32 stride 1 SAME, one
process, interleaved, padded copy vs runs: w=4096 1.83 vs 1.08 ms, w=1024 1.59 vs 1.12, w=1021 2.16 vs 1.69,
w=67 1.74 vs 1.39 ms; compile 0.5 vs 0.8 s (more runs to trace).
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


def _views(zp: Array, ax: int, w: int, starts: int) -> Array:
    total = lax.slice_in_dim(zp, 0, starts, 1, ax)
    for t in range(1, w):
        total = total + lax.slice_in_dim(zp, t, t + starts, 1, ax)
    return total


def _split(shape: tuple[int, ...], ax: int, outer: int, inner: int) -> list[int]:
    out = list(shape)
    out[ax:ax + 1] = [outer, inner]
    return out


def _piece(z: Array, ax: int, start: int, length: int) -> Array:
    """``zp[start:start + length]`` along ``ax``, ``zp`` = ``z`` with zeros on both sides (``start`` may be
    negative or past the end): a slice of ``z``, padded only where the piece leaves it."""
    return resize(z, ax, -start, length, 0)


def _blocks(z: Array, ax: int, start: int, count: int) -> Array:
    """``zp[start + a * SUB + t]`` (``_piece``) shaped ``(.., count, SUB, ..)``: ``a`` on ``ax``, ``t`` after it."""
    piece = _piece(z, ax, start, count * SUB)
    return piece.reshape(_split(piece.shape, ax, count, SUB))


def _runs(count: int, inside: list[tuple[int, int]], cut: bool) -> list[tuple[int, int, tuple[bool, ...]]]:
    """Blocks ``[0, count)`` of ``SUB`` positions cut into runs ``(a0, a1, touches)``: for each position range
    in ``inside``, every block of a run lies wholly in it, wholly outside it, or (runs of one block) across
    its edge; ``touches[i]``: the run's blocks hold positions of range ``i``. ``cut=False``: one run."""
    if not cut:
        return [(0, count, tuple(True for _ in inside))]
    cuts = {0, count}
    for edge in (e for r in inside for e in r):
        cuts.update(c for c in (edge // SUB, edge // SUB + 1) if 0 < c < count)
    order = sorted(cuts)
    return [(a0, a1, tuple(a0 * SUB < hi and a1 * SUB > lo for lo, hi in inside))
            for a0, a1 in zip(order, order[1:])]


def _sums(z: Array, ax: int, w: int, starts: int, low: int = 0, cut: bool = True) -> Array:
    """``out[j] = sum_{t < w} zp[j + t]`` for ``j < starts`` along ``ax``, ``zp`` = ``z`` after ``low`` zeros
    (and zero beyond its end; ``low`` may be negative: the first ``-low`` entries dropped). ``cut``: read ``z``
    run by run (``_runs``); the levels below the first (``SUB`` times shorter) read one padded copy, a smaller
    program (compile time) at little cost."""
    k = SUB
    if w < VIEWS_BELOW:
        return _views(_piece(z, ax, -low, starts + w - 1), ax, w, starts)
    anchors = -(-starts // k)
    m, e = divmod(w, k)
    inside = (low, low + z.shape[ax])  # zp[i] = z[i - low] there, zero elsewhere
    # Every run below reads z through slices; only blocks across an edge of z read a small padded piece.
    # (One padded copy of z, read by the sums and the final sweep, is stored by XLA:CPU as a whole: sum
    # fwd+bwd (8, 16384, 16) stride 1 SAME, w=4096: 1.83 ms with it, 1.08 ms per run.)
    parts = []
    for a0, a1, (touches,) in _runs(anchors + m + 1, [inside], cut):
        if not touches:
            parts.append(_piece(z, ax, -(a1 - a0) * k, a1 - a0))  # zeros
            continue
        zb = _blocks(z, ax, a0 * k - low, a1 - a0)
        total = lax.index_in_dim(zb, 0, ax + 1, keepdims=False)
        for t in range(1, k):
            total = total + lax.index_in_dim(zb, t, ax + 1, keepdims=False)
        parts.append(total)
    block_sums = materialize(lax.concatenate(parts, ax) if len(parts) > 1 else parts[0])
    anchor = _sums(block_sums, ax, m, anchors, cut=False)
    if e:
        head = _blocks(z, ax, m * k - low, anchors)
        for t in range(e):
            anchor = anchor + lax.index_in_dim(head, t, ax + 1, keepdims=False)
    anchor = materialize(anchor)
    # out[a * k + r] = anchor[a] + sum_{t < r} (zp[a * k + t + w] - zp[a * k + t]), run by run
    r_shape = [1] * (z.ndim + 1)
    r_shape[ax + 1] = k
    r = lax.broadcasted_iota(jnp.int32, r_shape, ax + 1)
    zero = jnp.zeros((), z.dtype)
    outs = []
    for a0, a1, (ahead, here) in _runs(anchors, [(inside[0] - w, inside[1] - w), inside], cut):
        count = a1 - a0
        out = jnp.expand_dims(lax.slice_in_dim(anchor, a0, a1, 1, ax), ax + 1)
        out_shape = list(out.shape)
        out_shape[ax + 1] = k
        out = jnp.broadcast_to(out, out_shape)
        plus = _blocks(z, ax, a0 * k + w - low, count) if ahead else None
        minus = _blocks(z, ax, a0 * k - low, count) if here else None
        if ahead or here:
            moved = -minus if plus is None else plus if minus is None else plus - minus
            for t in range(k - 1):
                out = out + jnp.where(r > t, lax.slice_in_dim(moved, t, t + 1, 1, ax + 1), zero)
        outs.append(out)
    res = lax.concatenate(outs, ax) if len(outs) > 1 else outs[0]
    shape = list(z.shape)
    shape[ax] = anchors * k
    return lax.slice_in_dim(res.reshape(shape), 0, starts, 1, ax)


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
    # zp = z after low = q * d + r zeros: only the r < d leading zeros and the tail up to a whole number of
    # phases are padded here; the q whole phase rows of zeros (or the -q rows cut) are _sums' own low, so its
    # first level reads the phase rows run by run instead of one padded copy of z.
    q, r = divmod(low, d)
    rows = min(-(-(z.shape[ax] + r) // d), max(per_phase + w - 1 - q, 0))
    zr = resize(z, ax, r, rows * d, 0)
    zb = zr.reshape(_split(zr.shape, ax, rows, d))
    out = _sums(zb, ax, w, per_phase, q)
    shape = list(out.shape)
    shape[ax:ax + 2] = [per_phase * d]
    return lax.slice_in_dim(out.reshape(shape), 0, starts, 1, ax)


__all__ = ["window_sums"]
