"""Layers of the downsampling study's CNNs: an exact im2col convolution, PyTorch's default initialisation,
and the geometry of the no-downsampling controls (``matched_dilations``, ``readout``).

Convolutions are written as im2col — the ``prod(kernel)`` shifted, strided slices of the zero-padded
input concatenated on the feature axis, then one matmul (with one input channel: one dot per slice, summed)
— which is the same linear map as
``torch.nn.functional.conv{1,2}d`` (cross-correlation, zero padding) but much faster than XLA:CPU's
convolution for these tiny shapes (measured on the 2-core CPU this study runs on). Initialisation is
PyTorch's default for ``nn.Conv*d`` and ``nn.Linear``: weights and biases uniform in ``±1/sqrt(fan_in)``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

# PyTorch's default weight init, kaiming_uniform(a=sqrt(5)), is uniform with bound 1/sqrt(fan_in):
# a variance scaling of 1/3 with a uniform distribution (bound sqrt(3 * scale / fan_in)).
torch_weight_init = nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform")


def torch_bias_init(fan_in: int) -> Callable[..., jax.Array]:
    """PyTorch's default bias init for a layer with ``fan_in`` inputs: uniform in
    ``±1/sqrt(fan_in)``."""
    bound = 1.0 / math.sqrt(fan_in)

    def init(key: jax.Array, shape: Sequence[int], dtype: Any = jnp.float32) -> jax.Array:
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


class Conv(nn.Module):
    """N-d convolution (cross-correlation) with symmetric zero padding, computed as im2col + matmul.

    Same linear map as ``torch.nn.functional.conv{N}d(x, w, b, stride, padding)`` in channels-last
    layout.

    Attributes:
      features: output channels.
      kernel_size: window size, the same for every spatial dim.
      strides: stride, the same for every spatial dim.
      padding: zeros added on both sides of every spatial dim.
      dtype: compute dtype (the input and the float32 parameters are cast to it); default float32.
      dilation: spacing of the kernel taps (``torch``'s ``dilation``), the same for every spatial dim;
        default 1.

    Input ``(B, *spatial, C_in)`` float; output ``(B, *out_spatial, features)`` with ``out = (size
    + 2 * padding - dilation * (kernel_size - 1) - 1) // strides + 1``. Params: ``kernel`` of shape ``(*[kernel_size] *
    N, C_in, features)`` and ``bias`` ``(features,)``.
    """

    features: int
    kernel_size: int = 3
    strides: int = 1
    padding: int = 1
    dtype: Any = jnp.float32
    dilation: int = 1

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = x.astype(self.dtype)
        n = x.ndim - 2
        k, s, p, d = self.kernel_size, self.strides, self.padding, self.dilation
        fan_in = k**n * x.shape[-1]
        kernel = self.param("kernel", torch_weight_init, (*[k] * n, x.shape[-1], self.features))
        bias = self.param("bias", torch_bias_init(fan_in), (self.features,))
        xp = jnp.pad(x, [(0, 0)] + [(p, p)] * n + [(0, 0)])
        out = [(size + 2 * p - d * (k - 1) - 1) // s + 1 for size in x.shape[1:-1]]
        patches = [
            xp[
                (
                    slice(None),
                    *(slice(d * o, d * o + s * (m - 1) + 1, s) for o, m in zip(offs, out, strict=True)),
                    slice(None),
                )
            ]
            for offs in itertools.product(range(k), repeat=n)
        ]
        taps = kernel.astype(self.dtype).reshape(-1, x.shape[-1], self.features)
        if x.shape[-1] == 1:
            # One input channel: a dot per tap (contraction length 1, which XLA fuses as a broadcast
            # multiply), summed in tap order. Measured fwd+bwd on the 2-core CPU, batch 100: the MNIST-1D
            # first layer (length 40, 20 features) 152 us against 320 us for im2col's (.., 3) @ (3, 20) dot
            # (the whole max_pool training step 0.86 -> 0.75 ms); the 2-D digits' (40x40, 4 features) 2258
            # against 2550 us. With 20 input channels im2col stays faster (255 against 371 us).
            out = patches[0] @ taps[0]
            for patch, tap in zip(patches[1:], taps[1:], strict=True):
                out = out + patch @ tap
        else:
            cols = jnp.concatenate(patches, axis=-1) if len(patches) > 1 else patches[0]
            out = cols @ taps.reshape(-1, self.features)
        return out + bias.astype(self.dtype).reshape((1,) * (out.ndim - 1) + (-1,))


def torch_dense(features: int, fan_in: int, dtype: Any = jnp.float32) -> nn.Dense:
    """A Dense layer initialised like ``torch.nn.Linear(fan_in, features)``, computing in ``dtype``
    (float32 parameters)."""
    return nn.Dense(
        features, kernel_init=torch_weight_init, bias_init=torch_bias_init(fan_in), dtype=dtype
    )


def matched_dilations(stages: Sequence[Sequence[int]]) -> tuple[int, ...]:
    """Dilations for ``none_dilated``: its convolutions' receptive field made as large as max pooling's
    without exceeding it, and without holes.

    Max pooling's net (stage = its convolutions, stride 1, then 2/2 max pooling) has, by the recurrence
    ``r += (k - 1) * j`` per layer (kernel k, jump j; pooling: k = 2, then ``j *= 2``), receptive field ``R``
    (10 for the MNIST-1D net, 16 for the two-stage 2-D net). Without pooling, a convolution of kernel k and
    dilation d adds ``(k - 1) * d``; each dilation is chosen greedily in order, the largest that spreads what
    is left of ``R`` over the remaining convolutions and is at most the receptive field so far (so every input
    sample inside it is seen). With odd kernels the result is odd: ``R - 1`` for these nets.

    Args:
      stages: the kernel sizes of each stage's convolutions, e.g. ``((3,), (3,))`` for the MNIST-1D net.

    Returns:
      One dilation per convolution, in order: ``(1, 3)`` for the MNIST-1D net (receptive field 9),
      ``(1, 2, 2, 2)`` for the two-stage 2-D net (15).
    """
    target, jump = 1, 1
    for kernels in stages:
        for k in kernels:
            target += (k - 1) * jump
        target += jump  # the 2/2 max pooling
        jump *= 2
    flat = [k for kernels in stages for k in kernels]
    field, dilations = 1, []
    for i, k in enumerate(flat):
        spread = sum(kk - 1 for kk in flat[i:])
        d = max(1, min(field, (target - field) // spread)) if spread else 1
        dilations.append(d)
        field += (k - 1) * d
    return tuple(dilations)


def readout(x: jax.Array, stride: int) -> jax.Array:
    """``none_same_head``'s parameter-free reduction before the head: every ``stride``-th position of each
    spatial dim, starting at the first (no max, no average, no filter).

    Args:
      x: ``(B, *spatial, C)``.
      stride: the pooled nets' total stride, ``2**num_stages``.

    Returns:
      ``(B, *[ceil(size / stride)], C)``, the same dtype (the pooled nets' size on the study's inputs).
    """
    return x[(slice(None), *[slice(None, None, stride)] * (x.ndim - 2), slice(None))]
