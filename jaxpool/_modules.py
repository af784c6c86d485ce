"""The one table of pooling ops that :mod:`jaxpool.linen` and :mod:`jaxpool.nnx` turn into modules.

Each row of :data:`OPS` names a module class and the public function it wraps, with the construction-time check
that applies to it and, for a random op, how it draws. Everything else is derived from the function by
``inspect.signature``: a module's fields (Linen) and constructor parameters (NNX) are the function's parameters
after ``inputs`` -- names, order, defaults, annotations and, for NNX, the keyword-only split -- less the
call-time random arguments of a random op. So adding a row adds both modules (``tests/test_modules.py`` fails
until both families declare the class and until every public function that takes ``inputs`` has a row).
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Mapping
from typing import Any

import jaxpool
from jaxpool import _fields, _fractional


def _window(fn: Callable[..., Any], kwargs: dict[str, Any]) -> None:
    """Construction-time check of a windowed op (max/min/sum/avg/lp pooling, with or without indices)."""
    _fields.check_window_module(fn, kwargs)


def _spec(field: str | None) -> Callable[[Callable[..., Any], dict[str, Any]], None]:
    """Construction-time check of an op without window geometry; N comes from ``field`` (a tuple's length) or
    ``num_spatial_dims``, else 1."""

    def check(fn: Callable[..., Any], kwargs: dict[str, Any]) -> None:
        n = _fields.spec_num_spatial_dims(kwargs.get(field) if field else None, kwargs.get("num_spatial_dims"))
        _fields.check_plain_module(fn, kwargs, n)

    return check


def _fractional_check(fn: Callable[..., Any], kwargs: dict[str, Any]) -> None:
    """Construction-time check of fractional max pooling (its own argument checker; no input needed)."""
    _fractional.check_args(**kwargs)


@dataclasses.dataclass(frozen=True)
class Random:
    """How a random op draws: a key in training, fixed arguments in evaluation.

    Attributes:
      key: the function's parameter that takes the ``jax.random`` key (training mode).
      eval_kwargs: the function's arguments in evaluation (``deterministic``) mode, instead of a key.
      stream: the default RNG stream name (Linen ``make_rng`` collection, NNX ``Rngs`` attribute).
      call_only: the function's parameters that are not module fields (given by the module at call time).
    """

    key: str
    eval_kwargs: Mapping[str, Any]
    stream: str
    call_only: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Op:
    """One row of the table.

    Attributes:
      fn: the public function the module wraps (``module(x) == fn(x, **fields)``).
      check: ``check(fn, fields)`` raises the input-independent TypeError/ValueError of ``fn`` for ``fields``.
      random: ``None`` for a stateless op, else how it draws (:class:`Random`).
    """

    fn: Callable[..., Any]
    check: Callable[[Callable[..., Any], dict[str, Any]], None]
    random: Random | None = None


OPS: dict[str, Op] = {
    "MaxPool": Op(jaxpool.max_pool, _window),
    "MinPool": Op(jaxpool.min_pool, _window),
    "SumPool": Op(jaxpool.sum_pool, _window),
    "AvgPool": Op(jaxpool.avg_pool, _window),
    "LPPool": Op(jaxpool.lp_pool, _window),
    "MaxPoolWithIndices": Op(jaxpool.max_pool_with_indices, _window),
    "MinPoolWithIndices": Op(jaxpool.min_pool_with_indices, _window),
    "AdaptiveAvgPool": Op(jaxpool.adaptive_avg_pool, _spec("output_size")),
    "AdaptiveMaxPool": Op(jaxpool.adaptive_max_pool, _spec("output_size")),
    "GlobalAvgPool": Op(jaxpool.global_avg_pool, _spec(None)),
    "GlobalMaxPool": Op(jaxpool.global_max_pool, _spec(None)),
    "BlurPool": Op(jaxpool.blur_pool, _spec("strides")),
    "FractionalMaxPool": Op(
        jaxpool.fractional_max_pool,
        _fractional_check,
        Random(key="key", eval_kwargs={"samples": _fractional.EVAL_SAMPLE}, stream="pooling",
               call_only=("key", "samples")),
    ),
}


def lookup(class_name: str) -> Op:
    """The row for ``class_name``.

    Raises:
      TypeError: ``class_name`` has no row (a module class must be declared for an op of the table).
    """
    if class_name not in OPS:
        raise TypeError(f"{class_name} is not an op of jaxpool._modules.OPS; add a row for it first")
    return OPS[class_name]


def parameters(op: Op) -> tuple[inspect.Parameter, ...]:
    """The module parameters of ``op``: its function's parameters after ``inputs``, less the random op's
    call-time ones, as ``inspect.signature`` gives them (names, order, kinds, defaults; annotations evaluated,
    so ``typing.get_type_hints`` works on the modules).

    Raises:
      TypeError: the function's first parameter is not ``inputs``.
    """
    params = list(inspect.signature(op.fn, eval_str=True).parameters.values())
    if not params or params[0].name != "inputs":
        raise TypeError(f"{op.fn.__name__} does not take inputs first; it cannot be a module")
    skip = op.random.call_only if op.random else ()
    return tuple(p for p in params[1:] if p.name not in skip)
