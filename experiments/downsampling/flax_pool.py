"""The ablation's downsampling layers written with ``flax.linen``'s pooling functions instead of
jaxpool, for the training-throughput comparison (``experiments/benchmarks/train_step.py``).

Same values as ``models.downsample_layers`` (tests/experiments/test_allcnn.py checks the models'
logits against each other), different code: ``flax.linen.max_pool`` / ``avg_pool`` for max, average
and subsampling; ``flax.linen.pooling.pool`` with ``lax.add`` for the L_p window sum, then the root
(with the root's gradient set to 0 where the window sum is 0, as jaxpool's docs/semantics.md §4 says; a bare
``** (1/p)`` would give NaN there); anti-aliased max pooling as ``flax.linen.max_pool`` window 2
stride 1, reflect padding with ``jnp.pad`` and a depthwise binomial convolution
(``lax.conv_general_dilated`` with ``feature_group_count``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np


def _lp(x: jax.Array, p: float, window: tuple[int, ...]) -> jax.Array:
    s = nn.pooling.pool(x**p, np.zeros((), x.dtype), jax.lax.add, window, window, "VALID")
    positive = s > 0
    safe = jnp.where(positive, s, jnp.ones((), s.dtype))
    return jnp.where(positive, safe ** (1.0 / p), jnp.zeros((), s.dtype))


def _avg(x: jax.Array, window: tuple[int, ...]) -> jax.Array:
    # flax's avg_pool divides by a Python int, which strict dtype promotion rejects.
    with jax.numpy_dtype_promotion("standard"):
        return nn.avg_pool(x, window, strides=window)


def _blur(x: jax.Array, num_dims: int, filter_size: int) -> jax.Array:
    taps = np.array([math.comb(filter_size - 1, k) for k in range(filter_size)], np.float64)
    taps /= taps.sum()
    kernel = functools.reduce(np.multiply.outer, [taps] * num_dims)  # (f,) * num_dims
    channels = x.shape[-1]
    kernel = np.broadcast_to(kernel[..., None, None], (*kernel.shape, 1, channels))
    pad = [(0, 0)] + [((filter_size - 1) // 2, filter_size // 2)] * num_dims + [(0, 0)]
    padded = jnp.pad(x, pad, mode="reflect")
    spatial = "".join("HWD"[:num_dims])
    dims = (f"N{spatial}C", f"{spatial}IO", f"N{spatial}C")
    return jax.lax.conv_general_dilated(
        padded,
        jnp.asarray(kernel, x.dtype),
        window_strides=(2,) * num_dims,
        padding="VALID",
        dimension_numbers=dims,
        feature_group_count=channels,
    )


def flax_downsample_layers(
    variant: str, num_dims: int, lp_norm: float, blur_filter_size: int
) -> list[Callable[[jax.Array], jax.Array]]:
    """The callables one downsampling point applies, with flax.linen pooling (see the module
    docstring).

    Args:
      variant: one of ``models.VARIANTS``.
      num_dims: number of spatial dims (1 or 2).
      lp_norm: ``p`` of ``lp_pool``.
      blur_filter_size: taps of the ``blur_pool`` filter.

    Returns:
      Callables mapping ``(B, *spatial, C)`` to the downsampled array (empty for ``strided_conv``,
      ``learned_conv`` and the ``none`` variants; ``convpool``'s max pooling follows the model's extra conv).

    Raises:
      ValueError: for an unknown variant.
    """
    two, one = (2,) * num_dims, (1,) * num_dims
    layers: dict[str, list[Callable[[jax.Array], jax.Array]]] = {
        "max_pool": [functools.partial(nn.max_pool, window_shape=two, strides=two)],
        "avg_pool": [functools.partial(_avg, window=two)],
        "lp_pool": [functools.partial(_lp, p=float(lp_norm), window=two)],
        "subsample": [functools.partial(nn.max_pool, window_shape=one, strides=two)],
        "blur_pool": [
            functools.partial(nn.max_pool, window_shape=two, strides=one),
            functools.partial(_blur, num_dims=num_dims, filter_size=blur_filter_size),
        ],
        "blur_only": [functools.partial(_blur, num_dims=num_dims, filter_size=blur_filter_size)],
        "convpool": [functools.partial(nn.max_pool, window_shape=two, strides=two)],
        "strided_conv": [],
        "learned_conv": [],
        "none": [],
        "none_dilated": [],
        "none_same_head": [],
    }
    if variant not in layers:
        raise ValueError(f"model.downsample={variant!r} is not one of {list(layers)}")
    return layers[variant]
