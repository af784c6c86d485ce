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

Block maxima compare *order keys* (the float's bits as a signed integer ordered like the floats, NaN at the
winning end), so a plain integer reduction honours NaN, which XLA:CPU's float max reductions drop; the second
sweep, for the winner, compares values (recomputing the keys there would make XLA store them). Blocks of
``RUNS_FROM`` positions or more reduce runs of up to 32 positions in one sweep of the unpadded input (where
runs align with its ends), store the run results, and read only the first maximal run of each block again;
smaller blocks reduce the padded blocks twice. On the 2-core CPU (max fwd+bwd (8, 16384, 16), stride w/4,
interleaved CPU ms) runs vs blocks: w=1024 4.7-5.5 vs 9.0-10.9, w=256 4.8-5.5 vs 7.5-8.3, w=128 5.0-5.1 vs
4.8-4.9, w=64 5.8-6.1 vs 4.5-4.8.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from jaxpool._dispatch import kernels
from jaxpool._fence import materialize
from jaxpool._geometry import AxisGeometry

Array = jnp.ndarray

#: Blocks of at least this many positions find their winners from stored run results (``_block_winners``).
RUNS_FROM = 64
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
    if with_code:
        bm, offset = _block_winners(x, a, identity, take_max)
    else:
        bm = _block_results(x, a, identity, take_max)
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
    config = [(0, 0, 0)] * kq.ndim
    config[ax] = (0, nb - a.out, 0)
    code = offset * jnp.int32(_KQ_BITS) + lax.pad(kq, jnp.int32(0), config)
    if jnp.issubdtype(x.dtype, jnp.floating):
        best = _differentiable(x, best, code, a)
    return best, code


@functools.partial(jax.custom_jvp, nondiff_argnums=(3,))
def _differentiable(x: Array, best: Array, code: Array, a: AxisGeometry) -> Array:
    """``best`` (the window results, computed through order keys, which carry no tangent), with the tangent
    of ``x`` at each window's winner: what differentiating the values gives (second-order derivatives of
    pooling differentiate the values of the first-order rule)."""
    del x, code
    return best


@_differentiable.defjvp
def _differentiable_jvp(a: AxisGeometry, primals: tuple, tangents: tuple) -> tuple:
    x, best, code = primals
    return best, extreme_gather(tangents[0], a, code)


def _order_key(z: Array, take_max: bool) -> Array:
    """Signed integers of the float bit width ordered as the floats (``-0.0`` as ``+0.0``), NaN the extreme
    end that wins (largest for max, smallest for min): plain integer reductions then honour NaN and ties."""
    itype = {2: jnp.int16, 4: jnp.int32, 8: jnp.int64}[z.dtype.itemsize]
    info = jnp.iinfo(itype)
    bits = lax.bitcast_convert_type(z, itype)
    key = jnp.where(bits < 0, bits ^ jnp.asarray(info.max, itype), bits)
    key = jnp.where(z == 0, jnp.zeros((), itype), key)
    return jnp.where(z != z, jnp.asarray(info.max if take_max else info.min, itype), key)


def _from_key(key: Array, dtype: Any) -> Array:
    """Inverse of :func:`_order_key` (NaN comes back as a NaN)."""
    bits = jnp.where(key < 0, key ^ jnp.asarray(jnp.iinfo(key.dtype).max, key.dtype), key)
    return lax.bitcast_convert_type(bits, dtype)


def _runs(x: Array, a: AxisGeometry, identity: Array | float | int) -> tuple[Array, int, int]:
    """The padded axis as runs of ``r`` positions (``r`` the largest divisor of the block length up to 32):
    ``(xr, r, first)``, ``xr`` shaped ``(.., runs, r, ..)`` whose run ``i`` is run ``first + i`` of the padded
    axis. Where runs align with the input's ends (``r`` divides the low padding and the input length; ``r``
    shrinks to the largest such divisor) ``xr`` is the unpadded input, read once and never copied; otherwise
    the padded input (``first = 0``)."""
    ax = a.axis
    g, _, _, nb = _shape(a)
    r = max(d for d in range(1, min(g, 32) + 1) if g % d == 0)
    aligned = max(d for d in range(1, r + 1) if r % d == 0 and a.low % d == 0 and a.size % d == 0)
    if aligned > 1 or r == 1:
        r, z, first = aligned, x, a.low // aligned
    else:
        z, first = _blocks(x, a, identity), 0
    shape = list(x.shape)
    shape[ax:ax + 1] = [z.size // (math.prod(x.shape) // a.size) // r, r]
    return z.reshape(shape), r, first


def resize(z: Array, ax: int, low: int, length: int, fill: Array | float | int) -> Array:
    """``z`` along ``ax`` after ``low`` entries of ``fill`` (the first ``-low`` entries dropped if ``low`` is
    negative), padded with ``fill`` or cut to ``length``: a slice of ``z`` padded only where the result leaves
    it. A result wholly outside ``z`` is an empty slice of it padded, so it keeps ``z``'s sharding (Explicit
    meshes, ``shard_map``). ``_anchored`` and ``_large_windows`` use it too."""
    n = z.shape[ax]
    lo, hi = max(-low, 0), min(length - low, n)
    if hi <= lo:
        lo = hi = 0
        low = length
    if (lo, hi) != (0, n):
        z = lax.slice_in_dim(z, lo, hi, 1, ax)
    config = [(0, 0, 0)] * z.ndim
    config[ax] = (low + lo, length - low - hi, 0)
    if config[ax] == (0, 0, 0):
        return z
    return lax.pad(z, jnp.asarray(fill, z.dtype), config)


def _run_results(x: Array, a: AxisGeometry, identity: Array | float | int, key: Callable[[Array], Array],
                 reduce: Callable[..., Array]) -> tuple[Array, Array, int, int]:
    """``reduce`` of ``key`` over each run of :func:`_runs`, shaped ``(.., nb, g / r, ..)`` (runs wholly in
    padding hold the padding's key), with ``_runs``'s ``(xr, r, first)``."""
    ax = a.axis
    g, _, _, nb = _shape(a)
    xr, r, first = _runs(x, a, identity)
    res = resize(reduce(key(xr), axis=ax + 1), ax, first, nb * g // r, key(jnp.asarray(identity, x.dtype)))
    shape = list(res.shape)
    shape[ax:ax + 1] = [nb, g // r]
    return res.reshape(shape), xr, r, first


def _block_results(x: Array, a: AxisGeometry, identity: Array | float | int, take_max: bool) -> Array:
    """Per block of the padded axis, its max (min); NaN where the block holds one (:func:`_run_results`)."""
    reduce = jnp.max if take_max else jnp.min
    if not jnp.issubdtype(x.dtype, jnp.floating):
        return reduce(_run_results(x, a, identity, lambda z: z, reduce)[0], axis=a.axis + 1)
    runs = _run_results(x, a, identity, lambda z: _order_key(z, take_max), reduce)[0]
    return _from_key(reduce(runs, axis=a.axis + 1), x.dtype)


def _matches(z: Array, best: Array) -> Array:
    """``z`` equals ``best`` (a NaN matches a NaN). Compared as values, not order keys: XLA would otherwise
    store the keys of the first sweep for this second one instead of recomputing them in its reduction."""
    if not jnp.issubdtype(z.dtype, jnp.floating):
        return z == best
    return jnp.where(best != best, z != z, z == best)


def _block_winners(x: Array, a: AxisGeometry, identity: Array | float | int,
                   take_max: bool) -> tuple[Array, Array]:
    """Per block of the padded axis, its max (min) and the int32 offset of its winner: the first element
    equal to the block result, NaN counting as equal to a NaN result, which beats every number.

    Values are compared as order keys (:func:`_order_key`), so plain integer reductions honour NaN and ties.
    Blocks of ``RUNS_FROM`` positions or more: one sweep reduces the runs of :func:`_runs` and stores the run
    results; the block result and its first maximal run follow from those, and a second sweep looks for the
    first match in that run only (elementwise and reductions, no gather: sharding propagates through them).
    Smaller blocks: the two sweeps over the padded blocks. Low padding never matches; a block of low padding
    and real elements all equal to the padding value names its first real element."""
    ax = a.axis
    g, _, _, nb = _shape(a)
    floating = jnp.issubdtype(x.dtype, jnp.floating)
    key = (lambda z: _order_key(z, take_max)) if floating else (lambda z: z)
    reduce = jnp.max if take_max else jnp.min
    b = lax.broadcasted_iota(jnp.int32, [nb if d == ax else 1 for d in range(x.ndim)], ax)
    first_real = jnp.clip(jnp.int32(a.low) - b * jnp.int32(g), 0, g - 1)
    if g < RUNS_FROM:
        zb = _blocks(x, a, identity)
        bz = reduce(key(zb), axis=ax + 1)
        bm = _from_key(bz, x.dtype) if floating else bz
        t, pos = _block_iota(zb, a)
        hit = _matches(zb, jnp.expand_dims(bm, ax + 1)) & (pos >= jnp.int32(a.low))
        offset = jnp.min(jnp.where(hit, t, jnp.int32(g)), axis=ax + 1)
        return bm, jnp.where(offset == jnp.int32(g), first_real, offset)
    runs, xr, r, first = _run_results(x, a, identity, key, reduce)
    runs = materialize(runs)                                            # (.., nb, g / r, ..)
    bz = reduce(runs, axis=ax + 1)                                      # (.., nb, ..)
    q = lax.broadcasted_iota(jnp.int32, runs.shape, ax + 1)
    j = jnp.min(jnp.where(runs == jnp.expand_dims(bz, ax + 1), q, jnp.int32(g // r)), axis=ax + 1)

    def per_run(v: Array) -> Array:  # (.., nb, ..) -> (.., runs of xr, ..): each block's value on its runs
        v = jnp.broadcast_to(jnp.expand_dims(v, ax + 1), runs.shape)
        flat = list(v.shape)
        flat[ax:ax + 2] = [nb * (g // r)]
        return resize(v.reshape(flat), ax, -first, xr.shape[ax], 0)

    # which run of its block each run of xr is: (first + i) % (g / r)
    shape = [1] * xr.ndim
    shape[ax] = xr.shape[ax]
    i = lax.broadcasted_iota(jnp.int32, shape[:ax + 1] + shape[ax + 2:], ax)
    chosen = (i + jnp.int32(first)) % jnp.int32(g // r) == per_run(j)
    t_shape = [1] * xr.ndim
    t_shape[ax + 1] = r
    t = lax.broadcasted_iota(jnp.int32, t_shape, ax + 1)
    bm = _from_key(bz, x.dtype) if floating else bz
    hit = _matches(xr, jnp.expand_dims(per_run(bm), ax + 1)) & jnp.expand_dims(chosen, ax + 1)
    if not first:  # padded runs: low padding never matches
        pos = jnp.expand_dims(i, ax + 1) * jnp.int32(r) + t
        hit = hit & (pos >= jnp.int32(a.low))
    inner_runs = jnp.min(jnp.where(hit, t, jnp.int32(r)), axis=ax + 1)  # r where no match or not chosen
    inner_runs = resize(inner_runs, ax, first, nb * g // r, r)
    inner = jnp.min(inner_runs.reshape(runs.shape), axis=ax + 1)
    offset = jnp.where(inner == jnp.int32(r), first_real, j * jnp.int32(r) + inner)
    return bm, offset


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


__all__ = ["applies", "code_shape", "extreme_gather", "extreme_pass", "extreme_scatter", "resize", "sum_pass",
           "sum_scatter"]
