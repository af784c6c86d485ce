"""Large max/min windows as a few passes of small windows: runs of runs (docs/semantics.md §7).

A window of ``w`` offsets (dilation ``d``) is the union of ``k`` *runs* of ``b`` consecutive offsets that
start ``e`` offsets apart, with ``e = w // k`` and ``b = w - (k - 1) * e >= e`` (the runs cover the window and
may overlap). So one max (min) pass of window ``w`` equals two passes:

* an *inner* pass, window ``b``, dilation ``d``, stride 1, over every run start that touches the input, and
* an *outer* pass over the inner results, window ``k``, dilation ``e * d``, the original stride,

and the inner pass splits again, so a window of 4096 is three or four passes of at most 16 views each. Work
per element grows like ``log(w)`` and program size like the number of passes, against ``w`` views in one
pass; every pass keeps the view kernels' fast forward and hand-written reverse pass (``_windows``).

Exactness. Values are maxima of maxima. Winners keep the semantics contract (first maximal element in
row-major order, first NaN, never padding): an inner pass names the first maximal element of its run; the
outer pass names the first run whose value is maximal, which is the first run containing the window's first
maximal element ``p`` (runs are ordered by start; earlier runs that miss ``p`` hold only earlier elements,
which are smaller), and that run's own winner is ``p``. Runs that lie wholly in padding are never computed:
the inner pass covers run starts ``[p0, p1)``, those whose span reaches the input, and the outer pass sees the
rest as its own padding, which never wins. (A run that spans the input but samples none of it needs
``dilation > size``; such axes are not split.) Gradients, jvp, indices and unpooling compose pass by pass, as
for the separable N-d windows.

Window sums split the same way when the runs partition the window (``w = k * b``, spacing ``b``): a sum of
sums, each adding at most 16 terms, so float32 keeps its accuracy (no prefix-sum difference).
"""

from __future__ import annotations

import functools

from jaxpool._geometry import AxisGeometry

#: Largest number of views in one pass of a split window.
MAX_VIEWS = 16
#: Cost of one extra pass, in views (fwd+bwd on the 2-core CPU: a pass of k views ~ (8 + k) view-units).
PASS_COST = 8


@functools.cache
def _plan(w: int, exact: bool = False) -> tuple[tuple[int, int], ...]:
    """Cheapest split of a window of ``w`` offsets: ``((k, e), ...)`` from the outermost pass inwards; empty
    when one pass of ``w`` views is cheapest. Cost model: ``PASS_COST + views`` per pass; of equally cheap
    plans, the one with fewer passes. ``exact``: the runs must partition the window (``k`` divides ``w``, so
    ``b = e = w / k``), as window sums need.

    Fewer passes on a tie, measured (max fwd+bwd (8, 16384, 16) f32 stride 1 SAME, one process, interleaved,
    2-core CPU, first found vs fewer passes): w=87 (4, 4, 6 views vs 7, 12) 6.66 vs 4.77 ms, w=103 5.67 vs
    4.69, w=128 (4, 4, 8 vs 8, 16) 7.56 vs 5.77, w=144 5.55 vs 4.83, w=717 7.65 vs 7.07, w=849 7.94 vs 7.24 ms;
    it changes the plan of 243 of the windows up to 4096, none of the powers of two but 128.
    """
    return _best(w, exact)[2]


@functools.cache
def _best(w: int, exact: bool) -> tuple[int, int, tuple[tuple[int, int], ...]]:
    """(cost, number of passes, plan) of :func:`_plan`."""
    best: tuple[int, int, tuple[tuple[int, int], ...]] = (PASS_COST + w, 1, ())
    for k in range(2, min(MAX_VIEWS, w) + 1):
        if exact and w % k:
            continue
        e = w // k
        b = w - (k - 1) * e
        if b >= w:
            continue
        inner_cost, inner_passes, inner_plan = _best(b, exact)
        cost, passes = PASS_COST + k + inner_cost, inner_passes + 1
        if (cost, passes) < best[:2]:
            best = (cost, passes, ((k, e), *inner_plan))
    return best


def split(a: AxisGeometry, inner: int, outer_views: int, spacing: int) -> tuple[AxisGeometry, AxisGeometry]:
    """The inner and outer passes of window ``a.window = inner + (outer_views - 1) * spacing`` (module doc).

    Args:
      a: the pass's axis geometry (any stride, dilation, padding).
      inner: run length ``b`` (offsets of the inner window).
      outer_views: number of runs ``k`` per window.
      spacing: offsets ``e`` between run starts.

    Returns:
      ``(inner_geometry, outer_geometry)``: the inner pass reads the input (``size = a.size``) and yields one
      value per run start in ``[p0, p1)``; the outer pass reads those (``size = p1 - p0``, run start ``p0``
      first) and yields ``a.out`` values with ``a.stride``.
    """
    d, lo, n = a.dilation, a.low, a.size
    starts = (a.out - 1) * a.stride + (outer_views - 1) * spacing * d + 1
    p0 = max(0, lo - (inner - 1) * d)
    p1 = min(starts, lo + n)
    runs = p1 - p0
    low1 = lo - p0
    last1 = runs + (inner - 1) * d
    first = AxisGeometry(axis=a.axis, size=n, window=inner, stride=1, dilation=d, low=low1,
                         high=max(0, last1 - low1 - n), out=runs)
    second = AxisGeometry(axis=a.axis, size=runs, window=outer_views, stride=a.stride, dilation=spacing * d,
                          low=p0, high=starts - p1, out=a.out)
    return first, second


def passes(a: AxisGeometry, op: str = "extreme") -> list[AxisGeometry]:
    """The passes (in order: innermost first) that compute a pass over ``a``; ``[a]`` if unsplit.

    ``op="extreme"`` (max/min): runs may overlap. ``op="sum"``: the runs must partition the window, so only
    windows with a factor ``k <= MAX_VIEWS`` split, as ``k`` runs of ``w / k``; padding contributes zero there,
    so runs wholly in padding need no care.
    """
    plan = _plan(a.window, exact=op == "sum")
    if not plan or a.size < a.dilation:
        return [a]
    k, e = plan[0]
    first, second = split(a, a.window - (k - 1) * e, k, e)
    return [*passes(first, op), second]


__all__ = ["MAX_VIEWS", "PASS_COST", "passes", "split"]
