"""Max/min pooling that also returns where each value came from (PyTorch's ``return_indices``).

The index of an output is the flat row-major position of its selected element within the unpadded
spatial extent of its own (sample, channel) plane, as int32 — exactly what
``torch.nn.functional.max_pool{1,2,3}d(..., return_indices=True)`` returns and ``max_unpool``
consumes.

No new window arithmetic: the values are :func:`jaxpool.max_pool`'s (same custom derivative), and
the indices are the winners recorded by ``_max.winners`` applied to an array holding each element's
own flat index (``_max.gather``), so the index names the same element as the value, the gradient
and the jvp (docs/semantics.md §4-5): the first maximal (minimal) element in row-major window order, the first
NaN, never padding.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from jaxpool._args import (
    DOC_WINDOW_ARGS,
    DOC_WINDOW_RAISES,
    Padding,
    check_int32_extent,
    shared_doc,
    torch_names,
)
from jaxpool._geometry import PoolGeometry, prepare
from jaxpool._max import extreme_pool, gather, winners
from jaxpool._sharding import match_sharding, whole_axes

Array = jax.Array

_DOC_RETURNS = """
    Returns:
      ``(values, indices)``, both of shape ``pool_output_shape(inputs.shape, ...)``: ``values``
      exactly as the plain pooling function (input dtype, same gradient); ``indices`` int32, each
      the flat row-major position of the selected element within the unpadded spatial extent of its
      own (sample, channel) plane (PyTorch's ``return_indices`` convention; pass them to
      :func:`jaxpool.max_unpool`). Indices carry no gradient.
"""
_DOC_RAISES = DOC_WINDOW_RAISES.rstrip() + """
      ValueError: also if the spatial extent exceeds int32 indexing.
"""


def plane_iota(shape: Sequence[int], spatial_axes: Sequence[int]) -> Array:
    """int32 array of ``shape`` holding each element's flat row-major index within its spatial
    plane.

    Raises:
      ValueError: if the spatial extent does not fit int32.
    """
    total = math.prod(shape[a] for a in spatial_axes)
    check_int32_extent(total, f"the spatial extent of the input (shape {tuple(shape)})")
    iota = jnp.zeros((1,) * len(shape), jnp.int32)
    mult = 1
    for ax in reversed(spatial_axes):
        bshape = [1] * len(shape)
        bshape[ax] = shape[ax]
        iota = iota + lax.broadcasted_iota(jnp.int32, bshape, ax) * jnp.int32(mult)
        mult *= shape[ax]
    return jnp.broadcast_to(iota, tuple(shape))


def indices_for(x: Array, geom: PoolGeometry, take_max: bool, iota: Array | None = None) -> Array:
    """int32 plane indices of the elements max (min) pooling of ``x`` selects (no gradient)."""
    if iota is None:
        iota = plane_iota(geom.input_shape, geom.spatial_axes)
    xs = whole_axes(lax.stop_gradient(x), geom.spatial_axes)
    if xs.dtype == jnp.bool_:
        xs = xs.astype(jnp.uint8)
    _, args = winners(xs, geom, take_max)
    return gather(match_sharding(iota, xs), geom, args)


def _pool_with_indices(
    inputs: Any,
    window_shape: Any,
    strides: Any,
    padding: Any,
    dilation: Any,
    ceil_mode: Any,
    channels_first: Any,
    take_max: bool,
) -> tuple[Array, Array]:
    x, geom = prepare(
        inputs,
        window_shape,
        strides,
        padding,
        dilation=dilation,
        ceil_mode=ceil_mode,
        channels_first=channels_first,
    )
    iota = plane_iota(geom.input_shape, geom.spatial_axes)  # raises before any compute
    return extreme_pool(x, geom, take_max), indices_for(x, geom, take_max, iota)


@torch_names
@shared_doc(DOC_WINDOW_ARGS, _DOC_RETURNS, _DOC_RAISES)
def max_pool_with_indices(
    inputs: Any,
    window_shape: int | Sequence[int],
    strides: int | Sequence[int] | None = None,
    padding: Padding = "VALID",
    *,
    dilation: int | Sequence[int] | None = None,
    ceil_mode: bool = False,
    channels_first: bool = False,
) -> tuple[Array, Array]:
    """Max pooling that also returns the int32 flat index of each selected element.

    Equals ``torch.nn.functional.max_pool{1,2,3}d(..., return_indices=True)`` (values and indices)
    on its options, channels first or last. The index names the element that
    :func:`jaxpool.max_pool`'s gradient
    and jvp route to: the first maximal element in row-major window order, the first NaN in a window
    holding NaN (PyTorch's CPU kernel picks the last NaN), never a padded position (docs/semantics.md §4-5).
    """
    return _pool_with_indices(
        inputs, window_shape, strides, padding, dilation, ceil_mode, channels_first, True
    )


@torch_names
@shared_doc(DOC_WINDOW_ARGS, _DOC_RETURNS, _DOC_RAISES)
def min_pool_with_indices(
    inputs: Any,
    window_shape: int | Sequence[int],
    strides: int | Sequence[int] | None = None,
    padding: Padding = "VALID",
    *,
    dilation: int | Sequence[int] | None = None,
    ceil_mode: bool = False,
    channels_first: bool = False,
) -> tuple[Array, Array]:
    """Min pooling that also returns the int32 flat index of each selected element.

    The mirror of :func:`max_pool_with_indices` (first minimal element; NaN counts as smallest).
    Values equal :func:`jaxpool.min_pool`'s, i.e. ``-max_pool_with_indices(-x)`` values for floats.
    """
    return _pool_with_indices(
        inputs, window_shape, strides, padding, dilation, ceil_mode, channels_first, False
    )
