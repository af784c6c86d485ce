"""Anti-aliased downsampling: ``blur_pool`` (Zhang 2019, "Making Convolutional Networks
Shift-Invariant Again").

Subsampling a signal without low-pass filtering aliases: a one-pixel shift of the input can change a
strided layer's output completely. Zhang's remedy is to blur before subsampling, with a fixed
binomial filter (the rows of Pascal's triangle, normalised to sum 1) applied to every channel
separately. This module is written from the paper's description (docs/semantics.md §5), not from its reference
code.

The N-d filter is the outer product of the 1-D binomial filter, so it is applied separably: one
pass per spatial axis, each a weighted sum of the ``filter_size`` stride-phase views of the padded
input (the window views of ``_views.PhaseViews``, with geometry from ``_geometry.resolve``),
accumulated in float32 for float16/bfloat16 and rounded once. Linear ops only: JAX's transpose is
the (deterministic) reverse pass.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxpool import _views
from jaxpool._args import (
    LAYOUT_FIRST,
    LAYOUT_LAST,
    accumulation_dtype,
    as_int,
    check_flag,
    check_inputs,
    check_num_spatial_dims,
    infer_num_spatial_dims,
    int_tuple,
    is_sequence,
    result_dtype,
    show,
    spatial_axes_for,
    torch_names,
)
from jaxpool._geometry import resolve
from jaxpool._sharding import whole_axes

Array = jax.Array
PADDING_MODES = ("reflect", "zero")
#: Widest binomial filter: its weights ``C(f-1, k) / 2**(f-1)`` need ``2**(f-1)`` finite in float64.
MAX_FILTER_SIZE = 1024


def binomial_filter(filter_size: int) -> np.ndarray:
    """The normalised 1-D binomial filter: ``C(f-1, k) / 2**(f-1)`` for ``k = 0..f-1`` (float64).

    3 -> [1, 2, 1] / 4, 4 -> [1, 3, 3, 1] / 8, 5 -> [1, 4, 6, 4, 1] / 16.
    """
    n = filter_size - 1
    return np.array([math.comb(n, k) for k in range(filter_size)], dtype=np.float64) / 2.0**n


def check_args(
    strides: Any,
    filter_size: Any,
    padding: Any,
    channels_first: Any,
    num_spatial_dims: Any,
    ndim: int,
) -> tuple[int, tuple[int, ...], int, str]:
    """Validate ``blur_pool``'s arguments for rank ``ndim``; return (N, strides, f, padding)."""
    f = as_int(filter_size, "filter_size", minimum=1, maximum=MAX_FILTER_SIZE)
    if not isinstance(padding, str) or padding.lower() not in PADDING_MODES:
        raise ValueError(f"padding={show(padding)} must be one of {PADDING_MODES}")
    check_flag(channels_first, "channels_first")
    n = infer_num_spatial_dims(ndim, strides=strides, explicit=check_num_spatial_dims(num_spatial_dims))
    if is_sequence(strides) and len(strides) != n:
        raise ValueError(
            f"strides={show(strides)} has length {len(strides)}, but num_spatial_dims={n}; "
            f"give an int or {n} ints"
        )
    if strides is None:
        raise TypeError("strides must be an int or a sequence of N ints, got None")
    strides_t = int_tuple(strides, "strides", max(n, 1))
    assert strides_t is not None
    return n, strides_t, f, padding.lower()


@torch_names
def blur_pool(
    inputs: Any,
    strides: int | Sequence[int] = 2,
    filter_size: int = 4,
    *,
    padding: str = "reflect",
    channels_first: bool = False,
    num_spatial_dims: int | None = None,
) -> Array:
    """Anti-aliased downsampling (BlurPool, Zhang 2019): binomial low-pass filter per channel, then
    subsample.

    Along every spatial dim the input is padded by ``((f-1)//2, f//2)`` (``padding="reflect"``:
    mirrored without repeating the edge, as ``numpy.pad(mode="reflect")``; ``"zero"``: zeros),
    filtered with the normalised binomial filter of ``f = filter_size`` taps (3 -> [1, 2, 1]/4, 4
    -> [1, 3, 3, 1]/8, 5 -> [1, 4, 6, 4, 1]/16; the N-d filter is their outer product) depthwise —
    each channel on its own — and sampled every ``strides`` positions starting at the first:
    ``out[i] = sum_k w[k] * padded[i * s + k]``.
    Semantics: docs/semantics.md §5, from Zhang, "Making Convolutional Networks Shift-Invariant Again" (ICML
      2019).
    The paper's anti-aliased max pooling is ``blur_pool(max_pool(x, 2, strides=1), 2)``;
    ``filter_size=1`` is plain subsampling ``x[::s]``.

    Args:
      inputs: ``(*batch, *spatial, features)`` or, with ``channels_first=True``, ``(*batch,
        features,
        *spatial)``; any real float, integer or bool dtype.
      strides: int or N ints, the subsampling factor per spatial dim (default 2).
      filter_size: number of filter taps per dim, a positive int (default 4).
      padding: ``"reflect"`` (default) or ``"zero"`` (any case).
      channels_first: features before the spatial dims.
      num_spatial_dims: N; default ``len(strides)`` if ``strides`` is a tuple, else ``inputs.ndim -
        2``.

    Returns:
      Array ``(*batch, *ceil(spatial / strides), features)`` (layout kept). Floats keep their dtype
      (float16/bfloat16 accumulate in float32 and round once); integers and bool give the default
      float dtype.

    Raises:
      TypeError: non-int ``strides``/``filter_size``/``num_spatial_dims``, non-bool
        ``channels_first``, complex inputs.
      ValueError: non-positive ``strides``/``filter_size``/``num_spatial_dims``, ``filter_size`` above
        1024 (its weights overflow float64), ``strides`` above 2**31 - 1, a ``strides``
        tuple whose length is not N, an unknown ``padding``, an input of too low rank, an empty
        spatial dim, or reflect padding wider than the input (``f//2 > size - 1``; use
        ``padding="zero"`` or a smaller filter).
    """
    arr, shape, _ = check_inputs(inputs)
    n, strides_t, f, mode = check_args(
        strides, filter_size, padding, channels_first, num_spatial_dims, len(shape)
    )
    axes = spatial_axes_for(shape, n, channels_first, arg="num_spatial_dims")
    lo, hi = (f - 1) // 2, f // 2
    layout = LAYOUT_FIRST if channels_first else LAYOUT_LAST
    for d, ax in enumerate(axes):
        if shape[ax] < 1:
            raise ValueError(
                f"spatial dim {d} of inputs (shape {shape}, layout {layout}) is empty"
            )
        if mode == "reflect" and hi > shape[ax] - 1:
            raise ValueError(
                f"padding='reflect' with filter_size={f} pads spatial dim {d} by ({lo}, {hi}), "
                f"wider than the input allows (size {shape[ax]}, at most {shape[ax] - 1}); "
                "use padding='zero' or a smaller filter_size"
            )
    x = whole_axes(jnp.asarray(arr), axes)
    out_dtype = result_dtype(x.dtype, jnp.mean)
    acc = accumulation_dtype(out_dtype)
    x = x.astype(acc)
    if mode == "reflect" and f > 1:
        pads = [(0, 0)] * x.ndim
        for ax in axes:
            pads[ax] = (lo, hi)
        x = jnp.pad(x, pads, mode="reflect")
        lo = hi = 0
    geom = resolve(x.shape, (f,) * n, strides_t, [(lo, hi)] * n, channels_first=channels_first)
    weights = binomial_filter(f)
    for ax_geom in reversed(geom.axes):
        views = _views.PhaseViews(x, [ax_geom], 0)
        out_shape = _views.group_out_shape(x.shape, [ax_geom])
        total = None
        for k in range(f):
            term = views.view((k,), out_shape)
            if f > 1:
                term = term * jnp.asarray(weights[k], acc)
            total = term if total is None else total + term
        assert total is not None
        x = total
    return x.astype(out_dtype)
