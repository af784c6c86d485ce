"""Flax NNX modules for every jaxpool op: ``MaxPool``, ``AvgPool``, ``BlurPool`` and friends.

The NNX twins of :mod:`jaxpool.linen`, with the same names. Each module wraps the function of the
same name (``MaxPool`` -> :func:`jaxpool.max_pool`); it is constructed with that function's
arguments after ``inputs`` (same names, defaults, and positional/keyword-only split; no ``rngs``)
and ``module(x)`` returns ``function(x, **arguments)``. The modules hold no parameters or state
(every attribute is static), so they work inside ``nnx.Sequential``, ``nnx.jit``, ``nnx.vmap``,
``nnx.remat`` and scanned blocks.

Every argument check that does not depend on the input runs in the constructor (``MaxPool(0)``
raises ValueError); checks that need the input (rank, sizes) run at call time. Lists are stored as
tuples.

Example::

    from flax import nnx
    import jaxpool.nnx as jpn

    model = nnx.Sequential(nnx.Conv(1, 8, (3, 3), rngs=nnx.Rngs(0)), nnx.relu,
                           jpn.MaxPool((2, 2), strides=(2, 2)), jpn.GlobalAvgPool())
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
from flax import nnx

import jaxpool
from jaxpool import _adaptive, _args, _blur, _fields, _fractional, _global

Array = jax.Array
Padding = str | int | Sequence[int] | Sequence[tuple[int, int]]
IntSeq = int | Sequence[int]


class _Pool(nnx.Module):
    """Shared behaviour: static attributes named after the wrapped function's arguments."""

    _fn: Callable[..., Any]
    _names: tuple[str, ...]

    def _store(self, values: dict[str, Any]) -> dict[str, Any]:
        kwargs = {name: _fields.tupled(values[name]) for name in self._names}
        for name, value in kwargs.items():
            setattr(self, name, value)
        return kwargs

    def _kwargs(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._names}

    def __call__(self, inputs: Array) -> Array:
        """Apply the wrapped pooling function to ``inputs`` (layout and shapes as that function)."""
        return type(self)._fn(inputs, **self._kwargs())


class _WindowPool(_Pool):
    def _init_window(self, values: dict[str, Any]) -> None:
        _fields.check_window_module(type(self)._fn, self._store(values))


_WINDOW = ("window_shape", "strides", "padding", "dilation", "ceil_mode", "channels_first")


class MaxPool(_WindowPool):
    """Max pooling layer: ``MaxPool(*args, **kwargs)(x) == jaxpool.max_pool(x, *args, **kwargs)``.

    Args:
      window_shape: int or N ints.
      strides: int or N ints; ``None`` = stride 1 (Flax convention, not PyTorch's "stride =
        window").
      padding: ``"VALID"``, ``"SAME"``, ``"SAME_LOWER"``, an int, N ints or N ``(low, high)`` pairs.
      dilation: int or N ints (``None`` = 1).
      ceil_mode: PyTorch's output rounding (explicit padding only).
      channels_first: input layout ``(*batch, features, *spatial)`` instead of ``(*batch, *spatial,
        features)``.

    Input/output shapes, dtypes, tie rule, gradients and errors: :func:`jaxpool.max_pool`.

    Raises:
      TypeError, ValueError: at construction, the input-independent errors of
        :func:`jaxpool.max_pool`.
    """

    _fn = staticmethod(jaxpool.max_pool)
    _names = _WINDOW

    def __init__(
        self,
        window_shape: IntSeq,
        strides: IntSeq | None = None,
        padding: Padding = "VALID",
        *,
        dilation: IntSeq | None = None,
        ceil_mode: bool = False,
        channels_first: bool = False,
    ):
        self._init_window(locals())


class MinPool(_WindowPool):
    """Min pooling layer: ``MinPool(*args, **kwargs)(x) == jaxpool.min_pool(x, *args, **kwargs)``.

    Args: as :class:`MaxPool`. Semantics, shapes, dtypes and errors: :func:`jaxpool.min_pool`.

    Raises:
      TypeError, ValueError: at construction, the input-independent errors of
        :func:`jaxpool.min_pool`.
    """

    _fn = staticmethod(jaxpool.min_pool)
    _names = _WINDOW

    def __init__(
        self,
        window_shape: IntSeq,
        strides: IntSeq | None = None,
        padding: Padding = "VALID",
        *,
        dilation: IntSeq | None = None,
        ceil_mode: bool = False,
        channels_first: bool = False,
    ):
        self._init_window(locals())


class SumPool(_WindowPool):
    """Sum pooling layer: ``SumPool(*args, **kwargs)(x) == jaxpool.sum_pool(x, *args, **kwargs)``.

    Args: as :class:`MaxPool`. Semantics, shapes, dtypes and errors: :func:`jaxpool.sum_pool`.

    Raises:
      TypeError, ValueError: at construction, the input-independent errors of
        :func:`jaxpool.sum_pool`.
    """

    _fn = staticmethod(jaxpool.sum_pool)
    _names = _WINDOW

    def __init__(
        self,
        window_shape: IntSeq,
        strides: IntSeq | None = None,
        padding: Padding = "VALID",
        *,
        dilation: IntSeq | None = None,
        ceil_mode: bool = False,
        channels_first: bool = False,
    ):
        self._init_window(locals())


class AvgPool(_WindowPool):
    """Average pooling layer: ``AvgPool(*args, **kwargs)(x) == jaxpool.avg_pool(x, *args,
    **kwargs)``.

    Args:
      window_shape, strides, padding, dilation, ceil_mode, channels_first: as :class:`MaxPool`.
      count_include_pad: whether padded positions count in the divisor (default True, as Flax and
        PyTorch).
      divisor_override: a positive int used as the divisor of every window, or ``None``.

    Semantics, shapes, dtypes and errors: :func:`jaxpool.avg_pool`.

    Raises:
      TypeError, ValueError: at construction, the input-independent errors of
        :func:`jaxpool.avg_pool`.
    """

    _fn = staticmethod(jaxpool.avg_pool)
    _names = (
        "window_shape",
        "strides",
        "padding",
        "count_include_pad",
        "divisor_override",
        "dilation",
        "ceil_mode",
        "channels_first",
    )

    def __init__(
        self,
        window_shape: IntSeq,
        strides: IntSeq | None = None,
        padding: Padding = "VALID",
        count_include_pad: bool = True,
        *,
        divisor_override: int | None = None,
        dilation: IntSeq | None = None,
        ceil_mode: bool = False,
        channels_first: bool = False,
    ):
        self._init_window(locals())


class LPPool(_WindowPool):
    """Lp pooling layer: ``LPPool(*args, **kwargs)(x) == jaxpool.lp_pool(x, *args, **kwargs)``.

    Args:
      norm_type: p, a finite number >= 1.
      window_shape, strides, padding, dilation, ceil_mode, channels_first: as :class:`MaxPool`.

    Semantics, shapes, dtypes and errors: :func:`jaxpool.lp_pool`.

    Raises:
      TypeError, ValueError: at construction, the input-independent errors of
        :func:`jaxpool.lp_pool` (e.g. ``norm_type < 1``).
    """

    _fn = staticmethod(jaxpool.lp_pool)
    _names = ("norm_type", *_WINDOW)

    def __init__(
        self,
        norm_type: float,
        window_shape: IntSeq,
        strides: IntSeq | None = None,
        padding: Padding = "VALID",
        *,
        dilation: IntSeq | None = None,
        ceil_mode: bool = False,
        channels_first: bool = False,
    ):
        self._init_window(locals())


class _PlainPool(_Pool):
    def _init_plain(self, values: dict[str, Any], spec: Any = None) -> None:
        kw = self._store(values)
        n = _fields.spec_num_spatial_dims(
            spec if spec is not None else kw.get("output_size"), kw.get("num_spatial_dims")
        )
        _fields.check_plain_module(type(self)._fn, kw, n)


class AdaptiveAvgPool(_PlainPool):
    """Adaptive average pooling layer: ``AdaptiveAvgPool(*a, **kw)(x) ==
    jaxpool.adaptive_avg_pool(x, *a, **kw)``.

    Args:
      output_size: a positive int per spatial dim or ``None`` (keep), or one int for ``inputs.ndim
        - 2`` dims.
      channels_first: input layout ``(*batch, features, *spatial)`` instead of ``(*batch, *spatial,
        features)``.

    Bins (PyTorch's rule), shapes, dtypes and errors: :func:`jaxpool.adaptive_avg_pool`.

    Raises:
      TypeError, ValueError: at construction, for a malformed ``output_size`` or a non-bool flag.
    """

    _fn = staticmethod(_adaptive.adaptive_avg_pool)
    _names = ("output_size", "channels_first")

    def __init__(self, output_size: int | Sequence[int | None], *, channels_first: bool = False):
        self._init_plain(locals())

    def __call__(self, inputs: Array) -> Array:
        """Adaptive-average-pool ``inputs``."""
        return _adaptive.adaptive_avg_pool(
            inputs, self.output_size, channels_first=self.channels_first
        )


class AdaptiveMaxPool(_PlainPool):
    """Adaptive max pooling layer: ``AdaptiveMaxPool(*a, **kw)(x) == jaxpool.adaptive_max_pool(x,
    *a, **kw)``.

    Args:
      output_size: a positive int per spatial dim or ``None`` (keep), or one int for ``inputs.ndim
        - 2`` dims.
      channels_first: input layout ``(*batch, features, *spatial)`` instead of ``(*batch, *spatial,
        features)``.
      return_indices: return ``(values, int32 indices)`` (PyTorch convention) instead of values.

    Bins, ties, gradients, shapes, dtypes and errors: :func:`jaxpool.adaptive_max_pool`.

    Raises:
      TypeError, ValueError: at construction, for a malformed ``output_size`` or non-bool flags.
    """

    _fn = staticmethod(_adaptive.adaptive_max_pool)
    _names = ("output_size", "channels_first", "return_indices")

    def __init__(
        self,
        output_size: int | Sequence[int | None],
        *,
        channels_first: bool = False,
        return_indices: bool = False,
    ):
        self._init_plain(locals())

    def __call__(self, inputs: Array) -> Array | tuple[Array, Array]:
        """Adaptive-max-pool ``inputs``."""
        return _adaptive.adaptive_max_pool(
            inputs,
            self.output_size,
            channels_first=self.channels_first,
            return_indices=self.return_indices,
        )


class GlobalAvgPool(_PlainPool):
    """Global average pooling layer: ``GlobalAvgPool(**kw)(x) == jaxpool.global_avg_pool(x, **kw)``.

    Args:
      num_spatial_dims: N (default ``inputs.ndim - 2``).
      channels_first: input layout ``(*batch, features, *spatial)`` instead of ``(*batch, *spatial,
        features)``.
      keepdims: keep size-1 spatial dims.

    Shapes, dtypes and errors: :func:`jaxpool.global_avg_pool`.

    Raises:
      TypeError, ValueError: at construction, for a bad ``num_spatial_dims`` or non-bool flags.
    """

    _fn = staticmethod(_global.global_avg_pool)
    _names = ("num_spatial_dims", "channels_first", "keepdims")

    def __init__(
        self,
        *,
        num_spatial_dims: int | None = None,
        channels_first: bool = False,
        keepdims: bool = False,
    ):
        self._init_plain(locals())


class GlobalMaxPool(_PlainPool):
    """Global max pooling layer: ``GlobalMaxPool(**kw)(x) == jaxpool.global_max_pool(x, **kw)``.

    Args: as :class:`GlobalAvgPool`. Ties, gradients, shapes, dtypes and errors:
    :func:`jaxpool.global_max_pool`.

    Raises:
      TypeError, ValueError: at construction, for a bad ``num_spatial_dims`` or non-bool flags.
    """

    _fn = staticmethod(_global.global_max_pool)
    _names = ("num_spatial_dims", "channels_first", "keepdims")

    def __init__(
        self,
        *,
        num_spatial_dims: int | None = None,
        channels_first: bool = False,
        keepdims: bool = False,
    ):
        self._init_plain(locals())


class BlurPool(_PlainPool):
    """Anti-aliased downsampling layer (Zhang 2019): ``BlurPool(*a, **kw)(x) ==
    jaxpool.blur_pool(x, *a, **kw)``.

    Args:
      strides: int or N ints, the subsampling factor (default 2).
      filter_size: binomial filter taps per dim (default 4: [1, 3, 3, 1] / 8).
      padding: ``"reflect"`` (default) or ``"zero"``.
      channels_first: input layout ``(*batch, features, *spatial)`` instead of ``(*batch, *spatial,
        features)``.
      num_spatial_dims: N (default ``len(strides)`` for a tuple, else ``inputs.ndim - 2``).

    Semantics, shapes, dtypes and errors: :func:`jaxpool.blur_pool`. The paper's anti-aliased max
      pooling is
    ``nnx.Sequential(MaxPool(2, strides=1), BlurPool(2))``.

    Raises:
      TypeError, ValueError: at construction, the input-independent errors of
        :func:`jaxpool.blur_pool`.
    """

    _fn = staticmethod(_blur.blur_pool)
    _names = ("strides", "filter_size", "padding", "channels_first", "num_spatial_dims")

    def __init__(
        self,
        strides: int | Sequence[int] = 2,
        filter_size: int = 4,
        *,
        padding: str = "reflect",
        channels_first: bool = False,
        num_spatial_dims: int | None = None,
    ):
        self._init_plain(locals(), spec=strides)


class FractionalMaxPool(nnx.Module):
    """Fractional max pooling layer (Graham 2014): ``FractionalMaxPool(*a, **kw)(x, rngs=rngs)`` is
    ``jaxpool.fractional_max_pool(x, *a, **kw, key=rngs.pooling())`` in training (with ``rngs`` given to the
    constructor instead, the key is the next one of the module's fork of that stream) and
    ``jaxpool.fractional_max_pool(x, *a, **kw, samples=0.5)`` when deterministic.

    Args:
      window_shape: int or N positive ints.
      output_size: int or N ints (exactly one of ``output_size`` and ``output_ratio``).
      output_ratio: float or N floats in (0, 1).
      channels_first: input layout ``(*batch, features, *spatial)`` instead of ``(*batch, *spatial,
        features)``.
      return_indices: return ``(values, int32 indices)`` (PyTorch convention) instead of values.
      deterministic: evaluation mode (``model.eval()`` sets it, ``model.train()`` clears it; a
        ``deterministic`` passed to ``__call__`` takes precedence), as ``nnx.Dropout``.
      rng_collection: the ``nnx.Rngs`` stream the samples come from (default ``"pooling"``).
      rngs: an ``nnx.Rngs`` (its ``rng_collection`` stream is forked and kept) or an ``nnx.RngStream``;
        may instead be given at call time. One key per call, ``jax.random.uniform`` samples per plane and dim.

    Evaluation (``deterministic=True``) uses no RNG: every plane and dim gets the sample ``0.5``
    (PyTorch's module has no evaluation mode). A fixed sample makes evaluation reproducible and each
    example's output independent of its batch (a fixed key would not: its samples depend on the batch
    shape); 0.5, the middle of the sample range, spreads the windows evenly.

    Values, ties, gradients, shapes, dtypes and errors: :func:`jaxpool.fractional_max_pool`.

    Raises:
      TypeError, ValueError: at construction, for malformed ``window_shape``, ``output_size``,
        ``output_ratio`` (both or neither, ratios outside (0, 1)), non-bool flags, or ``rngs`` of another type;
        at call time, without ``rngs`` when not deterministic.
    """

    def __init__(
        self,
        window_shape: int | Sequence[int],
        output_size: int | Sequence[int] | None = None,
        output_ratio: float | Sequence[float] | None = None,
        *,
        channels_first: bool = False,
        return_indices: bool = False,
        deterministic: bool = False,
        rng_collection: str = "pooling",
        rngs: nnx.Rngs | nnx.RngStream | None = None,
    ):
        _fractional.check_args(window_shape, output_size, output_ratio, channels_first, return_indices)
        self.window_shape = _fields.tupled(window_shape)
        self.output_size = _fields.tupled(output_size)
        self.output_ratio = _fields.tupled(output_ratio)
        self.channels_first = channels_first
        self.return_indices = return_indices
        self.deterministic = deterministic
        self.rng_collection = rng_collection
        if isinstance(rngs, nnx.Rngs):
            self.rngs = rngs[rng_collection].fork()
        elif isinstance(rngs, nnx.RngStream):
            self.rngs = rngs.fork()
        elif rngs is None:
            self.rngs = nnx.data(None)
        else:
            raise TypeError(f"rngs must be an nnx.Rngs, an nnx.RngStream or None, got {type(rngs).__name__}")

    def __call__(
        self, inputs: Array, *, deterministic: bool | None = None, rngs: nnx.Rngs | nnx.RngStream | None = None
    ) -> Array | tuple[Array, Array]:
        """Fractional-max-pool ``inputs``; samples from the stream unless deterministic."""
        kw = {
            "output_size": self.output_size,
            "output_ratio": self.output_ratio,
            "channels_first": self.channels_first,
            "return_indices": self.return_indices,
        }
        if self.deterministic if deterministic is None else deterministic:
            return _fractional.fractional_max_pool(inputs, self.window_shape, **kw, samples=_fractional.EVAL_SAMPLE)
        stream = self.rngs if rngs is None else rngs
        if isinstance(stream, nnx.Rngs):
            stream = stream[self.rng_collection]
        if not isinstance(stream, nnx.RngStream):
            raise ValueError(
                "FractionalMaxPool is not deterministic but has no rngs: pass rngs=nnx.Rngs(pooling=seed) to the "
                "constructor or the call, or deterministic=True (model.eval())"
            )
        return _fractional.fractional_max_pool(inputs, self.window_shape, **kw, key=stream())

    def set_view(self, deterministic: bool | None = None) -> None:
        """Used by ``nnx.view`` / ``model.eval()``: set the evaluation mode."""
        if deterministic is not None:
            self.deterministic = deterministic

for _module in (MaxPool, MinPool, SumPool, AvgPool, LPPool, AdaptiveAvgPool, AdaptiveMaxPool, GlobalAvgPool,
                GlobalMaxPool, BlurPool, FractionalMaxPool):
    _args.torch_names_init(_module)  # PyTorch spellings (kernel_size=...) get a TypeError naming jaxpool's argument
