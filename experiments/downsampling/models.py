"""CNNs for the downsampling ablation, with one ``downsample`` switch, and their exact im2col
convolution.

Variants (``model.downsample``), all pooling through jaxpool's Flax modules:

- ``max_pool``: ``MaxPool`` window 2, stride 2 (per spatial dim).
- ``avg_pool``: ``AvgPool`` window 2, stride 2.
- ``lp_pool``: ``LPPool`` with ``norm_type=model.lp_norm`` (2), window 2, stride 2 — a window *sum*
  of x^p, as ``torch.nn.functional.lp_pool1d`` (the paper's "L2 pool").
- ``blur_pool``: Zhang 2019's anti-aliased max pooling: ``MaxPool`` window 2 stride 1, then
  ``BlurPool`` stride 2 with a binomial filter of ``model.blur_filter_size`` taps and reflect
  padding.
- ``strided_conv``: no pooling; the convolution before each downsampling point gets stride 2.
- ``subsample``: keep every second element: ``MaxPool`` window 1, stride 2.
- ``none``: no downsampling; the dense head grows to the full-resolution feature map (its parameter
  count is reported, not hidden).
- ``learned_conv``: each downsampling point is an extra convolution (kernel ``DOWN_KERNEL`` = 3, stride 2,
  padding 1, channels kept) + ReLU with its own weights (All-CNN-C's replacement of pooling, Springenberg et
  al. 2015); on even sizes its output size is max pooling's.
- ``convpool``: the same extra convolution at stride 1 (+ ReLU), then ``MaxPool`` 2/2 (All-CNN's ConvPool,
  the parameter-matched control of ``learned_conv``).
- ``blur_only``: ``BlurPool`` stride 2 with ``blur_pool``'s filter, without the max (anti-aliased
  subsampling).
- ``none_dilated``: no downsampling; the convolutions are dilated (``matched_dilations``) so a feature
  before the head sees as many input samples as max pooling's (one fewer where that is even).
- ``none_same_head``: no downsampling inside the net; right before the head the full-resolution map is read
  out at every ``2**num_stages``-th position (``readout``, parameter-free), so the head has the pooled nets'
  inputs and parameters.

Convolutions and the dense head come from ``layers.py`` (exact im2col convolution, PyTorch's default
initialisation).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

import jaxpool
from experiments.downsampling.configs.mnist1d_pooling import VARIANTS
from experiments.downsampling.flax_pool import flax_downsample_layers
from experiments.downsampling.layers import Conv, matched_dilations, readout, torch_dense

#: Variants whose downsampling point starts with an extra convolution + ReLU of its own: its stride.
EXTRA_CONV_STRIDE = {"learned_conv": 2, "convpool": 1}
#: Kernel size of that extra convolution (padding ``DOWN_KERNEL // 2``).
DOWN_KERNEL = 3
#: ``model.pooling``: which library's pooling the downsampling layers use.
POOLINGS = ("jaxpool", "flax")
#: ``model.head`` of ``CNN2D``: global average then dense, or flatten then dense (as ``CNN1D``).
HEADS = ("gap", "flatten")
#: ``model.dtype``: compute dtypes (parameters stay float32).
DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}

def downsample_layers(
    variant: str, num_dims: int, lp_norm: float, blur_filter_size: int, pooling: str = "jaxpool"
) -> list[Any]:
    """The parameter-free modules one downsampling point applies (after ``learned_conv``'s and ``convpool``'s
    extra convolution, which the models add themselves; empty for ``strided_conv``, ``learned_conv`` and the
    ``none`` variants).

    Args:
      variant: one of ``VARIANTS``.
      num_dims: number of spatial dims (1 or 2).
      lp_norm: the ``norm_type`` of ``lp_pool``.
      blur_filter_size: the ``filter_size`` of ``blur_pool``.
      pooling: ``"jaxpool"`` (default), or ``"flax"`` for the same layers written with
        ``flax.linen`` pooling (``flax_pool.py``; used to compare training throughput).

    Returns:
      A list of Flax modules to apply in order.

    Raises:
      ValueError: for an unknown variant (the message lists the allowed values).
      ImportError: if jaxpool's Flax modules (``jaxpool.linen``, or ``BlurPool`` for ``blur_pool``)
        are missing.
    """
    if variant not in VARIANTS:
        raise ValueError(f"model.downsample={variant!r} is not one of {list(VARIANTS)}")
    if pooling not in POOLINGS:
        raise ValueError(f"model.pooling={pooling!r} is not one of {list(POOLINGS)}")
    if pooling == "flax":
        return flax_downsample_layers(variant, num_dims, lp_norm, blur_filter_size)
    if variant in ("strided_conv", "learned_conv", "none", "none_dilated", "none_same_head"):
        return []
    import jaxpool.linen as jpl

    two, one = (2,) * num_dims, (1,) * num_dims
    if variant in ("max_pool", "convpool"):
        return [jpl.MaxPool(two, strides=two)]
    if variant == "avg_pool":
        return [jpl.AvgPool(two, strides=two)]
    if variant == "lp_pool":
        return [jpl.LPPool(lp_norm, two, strides=two)]
    if variant == "subsample":
        return [jpl.MaxPool(one, strides=two)]
    if not hasattr(jpl, "BlurPool"):
        raise ImportError(
            "model.downsample='blur_pool' needs jaxpool.linen.BlurPool, which this jaxpool lacks"
        )
    blur = jpl.BlurPool(strides=2, filter_size=blur_filter_size, num_spatial_dims=num_dims)
    return [blur] if variant == "blur_only" else [jpl.MaxPool(two, strides=one), blur]


def stage_output_spatial(
    variant: str,
    spatial: Sequence[int],
    kernel_size: int = 3,
    lp_norm: float = 2.0,
    blur_filter_size: int = 4,
) -> tuple[int, ...]:
    """Spatial shape after one stage (convolutions that keep the size, then the downsampling point).

    Asked of the layers themselves: the stride-2 convolution's size (padding ``kernel_size // 2``) from
    ``jaxpool.pool_output_shape`` (a convolution's output size is a window op's), the pooling layers' from
    ``jax.eval_shape`` of ``downsample_layers`` (no compute).

    Args:
      variant: one of ``VARIANTS``.
      spatial: the spatial shape before the stage.
      kernel_size: the (odd) kernel size of the stage's convolution (``strided_conv`` only; ``learned_conv``'s
        extra convolution has kernel ``DOWN_KERNEL``).
      lp_norm, blur_filter_size: as ``downsample_layers``.

    Returns:
      The spatial shape after the stage (``spatial`` itself for the ``none`` variants; ``none_same_head``'s
        readout comes after the last stage, see ``readout``).

    Raises:
      ValueError: jaxpool's own, when the input is too small for the stage (a pooling window larger than the
        feature map, a reflect padding wider than it), or for an unknown variant.
    """
    shape = (1, *spatial, 1)
    if variant == "strided_conv":
        return tuple(jaxpool.pool_output_shape(shape, kernel_size, 2, kernel_size // 2)[1:-1])
    if variant == "learned_conv":
        return tuple(jaxpool.pool_output_shape(shape, DOWN_KERNEL, 2, DOWN_KERNEL // 2)[1:-1])
    layers = downsample_layers(variant, len(spatial), lp_norm, blur_filter_size)

    def stage(x: jax.Array) -> jax.Array:
        for layer in layers:
            x = layer.apply({}, x)
        return x

    return tuple(jax.eval_shape(stage, jax.ShapeDtypeStruct(shape, jnp.float32)).shape[1:-1])



class CNN1D(nn.Module):
    """The MNIST-1D pooling benchmark net: ``num_stages`` x [conv1d(k, pad 1) -> ReLU -> down] ->
    linear (``learned_conv``/``convpool``: down starts with conv1d(k3) -> ReLU of its own; the module
    docstring lists the variants).

    Matches the ``ConvPooling`` model of Greydanus & Kobak's pooling notebook (PyTorch), in
    channels-last layout (the flattened head input is ordered (position, channel) rather than
    (channel, position); with i.i.d. initialisation that is the same model).

    Attributes:
      downsample: one of ``VARIANTS``.
      channels: conv width (20 in the paper).
      num_stages: number of conv stages (2 in the paper).
      kernel_size: conv kernel size (3).
      num_classes: logits (10).
      lp_norm, blur_filter_size: parameters of ``lp_pool`` and ``blur_pool``.
      dtype: compute dtype name (``DTYPES``: "float32" or "bfloat16"); parameters are float32.
      pooling: ``POOLINGS``: jaxpool's modules (default) or the flax.linen equivalents.

    Input ``(B, L, 1)`` float; output logits ``(B, num_classes)`` float32.
    """

    downsample: str
    channels: int = 20
    num_stages: int = 2
    kernel_size: int = 3
    num_classes: int = 10
    lp_norm: float = 2.0
    blur_filter_size: int = 4
    dtype: str = "float32"
    pooling: str = "jaxpool"

    @nn.compact
    def __call__(self, x: jax.Array, features_only: bool = False) -> jax.Array:
        """Logits ``(B, num_classes)``; with ``features_only``, the map the head flattens ``(B, L', C)``."""
        v, k = self.downsample, self.kernel_size
        stride = 2 if v == "strided_conv" else 1
        dtype = DTYPES[self.dtype]
        dilations = (
            matched_dilations([(k,)] * self.num_stages) if v == "none_dilated" else (1,) * self.num_stages
        )
        for d in dilations:
            x = nn.relu(Conv(self.channels, k, stride, d * (k // 2), dtype, dilation=d)(x))
            if v in EXTRA_CONV_STRIDE:
                x = nn.relu(Conv(self.channels, DOWN_KERNEL, EXTRA_CONV_STRIDE[v], DOWN_KERNEL // 2, dtype)(x))
            # One set of (parameter-free) pooling modules per stage, so each stage has its own name.
            for layer in downsample_layers(v, 1, self.lp_norm, self.blur_filter_size, self.pooling):
                x = layer(x)
        if v == "none_same_head":
            x = readout(x, 2**self.num_stages)
        if features_only:
            return x
        x = x.reshape(x.shape[0], -1)
        return torch_dense(self.num_classes, x.shape[-1], dtype)(x).astype(jnp.float32)


class CNN2D(nn.Module):
    """A small 2-D CNN: per stage [conv3x3 -> ReLU -> conv3x3 -> ReLU -> down] (or one conv per stage),
    then a dense head on the global mean (``head="gap"``) or on the flattened feature map
    (``head="flatten"``). ``down`` as ``CNN1D``'s (``learned_conv``/``convpool``: one more 3x3 conv + ReLU first).

    Attributes:
      downsample: one of ``VARIANTS`` (``strided_conv``: the last conv of each stage has stride
        2).
      widths: channels per stage, e.g. ``(16, 32)``; the number of stages is its length.
      num_classes: logits (10).
      lp_norm, blur_filter_size: parameters of ``lp_pool`` and ``blur_pool``.
      dtype, pooling: as ``CNN1D``.
      head: one of ``HEADS``. ``"gap"`` (default): a mean over H and W, so the head has
        ``widths[-1] * num_classes + num_classes`` parameters for every variant and the net is
        nearly shift-invariant by construction. ``"flatten"``: the final ``(h, w, c)`` map flattened
        in that order, as ``CNN1D``'s head; ``h * w * widths[-1] * num_classes + num_classes``
        parameters, a position-specific read-out that grows with the map a variant leaves.
      convs_per_stage: 2 (default) or 1 (``[conv3x3 -> ReLU -> down]`` per stage, for CPU budgets).

    Input ``(B, H, W, 1)`` float; output float32 logits ``(B, num_classes)``.
    """

    downsample: str
    widths: Sequence[int] = (16, 32)
    num_classes: int = 10
    lp_norm: float = 2.0
    blur_filter_size: int = 4
    dtype: str = "float32"
    pooling: str = "jaxpool"
    head: str = "gap"
    convs_per_stage: int = 2

    @nn.compact
    def __call__(self, x: jax.Array, features_only: bool = False) -> jax.Array:
        """Logits ``(B, num_classes)``; with ``features_only``, the map the head reads ``(B, H', W', C)``."""
        if self.head not in HEADS:
            raise ValueError(f"CNN2D.head={self.head!r} is not one of {list(HEADS)}")
        if self.convs_per_stage not in (1, 2):
            raise ValueError(f"CNN2D.convs_per_stage={self.convs_per_stage!r} is not 1 or 2")
        v = self.downsample
        stride = 2 if v == "strided_conv" else 1
        dtype = DTYPES[self.dtype]
        down = downsample_layers(v, 2, self.lp_norm, self.blur_filter_size, self.pooling)
        n, c = len(self.widths), self.convs_per_stage
        dilations = matched_dilations([(3,) * c] * n) if v == "none_dilated" else (1,) * (c * n)
        for i, width in enumerate(self.widths):
            stage = dilations[c * i : c * i + c]
            if c == 2:
                x = nn.relu(Conv(width, 3, 1, stage[0], dtype, dilation=stage[0])(x))
            x = nn.relu(Conv(width, 3, stride, stage[-1], dtype, dilation=stage[-1])(x))
            if v in EXTRA_CONV_STRIDE:
                x = nn.relu(Conv(width, DOWN_KERNEL, EXTRA_CONV_STRIDE[v], DOWN_KERNEL // 2, dtype)(x))
            for layer in down:
                x = layer(x)
        if v == "none_same_head":
            x = readout(x, 2**n)
        if features_only:
            return x
        x = jnp.mean(x, axis=(1, 2)) if self.head == "gap" else x.reshape(x.shape[0], -1)
        return torch_dense(self.num_classes, x.shape[-1], dtype)(x).astype(jnp.float32)


def init_params(model: nn.Module, example_shape: Sequence[int], seed: int) -> Any:
    """PyTorch-default initial parameters drawn on the host with NumPy (no compilation).

    Same distribution as the modules' own Flax initialisers (``model.init``): every layer's
    ``kernel`` and ``bias`` uniform in ``±1/sqrt(fan_in)``, ``fan_in = prod(kernel.shape[:-1])``.
    Drawing them with NumPy avoids compiling JAX's random-bit generator, which costs seconds per
    model on CPU.

    Args:
      model: a module whose every parameter is a ``kernel``/``bias`` pair (``CNN1D``, ``CNN2D``).
      example_shape: one input's shape ``(*spatial, channels)``.
      seed: the run seed; values come from ``numpy.random.default_rng(seed)`` in parameter-tree
        order.

    Returns:
      A Flax variables dict ``{"params": ...}`` of float32 NumPy arrays.

    Raises:
      ValueError: if a parameter other than ``kernel``/``bias`` is found.
    """
    shapes = jax.eval_shape(
        model.init, jax.random.key(0), jnp.zeros((1, *example_shape), jnp.float32)
    )
    rng = np.random.default_rng(seed)

    def fill(layer: dict[str, Any]) -> dict[str, Any]:
        if "kernel" not in layer:
            return {name: fill(sub) for name, sub in layer.items()}
        if set(layer) - {"kernel", "bias"}:
            raise ValueError(f"init_params handles kernel/bias layers only, got {sorted(layer)}")
        bound = 1.0 / math.sqrt(math.prod(layer["kernel"].shape[:-1]))
        return {
            name: rng.uniform(-bound, bound, layer[name].shape).astype(np.float32)
            for name in ("kernel", "bias")
            if name in layer
        }

    return {"params": fill(dict(shapes["params"]))}


MODELS = ("cnn1d", "cnn2d")


def create_model(model: Any, num_classes: int) -> nn.Module:
    """Build the network that the config's ``model`` section describes.

    Args:
      model: the ``model`` ConfigDict (``name`` in ``MODELS``, ``downsample`` and the model's
        fields; optional ``dtype`` and ``pooling``, default "float32" and "jaxpool"; ``cnn2d``'s optional
        ``head`` and ``convs_per_stage``, default "gap" and 2).
      num_classes: number of output logits.

    Returns:
      An unbound Flax module.

    Raises:
      ValueError: for an unknown ``model.name``, ``model.downsample`` or ``model.head``.
    """
    if model.downsample not in VARIANTS:
        raise ValueError(f"model.downsample={model.downsample!r} is not one of {list(VARIANTS)}")
    common = dict(
        num_classes=num_classes,
        lp_norm=float(model.lp_norm),
        blur_filter_size=int(model.blur_filter_size),
        dtype=model.get("dtype", "float32"),
        pooling=model.get("pooling", "jaxpool"),
    )
    if model.name == "cnn1d":
        return CNN1D(
            model.downsample,
            channels=model.channels,
            num_stages=model.num_stages,
            kernel_size=model.kernel_size,
            **common,
        )
    if model.name == "cnn2d":
        head = model.get("head", "gap")
        if head not in HEADS:
            raise ValueError(f"model.head={head!r} is not one of {list(HEADS)}")
        return CNN2D(model.downsample, widths=tuple(model.widths), head=head,
                     convs_per_stage=model.get("convs_per_stage", 2), **common)
    raise ValueError(f"model.name={model.name!r} is not one of {list(MODELS)}")
