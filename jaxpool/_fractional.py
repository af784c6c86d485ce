"""Fractional max pooling (Graham 2014) with PyTorch's interval sequence.

Along a spatial dim of length ``L`` pooled by windows of length ``k`` to ``out`` outputs, output ``i`` is the
max over ``[start_i, start_i + k)`` where, for one sample ``u`` in ``[0, 1)`` per (sample, channel) plane and dim,

    alpha = (L - k) / (out - 1)
    start_i = int((i + u) * alpha) - int(u * alpha)      for i < out - 1
    start_{out-1} = L - k                                 (the last window is anchored at the end)

computed in the input's floating type, one rounding per operation, exactly as PyTorch's CPU kernel
(``aten/src/ATen/native/FractionalMaxPool{2,3}d.cpp``; ``c10::Half``/``BFloat16`` round every operation to the
type). ``alpha >= 1`` because ``out <= L - k + 1``, so the starts strictly increase and windows never repeat.

No new kernel: the windows all have the same length, so every fractional window is one window of the stride-1
max pooling ``jaxpool.max_pool(x, k, strides=1)``; the op is that pooling followed by a per-plane gather of the
start positions along each spatial dim (``jnp.take_along_axis``). Values, ties (first maximal element in
row-major window order), NaN (the first NaN wins), indices, jvp and the gradient are therefore jaxpool's
max-pool rules (docs/semantics.md §4-5); the gradient of the gather is a scatter-add onto distinct positions (the
starts are
distinct), so it adds exactly one term per position and is deterministic. (In float16/bfloat16 the rounded
starts of dims of several hundred elements can repeat or, in PyTorch, leave the input; here they are clipped
into it, and a repeated start adds two terms.)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

# The only helpers taken from other modules: geometry checks and the public max-pooling ops.
from jaxpool._args import (
    LAYOUT_FIRST,
    LAYOUT_LAST,
    check_inputs,
    infer_num_spatial_dims,
    spatial_axes_for,
    torch_names,
)
from jaxpool._args import as_int as _as_int
from jaxpool._indices import max_pool_with_indices
from jaxpool._max import max_pool
from jaxpool._sharding import whole_axes

Array = jax.Array

#: Value of every sample in evaluation mode of the modules (``deterministic=True``).
EVAL_SAMPLE = 0.5


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _per_dim(value: Any, name: str, n: int | None, convert: Any) -> tuple:
    """A scalar (repeated ``n`` times) or a sequence of ``n`` entries, each passed through ``convert``."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        if n is not None and len(value) != n:
            raise ValueError(
                f"{name}={tuple(value)!r} has length {len(value)}, but the pooling has {n} spatial dims "
                "(set by the first tuple among window_shape, output_size, output_ratio, else inputs.ndim - 2)"
            )
        if len(value) == 0:
            raise ValueError(f"{name}={tuple(value)!r} is empty; give one entry per spatial dim")
        return tuple(convert(v) for v in value)
    return (convert(value),) * (1 if n is None else n)


def _positive_int(name: str) -> Any:
    def convert(v: Any) -> int:
        v = _as_int(v, name)
        if v < 1:
            raise ValueError(f"{name} entries must be positive ints, got {v}")
        return v

    return convert


def _ratio(v: Any) -> float:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise TypeError(f"output_ratio entries must be real numbers in (0, 1), got {v!r}")
    if not 0.0 < float(v) < 1.0:
        raise ValueError(f"output_ratio entries must lie strictly between 0 and 1, got {v!r}")
    return float(v)


def check_args(
    window_shape: Any,
    output_size: Any,
    output_ratio: Any,
    channels_first: Any,
    return_indices: Any,
    n: int | None = None,
) -> tuple[tuple[int, ...], tuple[int, ...] | None, tuple[float, ...] | None]:
    """Validate the input-independent arguments; return (window, output_size, output_ratio) as tuples.

    Raises:
      TypeError: non-bool flags, non-int window/size entries, non-real ratios.
      ValueError: non-positive entries, ratios outside (0, 1), tuple lengths that disagree, both or neither
        of ``output_size`` and ``output_ratio``.
    """
    for flag, name in ((channels_first, "channels_first"), (return_indices, "return_indices")):
        if not isinstance(flag, (bool, np.bool_)):
            raise TypeError(f"{name} must be a bool, got {flag!r}")
    if (output_size is None) == (output_ratio is None):
        raise ValueError(
            "give exactly one of output_size and output_ratio, got "
            f"output_size={output_size!r} and output_ratio={output_ratio!r}"
        )
    if n is None:
        for spec in (window_shape, output_size, output_ratio):
            if isinstance(spec, Sequence) and not isinstance(spec, str):
                n = len(spec)
                break
    window = _per_dim(window_shape, "window_shape", n, _positive_int("window_shape"))
    sizes = None if output_size is None else _per_dim(output_size, "output_size", n, _positive_int("output_size"))
    ratios = None if output_ratio is None else _per_dim(output_ratio, "output_ratio", n, _ratio)
    return window, sizes, ratios


def _interval_dtype(dtype: np.dtype) -> np.dtype:
    """The type the starts are computed in: the input's float type (as PyTorch), float32 for ints/bool."""
    return dtype if jnp.issubdtype(dtype, jnp.floating) else np.dtype(np.float32)


def _round(v: Array, dtype: np.dtype) -> Array:
    """Round float32 ``v`` to ``dtype`` (a no-op for float32/float64): one c10::Half/BFloat16 operation."""
    if np.dtype(dtype).itemsize >= 4:
        return v
    info = jnp.finfo(dtype)
    return jax.lax.reduce_precision(v, exponent_bits=info.nexp, mantissa_bits=info.nmant)


def interval_starts(u: Array, size: int, window: int, out: int, dtype: Any) -> Array:
    """PyTorch's window starts along one dim: int32 ``(*u.shape, out)`` for samples ``u`` in [0, 1).

    ``start_i = int((i + u) * alpha) - int(u * alpha)`` with ``alpha = (size - window) / (out - 1)``, every
    operation rounded to ``dtype`` (the input's float type); the last start is ``size - window``.
    """
    last = jnp.full_like(u[..., None], size - window, dtype=jnp.int32)  # keeps the sharding of u
    if out == 1:
        return last
    dtype = np.dtype(dtype)
    work = dtype if dtype.itemsize >= 4 else np.dtype(np.float32)
    # alpha and the float form of i, rounded to ``dtype`` (NumPy's half/bfloat16 types round like c10's).
    alpha = np.asarray(np.asarray(size - window, dtype) / np.asarray(out - 1, dtype), dtype).astype(work)
    i = np.arange(out - 1).astype(dtype).astype(work).reshape((1,) * u.ndim + (out - 1,))
    u = _round(u.astype(work), dtype)[..., None]
    scaled = _round(_round(jnp.asarray(i) + u, dtype) * jnp.asarray(alpha), dtype)
    offset = _round(u * jnp.asarray(alpha), dtype)
    starts = jnp.floor(scaled).astype(jnp.int32) - jnp.floor(offset).astype(jnp.int32)
    starts = jnp.clip(starts, 0, size - window)  # traced samples outside [0, 1) still give valid windows
    return jnp.concatenate([starts, last], axis=-1)


def _check_key(key: Any) -> None:
    dtype = getattr(key, "dtype", None)
    if dtype is not None and jnp.issubdtype(dtype, jax.dtypes.prng_key):
        if np.ndim(key) != 0:
            raise ValueError(f"key must be a single PRNG key (shape ()), got a key array of shape {np.shape(key)}")
        return
    if dtype is None or np.dtype(dtype) != np.uint32 or np.ndim(key) != 1:
        raise TypeError(
            "key must be a jax.random key (jax.random.key(seed), or a legacy uint32 jax.random.PRNGKey), "
            f"got {type(key).__name__} with dtype {dtype} and shape {np.shape(key)}"
        )


def _check_samples(samples: Any, shape: tuple[int, ...], dtype: np.dtype, mapping: str) -> Array:
    """Shape, dtype and (when concrete) range checks; returns the samples in the interval dtype."""
    s_dtype = getattr(samples, "dtype", None)
    if s_dtype is None:
        samples = np.asarray(samples)
        s_dtype = samples.dtype
    if not jnp.issubdtype(s_dtype, jnp.floating):
        raise TypeError(f"samples must be a real floating array in [0, 1), got dtype {np.dtype(s_dtype).name}")
    if np.ndim(samples) == 0:  # one value for every plane and dim
        samples = jnp.broadcast_to(jnp.asarray(samples), shape) if isinstance(samples, jax.Array) else (
            np.broadcast_to(np.asarray(samples), shape))
    if tuple(np.shape(samples)) != shape:
        raise ValueError(
            f"samples must have shape (*batch, features, N) = {shape} for this input, got {np.shape(samples)} "
            f"({mapping})"
        )
    if not isinstance(samples, jax.core.Tracer):
        host = np.asarray(samples).astype(dtype)  # checked as they will be used: in the interval dtype
        if host.size and not (np.all(host >= 0) and np.all(host < 1)):
            bad = host[~((host >= 0) & (host < 1))].ravel()[0]
            raise ValueError(
                f"samples must lie in [0, 1) (after conversion to {np.dtype(dtype).name}), found {bad!r}"
            )
    return jnp.asarray(samples).astype(dtype)


def _resolve_sizes(
    spatial: tuple[int, ...], window: tuple[int, ...], sizes: tuple[int, ...] | None, ratios: tuple | None
) -> tuple[int, ...]:
    out = []
    for d, (length, k) in enumerate(zip(spatial, window, strict=True)):
        if k > length:
            raise ValueError(f"window_shape={window} is larger than spatial dim {d} of the input (size {length})")
        if sizes is not None:
            o, name, given = sizes[d], "output_size", sizes
        else:
            o, name, given = int(length * ratios[d]), "output_ratio", ratios
            if o < 1:
                raise ValueError(
                    f"output_ratio={given} gives int({length} * {ratios[d]}) = 0 outputs along spatial dim {d}"
                )
        if o > length - k + 1:
            raise ValueError(
                f"{name}={given} gives {o} outputs along spatial dim {d}, but a dim of size {length} pooled by "
                f"windows of {k} allows at most size - window + 1 = {length - k + 1}"
            )
        out.append(o)
    return tuple(out)


def _sample_dim(d: int, n: int) -> int:
    """The sample component that drives spatial dim ``d`` (PyTorch: 2-D reads (W, H), 3-D reads (T, H, W))."""
    return n - 1 - d if n == 2 else d


@functools.partial(jax.jit, static_argnums=(2, 3, 4, 5, 6))
def _pool(
    x: Array, samples: Array, axes: tuple, window: tuple, sizes: tuple, channels_first: bool, return_indices: bool
) -> Any:
    n = len(axes)
    x = whole_axes(x, axes)  # the gathers below index whole planes: spatial axes unsharded (explicit meshes)
    if return_indices:
        pooled = max_pool_with_indices(x, window, 1, channels_first=channels_first)
    else:
        pooled = (max_pool(x, window, 1, channels_first=channels_first),)
    # samples: (*batch, features, N); the plane axes of x in that order.
    feat = x.ndim - n - 1 if channels_first else x.ndim - 1
    for d, ax in enumerate(axes):
        starts = interval_starts(samples[..., _sample_dim(d, n)], x.shape[ax], window[d], sizes[d], samples.dtype)
        if not channels_first:  # (*batch, C, out) -> (*batch, out, C): the order of those axes in x
            starts = jnp.swapaxes(starts, -1, -2)
        shape = [1] * x.ndim
        for a in range(x.ndim - n - 1):
            shape[a] = x.shape[a]
        shape[feat], shape[ax] = x.shape[feat], sizes[d]
        idx = starts.reshape(shape)
        pooled = tuple(jnp.take_along_axis(p, idx, axis=ax, mode="clip") for p in pooled)
    return pooled if return_indices else pooled[0]


@torch_names
def fractional_max_pool(
    inputs: Any,
    window_shape: int | Sequence[int],
    output_size: int | Sequence[int] | None = None,
    output_ratio: float | Sequence[float] | None = None,
    *,
    key: Any = None,
    samples: Any = None,
    channels_first: bool = False,
    return_indices: bool = False,
) -> Array | tuple[Array, Array]:
    """Fractional max pooling (Graham 2014); matches ``torch.nn.functional.fractional_max_pool{2,3}d``.

    Each (sample, channel) plane gets one random ``u`` in [0, 1) per spatial dim. Along a dim of length ``L``
    pooled by windows of ``k`` to ``out`` outputs, output ``i`` is the max over ``[start_i, start_i + k)`` with
    ``start_i = int((i + u) * alpha) - int(u * alpha)``, ``alpha = (L - k) / (out - 1)``, and the last window
    anchored at ``L - k`` (PyTorch's CPU kernel; the arithmetic is done in the input's float type with one
    rounding per operation, float32 for integer/bool inputs). The N-d window is the box of the per-dim windows.
    Ties go to the first maximal element in row-major window order and NaN beats every number (the first NaN
    wins; PyTorch's CPU kernel picks the last NaN), as :func:`max_pool` (docs/semantics.md §4); the gradient and jvp
    route
    each output's whole cotangent (tangent) to that element, overlapping windows accumulating.

    Sample layout (PyTorch's ``_random_samples``): ``samples[..., j]`` drives spatial dim ``j`` -- except for
    N = 2, where, as PyTorch's 2-D kernel, ``samples[..., 0]`` drives the width (last spatial dim) and
    ``samples[..., 1]`` the height. So the array PyTorch takes as ``_random_samples`` (shape ``(batch, C, N)``)
    gives the same windows here, in either layout.

    Args:
      inputs: ``(*batch, *spatial, features)`` or, with ``channels_first=True``, ``(*batch, features,
        *spatial)``; zero or more batch axes. N is the length of the first tuple among ``window_shape``,
        ``output_size``, ``output_ratio``, else ``inputs.ndim - 2``. Any real float, integer or bool dtype.
      window_shape: int or N positive ints, each at most its spatial dim.
      output_size: int or N ints, each in ``[1, L - k + 1]``; exactly one of ``output_size`` and
        ``output_ratio``.
      output_ratio: float or N floats in (0, 1); ``output_size = int(L * ratio)`` per dim (PyTorch's rule), which
        must lie in ``[1, L - k + 1]``.
      key: a ``jax.random`` key; samples are drawn as ``jax.random.uniform(key, (*batch, features, N), dtype)``
        with ``dtype`` the input's float type (float32 for integer/bool inputs). Exactly one of ``key`` and
        ``samples``.
      samples: explicit samples in [0, 1), shape ``(*batch, features, N)`` (the batch axes of ``inputs``) or a
        scalar (the same sample for every plane and dim, e.g. the modules' evaluation mode); any real float
        dtype, converted to the type above before use. Concrete samples are range-checked; traced
        ones are not (starts are clipped into the input, so bad ones give wrong windows, never out-of-range).
      channels_first: features before the spatial dims.
      return_indices: also return int32 indices: the flat row-major position of each selected element within
        the spatial extent of its own (sample, channel) plane, as :func:`max_pool_with_indices` and PyTorch's
        ``return_indices`` (usable with :func:`max_unpool`).

    Returns:
      Values with the input dtype and the spatial sizes replaced by the output sizes; with
      ``return_indices=True`` a pair ``(values, indices)`` of that shape.

    Raises:
      TypeError: non-int window/size entries, non-real ratios, non-bool flags, a malformed key, non-float
        samples, complex inputs.
      ValueError: both or neither of ``output_size``/``output_ratio`` (or of ``key``/``samples``), non-positive
        entries, ratios outside (0, 1), wrong tuple lengths or input rank, a window larger than the input, an
        output larger than ``L - k + 1`` or empty, samples of the wrong shape or outside [0, 1).
    """
    inputs, shape, dtype = check_inputs(inputs)
    n = infer_num_spatial_dims(len(shape), window_shape=window_shape, output_size=output_size,
                               output_ratio=output_ratio)
    window, sizes, ratios = check_args(window_shape, output_size, output_ratio, channels_first, return_indices, n)
    axes = spatial_axes_for(shape, n, bool(channels_first), arg="window_shape")
    out = _resolve_sizes(tuple(shape[a] for a in axes), window, sizes, ratios)
    feat = axes[0] - 1 if channels_first else len(shape) - 1
    sample_shape = shape[: len(shape) - n - 1] + (shape[feat], n)
    fdtype = _interval_dtype(np.dtype(jax.dtypes.canonicalize_dtype(dtype)))  # float64 is float32 without x64
    if (key is None) == (samples is None):
        raise ValueError(
            "give exactly one of key (a jax.random key) and samples (explicit samples in [0, 1)), got "
            f"key={'None' if key is None else 'a key'} and samples={'None' if samples is None else 'an array'}"
        )
    if samples is not None:
        layout = LAYOUT_FIRST if channels_first else LAYOUT_LAST
        u = _check_samples(samples, sample_shape, fdtype, f"inputs of shape {shape}, layout {layout}")
    else:
        _check_key(key)
        u = jax.random.uniform(key, sample_shape, fdtype)
    if return_indices:
        total = math.prod(shape[a] for a in axes)
        if total > np.iinfo(np.int32).max:
            raise ValueError(f"the spatial extent of the input ({total} elements) does not fit int32 indices")
    return _pool(jnp.asarray(inputs), u, axes, window, out, bool(channels_first), bool(return_indices))
