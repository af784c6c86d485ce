"""Large windows in work and program size independent of the window: blocked running reductions.

One spatial axis at a time (a large window is always a pass of its own, see ``_routes.axis_groups``). The
scheme is van Herk / Gil-Werman's, generalised to every geometry by computing the reduction for *every*
window start ``j`` of the padded axis and keeping ``j = q * stride`` afterwards (O(1) work per element
whatever the stride):

* Dilation ``d``: the padded axis is reshaped to ``(blocks, w, d)``, position ``(b * w + t) * d + r``, so each
  stride-``d`` phase ``r`` is a contiguous sequence and every window is ``w`` consecutive entries of one phase.
* Blocks of ``w``: within each block a running reduction from the left (``G``, prefix) and one from the right
  (``H``, suffix), both in one in-place ``fori_loop`` over the block offsets (``_dispatch``'s "sequential";
  program size constant, O(n) work, no transpose) or by ``lax.associative_scan`` ("associative"; ``lax.cummax``
  and friends are avoided because some backends lower them to an O(n * w) ``reduce_window``). The window
  starting at block offset ``t`` is ``H[b, t]`` (its part in block ``b``) combined with ``G[b + 1, t - 1]`` (its
  part in the next block): two partial results, never a difference, so window sums keep float32 accuracy
  (each partial sum adds at most ``w`` terms, in a tree).

Max/min winners follow docs/semantics.md §4 (first maximal element in row-major order, NaN beats every number and the
first NaN wins, padding never wins) without carrying indices through the scans. Three bits per position are
the residual of the reverse pass (a uint8 *code*): ``side`` (the window's winner lies in its next-block part),
``recH`` (the element beats everything after it in its block: it is its own suffix winner) and ``recG`` (it
beats everything before it in its block). A suffix winner is the first ``recH`` at or after a position, a
prefix winner the last ``recG`` at or before it, so the positions that share a winner form a contiguous run
that ends (``H``) or starts (``G``) at that winner. The reverse pass is therefore two *segmented* sums of the
cotangent within blocks (exact: each adds only the cotangents that go to one element, and is deterministic:
no scatter), and the gather (forward mode, ``max_pool_with_indices``) two segmented carries; each pair runs
in one ``lax.scan`` (JAX transposes the reverse pass twice, and transposes a scan cheaply, an in-place loop
not). Strided windows of a few stride-aligned blocks go to ``_stride_blocks`` instead (O(n), no loop), and
window sums to ``_anchored`` (sums anchored at sub-block starts) where ``kernels().large_sum_scheme`` says so,
as every backend's table does now.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax.numpy as jnp
from jax import lax

from jaxpool import _anchored
from jaxpool import _stride_blocks as _blocks
from jaxpool._dispatch import kernels
from jaxpool._geometry import AxisGeometry

Array = jnp.ndarray

SIDE, REC_H, REC_G = 1, 2, 4  # bits of the uint8 code


@dataclasses.dataclass(frozen=True)
class _Layout:
    """Blocked layout of an axis holding ``starts`` window starts for window ``w`` and dilation ``d``:
    ``blocks * w * d`` padded positions, position ``(b * w + t) * d + r`` at block ``b``, offset ``t``, phase
    ``r`` (the last block only ever feeds the prefix part of the windows starting in the block before)."""

    w: int
    d: int
    blocks: int

    @staticmethod
    def of(starts: int, w: int, d: int) -> _Layout:
        per_phase = -(-starts // d)
        return _Layout(w, d, -(-per_phase // w) + 1)

    @property
    def length(self) -> int:
        return self.blocks * self.w * self.d


def _to_blocks(z: Array, ax: int, lay: _Layout) -> Array:
    shape = list(z.shape)
    shape[ax:ax + 1] = [lay.blocks, lay.w, lay.d]
    return z.reshape(shape)


def _from_blocks(z: Array, ax: int) -> Array:
    shape = list(z.shape)
    shape[ax:ax + 3] = [shape[ax] * shape[ax + 1] * shape[ax + 2]]
    return z.reshape(shape)


def _shift(z: Array, ax: int, lay: _Layout, by: int, fill: Array | float | int) -> Array:
    """Blocked ``z`` moved along its phase sequences: ``out[i] = z[i - by]`` (``fill`` where out of range)."""
    shape = list(z.shape)
    flat = shape[:ax] + [lay.blocks * lay.w] + shape[ax + 2:]
    config = [(0, 0, 0)] * z.ndim
    config[ax] = (by, -by, 0)
    return lax.pad(z.reshape(flat), jnp.asarray(fill, z.dtype), config[:len(flat)]).reshape(shape)


def _iota(z: Array, ax: int, lay: _Layout, what: str) -> Array:
    """Broadcastable int32 block offset ``t`` (``what="t"``) or padded position (``"pos"``) of blocked ``z``."""
    shape = [1] * z.ndim
    if what == "t":
        shape[ax + 1] = lay.w
        return lax.broadcasted_iota(jnp.int32, shape, ax + 1)
    shape[ax:ax + 3] = [lay.blocks, lay.w, lay.d]
    b, t, r = (lax.broadcasted_iota(jnp.int32, shape, ax + i) for i in range(3))
    return (b * jnp.int32(lay.w) + t) * jnp.int32(lay.d) + r


def _scan(combine: Callable[[Any, Any], Any], elems: Any, ax: int, reverse: bool) -> Any:
    """Inclusive scan of ``elems`` (an array or a tuple of arrays) along the block-offset axis ``ax + 1``.

    ``kernels().large_scan`` picks the formulation: "associative" (``lax.associative_scan``: log-depth, program
    size O(log w)) or "sequential" (``lax.scan`` over the ``w`` offsets, each step one slab of ``n / w``
    elements: constant program size, ``w`` loop steps).
    """
    if kernels().large_scan == "associative":
        return lax.associative_scan(combine, elems, axis=ax + 1, reverse=reverse)
    single = not isinstance(elems, tuple)
    xs = tuple(jnp.moveaxis(e, ax + 1, 0) for e in ((elems,) if single else elems))

    def step(carry: tuple, x: tuple) -> tuple:
        new = (combine(carry[0], x[0]),) if single else tuple(combine(carry, x))
        return new, new

    first = tuple(e[-1] if reverse else e[0] for e in xs)
    rest = tuple(e[:-1] if reverse else e[1:] for e in xs)
    _, ys = lax.scan(step, first, rest, reverse=reverse)
    out = tuple(jnp.concatenate([y, f[None]] if reverse else [f[None], y], axis=0) for y, f in zip(ys, first))
    out = tuple(jnp.moveaxis(o, 0, ax + 1) for o in out)
    return out[0] if single else out


def _scans(zb: Array, ax: int, combine: Callable[[Array, Array], Array]) -> tuple[Array, Array]:
    """Prefix (``G``) and suffix (``H``) running reductions within each block.

    Sequential formulation: one ``fori_loop`` over the block offsets that updates both in place (one slab
    of ``n / w`` elements each per step; no transpose of the blocked array, one loop in the program). Used by
    the forward passes only: JAX never transposes it (the reverse passes are written by hand).
    """
    if kernels().large_scan == "associative":
        return _scan(combine, zb, ax, False), _scan(combine, zb, ax, True)
    w = zb.shape[ax + 1]

    def step(i: Array, gh: tuple[Array, Array]) -> tuple[Array, Array]:
        g, h = gh
        j = jnp.int32(w - 1) - i
        g = lax.dynamic_update_index_in_dim(g, combine(lax.dynamic_index_in_dim(g, i - 1, ax + 1),
                                                       lax.dynamic_index_in_dim(g, i, ax + 1)), i, ax + 1)
        h = lax.dynamic_update_index_in_dim(h, combine(lax.dynamic_index_in_dim(h, j + 1, ax + 1),
                                                       lax.dynamic_index_in_dim(h, j, ax + 1)), j, ax + 1)
        return g, h

    return lax.fori_loop(1, w, step, (zb, zb))


def _segmented(fwd: tuple[Array, Array], rev: tuple[Array, Array], ax: int,
               carry: bool) -> tuple[Array, Array]:
    """Within blocks, per position: the sum of ``v`` since the last segment start (``carry=False``) or the
    value at the last segment start (``carry=True``), in scan order, for ``fwd = (v, start)`` scanned from the
    block start and for ``rev = (v, start)`` scanned from the block end.

    Sequential formulation: both in one ``lax.scan`` over the block offsets (``rev`` flipped), from a neutral
    start (zero, no segment start; an unflagged first position holds a zero there in every use). JAX
    transposes a scan cheaply, so this serves the reverse passes, which JAX transposes twice.
    """

    def combine(a: tuple[Array, Array], b: tuple[Array, Array]) -> tuple[Array, Array]:
        (va, fa), (vb, fb) = a, b
        return jnp.where(fb, vb, va if carry else va + vb), fa | fb

    if kernels().large_scan == "associative":
        return (lax.associative_scan(combine, fwd, axis=ax + 1)[0],
                lax.associative_scan(combine, rev, axis=ax + 1, reverse=True)[0])
    t = ax + 1
    xs = tuple(jnp.moveaxis(e, t, 0) for e in fwd) + tuple(jnp.moveaxis(lax.rev(e, (t,)), t, 0) for e in rev)

    def step(c: tuple, x: tuple) -> tuple:
        new = combine(c[:2], x[:2]) + combine(c[2:], x[2:])
        return new, (new[0], new[2])

    init = tuple(jnp.zeros_like(e[0]) for e in xs)  # zeros_like keeps an explicit sharding of the slab
    _, (yf, yr) = lax.scan(step, init, xs)
    return jnp.moveaxis(yf, 0, t), lax.rev(jnp.moveaxis(yr, 0, t), (t,))


def _upsample(ct: Array, a: AxisGeometry) -> Array:
    """Cotangent per window start: ``ct[q]`` at ``q * stride``, zeros between."""
    if a.stride == 1:
        return ct
    ax = a.axis
    c = jnp.expand_dims(ct, ax + 1)
    config = [(0, 0, 0)] * c.ndim
    config[ax + 1] = (0, a.stride - 1, 0)
    c = lax.pad(c, jnp.zeros((), ct.dtype), config)
    shape = list(ct.shape)
    shape[ax] *= a.stride
    return c.reshape(shape)


def _starts(a: AxisGeometry) -> int:
    return (a.out - 1) * a.stride + 1


# ---------------------------------------------------------------------------------------------------- sums


def _all_window_sums(z: Array, ax: int, w: int, d: int, starts: int, low: int, linear: bool = False) -> Array:
    """``out[j] = sum_k zp[j + k * d]`` for ``j < starts``, ``zp`` = ``z`` after ``low`` zeros (and zero beyond
    its end): sums anchored at sub-block starts (``_anchored``) or blocked running sums, as
    ``kernels().large_sum_scheme`` says. ``linear``: the running sums are written with ``lax.scan`` only, which
    JAX transposes cheaply (for the reverse pass, which JAX transposes twice; the anchored sums are pads,
    slices and adds throughout)."""
    if kernels().large_sum_scheme == "anchored":
        return _anchored.window_sums(z, ax, w, d, starts, low)
    lay = _Layout.of(starts, w, d)
    zb = _to_blocks(_blocks.resize(z, ax, low, lay.length, 0), ax, lay)
    if linear:  # running sums are segmented sums with no segment start: both directions in one scan
        none = jnp.zeros_like(zb, dtype=jnp.bool_)
        g, h = _segmented((zb, none), (zb, none), ax, carry=False)
    else:
        g, h = _scans(zb, ax, lax.add)
    nxt = _shift(g, ax, lay, -(w - 1), 0)  # prefix of the next block up to the window's end
    total = h + jnp.where(_iota(zb, ax, lay, "t") == 0, jnp.zeros((), z.dtype), nxt)
    return lax.slice_in_dim(_from_blocks(total, ax), 0, starts, 1, ax)


def sum_pass(x: Array, a: AxisGeometry) -> Array:
    """Window sums along one axis (padding contributes zero)."""
    if _blocks.applies(a):
        return _blocks.sum_pass(x, a)
    s = _all_window_sums(x, a.axis, a.window, a.dilation, _starts(a), a.low)
    return lax.slice_in_dim(s, 0, _starts(a), a.stride, a.axis)


def sum_scatter(ct: Array, a: AxisGeometry) -> Array:
    """Transpose of :func:`sum_pass`: input ``p`` receives ``sum_k C[p + low - k * dilation]`` where ``C`` is
    the cotangent per window start — itself a window sum over ``C`` shifted by the window's extent."""
    if _blocks.applies(a):
        return _blocks.sum_scatter(ct, a)
    span = (a.window - 1) * a.dilation
    s = _all_window_sums(_upsample(ct, a), a.axis, a.window, a.dilation, a.low + a.size, span, linear=True)
    return lax.slice_in_dim(s, a.low, a.low + a.size, 1, a.axis)


# ---------------------------------------------------------------------------------------------- max / min


def _better(take_max: bool, is_float: bool) -> Callable[[Array, Array], Array]:
    """``better(new, old)``: does ``new`` (later in row-major order) replace ``old`` as the winner? Strictly
    larger (smaller), or NaN where ``old`` is not; never when ``old`` is NaN (the first NaN wins)."""
    if not is_float:
        return (lambda new, old: new > old) if take_max else (lambda new, old: new < old)
    if take_max:
        return lambda new, old: ~(new <= old) & (old == old)
    return lambda new, old: ~(new >= old) & (old == old)


def extreme_pass(x: Array, a: AxisGeometry, identity: Array, take_max: bool,
                 with_code: bool) -> tuple[Array, Array | None]:
    """Window max (min) along one axis and, if ``with_code``, the uint8 code of the winners (module doc).

    Padding holds ``identity``. Low padding could tie with a real element equal to the identity (-inf, or
    the dtype's min), so where a scan's earlier part is all low padding the later real element is marked as
    the winner by position (an iota compare), never by value.
    """
    if _blocks.applies(a):
        return _blocks.extreme_pass(x, a, identity, take_max, with_code)
    ax, w, d = a.axis, a.window, a.dilation
    lay = _Layout.of(_starts(a), w, d)
    zb = _to_blocks(_blocks.resize(x, ax, a.low, lay.length, identity), ax, lay)
    combine = lax.max if take_max else lax.min
    g, h = _scans(zb, ax, combine)
    nxt = _shift(g, ax, lay, -(w - 1), identity)
    values = lax.slice_in_dim(_from_blocks(combine(h, nxt), ax), 0, _starts(a), a.stride, ax)
    if not with_code:
        return values, None
    better = _better(take_max, jnp.issubdtype(x.dtype, jnp.floating))
    t = _iota(zb, ax, lay, "t")
    pos = _iota(zb, ax, lay, "pos")
    low = jnp.int32(a.low)
    # The window's own-block part is all low padding when its block ends before the input starts.
    block_end = pos + (jnp.int32(w - 1) - t) * jnp.int32(d)
    side = better(nxt, h) | (block_end < low)
    rec_g = (t == 0) | better(zb, _shift(g, ax, lay, 1, identity)) | (pos - jnp.int32(d) < low)
    rec_h = ((t == w - 1) | ~better(_shift(h, ax, lay, -1, identity), zb)) & (pos >= low)
    code = (side.astype(jnp.uint8) * jnp.uint8(SIDE) + rec_h.astype(jnp.uint8) * jnp.uint8(REC_H)
            + rec_g.astype(jnp.uint8) * jnp.uint8(REC_G))
    return values, code


def _bits(code: Array) -> tuple[Array, Array, Array]:
    return tuple((code & jnp.uint8(bit)) != 0 for bit in (SIDE, REC_H, REC_G))  # type: ignore[return-value]


def extreme_scatter(ct: Array, a: AxisGeometry, code: Array) -> Array:
    """Reverse pass: each output's cotangent sent to its winner, as two segmented sums within blocks."""
    if _blocks.applies(a):
        return _blocks.extreme_scatter(ct, a, code)
    ax, w = a.axis, a.window
    lay = _Layout.of(_starts(a), w, a.dilation)
    side, rec_h, rec_g = _bits(code)
    zero = jnp.zeros((), ct.dtype)
    c = _to_blocks(_blocks.resize(_upsample(ct, a), ax, 0, lay.length, 0), ax, lay)
    to_h = jnp.where(side, zero, c)
    to_g = _shift(jnp.where(side, c, zero), ax, lay, w - 1, 0)
    t = _iota(c, ax, lay, "t")
    # Suffix winners: runs end at their winner (a rec_h); prefix winners: runs start at theirs (a rec_g).
    start_h = (t == 0) | _shift(rec_h, ax, lay, 1, False)
    start_g = (t == w - 1) | _shift(rec_g, ax, lay, -1, False)
    sum_h, sum_g = _segmented((to_h, start_h), (to_g, start_g), ax, carry=False)
    dx = jnp.where(rec_h, sum_h, zero) + jnp.where(rec_g, sum_g, zero)
    return _blocks.resize(_from_blocks(dx, ax), ax, -a.low, a.size, 0)


def extreme_gather(v: Array, a: AxisGeometry, code: Array) -> Array:
    """Per output, the element of ``v`` (input-shaped, any dtype) at its window's winner."""
    if _blocks.applies(a):
        return _blocks.extreme_gather(v, a, code)
    ax, w = a.axis, a.window
    lay = _Layout.of(_starts(a), w, a.dilation)
    side, rec_h, rec_g = _bits(code)
    vb = _to_blocks(_blocks.resize(v, ax, a.low, lay.length, 0), ax, lay)
    # the value at the last rec_g at or before each position, and at the first rec_h at or after it
    at_g, at_h = _segmented((vb, rec_g), (vb, rec_h), ax, carry=True)
    out = jnp.where(side, _shift(at_g, ax, lay, -(w - 1), 0), at_h)
    return lax.slice_in_dim(_from_blocks(out, ax), 0, _starts(a), a.stride, ax)


def code_shape(shape: tuple[int, ...], a: AxisGeometry) -> tuple[int, ...]:
    """Shape of the code array of a pass over ``a`` on an input of ``shape``."""
    if _blocks.applies(a):
        return _blocks.code_shape(shape, a)
    lay = _Layout.of(_starts(a), a.window, a.dilation)
    out = list(shape)
    out[a.axis:a.axis + 1] = [lay.blocks, lay.w, lay.d]
    return tuple(out)


__all__ = ["code_shape", "extreme_gather", "extreme_pass", "extreme_scatter", "sum_pass", "sum_scatter"]
