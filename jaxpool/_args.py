"""Argument handling shared by every jaxpool op and module: the one validation layer (docs/semantics.md §6).

Every public function and every Flax module turns its user-facing arguments into plain Python values here, before
any compute, and raises jaxpool's own ``TypeError``/``ValueError`` naming the argument, the value and what is
allowed:

* integers are ``int``, ``np.integer`` or concrete 0-d integer arrays (``jnp.asarray(2)``); ``bool``, bytes,
  floats and strings are refused, traced values too (they cannot set a static shape);
* sizes are bounded by :data:`MAX_SIZE` (the int32 range jaxpool's indices and XLA's dimensions use), so no
  later arithmetic overflows and no check runs in time that depends on the values;
* flags are ``bool`` or ``np.bool_``;
* ``inputs`` must be a real-valued array-like (bool, integer or real floating dtype);
* PyTorch's and Keras' argument names get a TypeError pointing at the jaxpool name (:func:`torch_names`).

It also holds the plumbing the op modules share: the padding type, the value padding holds for max/min
(:func:`identity`), the float32-accumulation choice, the spatial-dims rule, the int32 extent check and the
shared docstring pieces. This module imports no other jaxpool module; ``_geometry`` builds on it.
"""

from __future__ import annotations

import functools
import inspect
import operator
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

Padding = str | int | Sequence[int] | Sequence[tuple[int, int]]

#: Largest window, stride, dilation, padding, output size or padded extent: the int32 range (jaxpool's indices
#: are int32, and XLA's dimensions are at least that wide). Anything larger is a ValueError naming the argument.
MAX_SIZE = int(np.iinfo(np.int32).max)
#: Largest input rank. NumPy arrays stop at 64 dims, and the kernels build static masks one rank higher than the
#: input; 32 leaves room and is far beyond any pooling use (up to 31 spatial dims).
MAX_RANK = 32



class SizeError(ValueError):
    """A ValueError that depends on the input's sizes (empty output, windows of padding only), not on the
    arguments alone; the Flax modules use the distinction to defer such checks to call time."""


LAYOUT_LAST = "(*batch, *spatial, features)"
LAYOUT_FIRST = "(*batch, features, *spatial)"


def show(value: Any, limit: int = 60) -> str:
    """``repr(value)``, shortened to ``limit`` characters (a 400-digit int stays readable in a message)."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _is_traced(value: Any) -> bool:
    return isinstance(value, jax.core.Tracer)


def is_int(value: Any) -> bool:
    """Whether ``value`` is accepted as an integer: ``int``/``np.integer`` (not bool) or a 0-d integer array."""
    if isinstance(value, (bool, np.bool_)):
        return False
    if isinstance(value, (int, np.integer)):
        return True
    return (isinstance(value, (np.ndarray, jax.Array)) and np.ndim(value) == 0
            and jnp.issubdtype(value.dtype, jnp.integer))


def as_int(value: Any, name: str, *, minimum: int | None = None, maximum: int = MAX_SIZE, what: str = "") -> int:
    """Check that ``value`` is one integer in ``[minimum, maximum]`` and return it as a Python int.

    Args:
      value: ``int``, ``np.integer`` or a concrete 0-d integer array (NumPy or JAX).
      name: the argument's name, used in messages.
      minimum: smallest allowed value (``None``: no lower bound).
      maximum: largest allowed value (default :data:`MAX_SIZE`).
      what: how the whole argument was given, for the message (default: ``value`` itself).

    Returns:
      The value as a Python ``int``.

    Raises:
      TypeError: bool, float, str, bytes, None, non-integer arrays, traced values.
      ValueError: a value outside ``[minimum, maximum]``.
    """
    given = what or show(value)
    if _is_traced(value):
        raise TypeError(f"{name}={given} holds a traced value; {name} sets a static shape and must be a concrete "
                        "Python int (do not pass it through jit/vmap arguments)")
    if not is_int(value):
        raise TypeError(f"{name}={given} holds {show(value)} of type {type(value).__name__}; {name} takes ints "
                        "(int or np.integer; bool, float, str and bytes are not accepted)")
    v = operator.index(value)
    where = f"{name}={given}" if given == show(value) else f"{name}={given} holds {show(v)}"
    if minimum is not None and v < minimum:
        raise ValueError(f"{where}: must be >= {minimum}")
    if v > maximum:
        why = ", the int32 range of an array dimension" if maximum == MAX_SIZE else ""
        raise ValueError(f"{where}: beyond the largest value allowed ({maximum}{why})")
    return v


def is_sequence(value: Any) -> bool:
    """A list/tuple-like of entries: a ``Sequence`` that is not a string or bytes (nor an array)."""
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes, bytearray))


def int_tuple(value: Any, name: str, n: int | None, *, minimum: int = 1) -> tuple[int, ...] | None:
    """An int (repeated ``n`` times) or a sequence of ``n`` ints, each in ``[minimum, MAX_SIZE]``; None stays None.

    Raises:
      TypeError: anything but an int or a sequence of ints (str and bytes included).
      ValueError: a length other than ``n``, or an entry out of range.
    """
    if value is None:
        return None
    if is_int(value):
        return (as_int(value, name, minimum=minimum),) * (1 if n is None else n)
    if not is_sequence(value):
        raise TypeError(f"{name}={show(value)} must be an int or a sequence of ints, got type "
                        f"{type(value).__name__}")
    if n is not None and len(value) != n:
        raise ValueError(
            f"{name}={show(value)} has length {len(value)}, but the pooling has {n} spatial dims "
            f"(set by the first tuple among window_shape, strides, dilation)"
        )
    return tuple(as_int(v, name, minimum=minimum, what=show(value)) for v in value)


def check_flag(value: Any, name: str) -> bool:
    """``bool`` or ``np.bool_`` -> bool; anything else (0, 1, "yes", None) is a TypeError naming ``name``."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {show(value)} of type {type(value).__name__}")
    return bool(value)


def check_mode(deterministic: Any, rng_collection: Any = "", *, optional: bool = True) -> None:
    """A random module's options: ``deterministic`` a bool (or None where ``optional``), ``rng_collection`` a
    non-empty str; TypeError naming the option otherwise (a string "False" would silently mean evaluation)."""
    if not (optional and deterministic is None):
        check_flag(deterministic, "deterministic")
    if not isinstance(rng_collection, str):
        raise TypeError(f"rng_collection must be a str (an RNG stream name), got {show(rng_collection)} of type "
                        f"{type(rng_collection).__name__}")


def check_dtype(dtype: Any, arg: str = "inputs") -> np.dtype:
    """Reject dtypes no pooling op supports (complex, object, strings); return the NumPy dtype."""
    dt = np.dtype(dtype)
    if not (jnp.issubdtype(dt, jnp.floating) or jnp.issubdtype(dt, jnp.integer) or dt == np.bool_):
        raise TypeError(
            f"{arg} has dtype {dt.name}; pooling supports bool, integer and real floating dtypes "
            "(complex and other dtypes are not supported)"
        )
    return dt


def check_shape(shape: Any, name: str) -> tuple[int, ...]:
    """An array shape given by the user (``pool_output_shape``): a sequence of non-negative ints, rank <= 32."""
    if not is_sequence(shape):
        raise TypeError(f"{name}={show(shape)} must be a sequence of non-negative ints (an array shape), got type "
                        f"{type(shape).__name__}")
    if len(shape) > MAX_RANK:
        raise ValueError(f"{name} has rank {len(shape)}; at most {MAX_RANK} dims are supported")
    return tuple(as_int(d, name, minimum=0, maximum=int(np.iinfo(np.int64).max), what=show(shape)) for d in shape)


def static_dim(d: Any) -> Any:
    """A dim of an input shape: an int, or kept as it is when symbolic (``jax.export`` shape polymorphism)."""
    return d if jax.export.is_symbolic_dim(d) else int(d)


def check_inputs(inputs: Any, name: str = "inputs") -> tuple[Any, tuple[int, ...], np.dtype]:
    """Check that ``inputs`` is a real-valued array-like; return ``(array-like, shape, dtype)``.

    JAX arrays, tracers and NumPy arrays are taken as they are; other array-likes (nested lists, scalars) are
    converted with NumPy first, so that ragged lists, strings and objects fail here with a message naming
    ``name``. The returned array-like is what ``jnp.asarray`` should convert (no compute happens here).

    Raises:
      TypeError: None, strings, bytes, ragged or object sequences, complex or other unsupported dtypes.
      ValueError: rank above :data:`MAX_RANK`.
    """
    if isinstance(inputs, (str, bytes, bytearray)) or inputs is None or isinstance(inputs, dict):
        raise TypeError(f"{name} must be a real-valued array (JAX or NumPy array or nested lists of numbers), got "
                        f"{show(inputs)} of type {type(inputs).__name__}")
    if not (hasattr(inputs, "shape") and hasattr(inputs, "dtype")):
        try:
            inputs = np.asarray(inputs)
        except (ValueError, TypeError, OverflowError) as err:
            raise TypeError(f"{name} is not a rectangular array of numbers ({type(err).__name__}: {err}); pass a "
                            "JAX or NumPy array") from None
        if inputs.dtype == object or inputs.dtype.kind in "USV":
            raise TypeError(f"{name} must be a real-valued array, got an array of dtype {inputs.dtype} from "
                            f"{type(inputs).__name__}; strings, None and ragged lists are not arrays of numbers")
    try:
        dtype = np.dtype(inputs.dtype)
    except TypeError:
        raise TypeError(f"{name} has dtype {inputs.dtype!r}, which is not an array dtype") from None
    check_dtype(dtype, name)
    shape = tuple(static_dim(d) for d in np.shape(inputs))
    if len(shape) > MAX_RANK:
        raise ValueError(f"{name} has rank {len(shape)}; at most {MAX_RANK} dims are supported")
    return inputs, shape, dtype


def infer_num_spatial_dims(ndim: int, *, explicit: int | None = None, **specs: Any) -> int:
    """The spatial-dims rule of every op (docs/semantics.md §1): N is ``explicit`` (a validated ``num_spatial_dims``) if
    given, else the length of the first sequence among ``specs`` (by name, in order: window_shape, strides,
    dilation; output_size), else ``ndim - 2`` (one batch and one feature axis).

    Raises:
      ValueError: an empty sequence among ``specs`` (named with its value).
    """
    for name, spec in specs.items():
        if spec is not None and is_sequence(spec) and len(spec) == 0:
            raise ValueError(f"{name}={show(spec)} is empty; give an int or one entry per spatial dim")
    if explicit is not None:
        return explicit
    for spec in specs.values():
        if spec is not None and is_sequence(spec):
            return len(spec)
    return ndim - 2


def spatial_axes_for(
    shape: Sequence[Any], num_spatial_dims: int, channels_first: Any, *, arg: str = "window_shape"
) -> tuple[int, ...]:
    """Positions of the spatial axes in an input of shape ``shape`` (one feature axis, any batch axes).

    Batch and feature dims may be symbolic (``jax.export`` shape polymorphism); spatial sizes must be static,
    since the window arithmetic runs on them in Python.

    Raises:
      ValueError: fewer than one spatial dim, an input of too low rank, or a symbolic spatial size.
    """
    channels_first = check_flag(channels_first, "channels_first")
    layout = LAYOUT_FIRST if channels_first else LAYOUT_LAST
    ndim = len(shape)
    if num_spatial_dims < 1:
        when, fix = ((f"{arg} is not given", f"{arg}=N") if arg == "num_spatial_dims"
                     else (f"{arg} is a single int", f"{arg} as a sequence of N ints"))
        raise ValueError(
            f"an input of rank {ndim} has no spatial dim when {when}: N is then rank - 2 (layout {layout}, one "
            f"batch and one feature axis); give an input of rank >= 3, or {fix} (an unbatched input needs rank "
            "N + 1)"
        )
    if ndim < num_spatial_dims + 1:
        raise ValueError(
            f"{arg} implies {num_spatial_dims} spatial dims, but the input has rank {ndim}; the expected layout "
            f"is {layout}, so the input needs rank >= {num_spatial_dims + 1}"
        )
    if channels_first:
        axes = tuple(range(ndim - num_spatial_dims, ndim))
    else:
        axes = tuple(range(ndim - 1 - num_spatial_dims, ndim - 1))
    for d, a in enumerate(axes):
        if not isinstance(shape[a], int):
            raise ValueError(
                f"spatial dim {d} (input axis {a}) has the symbolic size {shape[a]!r}; jaxpool needs static "
                "spatial sizes (batch and feature dims may be symbolic under jax.export)"
            )
    return axes


def check_num_spatial_dims(value: Any) -> int | None:
    """``num_spatial_dims``: None or an int in ``[1, MAX_RANK - 1]``."""
    if value is None:
        return None
    return as_int(value, "num_spatial_dims", minimum=1, maximum=MAX_RANK - 1)


def check_output_size(output_size: Any, *, allow_none: bool = True) -> tuple[int | None, ...] | int:
    """Validate ``output_size``: a positive int, or a non-empty sequence of positive ints (or ``None`` entries,
    "keep this dim's size", where ``allow_none``).

    Raises:
      TypeError: not an int or a sequence, or a ``None`` entry where ``allow_none`` is False.
      ValueError: an empty sequence, too many entries, or an entry below 1.
    """
    if is_int(output_size):
        return as_int(output_size, "output_size", minimum=1)
    entries = "positive ints or None" if allow_none else "positive ints"
    if not is_sequence(output_size):
        raise TypeError(f"output_size must be a positive int or a sequence of {entries}, got {show(output_size)}"
                        f" of type {type(output_size).__name__}")
    if len(output_size) == 0:
        raise ValueError(f"output_size={show(output_size)} is empty; give one entry per spatial dim")
    if len(output_size) > MAX_RANK - 1:
        raise ValueError(f"output_size has {len(output_size)} entries; at most {MAX_RANK - 1} spatial dims")
    if not allow_none and any(o is None for o in output_size):
        raise TypeError(f"output_size={show(output_size)} must hold {entries} (the output's spatial sizes)")
    return tuple(None if o is None else as_int(o, "output_size", minimum=1, what=show(output_size))
                 for o in output_size)


def check_spatial_sizes(shape: Sequence[int], axes: Sequence[int]) -> None:
    """Raise ValueError naming the dim if a spatial dim of an input of ``shape`` (spatial ``axes``) is longer than
    :data:`MAX_SIZE`: positions along a dim are int32 (docs/semantics.md §2)."""
    for d, ax in enumerate(axes):
        if shape[ax] > MAX_SIZE:
            raise ValueError(f"spatial dim {d} (input axis {ax}) of the input (shape {tuple(shape)}) has size "
                             f"{shape[ax]}, beyond the largest size jaxpool handles ({MAX_SIZE}, int32 positions)")


def check_int32_extent(count: int, what: str) -> None:
    """Raise ValueError if ``count`` flat positions (``what``) do not fit int32 indices."""
    if count > MAX_SIZE:
        raise ValueError(f"{what} has {count} elements per plane, beyond int32 indices (at most {MAX_SIZE})")


def identity(dtype: np.dtype, take_max: bool) -> Any:
    """The value padding holds for max (min): -inf (+inf) for floats, the dtype's min (max) for integers."""
    if jnp.issubdtype(dtype, jnp.floating):
        return -jnp.inf if take_max else jnp.inf
    info = jnp.iinfo(dtype)
    return info.min if take_max else info.max


def accumulation_dtype(dtype: np.dtype) -> np.dtype:
    """float16/bfloat16 are computed (summed, compared) in float32 and rounded once (docs/semantics.md §3); others as
    they are."""
    if jnp.issubdtype(dtype, jnp.floating) and jnp.finfo(dtype).bits < 32:
        return np.dtype(np.float32)
    return np.dtype(dtype)


def result_dtype(dtype: np.dtype, reducer: Callable[..., Any]) -> np.dtype:
    """The dtype ``reducer`` (``jnp.sum``, ``jnp.mean``) gives for ``dtype`` (docs/semantics.md §3 result dtypes)."""
    return np.dtype(jax.eval_shape(reducer, jax.ShapeDtypeStruct((1,), dtype)).dtype)


#: PyTorch's and Keras' argument names, and what to use in jaxpool instead.
_FOREIGN = {
    "kernel_size": "window_shape",
    "pool_size": "window_shape",
    "stride": "strides",
    "input": "inputs",
    "data_format": "channels_first",
    "return_indices": "max_pool_with_indices / min_pool_with_indices (or adaptive_max_pool's return_indices)",
    "output_size": "adaptive_avg_pool / adaptive_max_pool (a fixed output size), or pool_output_shape",
}


def foreign_name_error(fn_name: str, accepted: Sequence[str], given: Sequence[str]) -> None:
    """Raise a TypeError for a PyTorch/Keras spelling among ``given`` that ``fn_name`` does not accept."""
    for key in given:
        if key in _FOREIGN and key not in accepted:
            hint = _FOREIGN[key]
            if key in ("kernel_size", "pool_size") and "window_shape" not in accepted:
                if "filter_size" in accepted:
                    hint = "filter_size"
                elif "indices" in accepted:
                    hint = "output_size alone (the spatial shape to unpool to; no window is needed)"
                elif "output_size" in accepted:
                    hint = "output_size (adaptive pooling fixes the output, not the window; max_pool has a window)"
                else:
                    hint = "none: global pooling has no window (max_pool/avg_pool take window_shape)"
            if key == "stride" and "strides" not in accepted:
                hint = "none: this op has no stride (max_pool/avg_pool/blur_pool take strides)"
            raise TypeError(f"{fn_name}() got PyTorch's/Keras' argument {key!r}; jaxpool's name is {hint}")


def torch_names(fn: Callable[..., Any], display: str | None = None) -> Callable[..., Any]:
    """Decorate a public function so PyTorch/Keras keyword spellings raise a TypeError naming jaxpool's argument.

    The signature (``inspect.signature``) and docstring are the function's own; other calls pass through.
    ``display`` names the callable in the message (default: its ``__name__``).
    """
    accepted = tuple(inspect.signature(fn).parameters)
    label = display or fn.__name__

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if kwargs:
            foreign_name_error(label, accepted, kwargs)
        return fn(*args, **kwargs)

    return wrapper


def torch_names_init(cls: type) -> type:
    """:func:`torch_names` for a module class's constructor (linen dataclass fields or an nnx ``__init__``)."""
    cls.__init__ = torch_names(cls.__init__, cls.__name__)  # type: ignore[method-assign]
    return cls


DOC_WINDOW_ARGS = """
    Args:
      inputs: array ``(*batch, *spatial, features)`` (channels last, Flax) or, with ``channels_first=True``,
        ``(*batch, features, *spatial)`` (PyTorch); zero or more batch axes. N, the number of spatial dims, is
        the length of the first tuple among ``window_shape``, ``strides``, ``dilation``, else
        ``inputs.ndim - 2``. So a ``(2, 4, 4, 1)`` input with a 3-entry window is ONE unbatched 3-D input,
        not a batch of 2-D images. NumPy arrays and nested lists are accepted. Any real float, integer or bool
        dtype.
      window_shape: int or N ints (``int``, ``np.integer`` or concrete 0-d integer arrays; not bool or float).
      strides: int or N ints; ``None`` means stride 1 in every dim (Flax's default, NOT PyTorch's
        "stride = window").
      padding: ``"VALID"``, ``"SAME"``, ``"SAME_LOWER"`` (any case; split as ``lax.padtype_to_pads``), an int,
        N ints (symmetric) or N ``(low, high)`` pairs. Padded positions never win a max/min; sums add nothing
        for them; averages count them in the divisor only with ``count_include_pad=True``.
      dilation: int or N ints (spacing of sampled positions; ``None`` = 1).
      ceil_mode: round the output size up as PyTorch does (explicit padding only); a window that would start
        at or beyond ``size + low`` is dropped.
      channels_first: features before spatial dims.
"""

DOC_WINDOW_RETURNS = """
    Returns:
      Array of shape ``pool_output_shape(inputs.shape, ...)``: per spatial dim
      ``floor((size + low + high - eff) / stride) + 1`` with ``eff = dilation * (window - 1) + 1`` (with
      ``ceil_mode=True`` rounded up, less a last window that would start at or beyond ``size + low``). dtype:
      max/min keep the input dtype; sum follows ``jnp.sum``, avg and lp ``jnp.mean`` (integers and bool give
      the default int / float; docs/semantics.md §3).
"""

DOC_WINDOW_RAISES = """
    Raises:
      TypeError: ``inputs`` not a real-valued array (complex, strings, None, ragged lists); geometry not ints
        (bool, float, str, bytes, traced values); non-bool flags; PyTorch spellings (``kernel_size``,
        ``stride``, ...), with the jaxpool name to use.
      ValueError: wrong tuple lengths or input rank, non-positive window/stride/dilation, negative or malformed
        padding, a window, stride, dilation, padding or dilated window span beyond 2**31 - 1, ``ceil_mode``
        with string padding, windows that sample only padding, or an empty output.
"""

#: The whole Args/Returns/Raises of a window op (max, min, sum, avg, lp).
DOC_ARGS = DOC_WINDOW_ARGS + DOC_WINDOW_RETURNS + DOC_WINDOW_RAISES


def shared_doc(*pieces: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator placed at a ``def``: append the shared docstring ``pieces`` (Args/Returns/Raises) to its own."""

    def attach(fn: Callable[..., Any]) -> Callable[..., Any]:
        fn.__doc__ = (fn.__doc__ or "").rstrip() + "\n" + "".join("\n" + p.strip("\n") + "\n" for p in pieces)
        return fn

    return attach
