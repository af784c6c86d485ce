"""Which kernel each pooling pass takes: the ``_dispatch`` table applied to a pass's geometry.

Groups of spatial axes reduced in one fused pass (:func:`axis_groups`), single-axis windows split into passes
of small windows (:func:`split_passes`, ``_levels``) or given to the large-window schemes (:func:`large_axis`,
``_large_windows``, ``_stride_blocks``), and the passes XLA's own ``lax.reduce_window`` runs faster
(:func:`prefer_reduce_window`, :func:`prefer_reduce_window_extreme`). Every choice is exact; ``_windows``,
``_max`` and ``_sum`` ask here, so one place decides.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from jaxpool import _levels, _stride_blocks
from jaxpool._dispatch import kernels
from jaxpool._geometry import AxisGeometry, PoolGeometry


def large_axis(axes: Sequence[AxisGeometry], op: str) -> AxisGeometry | None:
    """The axis of a single-axis pass whose window takes the blocked large-window scheme
    (``_large_windows``) for ``op`` ("sum" or "extreme") on this backend, else None (``_dispatch`` table).
    Strided windows of a few stride-aligned blocks (``_stride_blocks``) take it from a smaller window on."""
    if len(axes) != 1:
        return None
    k, a = kernels(), axes[0]
    if a.window >= (k.large_sum_window if op == "sum" else k.large_extreme_window):
        return a
    return a if a.window >= k.stride_block_min_window and _stride_blocks.applies(a) else None


def split_passes(axes: Sequence[AxisGeometry], op: str) -> list[tuple[AxisGeometry]] | None:
    """The passes of a single-axis window split into passes of small windows (``_levels``) for ``op`` ("sum"
    or "extreme") on this backend, innermost first; None where the pass stays whole (``_dispatch`` table):
    windows below the split crossover, strided windows of a few stride-aligned blocks (``_stride_blocks``),
    window sums from ``split_sum_below`` and max/min windows from ``large_extreme_window`` on, and window sums
    with no factor up to 16."""
    if len(axes) != 1:
        return None
    k, a = kernels(), axes[0]
    if a.window < (k.split_sum_window if op == "sum" else k.split_extreme_window):
        return None
    if (a.window >= k.stride_block_min_window and _stride_blocks.applies(a)) \
            or a.window >= (k.split_sum_below if op == "sum" else k.large_extreme_window):
        return None
    passes = _levels.passes(a, op)
    return [(p,) for p in passes] if len(passes) > 1 else None


def axis_groups(geom: PoolGeometry, op: str) -> list[tuple[int, ...]]:
    """Consecutive groups of spatial-dim indices, in pass order (last dims first); trivial dims dropped.

    ``op`` ("sum", "extreme", or "extreme_values" / "extreme_values_narrow" for max/min values without
    winners of a float32 / 16-bit input) picks the group size limits of the ``_dispatch`` table."""
    dims = [
        i for i, a in enumerate(geom.axes)
        if not (a.window == 1 and a.stride == 1 and a.low == 0 and a.out == a.size)
    ]
    groups: list[list[int]] = []
    for i in reversed(dims):
        if groups and _fits(geom, [i, *groups[-1]], op):
            groups[-1].insert(0, i)
        else:
            groups.append([i])
    return [tuple(g) for g in groups]


def _fits(geom: PoolGeometry, dims: Sequence[int], op: str) -> bool:
    """Whether the windows of ``dims`` are few enough to reduce in one fused pass (``_dispatch`` table)."""
    axes = [geom.axes[j] for j in dims]
    k = kernels()
    extreme, values = op.startswith("extreme"), op.startswith("extreme_values")
    if extreme and op != "extreme_values_narrow" and k.split_channels_first_extreme and overlapping(axes) \
            and geom.axes[-1].axis == len(geom.input_shape) - 1:
        # channels first (the last array axis is spatial): overlapping max/min windows, one pass per axis (values
        # of a 16-bit input stay fused: one pass widens each view on the fly, several would store float32)
        return False
    if extreme and all(a.stride == 1 for a in axes):
        limit = k.max_group_window_stride1
    elif values and overlapping(axes):
        limit = k.max_group_window_values
    else:
        limit = k.max_group_window
    return math.prod(a.window for a in axes) <= limit


def abutting(a: AxisGeometry) -> bool:
    """Whether consecutive windows of an axis abut: stride == window, no dilation (padding allowed)."""
    return a.window == a.stride and a.dilation == 1


def overlapping(axes: Sequence[AxisGeometry]) -> bool:
    """Whether consecutive windows of a group share elements: stride below the window's extent on an axis."""
    return any(a.stride < (a.window - 1) * a.dilation + 1 for a in axes)


def is_tiling(axes: Sequence[AxisGeometry]) -> bool:
    """Whether the windows of a group tile the input: stride == window, no dilation, no padding."""
    return all(abutting(a) and a.low == 0 and a.padded_extent == a.size for a in axes)


def prefer_reduce_window(axes: Sequence[AxisGeometry]) -> bool:
    """Whether a *window-sum* pass should be ``lax.reduce_window`` (differentiated by JAX) on XLA:CPU.

    Measured: for a single axis XLA's own reduce_window and its transpose match or beat the slice views
    (whose phases must be interleaved by a concatenate) except when the windows tile the axis (stride ==
    window, no dilation), where the broadcast reverse pass wins; groups of several axes are faster as slices.
    """
    if len(axes) != 1 or large_axis(axes, "sum") is not None:
        return False
    return kernels().sum_reduce_window_1d and not abutting(axes[0])


def prefer_reduce_window_extreme(axes: Sequence[AxisGeometry]) -> bool:
    """Whether a max/min *values* pass (no winners) is faster through ``lax.reduce_window`` on XLA:CPU.

    Measured: a padded single-axis pass (1-D SAME) runs faster in XLA's own reduce_window than as border
    blocks of slice views; unpadded passes and multi-axis groups are faster as slices.
    """
    if len(axes) != 1 or large_axis(axes, "extreme") is not None or not kernels().extreme_reduce_window_padded_1d:
        return False
    a = axes[0]
    return a.low > 0 or a.padded_extent > a.size


__all__ = [
    "abutting",
    "axis_groups",
    "is_tiling",
    "large_axis",
    "overlapping",
    "prefer_reduce_window",
    "prefer_reduce_window_extreme",
    "split_passes",
]
