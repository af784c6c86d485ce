"""Global pooling: the mean or the maximum over all spatial dims (docs/semantics.md §5).

Thin wrappers over adaptive pooling with one bin per spatial dim (``_adaptive``), so the semantics
are shared: float32 accumulation for float16/bfloat16 means, and for the maximum the first maximal
element in row-major order (the first NaN) receives the whole cotangent — unlike ``jax.grad`` of
``jnp.max``, which splits it among ties.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from jaxpool._adaptive import adaptive_avg_pool, adaptive_max_pool
from jaxpool._args import (
    check_flag,
    check_inputs,
    check_num_spatial_dims,
    infer_num_spatial_dims,
    spatial_axes_for,
    torch_names,
)

Array = jax.Array


def _global_prepare(
    inputs: Any, num_spatial_dims: Any, channels_first: Any, keepdims: Any, name: str
) -> tuple[int, tuple[int, ...]]:
    check_flag(keepdims, "keepdims")
    _, shape, _ = check_inputs(inputs)
    n = infer_num_spatial_dims(len(shape), explicit=check_num_spatial_dims(num_spatial_dims))
    axes = spatial_axes_for(shape, n, channels_first, arg="num_spatial_dims")
    for d, ax in enumerate(axes):
        if shape[ax] < 1:
            layout = "channels_first" if channels_first else "channels_last"
            raise ValueError(f"{name}: spatial dim {d} of inputs (shape {shape}, {layout}, {n} spatial dims) is "
                             "empty; a global pool needs at least one element")
    return n, axes


@torch_names
def global_avg_pool(
    inputs: Any,
    *,
    num_spatial_dims: int | None = None,
    channels_first: bool = False,
    keepdims: bool = False,
) -> Array:
    """Global average pooling: the mean over all spatial dims (``torch.mean(x, dim=spatial)``,
    Keras' GAP).

    Args:
      inputs: ``(*batch, *spatial, features)`` or, with ``channels_first=True``, ``(*batch,
        features,
        *spatial)``; any real float, integer or bool dtype; every spatial dim non-empty.
      num_spatial_dims: N; default ``inputs.ndim - 2`` (one batch and one feature axis).
      channels_first: features before the spatial dims.
      keepdims: keep the spatial dims with size 1 (like ``adaptive_avg_pool(x, 1)``).

    Returns:
      ``(*batch, features)`` (layout kept; ``keepdims`` keeps size-1 spatial dims). dtype as
      ``jnp.mean``; float16/bfloat16 accumulate in float32 and round once.

    Raises:
      TypeError: non-int ``num_spatial_dims``, non-bool flags, complex inputs.
      ValueError: ``num_spatial_dims < 1``, an input of too low rank, an empty spatial dim.
    """
    n, axes = _global_prepare(inputs, num_spatial_dims, channels_first, keepdims, "global_avg_pool")
    y = adaptive_avg_pool(inputs, (1,) * n, channels_first=channels_first)
    return y if keepdims else jnp.squeeze(y, axes)


@torch_names
def global_max_pool(
    inputs: Any,
    *,
    num_spatial_dims: int | None = None,
    channels_first: bool = False,
    keepdims: bool = False,
) -> Array:
    """Global max pooling: the maximum over all spatial dims (``adaptive_max_pool(x, 1)``,
    squeezed).

    Ties and gradients as :func:`adaptive_max_pool`: the whole cotangent goes to the first maximal
    element in row-major spatial order (first NaN if any) — unlike ``jax.grad(jnp.max)``, which
    splits it among ties.

    Args:
      inputs: ``(*batch, *spatial, features)`` or, with ``channels_first=True``, ``(*batch,
        features,
        *spatial)``; any real float, integer or bool (-> any) dtype; every spatial dim non-empty.
      num_spatial_dims: N; default ``inputs.ndim - 2``.
      channels_first: features before the spatial dims.
      keepdims: keep the spatial dims with size 1.

    Returns:
      ``(*batch, features)`` (layout kept; ``keepdims`` keeps size-1 spatial dims), the input dtype.

    Raises:
      TypeError: non-int ``num_spatial_dims``, non-bool flags, complex inputs.
      ValueError: ``num_spatial_dims < 1``, an input of too low rank, an empty spatial dim.
    """
    n, axes = _global_prepare(inputs, num_spatial_dims, channels_first, keepdims, "global_max_pool")
    y = adaptive_max_pool(inputs, (1,) * n, channels_first=channels_first)
    assert not isinstance(y, tuple)
    return y if keepdims else jnp.squeeze(y, axes)
