"""Construction-time validation for the Flax pooling modules (``jaxpool.linen``, ``jaxpool.nnx``).

A module must reject, when it is built, every field value that no input could make valid (a zero
window, malformed padding, ``ceil_mode`` with string padding, ``norm_type < 1``, ...), and defer to
call time only the checks that depend on the input (rank, sizes). To keep one owner of every rule,
the modules do not re-implement the checks: :func:`validate` runs the pooling function itself under
``jax.eval_shape`` (no compute) on a synthetic input whose spatial dims are much larger than any
window or padding, so only input-independent checks can fail. A geometry error that *might* depend
on the sizes (e.g. high padding that leaves the last window with only padding for some lengths) is
re-checked over every residue of the sizes modulo the stride, and raised only if no size works.
Validated argument sets are cached, so rebuilding a module (linen rebuilds submodules at every call
of a compact parent) costs a dictionary lookup.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxpool._args import MAX_RANK, SizeError, infer_num_spatial_dims, is_int, is_sequence
from jaxpool._geometry import resolve

_VALID: set[str] = set()
_MAX_ELEMENTS = 1 << 22
_MAX_TRIALS = 256


def _ints(value: Any) -> list[int]:
    """Every int nested in ``value`` (ignoring anything else), for sizing the synthetic input."""
    if isinstance(value, bool):
        return []
    if isinstance(value, int | np.integer):
        return [int(value)]
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [i for v in value for i in _ints(v)]
    return []


def tupled(value: Any) -> Any:
    """Lists (nested) become tuples, and NumPy/0-d array ints and bools plain Python ones, so module fields are
    hashable, print consistently, and are never arrays (which Flax would treat as data); others stay as given."""
    if isinstance(value, list | tuple):
        return tuple(tupled(v) for v in value)
    if isinstance(value, np.bool_):
        return bool(value)
    if is_int(value) and not isinstance(value, jax.core.Tracer):
        return int(value)
    return value


def _shape(n: int, size: Sequence[int], channels_first: Any) -> tuple[int, ...]:
    return (1, 1, *size) if channels_first is True or channels_first is np.True_ else (1, *size, 1)


def _run(fn: Callable[..., Any], shape: tuple[int, ...], args: tuple, kwargs: dict) -> None:
    jax.eval_shape(lambda x: fn(x, *args, **kwargs), jax.ShapeDtypeStruct(shape, jnp.float32))


def validate(
    fn: Callable[..., Any],
    args: tuple,
    kwargs: dict[str, Any],
    *,
    num_spatial_dims: int,
    channels_first: Any = False,
    geometry: dict[str, Any] | None = None,
    min_size: int = 1,
) -> None:
    """Raise the error ``fn(x, *args, **kwargs)`` raises for every input ``x``; return if some
    input works.

    Args:
      fn: the public pooling function the module wraps.
      args, kwargs: its arguments after ``inputs``.
      num_spatial_dims: N to build the synthetic input with (any N consistent with the arguments).
      channels_first: the module's layout field (decides where the feature axis of the synthetic
        input goes).
      geometry: for window pooling, the ``resolve`` arguments (``window_shape``, ``strides``,
        ``padding``, ``dilation``, ``ceil_mode``); enables the size-residue re-check of geometry
        errors.
      min_size: a lower bound for the synthetic spatial size.

    Raises:
      TypeError, ValueError: exactly what ``fn`` raises for an input of any size.
    """
    key = repr(
        (fn.__module__, fn.__name__, args, sorted(kwargs.items()), num_spatial_dims, channels_first)
    )
    if key in _VALID:
        return
    ints = [abs(i) for i in _ints((args, list(kwargs.values())))] or [1]
    big = max(ints)
    # Larger than any effective window plus padding plus a stride period; capped so that the static
    # NumPy masks the ops build over the output (up to size**N booleans) stay small.
    needed = big * big + 2 * big + 8 + min_size
    cap = int(_MAX_ELEMENTS ** (1.0 / num_spatial_dims))
    size = min(needed, cap)
    shape = _shape(num_spatial_dims, (size,) * num_spatial_dims, channels_first)
    try:
        if geometry is None:
            _run(fn, shape, args, kwargs)
        else:
            # The geometry is checked without tracing the kernel (whose size grows with the window), the other
            # arguments by tracing the function with a one-element window.
            resolve(shape, channels_first=channels_first, **geometry)
            trivial = {"window_shape": (1,) * num_spatial_dims, "strides": None, "padding": "VALID",
                       "dilation": None, "ceil_mode": False}
            _run(fn, shape, args, {**kwargs, **trivial})
    except ValueError as err:
        if geometry is None or not isinstance(err, SizeError) or _geometry_ok(geometry, shape, channels_first):
            raise  # not a size-dependent geometry error: no input can avoid it (e.g. norm_type < 1)
        if size < needed:
            return  # the synthetic input is too small to judge: the call checks the real input
        if not _geometry_fails_everywhere(geometry, num_spatial_dims, size, channels_first, big):
            return  # some input sizes make the geometry valid: the call checks the real input
        if hasattr(err, "add_note"):  # Python >= 3.11
            err.add_note(
                f"(raised when building the module, for a synthetic input of spatial size {size}: "
                "no input size avoids this error)"
            )
        raise
    _VALID.add(key)


def _geometry_ok(geometry: dict[str, Any], shape: tuple[int, ...], channels_first: Any) -> bool:
    try:
        resolve(shape, channels_first=channels_first, **geometry)
    except ValueError:
        return False
    return True


def _geometry_fails_everywhere(
    geometry: dict[str, Any], n: int, size: int, channels_first: Any, period: int
) -> bool:
    """Whether ``resolve`` fails for sizes ``size + r`` for every residue ``r`` (mod strides)."""
    if period > _MAX_TRIALS:
        return False  # too many residues to try in bounded time: let the call check the real input
    combos: Any = itertools.product(range(period), repeat=n)
    if period**n > _MAX_TRIALS:
        combos = ((r,) * n for r in range(period))
    for rs in combos:
        shape = _shape(n, tuple(size + r for r in rs), channels_first)
        if _geometry_ok(geometry, shape, channels_first):
            return False
    return True


def window_num_spatial_dims(window_shape: Any, strides: Any, dilation: Any, padding: Any) -> int:
    """N as a window module's fields imply it (docs/semantics.md §1); else the padding's length, else 1."""
    default = len(padding) if is_sequence(padding) else 1
    n = infer_num_spatial_dims(min(default, MAX_RANK - 2) + 2, window_shape=window_shape, strides=strides,
                               dilation=dilation)
    return n if 1 <= n <= MAX_RANK - 2 else 1  # else the function rejects the lengths on its own


_GEOMETRY_KEYS = ("window_shape", "strides", "padding", "dilation", "ceil_mode")


def check_window_module(fn: Callable[..., Any], kwargs: dict[str, Any]) -> None:
    """Construction-time check of a max/min/avg/sum/lp module whose fields are ``kwargs``."""
    n = window_num_spatial_dims(
        kwargs["window_shape"], kwargs["strides"], kwargs["dilation"], kwargs["padding"]
    )
    validate(
        fn,
        (),
        kwargs,
        num_spatial_dims=n,
        channels_first=kwargs["channels_first"],
        geometry={k: kwargs[k] for k in _GEOMETRY_KEYS},
    )


def check_plain_module(
    fn: Callable[..., Any], kwargs: dict[str, Any], num_spatial_dims: int
) -> None:
    """Construction-time check of an adaptive/global/blur module (no check depends on sizes)."""
    validate(
        fn,
        (),
        kwargs,
        num_spatial_dims=num_spatial_dims,
        channels_first=kwargs.get("channels_first", False),
    )


def spec_num_spatial_dims(spec: Any, num_spatial_dims: Any = None) -> int:
    """N for the synthetic input of a module: ``num_spatial_dims`` if a positive int, else
    ``len(spec)`` if
    ``spec`` is a sequence, else 1."""
    # Bounded by MAX_RANK: a synthetic input is built with this many dims (an unbounded value would allocate
    # before the function could reject it).
    if is_int(num_spatial_dims) and 0 < int(num_spatial_dims) <= MAX_RANK - 2:
        return int(num_spatial_dims)
    if is_sequence(spec) and 0 < len(spec) <= MAX_RANK - 2:
        return len(spec)
    return 1
