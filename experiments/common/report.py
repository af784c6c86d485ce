r"""Summary tables and plots of a sweep, read back from its run folders.

    python -m experiments.common.report --workdir runs/mnist1d

Reads ``workdir/runs/*/{config.json, result.json | failed.json, metrics.jsonl}`` (so shards run on
different machines merge by copying their run folders together) and writes, atomically, into
``workdir``: ``summary.csv`` (one row per variant and train size: mean and sample std over seeds of
the final test accuracy, shift consistency and accuracy under shift; parameters; forward FLOPs per
example; training throughput; the reference paper's figure and our difference from it),
``summary.md`` (the same as tables, plus checks against the paper and the failed runs) and four
plots (``plots.py``). ``write_report`` returns the accuracy table that the sweep prints.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from experiments.common import io as _io

#: Variants the "checks" section compares when a sweep has them: poolings against the no-pooling controls.
POOLING = ("max_pool", "avg_pool", "lp_pool")
NO_POOLING = ("strided_conv", "none")


def load_runs(workdir: str | Path) -> list[dict[str, Any]]:
    """Every run folder under ``workdir/runs`` as a dict.

    Returns:
      Dicts with ``name``, ``variant``, ``train_size``, ``seed``, ``status`` ("ok", "failed" or
      "incomplete"), ``result`` (result.json or None), ``error`` (from failed.json or None),
      ``metrics`` (the metrics.jsonl records) and ``config`` (config.json), sorted by name.
    """
    runs = []
    for folder in sorted((Path(workdir) / "runs").glob("*/config.json")):
        folder = folder.parent
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        result = error = None
        if (folder / "result.json").exists():
            result, status = json.loads((folder / "result.json").read_text(encoding="utf-8")), "ok"
        elif (folder / "failed.json").exists():
            error = json.loads((folder / "failed.json").read_text(encoding="utf-8"))["error"]
            status = "failed"
        else:
            status = "incomplete"
        runs.append(
            {
                "name": folder.name,
                "variant": config["model"]["downsample"],
                "train_size": int(config["data"]["train_size"]),
                "seed": int(config["seed"]),
                "status": status,
                "result": result,
                "error": error,
                "config": config,
                "metrics": _io.read_jsonl(folder / "metrics.jsonl"),
            }
        )
    return runs


def variant_order(runs: list[dict[str, Any]]) -> list[str]:
    """The variants of ``runs`` in the order their configs' ``sweep.downsample`` lists them (the order of the
    study's config), then any others by name; tables and plots use it."""
    order: dict[str, None] = {}
    for run in runs:
        for variant in (run["config"].get("sweep") or {}).get("downsample", ()):
            order.setdefault(str(variant))
    for variant in sorted({run["variant"] for run in runs}):
        order.setdefault(variant)
    return list(order)


def reference_value(config: dict[str, Any], variant: str, train_size: int) -> float:
    """The reference paper's test accuracy for a cell, or NaN when the config names none for it."""
    ref = config.get("reference") or {}
    sizes, table = list(ref.get("train_sizes", ())), ref.get("test_acc", {}) or {}
    if variant in table and train_size in sizes:
        return float(table[variant][sizes.index(train_size)])
    return float("nan")


def _stats(values: list[float]) -> tuple[float, float]:
    if not values:
        return float("nan"), float("nan")
    arr = np.asarray(values, np.float64)
    return float(arr.mean()), float(arr.std(ddof=1)) if len(arr) > 1 else 0.0


def summarize(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (variant, train size) with mean and sample std (ddof=1) over the finished seeds.

    Args:
      runs: as returned by ``load_runs``.

    Returns:
      Rows ordered by train size, then variant (in ``variant_order`` order), with keys
      ``variant``, ``train_size``, ``seeds_ok``, ``seeds_failed``, ``seeds_incomplete``,
      ``test_acc_mean``/``_std``, ``paper_test_acc``, ``diff_vs_paper``, ``train_acc_mean``,
      ``shift_consistency_mean``/``_std``, ``shifted_test_acc_mean``/``_std``, ``num_params``,
      ``flops_per_example``, ``examples_per_s``.
    """
    cells: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for run in runs:
        cells.setdefault((run["variant"], run["train_size"]), []).append(run)
    order = {v: i for i, v in enumerate(variant_order(runs))}
    rows = []
    for (variant, size), group in sorted(
        cells.items(), key=lambda kv: (kv[0][1], order.get(kv[0][0], 99))
    ):
        ok = [r["result"] for r in group if r["status"] == "ok"]
        acc = _stats([r["final"]["test_acc"] for r in ok])
        paper = reference_value(group[0]["config"], variant, size)
        row = {
            "variant": variant,
            "train_size": size,
            "seeds_ok": len(ok),
            "seeds_failed": sum(r["status"] == "failed" for r in group),
            "seeds_incomplete": sum(r["status"] == "incomplete" for r in group),
            "test_acc_mean": acc[0],
            "test_acc_std": acc[1],
            "paper_test_acc": paper,
            "diff_vs_paper": acc[0] - paper,
            "train_acc_mean": _stats([r["final"]["train_acc"] for r in ok])[0],
        }
        for key in ("shift_consistency", "shifted_test_acc"):
            row[f"{key}_mean"], row[f"{key}_std"] = _stats([r[key] for r in ok])
        row["num_params"] = ok[0]["num_params"] if ok else float("nan")
        row["flops_per_example"] = ok[0]["flops_per_example"] if ok else float("nan")
        row["examples_per_s"] = _stats([r["timing"]["train_examples_per_s"] for r in ok])[0]
        rows.append(row)
    return rows


def _pm(mean: float, std: float) -> str:
    return "—" if math.isnan(mean) else f"{mean:.1f} ± {std:.1f}"


def _num(value: float, fmt: str = "{:.1f}") -> str:
    return (
        "—"
        if value is None or (isinstance(value, float) and math.isnan(value))
        else fmt.format(value)
    )


def accuracy_table(rows: list[dict[str, Any]]) -> str:
    """Markdown table: variants x train sizes, "mean ± std [paper]" of the final test accuracy
    (%)."""
    sizes = sorted({r["train_size"] for r in rows})
    variants = list(dict.fromkeys(r["variant"] for r in rows))  # rows come in ``variant_order``
    cell = {(r["variant"], r["train_size"]): r for r in rows}
    head = "| variant | params | kFLOPs/example | " + " | ".join(f"n={s}" for s in sizes) + " |"
    lines = [head, "|" + "---|" * (3 + len(sizes))]
    for v in variants:
        any_row = next(r for r in rows if r["variant"] == v)
        cols = []
        for s in sizes:
            r = cell.get((v, s))
            if r is None:
                cols.append("")
                continue
            text = _pm(r["test_acc_mean"], r["test_acc_std"])
            if not math.isnan(r["paper_test_acc"]):
                text += f" [{r['paper_test_acc']:.1f}]"
            if r["seeds_failed"] or r["seeds_incomplete"]:
                text += f" ({r['seeds_ok']} ok, {r['seeds_failed']} failed)"
            cols.append(text)
        lines.append(
            f"| {v} | {_num(any_row['num_params'], '{:.0f}')} | "
            f"{_num(any_row['flops_per_example'] / 1e3)} | " + " | ".join(cols) + " |"
        )
    return "\n".join(lines)


def shift_table(rows: list[dict[str, Any]]) -> str:
    """Markdown table of shift consistency, accuracy under shift and throughput per cell."""
    lines = [
        "| variant | n | seeds | test acc | shift consistency | acc under shift "
        "| train examples/s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['variant']} | {r['train_size']} | {r['seeds_ok']} | "
            f"{_pm(r['test_acc_mean'], r['test_acc_std'])} | "
            f"{_pm(r['shift_consistency_mean'], r['shift_consistency_std'])} | "
            f"{_pm(r['shifted_test_acc_mean'], r['shifted_test_acc_std'])} | "
            f"{_num(r['examples_per_s'], '{:.0f}')} |"
        )
    return "\n".join(lines)


def checks(rows: list[dict[str, Any]]) -> list[str]:
    """Plain-language comparisons: pooling margin over strided_conv/none, and the largest paper
    deviation."""
    out = []
    for size in sorted({r["train_size"] for r in rows}):
        cell = {r["variant"]: r["test_acc_mean"] for r in rows if r["train_size"] == size}
        pool = [cell[v] for v in POOLING if v in cell]
        other = [cell[v] for v in NO_POOLING if v in cell]
        if pool and other:
            out.append(
                f"n={size}: worst pooling variant minus best of strided_conv/none = "
                f"{min(pool) - max(other):+.1f} points"
            )
        diffs = [
            abs(r["diff_vs_paper"])
            for r in rows
            if r["train_size"] == size and not math.isnan(r["diff_vs_paper"])
        ]
        if diffs:
            out.append(
                f"n={size}: largest |ours - paper| = {max(diffs):.1f} points "
                f"over {len(diffs)} cells"
            )
    return out


def write_report(workdir: str | Path) -> str:
    """Write summary.csv, summary.md and the plots into ``workdir``; return the accuracy table.

    Args:
      workdir: a sweep folder (holding ``runs/``).

    Returns:
      The markdown accuracy table (empty-state text when no run folder exists).
    """
    from experiments.common import plots

    workdir = Path(workdir)
    runs = load_runs(workdir)
    if not runs:
        return f"no run folders under {workdir / 'runs'}"
    rows = summarize(runs)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    _io.atomic_write_text(workdir / "summary.csv", buf.getvalue())
    ref = (runs[0]["config"].get("reference") or {}).get("name", "")
    table = accuracy_table(rows)
    failed = [f"- {r['name']}: {r['error']}" for r in runs if r["status"] == "failed"]
    md = [
        "# Downsampling ablation: summary",
        "",
        "Final test accuracy (%), mean ± sample std over seeds"
        + (f"; [reference: {ref}]" if ref else ""),
        "",
        table,
        "",
        "## Shift consistency and throughput",
        "",
        shift_table(rows),
        "",
    ]
    md += ["## Checks", ""] + [f"- {c}" for c in checks(rows)] + [""]
    if failed:
        md += ["## Failed runs", ""] + failed + [""]
    md += ["## Plots", ""] + [
        f"![{name}]({name})" for name in plots.write_plots(workdir, runs, rows)
    ]
    _io.atomic_write_text(workdir / "summary.md", "\n".join(md) + "\n")
    return (
        "Final test accuracy (%), mean ± std over seeds [paper]\n" + table
        + "\n\nShift consistency (%) and throughput\n" + shift_table(rows)
    )


def main(argv: list[str]) -> None:
    """CLI: rebuild the summary and plots of ``--workdir`` and print the accuracy table."""
    from absl import app, flags

    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    print(write_report(flags.FLAGS.workdir))


if __name__ == "__main__":
    from absl import app, flags

    flags.DEFINE_string("workdir", None, "sweep folder holding runs/")
    flags.mark_flags_as_required(["workdir"])
    app.run(main)
