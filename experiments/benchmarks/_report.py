"""Text output of the pooling benchmark: table rows, headline, slower-than-baseline list.

Works on the JSON-ready case records of ``pooling.run_case``. Times are wall-clock medians in ms;
``b/o`` is baseline / ours (a speedup: below 0.9 means ours is slower) and ``o/fl`` is ours / memory
floor (a jitted ``x * 2`` over the same input). docs/semantics.md §7 targets for the headline: max_pool fwd+bwd
≥ 10× faster than ``flax.linen.max_pool`` and ≤ 4× the floor (goal 3×).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from experiments.benchmarks._cases import headline_cases

SLOW_RATIO = 0.9
TARGET_SPEEDUP = 10.0
TARGET_FLOOR = 4.0
_ID = ("op", "dims", "config", "label", "dtype", "layout")

TABLE_HEADER = (
    f"{'op':<3} {'N':>2} {'case':<17} {'dtype':<8} {'lay':<4} |"
    f" {'fwd ours':>8} {'base':>8} {'torch':>8} {'floor':>7} {'b/o':>6} {'o/fl':>5} |"
    f" {'grad ours':>9} {'base':>8} {'torch':>8} {'b/o':>6} {'o/fl':>5} |"
    f" {'MB ours':>7} {'base':>7}"
)


def _fmt(v: float | None, width: int, digits: int = 2) -> str:
    return f"{'-':>{width}}" if v is None else f"{v:{width}.{digits}f}"


def _mb(rec: dict[str, Any], name: str) -> float | None:
    m = rec["memory_bytes"].get(name)
    return None if not m else m["peak"] / 2**20


def format_row(rec: dict[str, Any]) -> str:
    """One table line: times (ms), ratios base/ours and ours/floor, grad peak memory (MiB)."""
    t, r = rec["times_ms"], rec["ratios"]
    return (
        f"{rec['op']:<3} {rec['dims']:>2} {rec['label']:<17} {rec['dtype']:<8} {rec['layout']:<4} |"
        f" {_fmt(t['ours_fwd'], 8)} {_fmt(t['base_fwd'], 8)} {_fmt(t.get('torch_fwd'), 8)}"
        f" {_fmt(t['floor'], 7)} {_fmt(r['fwd_speedup'], 6)} {_fmt(r['fwd_floor'], 5, 1)} |"
        f" {_fmt(t['ours_grad'], 9)} {_fmt(t['base_grad'], 8)} {_fmt(t.get('torch_grad'), 8)}"
        f" {_fmt(r['grad_speedup'], 6)} {_fmt(r['grad_floor'], 5, 1)} |"
        f" {_fmt(_mb(rec, 'ours_grad'), 7, 1)} {_fmt(_mb(rec, 'base_grad'), 7, 1)}"
    )


def slower_cases(records: Sequence[dict[str, Any]],
                 threshold: float = SLOW_RATIO) -> list[dict[str, Any]]:
    """Every (case, pass) whose base/ours wall-time ratio is below ``threshold``."""
    out = []
    for rec in records:
        for kind in ("fwd", "grad"):
            ratio = rec["ratios"][f"{kind}_speedup"]
            if ratio < threshold:
                out.append({**{k: rec[k] for k in (*_ID, "shape", "baseline")}, "pass": kind,
                            "ours_ms": rec["times_ms"][f"ours_{kind}"],
                            "base_ms": rec["times_ms"][f"base_{kind}"], "ratio": ratio,
                            "cpu_ratio": rec["ratios"][f"cpu_{kind}_speedup"],
                            "same_program": bool(rec.get("same_program", {}).get(kind, False))})
    return out


def memory_higher(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Cases whose jitted grad needs more peak memory than the baseline's (docs/semantics.md §7)."""
    return [{**{k: rec[k] for k in _ID}, "ratio": rec["ratios"]["grad_memory"],
             "ours_bytes": rec["memory_bytes"]["ours_grad"]["peak"],
             "base_bytes": rec["memory_bytes"]["base_grad"]["peak"]}
            for rec in records if rec["ratios"].get("grad_memory", 0.0) > 1.0]


def headline(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The docs/semantics.md §7 figures of the headline cases present in ``records``."""
    keys = {(c.op, c.dims, c.config, c.dtype, c.layout, c.input_shape) for c in headline_cases()}
    out = []
    for rec in records:
        key = (rec["op"], rec["dims"], rec["config"], rec["dtype"], rec["layout"],
               tuple(rec["shape"]))
        if key not in keys:
            continue
        t, c, r = rec["times_ms"], rec["cpu_ms"], rec["ratios"]
        out.append({"label": rec["label"], "ours_ms": t["ours_grad"], "flax_ms": t["base_grad"],
                    "floor_ms": t["floor"], "speedup": r["grad_speedup"],
                    "floor_ratio": r["grad_floor"], "cpu_speedup": r["cpu_grad_speedup"],
                    "cpu_floor_ratio": c["ours_grad"] / c["floor"],
                    "speedup_ok": r["grad_speedup"] >= TARGET_SPEEDUP,
                    "floor_ok": r["grad_floor"] <= TARGET_FLOOR})
    return out


def summary(result: dict[str, Any]) -> str:
    """The closing text: headline figures, slower cases, and memory above baseline."""
    lines = []
    if result["headline"]:
        lines.append("Headline: max_pool fwd+bwd (jit vjp), (64, 32, 32, 64) float32 NHWC; vs "
                     "flax.linen.max_pool (target >= 10x), vs floor x*2 (target <= 4x, goal 3x):")
        for h in result["headline"]:
            lines.append(
                f"  {h['label']:<12} ours {h['ours_ms']:.2f} ms, flax {h['flax_ms']:.2f} ms, "
                f"floor {h['floor_ms']:.2f} ms -> {h['speedup']:.1f}x faster "
                f"[{'ok' if h['speedup_ok'] else 'MISSED'}], {h['floor_ratio']:.2f}x floor "
                f"[{'ok' if h['floor_ok'] else 'MISSED'}]  (CPU time: {h['cpu_speedup']:.1f}x, "
                f"{h['cpu_floor_ratio']:.2f}x floor)")
    else:
        lines.append("Headline cases not in this run (max, 2-D, float32, NHWC, "
                     "k2s2_valid and k3s2_same, default shape).")
    slow = result["slower"]
    lines.append(f"Slower than baseline (base/ours < {SLOW_RATIO}): {len(slow)}")
    for s in slow:
        lines.append(
            f"  {s['op']} {s['dims']}-D {s['label']} {s['dtype']} {s['layout']} {s['pass']}: "
            f"ours {s['ours_ms']:.2f} ms vs {s['baseline']} {s['base_ms']:.2f} ms "
            f"(ratio {s['ratio']:.2f}; CPU-time ratio {s['cpu_ratio']:.2f})"
            + ("  [same XLA program as the baseline: the difference is timing noise]"
               if s.get("same_program") else ""))
    mem = result["memory_higher"]
    lines.append(f"Grad peak memory above the baseline's: {len(mem)}")
    for m in mem:
        lines.append(f"  {m['op']} {m['dims']}-D {m['label']} {m['dtype']} {m['layout']}: "
                     f"{m['ours_bytes'] / 2**20:.1f} MiB vs {m['base_bytes'] / 2**20:.1f} MiB "
                     f"({m['ratio']:.3f}x)")
    return "\n".join(lines)
