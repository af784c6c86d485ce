"""Strided large windows as a few stride-aligned blocks: O(n) work, no loop, no stride-1 outputs.

When a window ``w`` (dilation 1) and its stride ``s`` share a large divisor ``g = gcd(w, s)``, every window
is ``k = w / g`` consecutive blocks of ``g`` positions of the padded axis, aligned with the window starts
(window ``q`` covers blocks ``q * m ... q * m + k - 1``, ``m = s / g``). A pass is then one reduction per block
(``n`` elements read once) and a ``k``-view window over the ``n / g`` block results. ``_dispatch`` decides how
small ``k`` must be (:func:`applies`); stride 1 and awkward strides stay on the running-reduction scheme.

Max/min winners follow docs/semantics.md §4: the window's winning block is the first maximal block result
(NaN beats every number, the first NaN wins), and within it the first real element equal to the block result
(the first NaN). Low padding never wins: a block made only of low padding loses to any later block, and inside
a block the match excludes padded positions. The residual of the reverse pass is one int32 per block,
``code = 16 * (winner offset in the block) + (winning block of the window starting there)``; the reverse pass
adds each window's cotangent into its winning block (``k`` interleaving pads, no scatter) and places each block's
total at the block's winner by a select.

Block sums add ``g`` terms in two levels (runs of at most 64, then the run totals), so a window sum adds at most
``64 + g / 64 + k`` rounded terms in series: float32 accuracy is kept without any prefix-sum difference.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
from jax import lax

from jaxpool._dispatch import kernels
from jaxpool._geometry import AxisGeometry

Array = jnp.ndarray

_KQ_BITS = 16  # code = _KQ_BITS * offset + winning block; k <= 16 (enforced by applies())


def _shape(a: AxisGeometry) -> tuple[int, int, int, int]:
    """(block length g, blocks per window k, stride in blocks m, number of blocks nb)."""
    g = math.gcd(a.window, a.stride)
    k, m = a.window // g, a.stride // g
    return g, k, m, (a.out - 1) * m + k


def applies(a: AxisGeometry) -> bool:
    """Does a strided pass over ``a`` take the block scheme on this backend (``_dispatch`` table)?"""
    if a.dilation != 1 or a.stride == 1:
        return False
    g, k, _, _ = _shape(a)
    return k <= min(kernels().stride_block_windows, _KQ_BITS) and g >= 2


def _blocks(x: Array, a: AxisGeometry, fill: Array | float | int) -> Array:
    """``x`` padded by ``a.low`` (``fill``), padded or cut to ``nb * g`` and split as ``(nb, g)`` at ``a.axis``."""
    ax = a.axis
    g, _, _, nb = _shape(a)
    config = [(0, 0, 0)] * x.ndim
    config[ax] = (a.low, nb * g - a.low - a.size, 0)
    z = lax.pad(x, jnp.asarray(fill, x.dtype), config)
    shape = list(z.shape)
    shape[ax:ax + 1] = [nb, g]
    return z.reshape(shape)


def _unblock(zb: Array, a: AxisGeometry) -> Array:
    """Inverse of :func:`_blocks`: merged back and cut (or zero-padded) to the input's extent."""
    ax = a.axis
    shape = list(zb.shape)
    shape[ax:ax + 2] = [shape[ax] * shape[ax + 1]]
    z = zb.reshape(shape)
    config = [(0, 0, 0)] * z.ndim
    config[ax] = (-a.low, a.low + a.size - z.shape[ax], 0)
    return lax.pad(z, jnp.zeros((), z.dtype), config)


def _view(b: Array, a: AxisGeometry, i: int) -> Array:
    """Per output ``q``, block result ``b[q * m + i]`` (``b`` has ``nb`` entries along ``a.axis``)."""
    _, _, m, _ = _shape(a)
    return lax.slice_in_dim(b, i, i + (a.out - 1) * m + 1, m, a.axis)


def _spread(c: Array, a: AxisGeometry, i: int) -> Array:
    """Transpose of :func:`_view`: per-output ``c[q]`` placed at block ``q * m + i``, zeros elsewhere."""
    _, _, m, nb = _shape(a)
    config = [(0, 0, 0)] * c.ndim
    config[a.axis] = (i, nb - i - ((a.out - 1) * m + 1), m - 1)
    return lax.pad(c, jnp.zeros((), c.dtype), config)


def _block_iota(zb: Array, a: AxisGeometry) -> tuple[Array, Array]:
    """Broadcastable int32 offset in the block and padded position of blocked ``zb``."""
    shape = [1] * zb.ndim
    shape[a.axis:a.axis + 2] = list(zb.shape[a.axis:a.axis + 2])
    b = lax.broadcasted_iota(jnp.int32, shape, a.axis)
    t = lax.broadcasted_iota(jnp.int32, shape, a.axis + 1)
    return t, b * jnp.int32(zb.shape[a.axis + 1]) + t


# ---------------------------------------------------------------------------------------------------- sums


def _block_sums(zb: Array, ax: int) -> Array:
    """Sum over the block axis ``ax + 1`` in two levels (runs of at most 64, then their totals)."""
    g = zb.shape[ax + 1]
    run = math.gcd(g, 64)
    if run < g and run > 1:
        shape = list(zb.shape)
        shape[ax + 1:ax + 2] = [g // run, run]
        return jnp.sum(jnp.sum(zb.reshape(shape), axis=ax + 2, dtype=zb.dtype), axis=ax + 1, dtype=zb.dtype)
    return jnp.sum(zb, axis=ax + 1, dtype=zb.dtype)


def sum_pass(x: Array, a: AxisGeometry) -> Array:
    """Window sums along ``a.axis`` (padding contributes zero)."""
    _, k, _, _ = _shape(a)
    bs = _block_sums(_blocks(x, a, 0), a.axis)
    out = _view(bs, a, 0)
    for i in range(1, k):
        out = out + _view(bs, a, i)
    return out


def sum_scatter(ct: Array, a: AxisGeometry) -> Array:
    """Transpose of :func:`sum_pass`: each input receives the cotangents of the windows holding it."""
    g, k, _, _ = _shape(a)
    cb = _spread(ct, a, 0)
    for i in range(1, k):
        cb = cb + _spread(ct, a, i)
    return _unblock(jnp.broadcast_to(jnp.expand_dims(cb, a.axis + 1), _split(cb.shape, a.axis, g)), a)


def _split(shape: tuple[int, ...], ax: int, g: int) -> tuple[int, ...]:
    out = list(shape)
    out[ax:ax + 1] = [shape[ax], g]
    return tuple(out)


# ---------------------------------------------------------------------------------------------- max / min


def _better(new: Array, old: Array, take_max: bool) -> Array:
    """Does ``new`` (later) replace ``old``: strictly better, or NaN where ``old`` is not (docs/semantics.md §4)."""
    if not jnp.issubdtype(new.dtype, jnp.floating):
        return (new > old) if take_max else (new < old)
    return ~((new <= old) if take_max else (new >= old)) & (old == old)


def extreme_pass(x: Array, a: AxisGeometry, identity: Array, take_max: bool,
                 with_code: bool) -> tuple[Array, Array | None]:
    """Window max (min) along ``a.axis`` and, if ``with_code``, the int32 code of the winners (module doc)."""
    ax = a.axis
    g, k, m, nb = _shape(a)
    zb = _blocks(x, a, identity)
    bm = jnp.max(zb, axis=ax + 1) if take_max else jnp.min(zb, axis=ax + 1)
    if jnp.issubdtype(x.dtype, jnp.floating):
        bm = jnp.where(jnp.any(zb != zb, axis=ax + 1), jnp.asarray(jnp.nan, x.dtype), bm)
    best = _view(bm, a, 0)
    if not with_code:
        for i in range(1, k):
            v = _view(bm, a, i)
            best = jnp.where(_better(v, best, take_max), v, best)
        return best, None
    # Blocks made of low padding only are the first ``low // g``; one of them never keeps a window's win.
    shape = [1] * x.ndim
    shape[ax] = a.out
    first = lax.broadcasted_iota(jnp.int32, shape, ax) * jnp.int32(m)
    kq = jnp.zeros(best.shape, jnp.int32)
    for i in range(1, k):
        v = _view(bm, a, i)
        take = _better(v, best, take_max) | (first + kq < jnp.int32(a.low // g))
        best = jnp.where(take, v, best)
        kq = jnp.where(take, jnp.int32(i), kq)
    _, pos = _block_iota(zb, a)
    bmx = jnp.expand_dims(bm, ax + 1)
    match = zb == bmx
    if jnp.issubdtype(x.dtype, jnp.floating):
        match = match | ((zb != zb) & (bmx != bmx))
    match = match & (pos >= jnp.int32(a.low))
    offset = jnp.argmax(match, axis=ax + 1).astype(jnp.int32)
    config = [(0, 0, 0)] * kq.ndim
    config[ax] = (0, nb - a.out, 0)
    code = offset * jnp.int32(_KQ_BITS) + lax.pad(kq, jnp.int32(0), config)
    return best, code


def _decode(code: Array, a: AxisGeometry) -> tuple[Array, Array]:
    """(winner offset in each block, winning block of each output) from the code."""
    kq = lax.slice_in_dim(code, 0, a.out, 1, a.axis) % jnp.int32(_KQ_BITS)
    return code // jnp.int32(_KQ_BITS), kq


def extreme_scatter(ct: Array, a: AxisGeometry, code: Array) -> Array:
    """Reverse pass: each output's cotangent to its winner (block totals by pads, then one select)."""
    ax = a.axis
    g, k, _, _ = _shape(a)
    offset, kq = _decode(code, a)
    zero = jnp.zeros((), ct.dtype)
    cb = _spread(jnp.where(kq == 0, ct, zero), a, 0)
    for i in range(1, k):
        cb = cb + _spread(jnp.where(kq == jnp.int32(i), ct, zero), a, i)
    shape = [1] * (ct.ndim + 1)
    shape[ax + 1] = g
    t = lax.broadcasted_iota(jnp.int32, shape, ax + 1)
    full = _split(cb.shape, ax, g)
    dx = jnp.where(t == jnp.expand_dims(offset, ax + 1), jnp.broadcast_to(jnp.expand_dims(cb, ax + 1), full), zero)
    return _unblock(dx, a)


def extreme_gather(v: Array, a: AxisGeometry, code: Array) -> Array:
    """Per output, the element of ``v`` (input-shaped, any dtype) at its window's winner."""
    ax = a.axis
    g, k, _, _ = _shape(a)
    offset, kq = _decode(code, a)
    vb = _blocks(v, a, 0)
    shape = [1] * vb.ndim
    shape[ax + 1] = g
    t = lax.broadcasted_iota(jnp.int32, shape, ax + 1)
    picked = jnp.where(t == jnp.expand_dims(offset, ax + 1), vb, jnp.zeros((), v.dtype))
    at = jnp.any(picked, axis=ax + 1) if v.dtype == jnp.bool_ else jnp.sum(picked, axis=ax + 1, dtype=v.dtype)
    out = _view(at, a, 0)
    for i in range(1, k):
        out = jnp.where(kq == jnp.int32(i), _view(at, a, i), out)
    return out


def code_shape(shape: tuple[int, ...], a: AxisGeometry) -> tuple[int, ...]:
    """Shape of the code array of a pass over ``a`` on an input of ``shape``: ``nb`` blocks along the axis."""
    out = list(shape)
    out[a.axis] = _shape(a)[3]
    return tuple(out)


__all__ = ["applies", "code_shape", "extreme_gather", "extreme_pass", "extreme_scatter", "sum_pass", "sum_scatter"]
