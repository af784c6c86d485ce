"""All-CNN-C and its three siblings (Springenberg et al., "Striving for Simplicity: The All
Convolutional Net", ICLR 2015 workshop), as one Flax module with a ``variant`` switch.

Model C of the paper, channels last, every convolution followed by a ReLU::

    input 32x32x3 -> dropout 20%
    3x3 conv 96, pad 1            32x32
    3x3 conv 96, pad 1            32x32   (Strided-CNN-C: stride 2 -> 16x16, no pooling)
    [ConvPool-CNN-C: 3x3 conv 96, pad 1]
    down: 3x3/2 max pool, pad 1   16x16   (All-CNN-C: 3x3 conv 96, stride 2, pad 1)
    dropout 50%
    3x3 conv 192, pad 1           16x16
    3x3 conv 192, pad 1           16x16   (Strided-CNN-C: stride 2 -> 8x8)
    [ConvPool-CNN-C: 3x3 conv 192, pad 1]
    down: 3x3/2 max pool, pad 1    8x8    (All-CNN-C: 3x3 conv 192, stride 2, pad 1)
    dropout 50%
    3x3 conv 192, valid            6x6
    1x1 conv 192                   6x6
    1x1 conv 10                    6x6    (ReLU too, as the paper's table; ``final_relu``)
    global average -> 10 logits

Variants (``variant``, named like the downsampling ablation's): ``max_pool`` = Model C (the base),
``strided_conv`` = Strided-CNN-C, ``convpool`` = ConvPool-CNN-C, ``allconv`` = All-CNN-C.
Parameters, biases included and without BatchNorm: 954,730 for ``max_pool`` and ``strided_conv``,
1,369,738 for ``convpool`` and ``allconv`` (tests/experiments/allcnn_cifar10/test_allcnn.py derives them per
layer).

Pooling goes through jaxpool's Flax modules (``jaxpool.linen.MaxPool`` 3x3/2 with padding 1,
``jaxpool.linen.GlobalAvgPool``); ``pooling="flax"`` swaps in ``flax.linen.max_pool`` and a
``jnp.mean`` for the throughput benchmark. ``batch_norm=True`` puts ``flax.linen.BatchNorm``
(momentum 0.9, eps 1e-5, i.e. PyTorch's defaults) between every convolution but the last and its
ReLU, and drops those convolutions' biases (BN's shift replaces them). ``dtype="bfloat16"`` computes
in bfloat16 with float32 parameters (Flax casts them per call; BatchNorm normalises in float32);
logits are returned in float32.
Convolutions are ``flax.linen.Conv`` (XLA's convolution, cuDNN on GPUs).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

#: ``model.downsample`` value -> the paper's model name.
VARIANTS = {
    "max_pool": "Model C",
    "strided_conv": "Strided-CNN-C",
    "convpool": "ConvPool-CNN-C",
    "allconv": "All-CNN-C",
}
POOLINGS = ("jaxpool", "flax")
#: Compute dtypes (parameters stay float32).
DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


def _pool_layers(pooling: str) -> tuple[Any, Any]:
    """(3x3/2 max pool with padding 1, global average) of the chosen implementation."""
    if pooling == "jaxpool":
        import jaxpool.linen as jpl

        return jpl.MaxPool((3, 3), strides=(2, 2), padding=1), jpl.GlobalAvgPool()
    return (
        lambda x: nn.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1))),
        lambda x: jnp.mean(x, axis=(1, 2)),
    )


class AllCNN(nn.Module):
    """Springenberg et al.'s Model C family on 32x32 images (see the module docstring for layers).

    Attributes:
      variant: one of ``VARIANTS`` (``max_pool``, ``strided_conv``, ``convpool``, ``allconv``).
      num_classes: logits (10 for CIFAR-10).
      widths: channels of the two stages (96, 192); the head convs use ``widths[-1]``.
      batch_norm: BatchNorm after every convolution except the classifier (not in the paper).
      input_dropout: dropout rate on the input (0.2).
      dropout: dropout rate after each downsampling step (0.5).
      final_relu: ReLU after the classifier 1x1 conv, as the paper's table.
      dtype: compute dtype name, ``"float32"`` or ``"bfloat16"``; parameters are float32.
      pooling: ``"jaxpool"`` (jaxpool.linen modules) or ``"flax"`` (flax.linen.max_pool, jnp.mean).

    Call ``model.apply(variables, x, train=...)`` with ``x`` float ``(B, H, W, C)`` (32x32x3 for
    the paper; the valid 3x3 conv needs H, W >= 9 after two halvings) and, when ``train`` and a
    dropout rate is positive, ``rngs={"dropout": key}``; with ``batch_norm`` and ``train``, pass
    ``mutable=["batch_stats"]``. Returns float32 logits ``(B, num_classes)``. The stage outputs are
    sown into the ``intermediates`` collection (``stage1``, ``stage2``, ``head``) for inspection.

    Raises:
      ValueError: at call time, for an unknown ``variant``, ``dtype`` or ``pooling`` (the message
        lists the allowed values).
    """

    variant: str = "allconv"
    num_classes: int = 10
    widths: Sequence[int] = (96, 192)
    batch_norm: bool = False
    input_dropout: float = 0.2
    dropout: float = 0.5
    final_relu: bool = True
    dtype: str = "float32"
    pooling: str = "jaxpool"

    def _check(self) -> None:
        for field, value, allowed in (
            ("variant", self.variant, list(VARIANTS)),
            ("dtype", self.dtype, list(DTYPES)),
            ("pooling", self.pooling, list(POOLINGS)),
        ):
            if value not in allowed:
                raise ValueError(f"model.{field}={value!r} is not one of {allowed}")

    def _conv(self, x: jax.Array, features: int, kernel: int, stride: int, pad: int, train: bool,
              *, relu: bool = True, norm: bool | None = None) -> jax.Array:
        norm = self.batch_norm if norm is None else norm
        x = nn.Conv(
            features,
            (kernel, kernel),
            strides=(stride, stride),
            padding=((pad, pad), (pad, pad)),
            use_bias=not norm,
            dtype=DTYPES[self.dtype],
            param_dtype=jnp.float32,
            kernel_init=nn.initializers.variance_scaling(2.0, "fan_in", "normal"),
        )(x)
        if norm:  # statistics and normalisation in float32 whatever the compute dtype
            x = nn.BatchNorm(
                use_running_average=not train,
                momentum=0.9,
                epsilon=1e-5,
                dtype=jnp.float32,
                param_dtype=jnp.float32,
            )(x.astype(jnp.float32)).astype(DTYPES[self.dtype])
        return nn.relu(x) if relu else x

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        self._check()
        max_pool, global_avg = _pool_layers(self.pooling)
        x = x.astype(DTYPES[self.dtype])
        x = nn.Dropout(self.input_dropout, deterministic=not train)(x)
        for stage, width in enumerate(self.widths, 1):
            x = self._conv(x, width, 3, 1, 1, train)
            x = self._conv(x, width, 3, 2 if self.variant == "strided_conv" else 1, 1, train)
            if self.variant == "convpool":
                x = self._conv(x, width, 3, 1, 1, train)
            if self.variant in ("max_pool", "convpool"):
                x = max_pool(x)
            elif self.variant == "allconv":
                x = self._conv(x, width, 3, 2, 1, train)
            self.sow("intermediates", f"stage{stage}", x)
            x = nn.Dropout(self.dropout, deterministic=not train)(x)
        x = self._conv(x, self.widths[-1], 3, 1, 0, train)
        x = self._conv(x, self.widths[-1], 1, 1, 0, train)
        x = self._conv(x, self.num_classes, 1, 1, 0, train, relu=self.final_relu, norm=False)
        self.sow("intermediates", "head", x)
        return global_avg(x).astype(jnp.float32)


def init_variables(model: AllCNN, example_shape: Sequence[int], seed: int) -> dict[str, Any]:
    """Initial variables drawn on the host with NumPy (no compilation of JAX's random generator).

    Convolution kernels: He et al. 2015 normal, ``N(0, 2 / fan_in)`` with ``fan_in = kh * kw *
    C_in`` (the distribution of the modules' own ``kernel_init``; the paper does not state its
    initialisation). Biases 0; BatchNorm scale 1, shift 0, running mean 0 and variance 1 (Flax's
    defaults).

    Args:
      model: an ``AllCNN``.
      example_shape: one input's shape ``(H, W, C)``.
      seed: values come from ``numpy.random.default_rng(seed)`` in parameter-tree order.

    Returns:
      ``{"params": ...}`` (plus ``"batch_stats"`` with ``batch_norm``) of float32 NumPy arrays.
    """
    shapes = jax.eval_shape(
        model.init, jax.random.key(0), jnp.zeros((1, *example_shape), jnp.float32)
    )
    rng = np.random.default_rng(seed)

    def fill(tree: Any, path: tuple[str, ...]) -> Any:
        if isinstance(tree, dict) or hasattr(tree, "items"):
            return {k: fill(v, (*path, k)) for k, v in tree.items()}
        name, shape = path[-1], tuple(tree.shape)
        if name == "kernel":
            std = math.sqrt(2.0 / math.prod(shape[:-1]))
            return (rng.standard_normal(shape) * std).astype(np.float32)
        if name in ("scale", "var"):
            return np.ones(shape, np.float32)
        return np.zeros(shape, np.float32)  # bias, BN shift, running mean

    return {c: fill(v, (c,)) for c, v in shapes.items() if c in ("params", "batch_stats")}


def create_allcnn(model: Any, num_classes: int) -> AllCNN:
    """The ``AllCNN`` that a config's ``model`` section describes.

    Args:
      model: the ``model`` ConfigDict (``downsample``, ``batch_norm``, ``input_dropout``,
        ``dropout``, ``final_relu``, ``dtype``, ``pooling``).
      num_classes: number of logits.

    Returns:
      An unbound module.
    """
    return AllCNN(
        variant=model.downsample,
        num_classes=num_classes,
        batch_norm=bool(model.batch_norm),
        input_dropout=float(model.input_dropout),
        dropout=float(model.dropout),
        final_relu=bool(model.final_relu),
        dtype=model.dtype,
        pooling=model.pooling,
    )
