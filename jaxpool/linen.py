"""Flax Linen modules for every jaxpool op: ``MaxPool``, ``AvgPool``, ``BlurPool`` and friends.

Each module wraps the function of the same name (``MaxPool`` -> :func:`jaxpool.max_pool`): its
fields are that function's arguments after ``inputs``, with the same names, order and defaults, and
``module(x)`` returns ``function(x, **fields)`` — values, gradients and errors are the function's.
The modules hold no parameters and no state, so they drop into ``nn.Sequential``, ``nn.jit``,
``nn.vmap``, ``nn.remat`` and the body of ``nn.scan`` like any stateless layer.

Every field check that does not depend on the input runs when the module is built (``MaxPool(0)``
raises ValueError immediately); checks that need the input (rank, sizes) run at call time.
List-valued fields are stored as tuples.

Example::

    import flax.linen as nn
    import jaxpool.linen as jpl

    model = nn.Sequential([nn.Conv(8, (3, 3)), nn.relu, jpl.MaxPool((2, 2), strides=(2, 2)),
                           jpl.GlobalAvgPool(), nn.Dense(10)])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax

import jaxpool
from jaxpool import _adaptive, _args, _blur, _fields, _fractional, _global

Array = jax.Array
Padding = str | int | Sequence[int] | Sequence[tuple[int, int]]
IntSeq = int | Sequence[int]


def _prepare(module: nn.Module, names: Sequence[str]) -> dict[str, Any]:
    """Store list fields as tuples and return the fields as keyword arguments."""
    kwargs = {}
    for name in names:
        value = _fields.tupled(getattr(module, name))
        object.__setattr__(module, name, value)
        kwargs[name] = value
    return kwargs


_WINDOW = ("window_shape", "strides", "padding", "dilation", "ceil_mode", "channels_first")
_AVG = (
    "window_shape",
    "strides",
    "padding",
    "count_include_pad",
    "divisor_override",
    "dilation",
    "ceil_mode",
    "channels_first",
)
_LP = ("norm_type", *_WINDOW)


class MaxPool(nn.Module):
    """Max pooling layer: ``MaxPool(**fields)(x) == jaxpool.max_pool(x, **fields)``.

    Attributes:
      window_shape: int or N ints.
      strides: int or N ints; ``None`` = stride 1 (Flax convention, not PyTorch's "stride =
        window").
      padding: ``"VALID"``, ``"SAME"``, ``"SAME_LOWER"``, an int, N ints or N ``(low, high)`` pairs.
      dilation: int or N ints (``None`` = 1).
      ceil_mode: PyTorch's output rounding (explicit padding only).
      channels_first: input layout ``(*batch, features, *spatial)`` instead of ``(*batch, *spatial,
        features)``.

    Input/output shapes, dtypes, tie rule, gradients and errors: :func:`jaxpool.max_pool`.
    Raises at construction: the input-independent TypeError/ValueError of :func:`jaxpool.max_pool`.
    """

    window_shape: IntSeq
    strides: IntSeq | None = None
    padding: Padding = "VALID"
    dilation: IntSeq | None = None
    ceil_mode: bool = False
    channels_first: bool = False

    def __post_init__(self) -> None:
        _fields.check_window_module(jaxpool.max_pool, _prepare(self, _WINDOW))
        super().__post_init__()

    def __call__(self, inputs: Array) -> Array:
        """Max-pool ``inputs`` (layout and shapes as :func:`jaxpool.max_pool`)."""
        return jaxpool.max_pool(inputs, **{n: getattr(self, n) for n in _WINDOW})


class MinPool(nn.Module):
    """Min pooling layer: ``MinPool(**fields)(x) == jaxpool.min_pool(x, **fields)``.

    Attributes: as :class:`MaxPool`. Semantics, shapes, dtypes and errors: :func:`jaxpool.min_pool`.
    Raises at construction: the input-independent TypeError/ValueError of :func:`jaxpool.min_pool`.
    """

    window_shape: IntSeq
    strides: IntSeq | None = None
    padding: Padding = "VALID"
    dilation: IntSeq | None = None
    ceil_mode: bool = False
    channels_first: bool = False

    def __post_init__(self) -> None:
        _fields.check_window_module(jaxpool.min_pool, _prepare(self, _WINDOW))
        super().__post_init__()

    def __call__(self, inputs: Array) -> Array:
        """Min-pool ``inputs`` (layout and shapes as :func:`jaxpool.min_pool`)."""
        return jaxpool.min_pool(inputs, **{n: getattr(self, n) for n in _WINDOW})


class SumPool(nn.Module):
    """Sum pooling layer: ``SumPool(**fields)(x) == jaxpool.sum_pool(x, **fields)``.

    Attributes: as :class:`MaxPool`. Semantics, shapes, dtypes and errors: :func:`jaxpool.sum_pool`.
    Raises at construction: the input-independent TypeError/ValueError of :func:`jaxpool.sum_pool`.
    """

    window_shape: IntSeq
    strides: IntSeq | None = None
    padding: Padding = "VALID"
    dilation: IntSeq | None = None
    ceil_mode: bool = False
    channels_first: bool = False

    def __post_init__(self) -> None:
        _fields.check_window_module(jaxpool.sum_pool, _prepare(self, _WINDOW))
        super().__post_init__()

    def __call__(self, inputs: Array) -> Array:
        """Sum-pool ``inputs`` (layout and shapes as :func:`jaxpool.sum_pool`)."""
        return jaxpool.sum_pool(inputs, **{n: getattr(self, n) for n in _WINDOW})


class AvgPool(nn.Module):
    """Average pooling layer: ``AvgPool(**fields)(x) == jaxpool.avg_pool(x, **fields)``.

    Attributes:
      window_shape, strides, padding, dilation, ceil_mode, channels_first: as :class:`MaxPool`.
      count_include_pad: whether padded positions count in the divisor (default True, as Flax and
        PyTorch).
      divisor_override: a positive int used as the divisor of every window, or ``None``.

    Semantics, shapes, dtypes and errors: :func:`jaxpool.avg_pool`.
    Raises at construction: the input-independent TypeError/ValueError of :func:`jaxpool.avg_pool`.
    """

    window_shape: IntSeq
    strides: IntSeq | None = None
    padding: Padding = "VALID"
    count_include_pad: bool = True
    divisor_override: int | None = None
    dilation: IntSeq | None = None
    ceil_mode: bool = False
    channels_first: bool = False

    def __post_init__(self) -> None:
        _fields.check_window_module(jaxpool.avg_pool, _prepare(self, _AVG))
        super().__post_init__()

    def __call__(self, inputs: Array) -> Array:
        """Average-pool ``inputs`` (layout and shapes as :func:`jaxpool.avg_pool`)."""
        return jaxpool.avg_pool(inputs, **{n: getattr(self, n) for n in _AVG})


class LPPool(nn.Module):
    """Power-average (Lp) pooling layer: ``LPPool(**fields)(x) == jaxpool.lp_pool(x, **fields)``.

    Attributes:
      norm_type: p, a finite number >= 1.
      window_shape, strides, padding, dilation, ceil_mode, channels_first: as :class:`MaxPool`.

    Semantics, shapes, dtypes and errors: :func:`jaxpool.lp_pool`.
    Raises at construction: the input-independent TypeError/ValueError of :func:`jaxpool.lp_pool`
    (e.g. ``norm_type < 1``).
    """

    norm_type: float
    window_shape: IntSeq
    strides: IntSeq | None = None
    padding: Padding = "VALID"
    dilation: IntSeq | None = None
    ceil_mode: bool = False
    channels_first: bool = False

    def __post_init__(self) -> None:
        _fields.check_window_module(jaxpool.lp_pool, _prepare(self, _LP))
        super().__post_init__()

    def __call__(self, inputs: Array) -> Array:
        """Lp-pool ``inputs`` (layout and shapes as :func:`jaxpool.lp_pool`)."""
        return jaxpool.lp_pool(inputs, **{n: getattr(self, n) for n in _LP})


class AdaptiveAvgPool(nn.Module):
    """Adaptive average pooling layer: ``AdaptiveAvgPool(**fields)(x) ==
    jaxpool.adaptive_avg_pool(x, **fields)``.

    Attributes:
      output_size: a positive int per spatial dim or ``None`` (keep), or one int for ``inputs.ndim
        - 2`` dims.
      channels_first: input layout ``(*batch, features, *spatial)`` instead of ``(*batch, *spatial,
        features)``.

    Bins (PyTorch's rule), shapes, dtypes and errors: :func:`jaxpool.adaptive_avg_pool`.
    Raises at construction: TypeError/ValueError for a malformed ``output_size`` or non-bool flag.
    """

    output_size: int | Sequence[int | None]
    channels_first: bool = False

    def __post_init__(self) -> None:
        kw = _prepare(self, ("output_size", "channels_first"))
        _fields.check_plain_module(
            _adaptive.adaptive_avg_pool, kw, _fields.spec_num_spatial_dims(kw["output_size"])
        )
        super().__post_init__()

    def __call__(self, inputs: Array) -> Array:
        """Adaptive-average-pool ``inputs``."""
        return _adaptive.adaptive_avg_pool(
            inputs, self.output_size, channels_first=self.channels_first
        )


class AdaptiveMaxPool(nn.Module):
    """Adaptive max pooling layer: ``AdaptiveMaxPool(**fields)(x) == jaxpool.adaptive_max_pool(x,
    **fields)``.

    Attributes:
      output_size: a positive int per spatial dim or ``None`` (keep), or one int for ``inputs.ndim
        - 2`` dims.
      channels_first: input layout ``(*batch, features, *spatial)`` instead of ``(*batch, *spatial,
        features)``.
      return_indices: return ``(values, int32 indices)`` (PyTorch convention) instead of values.

    Bins, ties, gradients, shapes, dtypes and errors: :func:`jaxpool.adaptive_max_pool`.
    Raises at construction: TypeError/ValueError for a malformed ``output_size`` or non-bool flags.
    """

    output_size: int | Sequence[int | None]
    channels_first: bool = False
    return_indices: bool = False

    def __post_init__(self) -> None:
        kw = _prepare(self, ("output_size", "channels_first", "return_indices"))
        _fields.check_plain_module(
            _adaptive.adaptive_max_pool, kw, _fields.spec_num_spatial_dims(kw["output_size"])
        )
        super().__post_init__()

    def __call__(self, inputs: Array) -> Array | tuple[Array, Array]:
        """Adaptive-max-pool ``inputs``."""
        return _adaptive.adaptive_max_pool(
            inputs,
            self.output_size,
            channels_first=self.channels_first,
            return_indices=self.return_indices,
        )


class GlobalAvgPool(nn.Module):
    """Global average pooling layer: ``GlobalAvgPool(**fields)(x) == jaxpool.global_avg_pool(x,
    **fields)``.

    Attributes:
      num_spatial_dims: N (default ``inputs.ndim - 2``).
      channels_first: input layout ``(*batch, features, *spatial)`` instead of ``(*batch, *spatial,
        features)``.
      keepdims: keep size-1 spatial dims.

    Shapes, dtypes and errors: :func:`jaxpool.global_avg_pool`.
    Raises at construction: TypeError/ValueError for a bad ``num_spatial_dims`` or non-bool flags.
    """

    num_spatial_dims: int | None = None
    channels_first: bool = False
    keepdims: bool = False

    def __post_init__(self) -> None:
        kw = _prepare(self, ("num_spatial_dims", "channels_first", "keepdims"))
        _fields.check_plain_module(
            _global.global_avg_pool,
            kw,
            _fields.spec_num_spatial_dims(None, kw["num_spatial_dims"]),
        )
        super().__post_init__()

    def __call__(self, inputs: Array) -> Array:
        """Average ``inputs`` over all spatial dims."""
        return _global.global_avg_pool(
            inputs,
            num_spatial_dims=self.num_spatial_dims,
            channels_first=self.channels_first,
            keepdims=self.keepdims,
        )


class GlobalMaxPool(nn.Module):
    """Global max pooling layer: ``GlobalMaxPool(**fields)(x) == jaxpool.global_max_pool(x,
    **fields)``.

    Attributes: as :class:`GlobalAvgPool`. Ties, gradients, shapes, dtypes and errors:
    :func:`jaxpool.global_max_pool`.
    Raises at construction: TypeError/ValueError for a bad ``num_spatial_dims`` or non-bool flags.
    """

    num_spatial_dims: int | None = None
    channels_first: bool = False
    keepdims: bool = False

    def __post_init__(self) -> None:
        kw = _prepare(self, ("num_spatial_dims", "channels_first", "keepdims"))
        _fields.check_plain_module(
            _global.global_max_pool,
            kw,
            _fields.spec_num_spatial_dims(None, kw["num_spatial_dims"]),
        )
        super().__post_init__()

    def __call__(self, inputs: Array) -> Array:
        """Max over all spatial dims of ``inputs``."""
        return _global.global_max_pool(
            inputs,
            num_spatial_dims=self.num_spatial_dims,
            channels_first=self.channels_first,
            keepdims=self.keepdims,
        )


class BlurPool(nn.Module):
    """Anti-aliased downsampling layer (Zhang 2019): ``BlurPool(**fields)(x) ==
    jaxpool.blur_pool(x, **fields)``.

    Attributes:
      strides: int or N ints, the subsampling factor (default 2).
      filter_size: binomial filter taps per dim (default 4: [1, 3, 3, 1] / 8).
      padding: ``"reflect"`` (default) or ``"zero"``.
      channels_first: input layout ``(*batch, features, *spatial)`` instead of ``(*batch, *spatial,
        features)``.
      num_spatial_dims: N (default ``len(strides)`` for a tuple, else ``inputs.ndim - 2``).

    Semantics, shapes, dtypes and errors: :func:`jaxpool.blur_pool`. The paper's anti-aliased max
      pooling is
    ``nn.Sequential([MaxPool(2, strides=1), BlurPool(2)])``.
    Raises at construction: the input-independent TypeError/ValueError of :func:`jaxpool.blur_pool`.
    """

    strides: int | Sequence[int] = 2
    filter_size: int = 4
    padding: str = "reflect"
    channels_first: bool = False
    num_spatial_dims: int | None = None

    def __post_init__(self) -> None:
        kw = _prepare(self, _BLUR)
        _fields.check_plain_module(
            _blur.blur_pool,
            kw,
            _fields.spec_num_spatial_dims(kw["strides"], kw["num_spatial_dims"]),
        )
        super().__post_init__()

    def __call__(self, inputs: Array) -> Array:
        """Blur and subsample ``inputs``."""
        return _blur.blur_pool(inputs, **{n: getattr(self, n) for n in _BLUR})


_BLUR = ("strides", "filter_size", "padding", "channels_first", "num_spatial_dims")


class FractionalMaxPool(nn.Module):
    """Fractional max pooling layer (Graham 2014): with ``op`` the fields other than ``deterministic`` and
    ``rng_collection``, ``FractionalMaxPool(**fields)(x)`` is ``jaxpool.fractional_max_pool(x, **op,
    key=self.make_rng(rng_collection))`` in training and ``jaxpool.fractional_max_pool(x, **op, samples=0.5)``
    when deterministic.

    Attributes:
      window_shape: int or N positive ints.
      output_size: int or N ints (exactly one of ``output_size`` and ``output_ratio``).
      output_ratio: float or N floats in (0, 1).
      channels_first: input layout ``(*batch, features, *spatial)`` instead of ``(*batch, *spatial,
        features)``.
      return_indices: return ``(values, int32 indices)`` (PyTorch convention) instead of values.
      deterministic: evaluation mode (may instead be passed to ``__call__``, which takes precedence,
        as ``flax.linen.Dropout``).
      rng_collection: the RNG stream the training-mode samples come from (``apply(...,
        rngs={"pooling": key})``); one key per call, ``jax.random.uniform`` samples per plane and dim.

    Evaluation (``deterministic=True``) uses no RNG: every plane and dim gets the sample ``0.5``
    (PyTorch's module has no evaluation mode: it draws new samples at every call). A fixed sample makes
    evaluation reproducible and each example's output independent of its batch and of its position
    in it (a fixed key would not be: the samples it draws depend on the batch shape), and 0.5 is the
    middle of the sample range: windows spread evenly, the sequence a typical draw gives.

    Values, ties, gradients, shapes, dtypes and errors: :func:`jaxpool.fractional_max_pool`.
    Raises at construction: TypeError/ValueError for malformed ``window_shape``, ``output_size``,
    ``output_ratio`` (both or neither given, ratios outside (0, 1)) or non-bool flags.
    """

    window_shape: int | Sequence[int]
    output_size: int | Sequence[int] | None = None
    output_ratio: float | Sequence[float] | None = None
    channels_first: bool = False
    return_indices: bool = False
    deterministic: bool | None = None
    rng_collection: str = "pooling"

    def __post_init__(self) -> None:
        kw = _prepare(self, _FRACTIONAL)
        _fractional.check_args(**kw)
        super().__post_init__()

    def __call__(self, inputs: Array, deterministic: bool | None = None) -> Array | tuple[Array, Array]:
        """Fractional-max-pool ``inputs``; samples from the ``rng_collection`` stream unless deterministic."""
        deterministic = nn.merge_param("deterministic", self.deterministic, deterministic)
        kw = {n: getattr(self, n) for n in _FRACTIONAL}
        if deterministic:
            return _fractional.fractional_max_pool(inputs, **kw, samples=_fractional.EVAL_SAMPLE)
        return _fractional.fractional_max_pool(inputs, **kw, key=self.make_rng(self.rng_collection))


_FRACTIONAL = ("window_shape", "output_size", "output_ratio", "channels_first", "return_indices")

for _module in (MaxPool, MinPool, SumPool, AvgPool, LPPool, AdaptiveAvgPool, AdaptiveMaxPool, GlobalAvgPool,
                GlobalMaxPool, BlurPool, FractionalMaxPool):
    _args.torch_names_init(_module)  # PyTorch spellings (kernel_size=...) get a TypeError naming jaxpool's field
