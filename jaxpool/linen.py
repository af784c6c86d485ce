"""Flax Linen modules for every jaxpool op: ``MaxPool``, ``AvgPool``, ``BlurPool`` and friends.

Each module wraps the function of the same name (``MaxPool`` -> :func:`jaxpool.max_pool`): its
fields are that function's arguments after ``inputs``, with the same names, order, defaults and
annotations, and ``module(x)`` returns ``function(x, **fields)`` -- values, gradients and errors are
the function's. The fields are not written here: :class:`_LinenPool` derives them with
``inspect.signature`` from the row of ``jaxpool._modules.OPS`` named like the class, so each class
below is a class statement with its docstring. Linen fields are all positional-or-keyword (the
dataclass convention), in the function's order. The modules hold no parameters and no state, so
they drop into ``nn.Sequential``, ``nn.jit``, ``nn.vmap``, ``nn.remat`` and the body of ``nn.scan``
like any stateless layer.

Every field check that does not depend on the input runs when the module is built (``MaxPool(0)``
raises ValueError immediately); checks that need the input (rank, sizes) run at call time.
List-valued fields are stored as tuples. PyTorch spellings (``kernel_size=``, ``stride=``) raise a
TypeError naming jaxpool's field.

Example::

    import flax.linen as nn
    import jaxpool.linen as jpl

    model = nn.Sequential([nn.Conv(8, (3, 3)), nn.relu, jpl.MaxPool((2, 2), strides=(2, 2)),
                           jpl.GlobalAvgPool(), nn.Dense(10)])
"""

from __future__ import annotations

import inspect
from typing import Any

import flax.linen as nn
import jax

from jaxpool import _args, _fields, _modules

Array = jax.Array


class _LinenPool(nn.Module):
    """The base of every module here: fields derived from the wrapped function, checked when built.

    A direct subclass is named after a row of ``jaxpool._modules.OPS``; its fields become the row's
    :func:`jaxpool._modules.parameters` (then, for a random op, ``deterministic: bool | None = None``
    and ``rng_collection: str`` defaulting to the row's stream), ahead of any field the class body
    declares. Subclasses made by Flax's lifted transforms (``nn.remat(MaxPool)``) inherit them.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        table_class = _LinenPool in cls.__bases__  # not a Flax-lifted subclass of one
        if table_class:
            op = _modules.lookup(cls.__name__)
            params = _modules.parameters(op)
            fields = {p.name: (p.annotation, p.default) for p in params}
            if op.random is not None:
                fields["deterministic"] = (bool | None, None)
                fields["rng_collection"] = (str, op.random.stream)
                cls.__call__ = _LinenPool._random_call  # type: ignore[method-assign]
            own = dict(cls.__dict__.get("__annotations__", {}))
            cls.__annotations__ = {name: ann for name, (ann, _) in fields.items()} | own
            for name, (_, default) in fields.items():
                if default is not inspect.Parameter.empty:
                    setattr(cls, name, default)
            cls._op = op
            cls._names = tuple(p.name for p in params)
        super().__init_subclass__(**kwargs)  # the Flax dataclass transform
        if table_class:
            _args.torch_names_init(cls)  # PyTorch spellings (kernel_size=...) get a TypeError naming the field

    def __post_init__(self) -> None:
        """Store list fields as tuples and run the op's input-independent checks (TypeError/ValueError)."""
        kwargs = {}
        for name in self._names:
            kwargs[name] = _fields.tupled(getattr(self, name))
            object.__setattr__(self, name, kwargs[name])
        self._op.check(self._op.fn, kwargs)
        if self._op.random is not None:
            _args.check_mode(self.deterministic, self.rng_collection)
        super().__post_init__()

    @nn.nowrap
    def _kwargs(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._names}

    def __call__(self, inputs: Array) -> Array | tuple[Array, Array]:
        """Apply the wrapped function to ``inputs``: ``fn(inputs, **fields)`` (layouts, shapes, dtypes and
        errors as that function)."""
        return self._op.fn(inputs, **self._kwargs())

    def _random_call(self, inputs: Array, deterministic: bool | None = None) -> Array | tuple[Array, Array]:
        """``__call__`` of a random op: ``fn(inputs, **fields, key=self.make_rng(rng_collection))`` in
        training, ``fn(inputs, **fields, **eval_kwargs)`` (no RNG) when deterministic. ``deterministic`` is
        given either as the field or here, not both (``flax.linen.merge_param`` raises ValueError), as in
        ``flax.linen.Dropout``; a non-bool is a TypeError."""
        _args.check_mode(deterministic)
        random = self._op.random
        if nn.merge_param("deterministic", self.deterministic, deterministic):
            return self._op.fn(inputs, **self._kwargs(), **random.eval_kwargs)
        return self._op.fn(inputs, **self._kwargs(), **{random.key: self.make_rng(self.rng_collection)})


class MaxPool(_LinenPool):
    """Max pooling layer: ``MaxPool(**fields)(x) == jaxpool.max_pool(x, **fields)``.

    Attributes:
      window_shape: int or N ints.
      strides: int or N ints; ``None`` = stride 1 (Flax convention, not PyTorch's "stride = window").
      padding: ``"VALID"``, ``"SAME"``, ``"SAME_LOWER"``, an int, N ints or N ``(low, high)`` pairs.
      dilation: int or N ints (``None`` = 1).
      ceil_mode: PyTorch's output rounding (explicit padding only).
      channels_first: input layout ``(*batch, features, *spatial)`` instead of ``(*batch, *spatial, features)``.

    Input/output shapes, dtypes, tie rule, gradients and errors: :func:`jaxpool.max_pool`.
    Raises at construction: the input-independent TypeError/ValueError of :func:`jaxpool.max_pool`.
    """


class MinPool(_LinenPool):
    """Min pooling layer: ``MinPool(**fields)(x) == jaxpool.min_pool(x, **fields)``.

    Attributes: as :class:`MaxPool`. Semantics, shapes, dtypes and errors: :func:`jaxpool.min_pool`.
    Raises at construction: the input-independent TypeError/ValueError of :func:`jaxpool.min_pool`.
    """


class SumPool(_LinenPool):
    """Sum pooling layer: ``SumPool(**fields)(x) == jaxpool.sum_pool(x, **fields)``.

    Attributes: as :class:`MaxPool`. Semantics, shapes, dtypes and errors: :func:`jaxpool.sum_pool`.
    Raises at construction: the input-independent TypeError/ValueError of :func:`jaxpool.sum_pool`.
    """


class AvgPool(_LinenPool):
    """Average pooling layer: ``AvgPool(**fields)(x) == jaxpool.avg_pool(x, **fields)``.

    Attributes:
      window_shape, strides, padding, dilation, ceil_mode, channels_first: as :class:`MaxPool`.
      count_include_pad: whether padded positions count in the divisor (default True, as Flax and PyTorch).
      divisor_override: a positive int used as the divisor of every window, or ``None``.

    Semantics, shapes, dtypes and errors: :func:`jaxpool.avg_pool`.
    Raises at construction: the input-independent TypeError/ValueError of :func:`jaxpool.avg_pool`.
    """


class LPPool(_LinenPool):
    """Power-average (Lp) pooling layer: ``LPPool(**fields)(x) == jaxpool.lp_pool(x, **fields)``.

    Attributes:
      norm_type: p, a finite number >= 1.
      window_shape, strides, padding, dilation, ceil_mode, channels_first: as :class:`MaxPool`.

    Semantics, shapes, dtypes and errors: :func:`jaxpool.lp_pool`.
    Raises at construction: the input-independent TypeError/ValueError of :func:`jaxpool.lp_pool`
    (e.g. ``norm_type < 1``).
    """


class MaxPoolWithIndices(_LinenPool):
    """Max pooling layer returning ``(values, int32 indices)``: ``MaxPoolWithIndices(**fields)(x) ==
    jaxpool.max_pool_with_indices(x, **fields)`` (PyTorch's ``return_indices=True``; feeds ``jaxpool.max_unpool``).

    Attributes: as :class:`MaxPool`. Index rule, shapes, dtypes and errors: :func:`jaxpool.max_pool_with_indices`.
    Raises at construction: the input-independent TypeError/ValueError of that function.
    """


class MinPoolWithIndices(_LinenPool):
    """Min pooling layer returning ``(values, int32 indices)``: ``MinPoolWithIndices(**fields)(x) ==
    jaxpool.min_pool_with_indices(x, **fields)``.

    Attributes: as :class:`MaxPool`. Index rule, shapes, dtypes and errors: :func:`jaxpool.min_pool_with_indices`.
    Raises at construction: the input-independent TypeError/ValueError of that function.
    """


class AdaptiveAvgPool(_LinenPool):
    """Adaptive average pooling layer: ``AdaptiveAvgPool(**fields)(x) == jaxpool.adaptive_avg_pool(x, **fields)``.

    Attributes:
      output_size: a positive int per spatial dim or ``None`` (keep), or one int for ``inputs.ndim - 2`` dims.
      channels_first: input layout ``(*batch, features, *spatial)`` instead of ``(*batch, *spatial, features)``.

    Bins (PyTorch's rule), shapes, dtypes and errors: :func:`jaxpool.adaptive_avg_pool`.
    Raises at construction: TypeError/ValueError for a malformed ``output_size`` or non-bool flag.
    """


class AdaptiveMaxPool(_LinenPool):
    """Adaptive max pooling layer: ``AdaptiveMaxPool(**fields)(x) == jaxpool.adaptive_max_pool(x, **fields)``.

    Attributes:
      output_size, channels_first: as :class:`AdaptiveAvgPool`.
      return_indices: return ``(values, int32 indices)`` (PyTorch convention) instead of values.

    Bins, ties, gradients, shapes, dtypes and errors: :func:`jaxpool.adaptive_max_pool`.
    Raises at construction: TypeError/ValueError for a malformed ``output_size`` or non-bool flags.
    """


class GlobalAvgPool(_LinenPool):
    """Global average pooling layer: ``GlobalAvgPool(**fields)(x) == jaxpool.global_avg_pool(x, **fields)``.

    Attributes:
      num_spatial_dims: N (default ``inputs.ndim - 2``).
      channels_first: input layout ``(*batch, features, *spatial)`` instead of ``(*batch, *spatial, features)``.
      keepdims: keep size-1 spatial dims.

    Shapes, dtypes and errors: :func:`jaxpool.global_avg_pool`.
    Raises at construction: TypeError/ValueError for a bad ``num_spatial_dims`` or non-bool flags.
    """


class GlobalMaxPool(_LinenPool):
    """Global max pooling layer: ``GlobalMaxPool(**fields)(x) == jaxpool.global_max_pool(x, **fields)``.

    Attributes: as :class:`GlobalAvgPool`. Ties, gradients, shapes, dtypes and errors:
    :func:`jaxpool.global_max_pool`.
    Raises at construction: TypeError/ValueError for a bad ``num_spatial_dims`` or non-bool flags.
    """


class BlurPool(_LinenPool):
    """Anti-aliased downsampling layer (Zhang 2019): ``BlurPool(**fields)(x) == jaxpool.blur_pool(x, **fields)``.

    Attributes:
      strides: int or N ints, the subsampling factor (default 2).
      filter_size: binomial filter taps per dim (default 4: [1, 3, 3, 1] / 8).
      padding: ``"reflect"`` (default) or ``"zero"``.
      channels_first: input layout ``(*batch, features, *spatial)`` instead of ``(*batch, *spatial, features)``.
      num_spatial_dims: N (default ``len(strides)`` for a tuple, else ``inputs.ndim - 2``).

    Semantics, shapes, dtypes and errors: :func:`jaxpool.blur_pool`. The paper's anti-aliased max pooling is
    ``nn.Sequential([MaxPool(2, strides=1), BlurPool(2)])``.
    Raises at construction: the input-independent TypeError/ValueError of :func:`jaxpool.blur_pool`.
    """


class FractionalMaxPool(_LinenPool):
    """Fractional max pooling layer (Graham 2014): with ``op`` the fields other than ``deterministic`` and
    ``rng_collection``, ``FractionalMaxPool(**fields)(x)`` is ``jaxpool.fractional_max_pool(x, **op,
    key=self.make_rng(rng_collection))`` in training and ``jaxpool.fractional_max_pool(x, **op, samples=0.5)``
    when deterministic.

    Attributes:
      window_shape: int or N positive ints.
      output_size: int or N ints (exactly one of ``output_size`` and ``output_ratio``).
      output_ratio: float or N floats in (0, 1).
      channels_first: input layout ``(*batch, features, *spatial)`` instead of ``(*batch, *spatial, features)``.
      return_indices: return ``(values, int32 indices)`` (PyTorch convention) instead of values.
      deterministic: evaluation mode, a bool; may instead be passed to ``__call__`` (one of the two, not
        both: ``flax.linen.merge_param`` raises ValueError), as ``flax.linen.Dropout``.
      rng_collection: the RNG stream the training-mode samples come from (default ``"pooling"``: ``apply(...,
        rngs={"pooling": key})``); one key per call, ``jax.random.uniform`` samples per plane and dim.

    Evaluation (``deterministic=True``) uses no RNG: every plane and dim gets the sample ``0.5`` (PyTorch's
    module has no evaluation mode: it draws new samples at every call). A fixed sample makes evaluation
    reproducible and each example's output independent of its batch and of its position in it (a fixed key
    would not be: the samples it draws depend on the batch shape), and 0.5 is the middle of the sample range:
    windows spread evenly, the sequence a typical draw gives.

    Values, ties, gradients, shapes, dtypes and errors: :func:`jaxpool.fractional_max_pool`.
    Raises at construction: TypeError/ValueError for malformed ``window_shape``, ``output_size``,
    ``output_ratio`` (both or neither given, ratios outside (0, 1)) or non-bool flags.
    """


#: The module classes, one per row of ``jaxpool._modules.OPS`` (tests/test_modules.py checks each is defined).
__all__ = [*_modules.OPS]
