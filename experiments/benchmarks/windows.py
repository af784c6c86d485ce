"""Window-scaling grid of the pooling benchmark (``python -m experiments.benchmarks.pooling --windows``).

Two sweeps, each point compiled and timed for jaxpool and for Flax in one process, interleaved (``_timing``):

* 1-D max, avg and sum pooling on (8, 16384, 16), windows 2, 4, ..., 4096, SAME, at stride 1 and at stride
  ``max(1, window // 4)``;
* 2-D max pooling on (4, 128, 128, 16), windows 3, 7, 15, 31, 63 per dim, stride 1, SAME.

Per point it records the compile time of the forward+backward program (``jit`` of ``jax.vjp(f, x)[1](g)``
with a fixed random cotangent, as in ``pooling``; trace + compile, the fastest of 3), its median wall time,
the ratio flax / ours (above 1: ours faster), and whether both compile to the same XLA program. Baselines:
``flax.linen.max_pool``/``avg_pool`` and ``lax.reduce_window(add)`` for sums, all differentiated by JAX.
Flax's gradient is O(n * window) (``select_and_scatter``, padded reduce_window), so a competitor whose first
call takes more than ``slow_s`` seconds is timed with a single sample (interleaved with one of the other), and
the other, fast one is then timed again alone with the usual samples. The first point is run once, untimed,
before the grid (a cold first point measured up to 2-3x slow). The summary gives, per sweep and op,
the growth of our time from the smallest to the largest window, twice: from the grid's own figures, and with
the two endpoints re-timed side by side (:func:`endpoint_growth`, the figure the target is judged on), and
the points where the targets (compile <= flax + 1 s; ours at least as fast as flax: a ratio below 0.9 in two
runs, same-program points excepted) are missed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

import jaxpool
from experiments.benchmarks import _timing

SHAPE_1D = (8, 16384, 16)
SHAPE_2D = (4, 128, 128, 16)
WINDOWS_1D = tuple(2 ** k for k in range(1, 13))
WINDOWS_2D = (3, 7, 15, 31, 63)
HEADER = (f"{'sweep':<10} {'op':<4} {'window':>9} {'stride':>6} | {'compile ours':>12} {'flax':>6} |"
          f" {'fwd+bwd ours':>12} {'flax':>10} {'flax/ours':>9}")


def points(windows_1d: Sequence[int] = WINDOWS_1D, windows_2d: Sequence[int] = WINDOWS_2D,
           ops: Sequence[str] = ("max", "avg", "sum")) -> list[dict[str, Any]]:
    """The grid: one dict per point (sweep, op, dims, window, stride, shape, dtype float32)."""
    out = []
    for sweep, stride_of in (("1d_s1", lambda w: 1), ("1d_s=w/4", lambda w: max(1, w // 4))):
        for op in ops:
            for w in windows_1d:
                out.append({"sweep": sweep, "op": op, "dims": 1, "window": w, "stride": stride_of(w),
                            "shape": SHAPE_1D})
    if "max" in ops:
        for w in windows_2d:
            out.append({"sweep": "2d_s1", "op": "max", "dims": 2, "window": w, "stride": 1, "shape": SHAPE_2D})
    return out


def _fns(p: dict[str, Any]) -> tuple[Callable[[jax.Array], jax.Array], Callable[[jax.Array], jax.Array]]:
    w, s = (p["window"],) * p["dims"], (p["stride"],) * p["dims"]
    ours = {"max": jaxpool.max_pool, "avg": jaxpool.avg_pool, "sum": jaxpool.sum_pool}[p["op"]]
    if p["op"] == "max":
        base = lambda x: nn.max_pool(x, w, s, "SAME")  # noqa: E731
    elif p["op"] == "avg":
        base = lambda x: nn.avg_pool(x, w, s, "SAME")  # noqa: E731
    else:
        base = lambda x: lax.reduce_window(x, np.asarray(0, x.dtype), lax.add, (1, *w, 1),  # noqa: E731
                                           (1, *s, 1), "SAME")
    return (lambda x: ours(x, w, s, "SAME")), base


def run_point(p: dict[str, Any], *, dtype: str = "float32", repeats: int = 5,
              slow_s: float = 1.0, compiles: int = 3) -> dict[str, Any]:
    """Compile and time one grid point; returns the point plus ``compile_s``, ``times_ms``, ``ratio``.

    Args:
      p: a point from :func:`points`.
      dtype: input dtype name ("float32" or "bfloat16").
      repeats: interleaved samples per competitor (1 for a competitor slower than ``slow_s`` per call).
      slow_s: seconds per call above which a competitor gets a single sample.
      compiles: trace+compile each program this many times (caches cleared, interleaved) and keep the
        fastest, for both competitors: single compile times vary by tens of percent on a shared machine.

    Returns:
      ``{**p, "dtype", "compile_s": {"ours", "flax"}, "times_ms": {"ours", "flax"}, "samples": {"ours", "flax"},
      "ratio": flax / ours, "max_abs_diff": forward values, ours vs baseline}``.
    """
    with jax.numpy_dtype_promotion("standard"):  # Flax's avg_pool does not trace under strict promotion
        rng = np.random.default_rng(0)
        x = jnp.asarray(rng.standard_normal(p["shape"], np.float32), dtype)
        ours, base = _fns(p)
        y = jax.jit(ours)(x)
        g = jnp.asarray(rng.standard_normal(y.shape, np.float32), dtype)
        compiled, compile_s = {}, {}
        for _ in range(compiles):  # interleaved; caches cleared, so each is a full trace + compile
            for name, f in (("ours", ours), ("flax", base)):
                jax.clear_caches()
                t0 = time.perf_counter()
                compiled[name] = jax.jit(lambda v, c, f=f: jax.vjp(f, v)[1](c)[0]).lower(x, g).compile()
                compile_s[name] = min(compile_s.get(name, float("inf")), time.perf_counter() - t0)
        diff = float(jnp.max(jnp.abs(y.astype(jnp.float32) - jax.jit(base)(x).astype(jnp.float32))))
    first = {}
    for name, c in compiled.items():
        t0 = time.perf_counter()
        jax.block_until_ready(c(x, g))
        first[name] = time.perf_counter() - t0
    slow = max(first.values()) > slow_s
    fns = {name: (lambda c=c: jax.block_until_ready(c(x, g))) for name, c in compiled.items()}
    timings = _timing.measure(fns, repeats=1 if slow else repeats, warmup=1, min_sample_s=0.0 if slow else 0.02)
    t = {k: v.wall_ms for k, v in timings.items()}
    fast = [name for name, s in first.items() if s <= slow_s]
    if slow and fast:
        # a fast competitor beside a slow one: its single sample above is one call of a few milliseconds,
        # so it is timed again, alone, with the usual samples (its figure, and the growth, use those)
        again = _timing.measure({k: fns[k] for k in fast}, repeats=repeats, warmup=1, min_sample_s=0.02)
        t.update({k: v.wall_ms for k, v in again.items()})
    prints = {name: _timing.program_fingerprint(c) for name, c in compiled.items()}
    return {**p, "shape": list(p["shape"]), "dtype": dtype, "compile_s": compile_s, "times_ms": t,
            "samples": {k: (repeats if k in fast or not slow else 1) for k in compiled},
            "ratio": t["flax"] / t["ours"], "max_abs_diff": diff,
            "same_program": prints["ours"] is not None and prints["ours"] == prints["flax"]}


def format_row(r: dict[str, Any]) -> str:
    """One table line of a point record."""
    win = "x".join([str(r["window"])] * r["dims"])
    return (f"{r['sweep']:<10} {r['op']:<4} {win:>9} {r['stride']:>6} | {r['compile_s']['ours']:11.2f}s"
            f" {r['compile_s']['flax']:5.2f}s | {r['times_ms']['ours']:10.2f}ms {r['times_ms']['flax']:8.1f}ms"
            f" {r['ratio']:9.2f}")


def summary(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Growth of our fwd+bwd time per (sweep, op) from the smallest to the largest window, and the misses.

    Returns:
      ``{"growth": [{"sweep", "op", "smallest", "largest", "ours_ms", "growth"}], "compile_over": [...],
      "slower": [...]}``: points whose compile time exceeds flax's + 1 s, and points where flax / ours < 0.9.
    """
    growth = []
    keys = dict.fromkeys((r["sweep"], r["op"]) for r in records)
    for sweep, op in keys:
        rs = sorted((r for r in records if (r["sweep"], r["op"]) == (sweep, op)), key=lambda r: r["window"])
        lo, hi = rs[0], rs[-1]
        growth.append({"sweep": sweep, "op": op, "smallest": lo["window"], "largest": hi["window"],
                       "ours_ms": [lo["times_ms"]["ours"], hi["times_ms"]["ours"]],
                       "growth": hi["times_ms"]["ours"] / lo["times_ms"]["ours"]})
    over = [_id(r) for r in records if r["compile_s"]["ours"] > r["compile_s"]["flax"] + 1.0]
    # docs/semantics.md section 7: slower means a ratio below 0.9 in two runs (``rerun``), and a point where
    # both compile to the same XLA program is timing noise.
    below = [r for r in records if r["ratio"] < 0.9 and not r.get("same_program")]
    slower = [_id(r) for r in below if r.get("rerun_ratio", 0.0) < 0.9]
    noise = [_id(r) for r in records if r["ratio"] < 0.9 and r.get("same_program")]
    return {"growth": growth, "compile_over": over, "slower": slower, "same_program_below_0.9": noise}


def endpoint_growth(records: Sequence[dict[str, Any]], *, dtype: str = "float32", repeats: int = 15,
                    rounds: int = 3) -> list[dict[str, Any]]:
    """The growth of each sweep re-timed with its two endpoints side by side.

    The grid times the smallest and the largest window of a sweep minutes apart, so a drift of the machine
    between them enters the growth (the same program measured 0.9-1.4 ms at different points of one run).
    Here both of our programs are compiled once and timed interleaved (``_timing.measure``, ``repeats``
    samples each), ``rounds`` times with differently shuffled orders.

    Args:
      records: the grid's point records (:func:`run_point`).
      dtype: input dtype name.
      repeats: samples per program and round.
      rounds: independent interleaved measurements.

    Returns:
      One dict per (sweep, op) with at least two windows: ``{"sweep", "op", "smallest", "largest",
      "ours_ms": [[small, large] per round], "growth": median over rounds of large / small, "growth_range":
      [lowest, highest]}``.
    """
    out = []
    for sweep, op in dict.fromkeys((r["sweep"], r["op"]) for r in records):
        rs = sorted((r for r in records if (r["sweep"], r["op"]) == (sweep, op)), key=lambda r: r["window"])
        if len(rs) < 2:
            continue
        fns = {}
        x = g = None
        for r in (rs[0], rs[-1]):
            ours, _ = _fns(r)
            rng = np.random.default_rng(0)
            x = jnp.asarray(rng.standard_normal(tuple(r["shape"]), np.float32), dtype)
            with jax.numpy_dtype_promotion("standard"):
                y = jax.eval_shape(ours, x)
                g = jnp.asarray(rng.standard_normal(y.shape, np.float32), dtype)
                c = jax.jit(lambda v, ct, f=ours: jax.vjp(f, v)[1](ct)[0]).lower(x, g).compile()
            fns[r["window"]] = (lambda c=c, x=x, g=g: jax.block_until_ready(c(x, g)))
        per_round = []
        for k in range(rounds):
            t = _timing.measure(fns, repeats=repeats, warmup=1, min_sample_s=0.02, seed=k)
            per_round.append([t[rs[0]["window"]].wall_ms, t[rs[-1]["window"]].wall_ms])
        growths = sorted(hi / lo for lo, hi in per_round)
        out.append({"sweep": sweep, "op": op, "smallest": rs[0]["window"], "largest": rs[-1]["window"],
                    "ours_ms": per_round, "growth": float(np.median(growths)),
                    "growth_range": [growths[0], growths[-1]]})
    return out


def _id(r: dict[str, Any]) -> str:
    return f"{r['sweep']} {r['op']} w={r['window']} s={r['stride']} {r['dtype']}"


def run(grid: Sequence[dict[str, Any]], *, dtype: str = "float32", repeats: int = 5, compiles: int = 3,
        echo: Callable[[str], None] = print, on_record: Callable[[list], None] | None = None) -> dict[str, Any]:
    """Run the grid, printing a row per point and the summary; returns ``{"points", "summary"}``."""
    echo(f"window scaling, {dtype}, backend {jax.default_backend()}; fwd+bwd = jit(vjp), wall-clock medians")
    echo(HEADER)
    records: list[dict[str, Any]] = []
    if grid:
        # One untimed point first: the first point of a fresh process otherwise runs cold (thread pools, the
        # allocator's first pages) and measured up to 2-3x slower than the same case later in the same run,
        # which made the growth of the sweeps whose smallest window comes first look smaller than it is.
        run_point(grid[0], dtype=dtype, repeats=1, compiles=1)
    for p in grid:
        records.append(run_point(p, dtype=dtype, repeats=repeats, compiles=compiles))
        echo(format_row(records[-1]))
        if on_record is not None:
            on_record(records)
    for r in records:  # the second run of the "slower" rule
        if r["ratio"] < 0.9 and not r["same_program"]:
            again = run_point({k: r[k] for k in ("sweep", "op", "dims", "window", "stride", "shape")},
                              dtype=dtype, repeats=repeats, compiles=compiles)
            r["rerun_ratio"] = again["ratio"]
            echo(f"rerun {_id(r)}: flax/ours {again['ratio']:.2f}")
    s = summary(records)
    s["growth_interleaved"] = endpoint_growth(records, dtype=dtype)
    echo("")
    for g in s["growth"]:
        echo(f"growth {g['sweep']} {g['op']}: {g['ours_ms'][0]:.2f} ms (w={g['smallest']}) -> "
             f"{g['ours_ms'][1]:.2f} ms (w={g['largest']}): {g['growth']:.2f}x (target <= 3x)")
    for g in s["growth_interleaved"]:
        lo, hi = g["growth_range"]
        echo(f"growth {g['sweep']} {g['op']}, endpoints interleaved ({len(g['ours_ms'])} rounds): "
             f"{g['growth']:.2f}x (rounds {lo:.2f}-{hi:.2f}x; target <= 3x)")
    echo(f"compile > flax + 1 s at: {', '.join(s['compile_over']) or 'none'}")
    echo(f"slower than flax (ratio < 0.9 in two runs) at: {', '.join(s['slower']) or 'none'}")
    echo(f"ratio < 0.9 where both compile to the same program (noise): "
         f"{', '.join(s['same_program_below_0.9']) or 'none'}")
    return {"points": records, "summary": s}
