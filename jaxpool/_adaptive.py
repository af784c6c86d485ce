"""Adaptive and global pooling: a fixed output size, bins computed from the input size (docs/semantics.md §5).

Bin ``i`` of a dim of length ``L`` pooled to ``out`` bins spans ``[floor(i*L/out),
ceil((i+1)*L/out))`` (PyTorch's and Keras' rule; bins may overlap by one element, and ``out > L``
repeats elements). Pooling is separable, one spatial axis per pass, last axis first (so max ties
resolve in row-major order, docs/semantics.md §4).

Each pass works on a *binned view* of the input along one axis: when ``L % out == 0`` a free
reshape into ``(out, L // out)``; with fewer bins than elements otherwise, the bins gathered at static
positions into ``(out, longest bin)`` (work O(L)); with more bins than elements, the input broadcast
against a static ``(L, out)`` bin-membership mask. Every reduction is a masked dense
``sum``/``max``/``min`` over that view, so the reverse passes JAX derives are broadcasts and selects, plus,
for the gathered view, a scatter-add in which every element receives at most two terms (it lies in at most
two bins): exact and deterministic on every backend.

Max pooling is a ``jax.custom_jvp`` whose tangent is the input tangent *taken* at the winners (a
one-hot masked sum, linear in the tangent), so forward mode, reverse mode (the transpose: the
cotangent written to each bin's one winner, overlapping bins accumulating), Hessians, vmap and jit
all work, and the gradient reaches exactly one element per bin.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxpool._args import (
    LAYOUT_FIRST,
    LAYOUT_LAST,
    MAX_SIZE,
    accumulation_dtype,
    check_flag,
    check_inputs,
    check_int32_extent,
    check_output_size,
    check_spatial_sizes,
    infer_num_spatial_dims,
    result_dtype,
    spatial_axes_for,
    torch_names,
)
from jaxpool._args import identity as _identity
from jaxpool._sharding import whole_axes

Array = jax.Array
OutputSize = int | Sequence[int | None]


def adaptive_bins(size: int, out: int) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) of ``out`` adaptive bins over length ``size`` (PyTorch's rule)."""
    i = np.arange(out, dtype=np.int64)
    return (i * size) // out, -((-(i + 1) * size) // out)


class _Binned:
    """The binned view of one spatial axis ``axis`` (length ``size``) pooled to ``out`` bins.

    Three forms, each a ``(..., out, k, ...)``-like view reduced over ``reduce_axis`` with a static mask:
    ``size % out == 0``: a free reshape into ``(out, size // out)``; fewer bins than elements otherwise: the
    bins gathered at static positions into ``(out, longest bin)`` (work O(size), where a mask over every
    (element, bin) pair costs O(size * out)); more bins than elements: the input against the static
    ``(size, out)`` membership mask. A gather's transpose is a scatter-add; with fewer bins than elements an
    element lies in at most two bins, so it adds at most two terms (exact and order-free on every backend).
    """

    def __init__(self, shape: Sequence[int], axis: int, out: int):
        self.axis, self.size, self.out = axis, int(shape[axis]), out
        rank = len(shape) + 1
        bshape = [1] * rank
        self.index = None
        if self.size % out == 0:
            k = self.size // out
            self.split = (out, k)
            self.reduce_axis = axis + 1
            bshape[axis], bshape[axis + 1] = out, k
            # bin i holds positions i * k + j: an iota in the program, no table on the host
            self.positions = (lax.broadcasted_iota(jnp.int32, bshape, axis) * k
                              + lax.broadcasted_iota(jnp.int32, bshape, axis + 1))
            self.mask = None
        elif out < self.size:
            starts, ends = adaptive_bins(self.size, out)
            k = int((ends - starts).max())
            self.split = (out, k)
            self.reduce_axis = axis + 1
            # built in the program from the bins' ends (O(out) on the host, not O(size))
            first = jnp.asarray(starts.astype(np.int32))[:, None]
            last = jnp.asarray((ends - 1).astype(np.int32))[:, None]
            pos = first + lax.broadcasted_iota(jnp.int32, (out, k), 1)
            valid = pos <= last
            # padded slots (bins shorter than k) read the bin's last element, masked; position -1 never wins
            self.index = jnp.where(valid, pos, last).reshape(-1)
            bshape[axis], bshape[axis + 1] = out, k
            self.positions = jnp.where(valid, pos, -1).reshape(bshape)
            self.mask = valid.reshape(bshape)
        else:
            self.split = None
            self.reduce_axis = axis
            if self.size * out > MAX_SIZE:
                raise ValueError(
                    f"output_size {out} for a spatial dim of size {self.size} (input axis {axis}): more bins than "
                    f"elements are pooled through a (size x bins) membership mask of {self.size * out} entries, "
                    f"beyond {MAX_SIZE}; ask for at most {MAX_SIZE // self.size} bins along this dim"
                )
            starts, ends = adaptive_bins(self.size, out)
            p = np.arange(self.size)[:, None]
            bshape[axis], bshape[axis + 1] = self.size, out
            self.mask = ((p >= starts[None, :]) & (p < ends[None, :])).reshape(bshape)
            pshape = [1] * rank
            pshape[axis] = self.size
            self.positions = np.arange(self.size, dtype=np.int32).reshape(pshape)

    def view(self, x: Array) -> Array:
        if self.index is not None:
            x = jnp.take(x, self.index, axis=self.axis, mode="clip", unique_indices=False,
                         indices_are_sorted=True)
        if self.split is not None:
            return x.reshape(x.shape[: self.axis] + self.split + x.shape[self.axis + 1 :])
        return jnp.expand_dims(x, self.axis + 1)

    def expand(self, y: Array) -> Array:
        """A per-bin array with the reduced axis re-inserted (broadcasts against the view)."""
        return jnp.expand_dims(y, self.reduce_axis)

    def reduce(self, x: Array, kind: str, fill: Any) -> Array:
        v = self.view(x)
        if self.mask is not None:
            v = jnp.where(self.mask, v, jnp.asarray(fill, v.dtype))
        return {"sum": jnp.sum, "max": jnp.max, "min": jnp.min}[kind](v, axis=self.reduce_axis)

    def bin_size(self) -> np.ndarray:
        starts, ends = adaptive_bins(self.size, self.out)
        return (ends - starts).astype(np.float64)

    def winners(self, x: Array, take_max: bool) -> Array:
        """Per bin, the position of the first maximal (minimal) element (the first NaN if any)."""
        ident = _identity(x.dtype, take_max)
        best = self.reduce(x, "max" if take_max else "min", ident)
        v, b = self.view(x), self.expand(best)
        hit = v == b
        if jnp.issubdtype(x.dtype, jnp.floating):
            hit = hit | (jnp.isnan(v) & jnp.isnan(b))
        if self.mask is not None:
            hit = hit & self.mask
        return jnp.min(jnp.where(hit, self.positions, jnp.int32(self.size)), axis=self.reduce_axis)

    def take(self, t: Array, pos: Array, fill: Any = 0, kind: str = "sum") -> Array:
        """Per bin, the element of ``t`` at ``pos`` (one-hot masked reduction; linear if sum)."""
        v = self.view(t)
        onehot = self.positions == self.expand(pos)
        return self.reduce_onehot(jnp.where(onehot, v, jnp.asarray(fill, t.dtype)), kind)

    def reduce_onehot(self, v: Array, kind: str) -> Array:
        if kind == "sum":  # one non-zero term per bin: keep the dtype (jnp.sum widens int32 under x64)
            return jnp.sum(v, axis=self.reduce_axis, dtype=v.dtype)
        return {"max": jnp.max, "min": jnp.min}[kind](v, axis=self.reduce_axis)


def _plan(shape: tuple[int, ...], axes: tuple[int, ...], sizes: tuple[int, ...]) -> list[_Binned]:
    """One binned pass per changed axis, last spatial axis first, each on the previous output."""
    passes, cur = [], list(shape)
    for ax, out in reversed(list(zip(axes, sizes, strict=False))):
        if out == cur[ax]:
            continue  # one element per bin: identity
        passes.append(_Binned(cur, ax, out))
        cur[ax] = out
    return passes


def _winners(x: Array, passes: list[_Binned], take_max: bool) -> tuple[Array, list[Array]]:
    """Values and the per-pass winning positions."""
    ident = _identity(x.dtype, take_max)
    positions = []
    for b in passes:
        pos = b.winners(x, take_max)
        x = b.take(x, pos, ident, "max" if take_max else "min")
        positions.append(pos)
    return x, positions


@functools.partial(jax.custom_jvp, nondiff_argnums=(1, 2, 3))
def _extreme_float(
    x: Array, axes: tuple[int, ...], sizes: tuple[int, ...], take_max: bool
) -> Array:
    return _winners(x, _plan(x.shape, axes, sizes), take_max)[0]


@_extreme_float.defjvp
def _extreme_float_jvp(
    axes: tuple, sizes: tuple, take_max: bool, primals: tuple, tangents: tuple
) -> tuple:
    (x,), (t,) = primals, tangents
    passes = _plan(x.shape, axes, sizes)
    y, positions = _winners(x, passes, take_max)
    for b, pos in zip(passes, positions, strict=False):
        t = b.take(t, pos)
    return y, t


def _flat_indices(
    passes: list[_Binned],
    positions: list[Array],
    shape: tuple[int, ...],
    axes: tuple[int, ...],
    out_shape: tuple[int, ...],
) -> Array:
    """int32 flat row-major index of each winner within its (sample, channel) plane of the input."""
    mult, m = {}, 1
    for ax in reversed(axes):
        mult[ax] = m
        m *= shape[ax]
    check_int32_extent(m, f"the spatial extent of the input (shape {tuple(shape)})")
    # Start from the positions of the untouched axes (kept dims), then refine pass by pass.
    idx = jnp.zeros((1,) * len(shape), jnp.int32)
    for ax in axes:
        if all(b.axis != ax for b in passes):
            bshape = [1] * len(shape)
            bshape[ax] = shape[ax]
            idx = idx + jnp.asarray((np.arange(shape[ax]) * mult[ax]).reshape(bshape), jnp.int32)
    idx = jnp.broadcast_to(idx, shape)
    for b, pos in zip(passes, positions, strict=False):
        idx = b.take(idx, pos) + pos * jnp.int32(mult[b.axis])
    return jnp.broadcast_to(idx, out_shape)


def _layout(channels_first: bool) -> str:
    return LAYOUT_FIRST if channels_first else LAYOUT_LAST


def _prepare(inputs: Any, output_size: Any, channels_first: Any) -> tuple[Array, tuple, tuple]:
    """Validate before compute; return the array, its spatial axes, the resolved output sizes."""
    arr, shape, _ = check_inputs(inputs)
    sizes = check_output_size(output_size)
    n = infer_num_spatial_dims(len(shape), output_size=sizes)
    axes = spatial_axes_for(shape, n, channels_first, arg="output_size")
    if isinstance(sizes, int):
        sizes = (sizes,) * n
    check_spatial_sizes(shape, axes)
    for d, ax in enumerate(axes):
        if shape[ax] < 1:
            raise ValueError(
                f"spatial dim {d} of inputs (shape {shape}, layout {_layout(channels_first)}) "
                "is empty; adaptive pooling needs at least one element per bin"
            )
    resolved = tuple(shape[ax] if o is None else o for ax, o in zip(axes, sizes, strict=False))
    return whole_axes(jnp.asarray(arr), axes), axes, resolved


def _out_shape(
    shape: tuple[int, ...], axes: tuple[int, ...], sizes: tuple[int, ...]
) -> tuple[int, ...]:
    out = list(shape)
    for ax, o in zip(axes, sizes, strict=False):
        out[ax] = o
    return tuple(out)


def _mean_dtypes(dtype: np.dtype) -> tuple[np.dtype, np.dtype]:
    """(result dtype as ``jnp.mean``, accumulation dtype: float32 for float16/bfloat16)."""
    out = result_dtype(dtype, jnp.mean)
    return out, accumulation_dtype(out)


@torch_names
def adaptive_avg_pool(
    inputs: Any, output_size: OutputSize, *, channels_first: bool = False
) -> Array:
    """Adaptive average pooling to a fixed spatial output size; matches
    ``torch.nn.functional.adaptive_avg_pool{1,2,3}d``.

    Along each spatial dim of length ``L`` pooled to ``out``, output ``i`` averages the input over
    ``[floor(i*L/out), ceil((i+1)*L/out))`` (PyTorch's and Keras' bins; Equinox's differ). Bins may
    overlap and ``out > L`` repeats elements. The N-d average is over the box of the per-dim bins.

    Args:
      inputs: ``(*batch, *spatial, features)`` or, with ``channels_first=True``, ``(*batch,
        features,
        *spatial)``; any real float, integer or bool dtype; every spatial dim non-empty.
      output_size: N, the number of spatial dims, is ``len(output_size)``; each entry a positive
        int or ``None`` (keep that dim's size). An int means that size in every one of
        ``inputs.ndim - 2`` dims.
      channels_first: features before the spatial dims.

    Returns:
      Array of shape ``inputs.shape`` with the spatial sizes replaced by ``output_size``; dtype as
      ``jnp.mean`` (floats kept, integers/bool -> default float). float16/bfloat16 accumulate in
      float32 and round once. Gradient: each output's cotangent divided by its bin size, added to
      the bin's elements.

    Raises:
      TypeError: malformed ``output_size``, non-bool ``channels_first``, complex inputs.
      ValueError: non-positive ``output_size``, an input of too low rank, an empty spatial dim.
    """
    x, axes, sizes = _prepare(inputs, output_size, channels_first)
    out_dtype, acc = _mean_dtypes(x.dtype)
    x = x.astype(acc)
    passes = _plan(x.shape, axes, sizes)
    divisor = np.ones((1,) * x.ndim)
    for b in passes:
        x = b.reduce(x, "sum", 0)
        bshape = [1] * x.ndim
        bshape[b.axis] = b.out
        divisor = divisor * b.bin_size().reshape(bshape)
    if passes:
        x = x / jnp.asarray(divisor, acc)
    return x.astype(out_dtype)


def _adaptive_extreme(
    inputs: Any, output_size: Any, channels_first: Any, return_indices: Any, take_max: bool
) -> Array | tuple[Array, Array]:
    return_indices = check_flag(return_indices, "return_indices")
    x, axes, sizes = _prepare(inputs, output_size, channels_first)
    out_shape = _out_shape(x.shape, axes, sizes)
    if jnp.issubdtype(x.dtype, jnp.floating):
        y = _extreme_float(x, axes, sizes, take_max)
    else:
        xi = x.astype(jnp.uint8) if x.dtype == jnp.bool_ else x
        y = _winners(xi, _plan(x.shape, axes, sizes), take_max)[0].astype(x.dtype)
    if not return_indices:
        return y
    xs = jax.lax.stop_gradient(x)
    xs = xs.astype(jnp.uint8) if xs.dtype == jnp.bool_ else xs
    passes = _plan(x.shape, axes, sizes)
    _, positions = _winners(xs, passes, take_max)
    return y, _flat_indices(passes, positions, x.shape, axes, out_shape)


@torch_names
def adaptive_max_pool(
    inputs: Any,
    output_size: OutputSize,
    *,
    channels_first: bool = False,
    return_indices: bool = False,
) -> Array | tuple[Array, Array]:
    """Adaptive max pooling to a fixed spatial output size; matches
    ``torch.nn.functional.adaptive_max_pool{1,2,3}d``.

    Bins as :func:`adaptive_avg_pool` (``[floor(i*L/out), ceil((i+1)*L/out))`` per dim). Each
    output is the maximum over its bin; ties go to the first maximal element in row-major order of
    the bin, NaN beats every number (the first NaN wins; PyTorch's CPU kernel picks the last NaN),
    as docs/semantics.md §4. The gradient and jvp route each output's whole cotangent (tangent) to that one
    element; overlapping bins accumulate.

    Args:
      inputs: ``(*batch, *spatial, features)`` or, with ``channels_first=True``, ``(*batch,
        features,
        *spatial)``; any real float, integer or bool (-> any) dtype; every spatial dim non-empty.
      output_size: a positive int per spatial dim or ``None`` (keep the size); an int means that
        size in every one of ``inputs.ndim - 2`` dims.
      channels_first: features before the spatial dims.
      return_indices: also return the int32 flat row-major index of each selected element within the
        spatial extent of its own (sample, channel) plane (PyTorch's ``return_indices`` convention;
        usable with :func:`max_unpool`).

    Returns:
      Values with the input dtype and the spatial sizes replaced by ``output_size``; with
      ``return_indices=True`` a pair ``(values, indices)`` of the same shape.

    Raises:
      TypeError: malformed ``output_size``, non-bool flags, complex inputs.
      ValueError: non-positive ``output_size``, too low rank, an empty spatial dim, a spatial
        extent beyond int32 indices.
    """
    return _adaptive_extreme(inputs, output_size, channels_first, return_indices, True)
