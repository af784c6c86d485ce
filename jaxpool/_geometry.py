"""The one owner of pooling-window arithmetic.

Every op, gradient and module turns its user-facing arguments (``window_shape``, ``strides``, ``padding``,
``dilation``, ``ceil_mode``, ``channels_first``) into a :class:`PoolGeometry` through :func:`resolve`. That
function validates them (SPEC §6), resolves string padding the way ``lax.padtype_to_pads`` does, computes the
output size with PyTorch's ``ceil_mode`` rule (SPEC §2), and checks that every window samples at least one input
position (SPEC §3). Average-pooling divisors are computed here too, in closed form per axis.

Nothing in this module touches array data: everything is static Python/NumPy arithmetic on shapes, so errors
are raised before any compute and under ``jit`` the results are compile-time constants.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Sequence
from typing import Any

import jax.numpy as jnp
import numpy as np

LAYOUT_LAST = "(*batch, *spatial, features)"
LAYOUT_FIRST = "(*batch, features, *spatial)"


@dataclasses.dataclass(frozen=True)
class AxisGeometry:
    """Static geometry of pooling along one spatial axis.

    Attributes:
      axis: index of this spatial axis in the input array.
      size: input length along the axis.
      window: window length (number of sampled positions).
      stride: step between consecutive windows.
      dilation: step between sampled positions inside a window.
      low, high: explicit padding before/after the input.
      out: number of windows (output length).
    """

    axis: int
    size: int
    window: int
    stride: int
    dilation: int
    low: int
    high: int
    out: int

    def positions(self, offset: int) -> np.ndarray:
        """Input positions (may be out of range) sampled by window ``offset`` for every output index."""
        return np.arange(self.out) * self.stride + offset * self.dilation - self.low

    def valid(self, offset: int) -> np.ndarray:
        """Boolean mask over outputs: does window ``offset`` sample a real input element?"""
        pos = self.positions(offset)
        return (pos >= 0) & (pos < self.size)

    @property
    def padded_extent(self) -> int:
        """Length of the input after padding, extended so every (ceil_mode) window fits in it."""
        last = (self.out - 1) * self.stride + (self.window - 1) * self.dilation + 1
        return max(self.size + self.low + self.high, last)

    def counts(self, include_pad: bool) -> np.ndarray:
        """Per-output number of sampled positions inside the input (or inside the padded extent)."""
        lo, hi = (-self.low, self.size + self.high) if include_pad else (0, self.size)
        pos = self.positions(0)[:, None] + np.arange(self.window)[None, :] * self.dilation
        return ((pos >= lo) & (pos < hi)).sum(axis=1)


@dataclasses.dataclass(frozen=True)
class PoolGeometry:
    """Static geometry of an N-d pooling op: one :class:`AxisGeometry` per spatial dim, in order."""

    input_shape: tuple[int, ...]
    axes: tuple[AxisGeometry, ...]
    channels_first: bool

    @property
    def num_spatial_dims(self) -> int:
        return len(self.axes)

    @property
    def spatial_axes(self) -> tuple[int, ...]:
        return tuple(a.axis for a in self.axes)

    @property
    def output_shape(self) -> tuple[int, ...]:
        shape = list(self.input_shape)
        for a in self.axes:
            shape[a.axis] = a.out
        return tuple(shape)

    def broadcast_shape(self, ax: AxisGeometry, length: int) -> tuple[int, ...]:
        """Shape that places a 1-D vector of ``length`` along ``ax.axis`` and broadcasts elsewhere."""
        shape = [1] * len(self.input_shape)
        shape[ax.axis] = length
        return tuple(shape)


def _as_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        try:
            return operator.index(value)
        except TypeError:
            raise TypeError(
                f"{name} must be a static Python int, got {value!r} of type {type(value).__name__}; "
                "pass concrete ints (traced values cannot set pooling geometry)"
            ) from None
    return int(value)


def _int_tuple(value: Any, name: str, n: int | None) -> tuple[int, ...] | None:
    """Normalise an int-or-sequence argument; returns None for ``None``."""
    if value is None:
        return None
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return (int(value),) * (n if n is not None else 1)
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise TypeError(f"{name} must be an int or a sequence of ints, got {value!r}")
    out = tuple(_as_int(v, name) for v in value)
    if n is not None and len(out) != n:
        raise ValueError(
            f"{name}={value!r} has length {len(out)}, but the pooling has {n} spatial dims "
            f"(set by the first tuple among window_shape, strides, dilation)"
        )
    return out


def infer_num_spatial_dims(ndim: int, *specs: Any) -> int:
    """N from the first tuple among ``specs`` (window_shape, strides, dilation), else ``ndim - 2`` (SPEC §1)."""
    for spec in specs:
        if spec is not None and not (isinstance(spec, (int, np.integer)) and not isinstance(spec, bool)):
            if isinstance(spec, Sequence) and not isinstance(spec, str):
                return len(spec)
    return ndim - 2


def spatial_axes_for(
    ndim: int, num_spatial_dims: int, channels_first: bool, *, arg: str = "window_shape"
) -> tuple[int, ...]:
    """Positions of the spatial axes in an input of rank ``ndim`` (one feature axis, any batch axes)."""
    if not isinstance(channels_first, (bool, np.bool_)):
        raise TypeError(f"channels_first must be a bool, got {channels_first!r}")
    layout = LAYOUT_FIRST if channels_first else LAYOUT_LAST
    if num_spatial_dims < 1:
        raise ValueError(
            f"{arg} implies {num_spatial_dims} spatial dims for an input of rank {ndim}; at least 1 is needed; "
            f"the layout is {layout}"
        )
    if ndim < num_spatial_dims + 1:
        raise ValueError(
            f"{arg} implies {num_spatial_dims} spatial dims, but the input has rank {ndim}; the expected layout "
            f"is {layout}, so the input needs rank >= {num_spatial_dims + 1}"
        )
    if channels_first:
        return tuple(range(ndim - num_spatial_dims, ndim))
    return tuple(range(ndim - 1 - num_spatial_dims, ndim - 1))


def _resolve_padding(
    padding: Any, sizes: Sequence[int], effs: Sequence[int], strides: Sequence[int]
) -> list[tuple[int, int]]:
    n = len(sizes)
    if isinstance(padding, str):
        mode = padding.upper()
        if mode == "VALID":
            return [(0, 0)] * n
        if mode in ("SAME", "SAME_LOWER"):
            pads = []
            for size, eff, s in zip(sizes, effs, strides):
                out = -(-size // s)
                total = max(0, (out - 1) * s + eff - size)
                small, big = total // 2, total - total // 2
                pads.append((small, big) if mode == "SAME" else (big, small))
            return pads
        raise ValueError(f"padding={padding!r} is not one of 'VALID', 'SAME', 'SAME_LOWER', an int, "
                         "N ints or N (low, high) pairs")
    if isinstance(padding, (int, np.integer)) and not isinstance(padding, bool):
        pads = [(int(padding), int(padding))] * n
    elif isinstance(padding, Sequence):
        if len(padding) != n:
            raise ValueError(
                f"padding={padding!r} has {len(padding)} entries, but the pooling has {n} spatial dims; "
                "give an int, N ints or N (low, high) pairs"
            )
        pads = []
        for p in padding:
            if isinstance(p, (int, np.integer)) and not isinstance(p, bool):
                pads.append((int(p), int(p)))
            elif isinstance(p, Sequence) and not isinstance(p, str) and len(p) == 2:
                pads.append((_as_int(p[0], "padding"), _as_int(p[1], "padding")))
            else:
                raise ValueError(
                    f"padding={padding!r} has a malformed entry {p!r}; each entry must be an int or a "
                    "(low, high) pair"
                )
    else:
        raise TypeError(f"padding={padding!r} must be a string, an int, N ints or N (low, high) pairs")
    for lo, hi in pads:
        if lo < 0 or hi < 0:
            raise ValueError(f"padding={padding!r} is negative; padding must be >= 0")
    return pads


def resolve(
    input_shape: Sequence[int],
    window_shape: Any,
    strides: Any = None,
    padding: Any = "VALID",
    *,
    dilation: Any = None,
    ceil_mode: bool = False,
    channels_first: bool = False,
) -> PoolGeometry:
    """Validate pooling arguments and compute the static geometry (SPEC §1–3, §6).

    Args:
      input_shape: shape of the input, ``(*batch, *spatial, features)`` or, with ``channels_first``,
        ``(*batch, features, *spatial)``.
      window_shape, strides, dilation: an int or N ints; ``strides=None`` and ``dilation=None`` mean all ones
        (Flax convention).
      padding: ``"VALID"``, ``"SAME"``, ``"SAME_LOWER"`` (any case), an int, N ints or N ``(low, high)`` pairs.
      ceil_mode: PyTorch's ceil rounding of the output size (explicit padding only).
      channels_first: whether the feature axis precedes the spatial axes.

    Returns:
      A :class:`PoolGeometry`.

    Raises:
      TypeError: non-int geometry (e.g. traced values), non-bool flags.
      ValueError: wrong lengths, non-positive window/stride/dilation, negative or malformed padding,
        ``ceil_mode`` with string padding, windows sampling only padding, or an empty output.
    """
    input_shape = tuple(int(d) for d in input_shape)
    if window_shape is None:
        raise TypeError("window_shape is required: an int or a sequence of N ints, got None")
    if not isinstance(ceil_mode, (bool, np.bool_)):
        raise TypeError(f"ceil_mode must be a bool, got {ceil_mode!r}")
    n = infer_num_spatial_dims(len(input_shape), window_shape, strides, dilation)
    axes_idx = spatial_axes_for(len(input_shape), n, channels_first)
    windows = _int_tuple(window_shape, "window_shape", n)
    strides_t = _int_tuple(strides, "strides", n) or (1,) * n
    dil = _int_tuple(dilation, "dilation", n) or (1,) * n
    assert windows is not None
    for name, vals in (("window_shape", windows), ("strides", strides_t), ("dilation", dil)):
        if any(v < 1 for v in vals):
            raise ValueError(f"{name}={vals} must be positive in every dim")
    if ceil_mode and isinstance(padding, str):
        raise ValueError(
            f"ceil_mode=True needs explicit padding, got padding={padding!r} (SAME already rounds the output up)"
        )
    sizes = [input_shape[a] for a in axes_idx]
    effs = [d * (w - 1) + 1 for w, d in zip(windows, dil)]
    pads = _resolve_padding(padding, sizes, effs, strides_t)
    axes = []
    for d, (ax, size, w, s, dl, eff, (lo, hi)) in enumerate(
        zip(axes_idx, sizes, windows, strides_t, dil, effs, pads)
    ):
        span = size + lo + hi - eff
        out = (-(-span // s) if ceil_mode else span // s) + 1
        if ceil_mode and (out - 1) * s >= size + lo:
            out -= 1
        if out < 1:
            raise ValueError(
                f"spatial dim {d} (input axis {ax}) has size {size} and padding ({lo}, {hi}), smaller than the "
                f"effective window {eff} (window {w}, dilation {dl}): the output would be empty "
                f"(window_shape={windows}, input shape {input_shape})"
            )
        geom = AxisGeometry(ax, size, w, s, dl, lo, hi, out)
        starts = geom.positions(0)
        hits = np.zeros(out, dtype=bool)
        for k in range(w):
            p = starts + k * dl
            hits |= (p >= 0) & (p < size)
        if not hits.all():
            first = int(np.argmin(hits))
            raise ValueError(
                f"padding={padding!r} with dilation={dil} makes window {first} of spatial dim {d} "
                f"(size {size}, window {w}) sample only padding; every window must sample at least one input "
                "element (reduce padding or dilation)"
            )
        axes.append(geom)
    return PoolGeometry(input_shape, tuple(axes), bool(channels_first))


def avg_divisor(geom: PoolGeometry, count_include_pad: bool, divisor_override: int | None) -> list[np.ndarray]:
    """Per-axis divisor vectors whose outer product is the avg-pooling divisor (SPEC §3).

    Returns a list with one float64 vector of length ``out`` per spatial axis (a single-element list holding
    ``[divisor_override]`` when an override is given).
    """
    if divisor_override is not None:
        return [np.asarray([float(divisor_override)])]
    return [ax.counts(count_include_pad).astype(np.float64) for ax in geom.axes]


def pool_output_shape(
    input_shape: Sequence[int],
    window_shape: int | Sequence[int],
    strides: int | Sequence[int] | None = None,
    padding: str | int | Sequence[int] | Sequence[tuple[int, int]] = "VALID",
    *,
    dilation: int | Sequence[int] | None = None,
    ceil_mode: bool = False,
    channels_first: bool = False,
) -> tuple[int, ...]:
    """Output shape of any jaxpool pooling op, computed by the same code the ops use.

    Args:
      input_shape: ``(*batch, *spatial, features)``, or ``(*batch, features, *spatial)`` with
        ``channels_first=True``.
      window_shape, strides, padding, dilation, ceil_mode, channels_first: as for :func:`jaxpool.max_pool`
        (``strides=None`` means stride 1 in every dim, as in Flax).

    Returns:
      The full output shape (batch and feature axes unchanged; each spatial size replaced by
      ``floor((size + low + high - eff) / stride) + 1`` with ``eff = dilation * (window - 1) + 1``, or PyTorch's
      ``ceil_mode`` rule).

    Raises:
      TypeError, ValueError: as :func:`jaxpool.max_pool` for invalid arguments (SPEC §6).
    """
    return resolve(
        input_shape, window_shape, strides, padding,
        dilation=dilation, ceil_mode=ceil_mode, channels_first=channels_first,
    ).output_shape


def check_dtype(dtype: Any, arg: str = "inputs") -> np.dtype:
    """Reject dtypes no pooling op supports (complex, object, strings); return the NumPy dtype."""
    dt = np.dtype(dtype)
    if not (jnp.issubdtype(dt, jnp.floating) or jnp.issubdtype(dt, jnp.integer) or dt == np.bool_):
        raise TypeError(
            f"{arg} has dtype {dt.name}; pooling supports bool, integer and real floating dtypes "
            "(complex and other dtypes are not supported)"
        )
    return dt
