"""Cases of the pooling benchmark: the option grid, shapes, jaxpool's op and its baseline.

A :class:`Case` is one (op, spatial dims, window configuration, dtype, layout, shape). The baseline
is the one docs/semantics.md §7 names: ``flax.linen.max_pool``/``avg_pool`` where Flax has the op and layout
(max/avg, channels last), else ``lax.reduce_window`` in the same layout; both are differentiated by
JAX's own autodiff (``select_and_gather_add`` for max, interior pads for window sums).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

import jaxpool

OPS = ("max", "avg", "sum")
DIMS = (1, 2, 3)
DTYPES = ("float32", "bfloat16")
LAYOUTS = ("NHWC", "NCHW")
#: Window configurations: key -> (window per dim, stride per dim, padding).
CONFIGS = {"k2s2_valid": (2, 2, "VALID"), "k3s2_same": (3, 2, "SAME"), "k3s1_same": (3, 1, "SAME")}
#: Channels-last logical shapes (batch, *spatial, features), 2**22 elements each.
DEFAULT_SHAPES = {1: (64, 1024, 64), 2: (64, 32, 32, 64), 3: (16, 16, 16, 16, 64)}
HEADLINE_CONFIGS = ("k2s2_valid", "k3s2_same")


@dataclass(frozen=True)
class Case:
    """One benchmark case; ``shape`` is channels-last ``(batch, *spatial, features)``."""

    op: str
    dims: int
    config: str
    dtype: str
    layout: str
    shape: tuple[int, ...]

    @property
    def window(self) -> tuple[int, ...]:
        return (CONFIGS[self.config][0],) * self.dims

    @property
    def strides(self) -> tuple[int, ...]:
        return (CONFIGS[self.config][1],) * self.dims

    @property
    def padding(self) -> str:
        return CONFIGS[self.config][2]

    @property
    def channels_first(self) -> bool:
        return self.layout == "NCHW"

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The array shape in this case's layout."""
        s = self.shape
        return (s[0], s[-1], *s[1:-1]) if self.channels_first else s

    @property
    def label(self) -> str:
        """E.g. ``3x3/2 SAME`` (window per dim / stride, padding)."""
        k, s, p = CONFIGS[self.config]
        return f"{'x'.join([str(k)] * self.dims)}/{s} {p}"

    def describe(self) -> dict[str, Any]:
        """JSON-ready identification of the case (``shape`` in the case's layout)."""
        return {"op": self.op, "dims": self.dims, "config": self.config, "label": self.label,
                "dtype": self.dtype, "layout": self.layout, "shape": list(self.input_shape),
                "window": list(self.window), "strides": list(self.strides),
                "padding": self.padding}


def build_cases(
    ops: Sequence[str] = OPS,
    dims: Sequence[int] = DIMS,
    configs: Sequence[str] = tuple(CONFIGS),
    dtypes: Sequence[str] = DTYPES,
    layouts: Sequence[str] = LAYOUTS,
    shapes: dict[int, tuple[int, ...]] | None = None,
) -> list[Case]:
    """The cross product of the options, in table order (op, dims, config, dtype, layout).

    Args:
      ops: subset of ``OPS``.
      dims: subset of ``DIMS`` (number of spatial dims).
      configs: subset of the keys of ``CONFIGS``.
      dtypes: subset of ``DTYPES``.
      layouts: subset of ``LAYOUTS`` (NHWC: channels last; NCHW: channels first).
      shapes: dims -> channels-last shape (batch, *spatial, features); default ``DEFAULT_SHAPES``.

    Returns:
      The list of :class:`Case`.

    Raises:
      ValueError: an unknown option value, or a shape whose rank is not dims + 2.
    """
    shapes = dict(DEFAULT_SHAPES if shapes is None else shapes)
    grid = (("ops", ops, OPS), ("dims", dims, DIMS), ("configs", configs, tuple(CONFIGS)),
            ("dtypes", dtypes, DTYPES), ("layouts", layouts, LAYOUTS))
    for name, got, allowed in grid:
        bad = [v for v in got if v not in allowed]
        if bad:
            raise ValueError(f"{name}={list(got)!r} has unknown values {bad!r}; "
                             f"allowed: {list(allowed)!r}")
    for d in dims:
        if d not in shapes or len(shapes[d]) != d + 2:
            raise ValueError(f"shapes[{d}]={shapes.get(d)!r} must be a shape "
                             f"(batch, *{d} spatial dims, features)")
    return [Case(o, d, c, t, lay, tuple(shapes[d]))
            for o in ops for d in dims for c in configs for t in dtypes for lay in layouts]


def headline_cases() -> list[Case]:
    """max_pool on (64, 32, 32, 64) float32 NHWC, 2×2/2 VALID and 3×3/2 SAME (docs/semantics.md §7)."""
    return build_cases(("max",), (2,), HEADLINE_CONFIGS, ("float32",), ("NHWC",))


def ours_fn(case: Case) -> Callable[[jax.Array], jax.Array]:
    """jaxpool's op for ``case``."""
    op = {"max": jaxpool.max_pool, "avg": jaxpool.avg_pool, "sum": jaxpool.sum_pool}[case.op]
    w, s, p, cf = case.window, case.strides, case.padding, case.channels_first
    return lambda x: op(x, w, s, p, channels_first=cf)


def baseline_fn(case: Case) -> tuple[str, Callable[[jax.Array], jax.Array]]:
    """The docs/semantics.md §7 baseline for ``case``: (name, function).

    The initial values are concrete NumPy scalars so that ``lax.reduce_window`` recognises the
    max/add monoids and uses JAX's differentiable window primitives, as Flax's pooling does.
    """
    w, s, p = case.window, case.strides, case.padding
    if not case.channels_first and case.op == "max":
        return "flax.linen.max_pool", lambda x: nn.max_pool(x, w, s, p)
    if not case.channels_first and case.op == "avg":
        return "flax.linen.avg_pool", lambda x: nn.avg_pool(x, w, s, p)
    if case.channels_first:
        dims, strides = (1, 1, *w), (1, 1, *s)
    else:
        dims, strides = (1, *w, 1), (1, *s, 1)
    if case.op == "max":
        return "lax.reduce_window(max)", lambda x: lax.reduce_window(
            x, np.asarray(-np.inf, x.dtype), lax.max, dims, strides, p)

    def window_sum(x: jax.Array) -> jax.Array:
        return lax.reduce_window(x, np.asarray(0, x.dtype), lax.add, dims, strides, p)

    if case.op == "sum":
        return "lax.reduce_window(add)", window_sum
    n = math.prod(w)
    return "lax.reduce_window(add)/n", lambda x: window_sum(x) / jnp.asarray(n, x.dtype)
