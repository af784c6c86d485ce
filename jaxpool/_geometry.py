"""The one owner of pooling-window arithmetic.

Every op, gradient and module turns its user-facing arguments (``window_shape``, ``strides``, ``padding``,
``dilation``, ``ceil_mode``, ``channels_first``) into a :class:`PoolGeometry` through :func:`resolve`. That
function validates them (docs/semantics.md §6), resolves string padding the way ``lax.padtype_to_pads`` does, computes
the
output size with PyTorch's ``ceil_mode`` rule (docs/semantics.md §2), and checks that every window samples at least one
input
position (docs/semantics.md §3), in closed form. Average-pooling divisors are computed here too, in closed form per
axis.
:func:`prepare` is the entry of every window op: the input check of ``_args`` and then :func:`resolve`.
Argument checks themselves (ints, flags, bounds, the spatial-dims rule) live in ``_args``.

Nothing in this module touches array data: everything is static Python/NumPy arithmetic on shapes, so errors
are raised before any compute and under ``jit`` the results are compile-time constants.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxpool._args import (  # noqa: F401  (check_dtype, infer_num_spatial_dims, LAYOUT_*: re-exported)
    LAYOUT_FIRST,
    LAYOUT_LAST,
    MAX_SIZE,
    SizeError,
    as_int,
    check_dtype,
    check_flag,
    check_inputs,
    check_shape,
    check_spatial_sizes,
    infer_num_spatial_dims,
    int_tuple,
    is_int,
    is_sequence,
    show,
    spatial_axes_for,
    static_dim,
    torch_names,
)


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
      border_blocks: whether a pass over this axis reduces the windows that overhang the input as border
        blocks of their own (``_views.interior_blocks``); the max/min passes of large windows split on
        several axes turn it off (``_dispatch``: ``unblocked_split_axes``).
    """

    axis: int
    size: int
    window: int
    stride: int
    dilation: int
    low: int
    high: int
    out: int
    border_blocks: bool = True

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
        """Per-output number of sampled positions inside the input (or inside the padded extent).

        Closed form per output (no loop over the window): the offsets ``k`` in ``[0, window)`` with
        ``lo <= start + k * dilation < hi`` form one run ``[ceil((lo - start) / d), floor((hi - 1 - start) / d)]``.
        """
        lo, hi = (-self.low, self.size + self.high) if include_pad else (0, self.size)
        start = self.positions(0)
        d = self.dilation
        first = np.maximum(0, -((start - lo) // d))
        last = np.minimum(self.window - 1, (hi - 1 - start) // d)
        return np.maximum(0, last - first + 1)


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
        raise ValueError(f"padding={show(padding)} is not one of 'VALID', 'SAME', 'SAME_LOWER', an int, "
                         "N ints or N (low, high) pairs")
    if is_int(padding):
        p = as_int(padding, "padding", minimum=0)
        return [(p, p)] * n
    if not is_sequence(padding):
        raise TypeError(f"padding={show(padding)} must be a string, an int, N ints or N (low, high) pairs, got type "
                        f"{type(padding).__name__}")
    if len(padding) != n:
        raise ValueError(
            f"padding={show(padding)} has {len(padding)} entries, but the pooling has {n} spatial dims; "
            "give an int, N ints or N (low, high) pairs"
        )
    pads = []
    for p in padding:
        if is_int(p):
            v = as_int(p, "padding", minimum=0, what=show(padding))
            pads.append((v, v))
        elif is_sequence(p) and len(p) == 2:
            pads.append(tuple(as_int(v, "padding", minimum=0, what=show(padding)) for v in p))
        else:
            raise ValueError(
                f"padding={show(padding)} has a malformed entry {show(p)}; each entry must be an int or a "
                "(low, high) pair of ints"
            )
    return pads


def _floor_sum(n: int, m: int, a: int, b: int) -> int:
    """``sum(floor((a * i + b) / m) for i in range(n))`` in O(log m) steps (Euclid-like; any ints, m > 0)."""
    total = 0
    if n <= 0:
        return 0
    qa, a = divmod(a, m)
    qb, b = divmod(b, m)
    total += qa * (n * (n - 1) // 2) + qb * n
    while True:
        if a >= m:
            total += (n * (n - 1) // 2) * (a // m)
            a %= m
        if b >= m:
            total += n * (b // m)
            b %= m
        top = a * n + b
        if top < m:
            return total
        n, b = divmod(top, m)
        m, a = a, m


def _gap_windows(count: int, size: int, stride: int, dilation: int, low: int) -> int:
    """How many of the windows ``i < count`` (start ``i * stride - low``) have ``start mod dilation >= size``."""
    # floor(y / d) - floor((y - size) / d) is 1 where y mod d < size, else 0 (0 < size <= d).
    inside = _floor_sum(count, dilation, stride, -low) - _floor_sum(count, dilation, stride, -low - size)
    return count - inside


def first_padding_only_window(ax: AxisGeometry) -> int | None:
    """Index of the first window of ``ax`` that samples no input element, or None; closed form (docs/semantics.md §3).

    Window ``i`` samples ``a + k * d`` for ``k < window``, ``a = i * stride - low``. It misses the input
    ``[0, size)`` exactly when (A) it ends before it, ``a + (window - 1) * d < 0`` (a prefix of the windows: check
    window 0); (B) it starts after it, ``a >= size`` (a suffix: check the last); or (C) it starts in the low
    padding and its first non-negative position, ``a mod d``, is already ``>= size`` (dilation steps over the
    whole input). (C) is counted with a floor sum, so the time does not depend on the sizes.
    """
    size, w, s, d, lo, out = ax.size, ax.window, ax.stride, ax.dilation, ax.low, ax.out
    candidates = []
    if -lo + (w - 1) * d < 0:
        candidates.append(0)
    b_first = -(-(size + lo) // s)  # first i with i * s - lo >= size
    if b_first < out:
        candidates.append(b_first)
    neg = min(out, -(-lo // s))  # windows starting in the low padding: i < neg
    if d > size and neg > 0 and _gap_windows(neg, size, s, d, lo) > 0:
        lo_i, hi_i = 0, neg  # the shortest prefix holding a gap window is hi_i long, by bisection
        while hi_i - lo_i > 1:
            mid = (lo_i + hi_i) // 2
            if _gap_windows(mid, size, s, d, lo) > 0:
                hi_i = mid
            else:
                lo_i = mid
        candidates.append(hi_i - 1)
    return min(candidates) if candidates else None


def resolve(
    input_shape: Sequence[int],
    window_shape: Any,
    strides: Any = None,
    padding: Any = "VALID",
    *,
    dilation: Any = None,
    ceil_mode: Any = False,
    channels_first: Any = False,
) -> PoolGeometry:
    """Validate pooling arguments and compute the static geometry (docs/semantics.md §1–3, §6).

    Every check runs in time independent of the values (no loop over a window or over outputs).

    Args:
      input_shape: shape of the input, ``(*batch, *spatial, features)`` or, with ``channels_first``,
        ``(*batch, features, *spatial)`` (already validated: non-negative ints).
      window_shape, strides, dilation: an int or N ints; ``strides=None`` and ``dilation=None`` mean all ones
        (Flax convention).
      padding: ``"VALID"``, ``"SAME"``, ``"SAME_LOWER"`` (any case), an int, N ints or N ``(low, high)`` pairs.
      ceil_mode: PyTorch's ceil rounding of the output size (explicit padding only).
      channels_first: whether the feature axis precedes the spatial axes.

    Returns:
      A :class:`PoolGeometry`.

    Raises:
      TypeError: non-int geometry (bool, float, str, bytes, traced values), non-bool flags.
      ValueError: wrong lengths, non-positive window/stride/dilation, negative or malformed padding, sizes
        beyond ``MAX_SIZE``, ``ceil_mode`` with string padding, windows sampling only padding, or an empty output.
    """
    input_shape = tuple(static_dim(d) for d in input_shape)
    if window_shape is None:
        raise TypeError("window_shape is required: an int or a sequence of N ints, got None")
    ceil_mode = check_flag(ceil_mode, "ceil_mode")
    channels_first = check_flag(channels_first, "channels_first")
    n = infer_num_spatial_dims(len(input_shape), window_shape=window_shape, strides=strides,
                               dilation=dilation)
    axes_idx = spatial_axes_for(input_shape, n, channels_first)
    windows = int_tuple(window_shape, "window_shape", n)
    strides_t = int_tuple(strides, "strides", n) or (1,) * n
    dil = int_tuple(dilation, "dilation", n) or (1,) * n
    assert windows is not None
    if ceil_mode and isinstance(padding, str):
        raise ValueError(
            f"ceil_mode=True needs explicit padding, got padding={padding!r}: for PyTorch's default (no padding) "
            "pass padding=0; SAME already rounds the output up"
        )
    sizes = [input_shape[a] for a in axes_idx]
    check_spatial_sizes(input_shape, axes_idx)
    effs = [d * (w - 1) + 1 for w, d in zip(windows, dil)]
    for d, (eff, w, dl) in enumerate(zip(effs, windows, dil)):
        if eff > MAX_SIZE:
            raise ValueError(f"window_shape={show(window_shape)} with dilation={show(dilation)} spans {eff} "
                             f"positions in spatial dim {d} (window {w}, dilation {dl}), beyond the largest size "
                             f"jaxpool handles ({MAX_SIZE})")
    pads = _resolve_padding(padding, sizes, effs, strides_t)
    axes = []
    for d, (ax, size, w, s, dl, eff, (lo, hi)) in enumerate(
        zip(axes_idx, sizes, windows, strides_t, dil, effs, pads)
    ):
        if lo + hi > 0 and size + lo + hi > MAX_SIZE:  # padding past int32 positions
            raise ValueError(
                f"padding={show(padding)} makes spatial dim {d} {size + lo + hi} positions long (size {size}, "
                f"padding ({lo}, {hi})), beyond the largest padded size jaxpool handles ({MAX_SIZE})"
            )
        span = size + lo + hi - eff
        out = (-(-span // s) if ceil_mode else span // s) + 1
        if ceil_mode and (out - 1) * s >= size + lo:
            out -= 1
        if out < 1:
            raise SizeError(
                f"spatial dim {d} (input axis {ax}) has size {size} and padding ({lo}, {hi}), smaller than the "
                f"effective window {eff} (window {w}, dilation {dl}): the output would be empty "
                f"(window_shape={show(window_shape)}, input shape {input_shape})"
            )
        if out == 1:
            # One window: the stride samples nothing, so it is cut to the padded length (same views, same
            # output) and no pass builds stride-sized phases or pads (cost independent of the stride).
            s = min(s, max(size + lo + hi, eff))
        geom = AxisGeometry(ax, size, w, s, dl, lo, hi, out)
        first = first_padding_only_window(geom)
        if first is not None:
            raise SizeError(
                f"padding={show(padding)} with dilation={show(dilation)} makes window {first} of spatial dim {d} "
                f"(size {size}, window {w}) sample only padding; every window must sample at least one input "
                "element (reduce padding or dilation)"
            )
        axes.append(geom)
    return PoolGeometry(input_shape, tuple(axes), channels_first)


def prepare(inputs: Any, window_shape: Any, strides: Any, padding: Any, *, dilation: Any, ceil_mode: Any,
            channels_first: Any) -> tuple[jax.Array, PoolGeometry]:
    """Validate ``inputs`` and the window arguments (before any compute); return the JAX array and geometry.

    Raises:
      TypeError, ValueError: as :func:`resolve`, and for ``inputs`` that are not a real-valued array
        (``_args.check_inputs``).
    """
    arr, shape, _ = check_inputs(inputs)
    geom = resolve(shape, window_shape, strides, padding, dilation=dilation, ceil_mode=ceil_mode,
                   channels_first=channels_first)
    return jnp.asarray(arr), geom


def avg_divisor(geom: PoolGeometry, count_include_pad: bool, divisor_override: int | None) -> list[np.ndarray]:
    """Per-axis divisor vectors whose outer product is the avg-pooling divisor (docs/semantics.md §3).

    Returns a list with one float64 vector of length ``out`` per spatial axis (a single-element list holding
    ``[divisor_override]`` when an override is given).
    """
    if divisor_override is not None:
        return [np.asarray([float(divisor_override)])]
    return [ax.counts(count_include_pad).astype(np.float64) for ax in geom.axes]


@torch_names
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
      TypeError, ValueError: as :func:`jaxpool.max_pool` for invalid arguments (docs/semantics.md §6); ``input_shape``
      must
        be a sequence of non-negative ints (TypeError for floats, strings, bools).
    """
    return resolve(
        check_shape(input_shape, "input_shape"), window_shape, strides, padding,
        dilation=dilation, ceil_mode=ceil_mode, channels_first=channels_first,
    ).output_shape
