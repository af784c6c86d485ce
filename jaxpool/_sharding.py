"""What the ops need to run under every way JAX shards a program (docs/semantics.md §7).

Pooling is per sample and per channel, so a batch- or feature-sharded input needs no communication: each
device pools its own block. The kernels are written so that this holds under all four modes JAX offers:

* **Automatic sharding** (``jit`` on an ``Auto`` mesh): no op reads a value across the batch or features (the
  fusion barrier's predicate is a constant, ``_fence.materialize``) and the unpooling scatter names those
  axes as batching dims, so XLA's partitioner emits no collective.
* **Explicit sharding** (``AxisType.Explicit`` meshes): every intermediate carries a sharding in its type.
  A transposed tangent map must be typed like its primal (:func:`transpose_spec`); a reshape that merges
  spatial axes is told its output sharding (:func:`reshape_like`); a spatially sharded input is first
  resharded to whole spatial axes (:func:`whole_axes`), because JAX infers no sharding for strided slices or
  windows of a sharded axis.
* **shard_map** (``check_vma=True``): values vary over the manual axes; :func:`transpose_spec` keeps those
  varying axes, so a custom JVP rule's tangent varies as its primal does.
* **Spatially sharded inputs under automatic sharding**: XLA communicates the window halos itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
from jax import lax
from jax.sharding import PartitionSpec

Array = jax.Array


def transpose_spec(y: Array, dtype: Any) -> Any:
    """The abstract value of ``y`` with ``dtype``: the primal to pass ``jax.linear_transpose`` for a linear map
    whose input is shaped like ``y``.

    Args:
      y: any array or tracer.
      dtype: the dtype of the map's input (the tangent's dtype).

    Returns:
      A ``ShapedArray`` with ``y``'s shape, sharding (explicit meshes) and varying manual axes (``shard_map``),
      and ``dtype``. A bare ``ShapeDtypeStruct(shape, dtype)`` drops both: the transposed map then rejects a
      sharded tangent, and a custom JVP rule's tangent would not vary over the axes its primal varies over.
    """
    return jax.typeof(y).update(dtype=np.dtype(dtype), weak_type=False)


def _spec(x: Array) -> tuple:
    """Per axis, the explicit mesh axes ``x`` is sharded over (None where whole); Auto and manual axes never
    appear in a type's spec."""
    spec = tuple(jax.typeof(x).sharding.spec)
    return spec + (None,) * (x.ndim - len(spec))


def whole_axes(x: Array, axes: Sequence[int]) -> Array:
    """``x`` resharded so that none of ``axes`` is split over an explicit mesh axis; other axes keep theirs.

    Args:
      x: any array or tracer.
      axes: axis indices of ``x`` (the spatial axes of a pooling op).

    Returns:
      ``x`` itself when no axis in ``axes`` is explicitly sharded (always so without an explicit mesh, under
      ``Auto`` meshes and inside ``shard_map``); else ``jax.sharding.reshard`` of ``x`` with those axes
      unsharded (an all-gather along them, whose transpose the gradient runs).
    """
    spec = _spec(x)
    if all(spec[a] is None for a in axes):
        return x
    return jax.sharding.reshard(x, PartitionSpec(*(None if i in set(axes) else s for i, s in enumerate(spec))))


def _varying(x: Array) -> frozenset:
    """The manual mesh axes ``x`` varies over (inside ``shard_map``; empty elsewhere)."""
    return frozenset(jax.typeof(x).manual_axis_type.varying)


def match_sharding(v: Array, like: Array) -> Array:
    """``v`` (shaped like ``like``) typed like ``like``: with its explicit sharding and, inside ``shard_map``, varying
    over the same manual axes. For arrays built from iotas (an index array), which have neither, before they meet
    ``like``'s values in one ``select`` or ``scan``.

    Returns:
      ``v`` itself when the types already agree (always so without an explicit mesh or ``shard_map``); else
      ``v`` resharded (``jax.sharding.reshard``; each device keeps its block of a replicated value) and/or cast
      to varying (``lax.pcast``); neither communicates.
    """
    spec = _spec(like)
    if spec != _spec(v):
        v = jax.sharding.reshard(v, PartitionSpec(*spec))
    missing = tuple(sorted(_varying(like) - _varying(v)))
    if missing:
        v = lax.pcast(v, missing, to="varying")
    return v


def reshape_like(v: Array, shape: Sequence[int], like: Array) -> Array:
    """``v.reshape(shape)`` for a reshape that keeps every sharded axis of ``like`` (same rank as ``shape``).

    Args:
      v: the array to reshape (its non-spatial axes are those of ``like``, maybe with extra axes between).
      shape: the new shape; ``len(shape) == like.ndim`` and every axis sharded in ``like`` has the same size.
      like: the array whose explicit sharding the result takes.

    Returns:
      The reshaped array. Under an explicit mesh the output sharding is given (``like``'s), which JAX cannot
      infer for reshapes that merge axes; otherwise a plain reshape.
    """
    spec = _spec(like)
    if all(s is None for s in spec):
        return v.reshape(tuple(shape))
    return lax.reshape(v, tuple(shape), out_sharding=jax.typeof(like).sharding)
