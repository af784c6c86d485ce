"""Max unpooling: the partial inverse of max pooling (PyTorch's ``max_unpool{1,2,3}d``), docs/semantics.md §5.

``max_unpool(values, indices, output_size)`` writes each value at its flat index in its own (sample,
channel) plane of a zero array of spatial shape ``output_size``.

Determinism. Overlapping pooling windows can select the same element, so ``indices`` may repeat
within a plane — always with equal values when they come from
:func:`jaxpool.max_pool_with_indices`. A scatter that
*replaces* lets the backend pick any of the duplicates (fine for equal values, arbitrary
otherwise), and a scatter-*add* would double them. We scatter with ``max`` as the combiner instead:
max is commutative, associative and exact, so the result is the same in any order on every backend
(duplicates with equal values give that value; unequal duplicates give their maximum, NaN winning —
a documented, deterministic choice where PyTorch's result is unspecified). A second scatter of
``True`` marks the written positions, so values equal to the combiner's identity (``-inf``) are
kept and untouched positions are 0.

Gradient. As PyTorch: the cotangent w.r.t. ``values`` is the output cotangent *gathered* at the
indices (every duplicate receives it). A ``jax.custom_jvp`` whose tangent map is the scatter-*add*
of the values' tangent makes that gather exactly the transpose JAX derives, so reverse mode is a
deterministic gather and forward mode, Hessians, vmap and jit keep working. (Forward mode adds the
tangents of duplicates; when they are equal, as from max pooling, the sum does not depend on the
order either.)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxpool._args import (
    check_flag,
    check_inputs,
    check_int32_extent,
    check_output_size,
    infer_num_spatial_dims,
    spatial_axes_for,
    torch_names,
)
from jaxpool._args import identity as _identity
from jaxpool._sharding import whole_axes

Array = jax.Array


def _plane_scatter(v: Array, idx: Array, plane: int, channels_first: bool, combine: str) -> Array:
    """Scatter ``v`` at ``idx`` into a ``plane``-long output per (sample, channel); ``(B, S, C)`` or ``(B, C, S)``.

    Written as a 1-D scatter per plane, vmapped over samples and channels: the scatter then names those axes
    as batching dimensions, so XLA keeps it (and its transpose, a gather) local to every shard when the batch
    or the features are sharded, and explicit sharding infers the output's sharding. Out-of-range indices are
    dropped.
    """

    def one(vv: Array, ii: Array) -> Array:
        ii = jnp.where((ii >= 0) & (ii < plane), ii, jnp.asarray(plane, ii.dtype))  # negatives would wrap
        if combine == "add":
            return jnp.zeros((plane,), vv.dtype).at[ii].add(vv, mode="drop")
        if combine == "mark":
            return jnp.zeros((plane,), jnp.bool_).at[ii].set(True, mode="drop")
        return jnp.full((plane,), _identity(vv.dtype, True), vv.dtype).at[ii].max(vv, mode="drop")

    chan_axis = 0 if channels_first else 1  # the channel axis of one sample's (C, S) / (S, C) array
    per_sample = jax.vmap(one, in_axes=(chan_axis, chan_axis), out_axes=chan_axis)
    return jax.vmap(per_sample)(v, idx)


def _unpool_values(v: Array, idx: Array, plane: int, channels_first: bool) -> Array:
    hit = _plane_scatter(v, idx, plane, channels_first, "mark")
    out = _plane_scatter(v, idx, plane, channels_first, "max")
    return jnp.where(hit, out, jnp.zeros((), v.dtype))


@functools.partial(jax.custom_jvp, nondiff_argnums=(2, 3))
def _unpool_float(v: Array, idx: Array, plane: int, channels_first: bool) -> Array:
    return _unpool_values(v, idx, plane, channels_first)


@_unpool_float.defjvp
def _unpool_float_jvp(plane: int, channels_first: bool, primals: tuple, tangents: tuple) -> tuple:
    (v, idx), (t, _) = primals, tangents
    y = _unpool_values(v, idx, plane, channels_first)
    return y, _plane_scatter(t, idx, plane, channels_first, "add")


def _int32_indices(indices: Any, plane: int) -> Array:
    """``indices`` as int32, every entry outside ``[0, plane)`` replaced by -1 (ignored) BEFORE narrowing.

    A cast of int64/uint64/uint32 indices to int32 would wrap (``2**32 + 1`` -> ``1``) and write the value at a
    wrong position; the range test runs in the indices' own dtype (on the host for NumPy arrays, which JAX
    would narrow on conversion when x64 is off), so out-of-range indices are always ignored, as documented.
    """
    if isinstance(indices, np.ndarray) and indices.dtype.itemsize >= 4 and indices.dtype != np.int32:
        inside = (indices >= 0) & (indices < plane)
        return jnp.asarray(np.where(inside, indices, -1).astype(np.int32))
    idx = jnp.asarray(indices)
    if idx.dtype == jnp.int32:
        return idx
    inside = (idx >= 0) & (idx < jnp.asarray(plane, idx.dtype)) if jnp.iinfo(idx.dtype).max >= plane else idx >= 0
    return jnp.where(inside, idx.astype(jnp.int32), jnp.int32(-1))


@torch_names
def max_unpool(
    values: Any,
    indices: Any,
    output_size: int | Sequence[int],
    *,
    channels_first: bool = False,
) -> Array:
    """Max unpooling: place each value at its flat index, zeros elsewhere
    (``torch.nn.functional.max_unpool{1,2,3}d``).

    For every (sample, channel) plane, ``out.reshape(-1)[indices[j]] = values[j]`` over the plane's
    entries ``j``; positions no index names are 0. Indices are PyTorch's ``return_indices``
    convention, as :func:`jaxpool.max_pool_with_indices` and :func:`jaxpool.adaptive_max_pool`
    return them. Repeated indices (overlapping windows) should hold equal values; if they do not,
    the maximum is written (NaN wins) — deterministic on every backend (see the module notes).
    Indices outside ``[0, prod(output_size))`` are ignored (PyTorch raises; traced indices cannot
    be checked here), whatever their integer dtype: int64 indices are range-checked before they are
    narrowed to int32, so ``2**32 + 1`` is ignored rather than wrapped to ``1``.

    Gradient (docs/semantics.md §5, as PyTorch): w.r.t. ``values``, the output cotangent gathered at the indices
    — every duplicate receives it; none w.r.t. ``indices``. jvp is the matching linear map (the
    tangents scattered and added), so jit, vmap, grad, jvp, jacfwd and Hessians all work; the
    reverse pass is a gather.

    Args:
      values: ``(*batch, *spatial_in, features)`` or, with ``channels_first=True``, ``(*batch,
        features,
        *spatial_in)``; any real float, integer or bool dtype.
      indices: integer array of the same shape.
      output_size: the output's spatial shape: N positive ints (N = its length), or one int for
        each of ``values.ndim - 2`` dims.
      channels_first: features before the spatial dims.

    Returns:
      Array ``(*batch, *output_size, features)`` (or channels first), dtype of ``values``.

    Raises:
      TypeError: ``values``/``indices`` not real-valued arrays (strings, None, ragged lists, complex
        ``values``), non-integer ``indices``, malformed ``output_size``, non-bool ``channels_first``,
        PyTorch's ``kernel_size``/``stride`` (not needed: ``output_size`` is the spatial shape).
      ValueError: ``values`` and ``indices`` shapes differ, non-positive ``output_size`` or beyond
        2**31 - 1, too low rank, or an output plane beyond int32 indexing.
    """
    varr, vshape, _ = check_inputs(values, "values")
    iarr, ishape, idt = check_inputs(indices, "indices")
    if not jnp.issubdtype(idt, jnp.integer):
        raise TypeError(f"indices must have an integer dtype, got {idt.name}")
    if vshape != ishape:
        raise ValueError(f"values shape {vshape} and indices shape {ishape} must be equal")
    channels_first = check_flag(channels_first, "channels_first")
    sizes = check_output_size(output_size, allow_none=False)
    n = infer_num_spatial_dims(len(vshape), output_size=sizes)
    axes = spatial_axes_for(vshape, n, channels_first, arg="output_size")
    sizes = (sizes,) * n if isinstance(sizes, int) else sizes
    plane = math.prod(sizes)
    check_int32_extent(plane, f"output_size={tuple(sizes)}")
    v = whole_axes(jnp.asarray(varr), axes)
    idx = whole_axes(_int32_indices(iarr, plane), axes)
    batch = vshape[: axes[0] - (1 if channels_first else 0)]
    feat = vshape[axes[0] - 1] if channels_first else vshape[-1]
    spatial = math.prod(vshape[a] for a in axes)
    b = math.prod(batch)
    shape3 = (b, feat, spatial) if channels_first else (b, spatial, feat)
    v3, i3 = v.reshape(shape3), idx.reshape(shape3)
    if jnp.issubdtype(v.dtype, jnp.floating):
        out = _unpool_float(v3, i3, plane, bool(channels_first))
    elif v.dtype == jnp.bool_:
        out = _unpool_values(v3.astype(jnp.uint8), i3, plane, bool(channels_first)).astype(
            jnp.bool_
        )
    else:
        out = _unpool_values(v3, i3, plane, bool(channels_first))
    out_shape = (*batch, feat, *sizes) if channels_first else (*batch, *sizes, feat)
    return out.reshape(out_shape)
