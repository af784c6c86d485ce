"""Flax NNX modules for every jaxpool op: ``MaxPool``, ``AvgPool``, ``BlurPool`` and friends.

The NNX twins of :mod:`jaxpool.linen`, with the same names. Each module wraps the function of the same name
(``MaxPool`` -> :func:`jaxpool.max_pool`); it is constructed with that function's arguments after ``inputs``
(same names, defaults, annotations and positional/keyword-only split; no ``rngs``) and ``module(x)`` returns
``function(x, **arguments)``. The constructors are not written here: :class:`_NnxPool` derives each one with
``inspect.signature`` from the row of ``jaxpool._modules.OPS`` named like the class (``help()`` shows it), so
each class below is a class statement with its docstring. The modules hold no parameters or state (every
attribute is static), so they work inside ``nnx.Sequential``, ``nnx.jit``, ``nnx.vmap``, ``nnx.remat`` and
scanned blocks.

Every argument check that does not depend on the input runs in the constructor (``MaxPool(0)`` raises
ValueError); checks that need the input (rank, sizes) run at call time. Lists are stored as tuples. PyTorch
spellings (``kernel_size=``, ``stride=``) raise a TypeError naming jaxpool's argument.

Example::

    from flax import nnx
    import jaxpool.nnx as jpn

    model = nnx.Sequential(nnx.Conv(1, 8, (3, 3), rngs=nnx.Rngs(0)), nnx.relu,
                           jpn.MaxPool((2, 2), strides=(2, 2)), jpn.GlobalAvgPool())
"""

from __future__ import annotations

import inspect
from typing import Any

import jax
from flax import nnx

from jaxpool import _args, _fields, _modules

Array = jax.Array
_KW = inspect.Parameter.KEYWORD_ONLY
_SELF = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)


class _NnxPool(nnx.Module):
    """The base of every module here: a constructor derived from the wrapped function, checked when called.

    A direct subclass is named after a row of ``jaxpool._modules.OPS``; its ``__init__`` takes the row's
    :func:`jaxpool._modules.parameters` (then, for a random op, keyword-only ``deterministic=False``,
    ``rng_collection`` defaulting to the row's stream, and ``rngs=None``) and the class's ``__signature__``
    is that signature.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if _NnxPool not in cls.__bases__:
            return
        op = _modules.lookup(cls.__name__)
        params = list(_modules.parameters(op))
        if op.random is not None:
            params += [
                inspect.Parameter("deterministic", _KW, default=False, annotation=bool),
                inspect.Parameter("rng_collection", _KW, default=op.random.stream, annotation=str),
                inspect.Parameter("rngs", _KW, default=None, annotation=nnx.Rngs | nnx.RngStream | None),
            ]
            cls.__call__ = _NnxPool._random_call  # type: ignore[method-assign]
            cls.set_view = _NnxPool._set_view  # type: ignore[attr-defined]
        signature, init_signature = inspect.Signature(params), inspect.Signature([_SELF, *params])

        def __init__(self: _NnxPool, *args: Any, **kwargs: Any) -> None:
            try:
                bound = init_signature.bind(self, *args, **kwargs)
            except TypeError as err:  # name the class, as Python's own message would
                raise TypeError(f"{cls.__name__}(): {err}") from None
            self._setup(bound)

        __init__.__signature__ = init_signature  # type: ignore[attr-defined]
        __init__.__qualname__ = f"{cls.__qualname__}.__init__"
        __init__.__doc__ = f"Build the module from the arguments of :func:`jaxpool.{op.fn.__name__}` after inputs."
        cls.__init__ = __init__  # type: ignore[method-assign]
        cls.__signature__ = signature  # type: ignore[attr-defined]
        cls._op = op
        cls._names = tuple(p.name for p in _modules.parameters(op))
        _args.torch_names_init(cls)  # PyTorch spellings (kernel_size=...) get a TypeError naming the argument

    def _setup(self, bound: inspect.BoundArguments) -> None:
        """Check the arguments (the op's input-independent TypeError/ValueError), then store them, lists as
        tuples."""
        bound.apply_defaults()
        arguments = bound.arguments
        kwargs = {name: _fields.tupled(arguments[name]) for name in self._names}
        self._op.check(self._op.fn, kwargs)
        rngs = arguments.get("rngs")
        if self._op.random is not None and not isinstance(rngs, nnx.Rngs | nnx.RngStream | None):
            raise TypeError(f"rngs must be an nnx.Rngs, an nnx.RngStream or None, got {type(rngs).__name__}")
        for name, value in kwargs.items():
            setattr(self, name, value)
        if self._op.random is not None:
            _args.check_mode(arguments["deterministic"], arguments["rng_collection"], optional=False)
            self.deterministic, self.rng_collection = arguments["deterministic"], arguments["rng_collection"]
            stream = rngs[self.rng_collection] if isinstance(rngs, nnx.Rngs) else rngs
            self.rngs = nnx.data(None) if stream is None else stream.fork()  # the module's own fork of the stream

    def _kwargs(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._names}

    def __call__(self, inputs: Array) -> Array | tuple[Array, Array]:
        """Apply the wrapped function to ``inputs``: ``fn(inputs, **arguments)`` (layouts, shapes, dtypes and
        errors as that function)."""
        return self._op.fn(inputs, **self._kwargs())

    def _random_call(
        self, inputs: Array, *, deterministic: bool | None = None, rngs: nnx.Rngs | nnx.RngStream | None = None
    ) -> Array | tuple[Array, Array]:
        """``__call__`` of a random op: ``fn(inputs, **arguments, key=stream())`` in training, with the stream
        of ``rngs`` given here or else the module's own, and ``fn(inputs, **arguments, **eval_kwargs)`` (no RNG)
        when deterministic (``deterministic`` given here takes precedence over the attribute).

        Raises:
          TypeError: ``deterministic`` neither None nor a bool.
          ValueError: not deterministic and no stream (neither here nor at construction).
        """
        _args.check_mode(deterministic)
        random = self._op.random
        if self.deterministic if deterministic is None else deterministic:
            return self._op.fn(inputs, **self._kwargs(), **random.eval_kwargs)
        stream = self.rngs if rngs is None else rngs
        if isinstance(stream, nnx.Rngs):
            stream = stream[self.rng_collection]
        if not isinstance(stream, nnx.RngStream):
            raise ValueError(
                f"{type(self).__name__} is not deterministic but has no rngs: pass rngs=nnx.Rngs("
                f"{self.rng_collection}=seed) to the constructor or the call, or deterministic=True (model.eval())"
            )
        return self._op.fn(inputs, **self._kwargs(), **{random.key: stream()})

    def _set_view(self, deterministic: bool | None = None) -> None:
        """``set_view`` of a random op, used by ``nnx.view``: set the evaluation mode."""
        _args.check_mode(deterministic)
        if deterministic is not None:
            self.deterministic = deterministic


class MaxPool(_NnxPool):
    """Max pooling layer: ``MaxPool(*args, **kwargs)(x) == jaxpool.max_pool(x, *args, **kwargs)``.

    Args:
      window_shape: int or N ints.
      strides: int or N ints; ``None`` = stride 1 (Flax convention, not PyTorch's "stride = window").
      padding: ``"VALID"``, ``"SAME"``, ``"SAME_LOWER"``, an int, N ints or N ``(low, high)`` pairs.
      dilation: int or N ints (``None`` = 1).
      ceil_mode: PyTorch's output rounding (explicit padding only).
      channels_first: input layout ``(*batch, features, *spatial)`` instead of ``(*batch, *spatial, features)``.

    Input/output shapes, dtypes, tie rule, gradients and errors: :func:`jaxpool.max_pool`.

    Raises:
      TypeError, ValueError: at construction, the input-independent errors of :func:`jaxpool.max_pool`.
    """


class MinPool(_NnxPool):
    """Min pooling layer: ``MinPool(*args, **kwargs)(x) == jaxpool.min_pool(x, *args, **kwargs)``.

    Args: as :class:`MaxPool`. Semantics, shapes, dtypes and errors: :func:`jaxpool.min_pool`.

    Raises:
      TypeError, ValueError: at construction, the input-independent errors of :func:`jaxpool.min_pool`.
    """


class SumPool(_NnxPool):
    """Sum pooling layer: ``SumPool(*args, **kwargs)(x) == jaxpool.sum_pool(x, *args, **kwargs)``.

    Args: as :class:`MaxPool`. Semantics, shapes, dtypes and errors: :func:`jaxpool.sum_pool`.

    Raises:
      TypeError, ValueError: at construction, the input-independent errors of :func:`jaxpool.sum_pool`.
    """


class AvgPool(_NnxPool):
    """Average pooling layer: ``AvgPool(*args, **kwargs)(x) == jaxpool.avg_pool(x, *args, **kwargs)``.

    Args:
      window_shape, strides, padding, dilation, ceil_mode, channels_first: as :class:`MaxPool`.
      count_include_pad: whether padded positions count in the divisor (default True, as Flax and PyTorch).
      divisor_override: a positive int used as the divisor of every window, or ``None``.

    Semantics, shapes, dtypes and errors: :func:`jaxpool.avg_pool`.

    Raises:
      TypeError, ValueError: at construction, the input-independent errors of :func:`jaxpool.avg_pool`.
    """


class LPPool(_NnxPool):
    """Lp pooling layer: ``LPPool(*args, **kwargs)(x) == jaxpool.lp_pool(x, *args, **kwargs)``.

    Args:
      norm_type: p, a finite number >= 1.
      window_shape, strides, padding, dilation, ceil_mode, channels_first: as :class:`MaxPool`.

    Semantics, shapes, dtypes and errors: :func:`jaxpool.lp_pool`.

    Raises:
      TypeError, ValueError: at construction, the input-independent errors of :func:`jaxpool.lp_pool`
        (e.g. ``norm_type < 1``).
    """


class MaxPoolWithIndices(_NnxPool):
    """Max pooling layer returning ``(values, int32 indices)``: ``MaxPoolWithIndices(*a, **kw)(x) ==
    jaxpool.max_pool_with_indices(x, *a, **kw)`` (PyTorch's ``return_indices=True``; feeds ``jaxpool.max_unpool``).

    Args: as :class:`MaxPool`. Index rule, shapes, dtypes and errors: :func:`jaxpool.max_pool_with_indices`.

    Raises:
      TypeError, ValueError: at construction, the input-independent errors of that function.
    """


class MinPoolWithIndices(_NnxPool):
    """Min pooling layer returning ``(values, int32 indices)``: ``MinPoolWithIndices(*a, **kw)(x) ==
    jaxpool.min_pool_with_indices(x, *a, **kw)``.

    Args: as :class:`MaxPool`. Index rule, shapes, dtypes and errors: :func:`jaxpool.min_pool_with_indices`.

    Raises:
      TypeError, ValueError: at construction, the input-independent errors of that function.
    """


class AdaptiveAvgPool(_NnxPool):
    """Adaptive average pooling layer: ``AdaptiveAvgPool(*a, **kw)(x) == jaxpool.adaptive_avg_pool(x, *a, **kw)``.

    Args:
      output_size: a positive int per spatial dim or ``None`` (keep), or one int for ``inputs.ndim - 2`` dims.
      channels_first: input layout ``(*batch, features, *spatial)`` instead of ``(*batch, *spatial, features)``.

    Bins (PyTorch's rule), shapes, dtypes and errors: :func:`jaxpool.adaptive_avg_pool`.

    Raises:
      TypeError, ValueError: at construction, for a malformed ``output_size`` or a non-bool flag.
    """


class AdaptiveMaxPool(_NnxPool):
    """Adaptive max pooling layer: ``AdaptiveMaxPool(*a, **kw)(x) == jaxpool.adaptive_max_pool(x, *a, **kw)``.

    Args:
      output_size, channels_first: as :class:`AdaptiveAvgPool`.
      return_indices: return ``(values, int32 indices)`` (PyTorch convention) instead of values.

    Bins, ties, gradients, shapes, dtypes and errors: :func:`jaxpool.adaptive_max_pool`.

    Raises:
      TypeError, ValueError: at construction, for a malformed ``output_size`` or non-bool flags.
    """


class GlobalAvgPool(_NnxPool):
    """Global average pooling layer: ``GlobalAvgPool(**kw)(x) == jaxpool.global_avg_pool(x, **kw)``.

    Args:
      num_spatial_dims: N (default ``inputs.ndim - 2``).
      channels_first: input layout ``(*batch, features, *spatial)`` instead of ``(*batch, *spatial, features)``.
      keepdims: keep size-1 spatial dims.

    Shapes, dtypes and errors: :func:`jaxpool.global_avg_pool`.

    Raises:
      TypeError, ValueError: at construction, for a bad ``num_spatial_dims`` or non-bool flags.
    """


class GlobalMaxPool(_NnxPool):
    """Global max pooling layer: ``GlobalMaxPool(**kw)(x) == jaxpool.global_max_pool(x, **kw)``.

    Args: as :class:`GlobalAvgPool`. Ties, gradients, shapes, dtypes and errors: :func:`jaxpool.global_max_pool`.

    Raises:
      TypeError, ValueError: at construction, for a bad ``num_spatial_dims`` or non-bool flags.
    """


class BlurPool(_NnxPool):
    """Anti-aliased downsampling layer (Zhang 2019): ``BlurPool(*a, **kw)(x) == jaxpool.blur_pool(x, *a, **kw)``.

    Args:
      strides: int or N ints, the subsampling factor (default 2).
      filter_size: binomial filter taps per dim (default 4: [1, 3, 3, 1] / 8).
      padding: ``"reflect"`` (default) or ``"zero"``.
      channels_first: input layout ``(*batch, features, *spatial)`` instead of ``(*batch, *spatial, features)``.
      num_spatial_dims: N (default ``len(strides)`` for a tuple, else ``inputs.ndim - 2``).

    Semantics, shapes, dtypes and errors: :func:`jaxpool.blur_pool`. The paper's anti-aliased max pooling is
    ``nnx.Sequential(MaxPool(2, strides=1), BlurPool(2))``.

    Raises:
      TypeError, ValueError: at construction, the input-independent errors of :func:`jaxpool.blur_pool`.
    """


class FractionalMaxPool(_NnxPool):
    """Fractional max pooling layer (Graham 2014): ``FractionalMaxPool(*a, **kw)(x, rngs=rngs)`` is
    ``jaxpool.fractional_max_pool(x, *a, **kw, key=rngs.pooling())`` in training (with ``rngs`` given to the
    constructor instead, the key is the next one of the module's fork of that stream) and
    ``jaxpool.fractional_max_pool(x, *a, **kw, samples=0.5)`` when deterministic.

    Args:
      window_shape: int or N positive ints.
      output_size: int or N ints (exactly one of ``output_size`` and ``output_ratio``).
      output_ratio: float or N floats in (0, 1).
      channels_first: input layout ``(*batch, features, *spatial)`` instead of ``(*batch, *spatial, features)``.
      return_indices: return ``(values, int32 indices)`` (PyTorch convention) instead of values.
      deterministic: evaluation mode (``model.eval()`` sets it, ``model.train()`` clears it; a
        ``deterministic`` passed to ``__call__`` takes precedence), as ``nnx.Dropout``.
      rng_collection: the ``nnx.Rngs`` stream the samples come from (default ``"pooling"``).
      rngs: an ``nnx.Rngs`` (its ``rng_collection`` stream is forked and kept) or an ``nnx.RngStream``;
        may instead be given at call time. One key per call, ``jax.random.uniform`` samples per plane and dim.

    Evaluation (``deterministic=True``) uses no RNG: every plane and dim gets the sample ``0.5`` (PyTorch's
    module has no evaluation mode; why 0.5 and not a fixed key: :class:`jaxpool.linen.FractionalMaxPool`).

    Values, ties, gradients, shapes, dtypes and errors: :func:`jaxpool.fractional_max_pool`.

    Raises:
      TypeError, ValueError: at construction, for malformed ``window_shape``, ``output_size``, ``output_ratio``
        (both or neither, ratios outside (0, 1)), non-bool flags, or ``rngs`` of another type; at call time,
        without ``rngs`` when not deterministic.
    """


#: The module classes, one per row of ``jaxpool._modules.OPS`` (tests/test_modules.py checks each is defined).
__all__ = [*_modules.OPS]
