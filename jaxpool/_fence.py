"""Fences for XLA:CPU's fusion: results computed and stored once instead of recomputed in every consumer.

XLA:CPU fuses cheap elementwise chains into each consumer and recomputes them per read; for a reverse pass that
reads the winners once per window offset, or a reduction whose partial results are read twice, that costs
several sweeps of the input. :func:`materialize` stores an array already computed; :func:`fenced` stores the
result of a function where it is computed. Both are the identity on other backends, whose fusion passes weigh
recomputation, and both are exact and deterministic under every transformation and sharding.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

Array = jnp.ndarray


def materialize(a: Array) -> Array:
    """Return ``a`` unchanged, but make XLA:CPU compute and store it once.

    The reverse pass reads each winner offset several times (once per window offset, and more for overlapping
    windows). XLA:CPU fuses the cheap compare/select chain that computes the winners into that consumer and
    recomputes it per read, which made ``jit(grad)`` 10-60x slower in our measurements; an
    ``optimization_barrier`` around ``a`` does not prevent that fusion. XLA never fuses across a conditional, so
    on CPU the winners pass through a ``lax.cond`` whose branches both return them unchanged (written
    differently, since XLA inlines a conditional whose branches it can prove equal).

    The predicate is the constant ``True`` behind an ``optimization_barrier``: XLA cannot fold it (so the
    conditional survives), yet it reads no data. A predicate read from ``a`` would be a collective under
    automatic sharding (one element of a sharded array), a sharding error under explicit sharding, and a
    per-example select (no barrier) under ``vmap``; a constant is replicated, unvarying in ``shard_map`` and
    unbatched, so the same program runs on every shard with no communication.

    Other backends get ``a`` as it is: their fusion passes weigh the cost of recomputation, and a conditional
    there reads its predicate on the host. Both paths are exact and deterministic.
    """
    if a.size == 0 or jax.default_backend() != "cpu":
        return a
    # Both branches return ``a`` (its entries are non-negative offsets); they differ in form only, so that XLA's
    # conditional simplifier cannot prove them equal and inline (then fuse) them.
    keep = lax.optimization_barrier(jnp.asarray(True))
    if jnp.issubdtype(a.dtype, jnp.integer):
        return lax.cond(keep, lambda v: v, lambda v: jnp.maximum(v, jnp.zeros((), v.dtype)), a)
    # values and cotangents: a product with a one XLA cannot see (linear in ``v``, so JAX transposes it)
    one = lax.optimization_barrier(jnp.ones((), a.dtype))
    return lax.cond(keep, lambda v: v, lambda v: v * one, a)


def fenced(fn: Callable[[Array], Any], x: Array) -> Any:
    """``fn(x)`` (an array or a tuple of arrays of ``x``'s rank), computed and stored by itself: XLA:CPU cannot
    fuse it into its consumers, so a consumer that reads it many times does not recompute it per read.

    The computation runs as the taken branch of a ``lax.cond`` whose predicate is the constant ``True``
    behind an ``optimization_barrier`` (see :func:`materialize` for why a constant). The other branch, never
    run, returns ``x`` times a hidden zero, cropped or padded with zeros to each result's shape (cast to its
    dtype; never ``x`` itself, whose buffer XLA would then copy): cheap to compile, linear in ``x`` (so JAX
    transposes and differentiates the conditional), and typed like ``x`` (sharding, varying manual axes).
    Unlike :func:`materialize` after the fact, this stores the result once, where it is computed, with no copy
    (measured: the 4096-window max gradient lost 7 of its 19 copies).
    ``fn`` is traced once: the result shapes come from its trace as the taken branch (``jax.eval_shape`` only
    if JAX traced the other branch first). Other backends run ``fn(x)`` as is.
    """
    if jax.default_backend() != "cpu" or x.size == 0:
        return fn(x)
    traced: list[Any] = []

    def taken(v: Array) -> Any:
        out = fn(v)
        traced.append(jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), out))
        return out

    def other(v: Array) -> Any:
        # ``v`` times a zero XLA cannot see: a branch that returned ``v`` itself (a result shaped like ``x``)
        # would alias the conditional's operand, and XLA:CPU then copies ``x`` and the taken branch's result
        # (measured: a stored 3x3/1 SAME window sum ran 2.5x slower)
        scaled = v * lax.optimization_barrier(jnp.zeros((), v.dtype))

        def like(s: Any) -> Array:
            if len(s.shape) != v.ndim:
                raise ValueError(f"fenced: a result of shape {s.shape} from an input of shape {v.shape}")
            config = [(0, n - m, 0) for m, n in zip(v.shape, s.shape)]
            return lax.pad(scaled, jnp.zeros((), v.dtype), config).astype(s.dtype)
        return jax.tree.map(like, traced[-1] if traced else jax.eval_shape(fn, v))

    keep = lax.optimization_barrier(jnp.asarray(True))
    return lax.cond(keep, taken, other, x)


__all__ = ["fenced", "materialize"]
