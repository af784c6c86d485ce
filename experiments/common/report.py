r"""Summary tables, statistics and plots of a sweep, read back from its run folders.

    python -m experiments.common.report --workdir runs/mnist1d

Reads ``workdir/runs/*/{config.json, result.json | failed.json, metrics.jsonl}`` (so shards run on
different machines merge by copying their run folders together) and writes, atomically, into
``workdir``: ``summary.csv`` (one row per variant and train size: mean, sample std, 95 % t-interval and
per-seed values of the final test accuracy, both shift consistencies and both accuracies under shift;
parameters; forward FLOPs per example; receptive field; training throughput; the reference paper's figure
and our difference from it), ``summary.md`` (the same as tables, the paired tests between variants with
Holm's correction (``stats.py``), checks against the paper and the failed runs) and the plots
(``plots.py``). Runs made before a figure existed (no ``*_crop`` keys, no ``receptive_field``) read as
"-". ``write_report`` returns the tables that the sweep prints.
"""

from __future__ import annotations

import csv
import io
import math
import sys
from pathlib import Path
from typing import Any

import ml_collections
import numpy as np

from experiments.common import io as _io
from experiments.common import stats as _stats_module
from experiments.common.config import drop_fields, result_fields
from experiments.common.runfolder import differing_fields

#: The per-run figures summarised (result.json keys); the ``_crop`` ones are absent from runs made before the
#: non-wrapping shift test existed, and are then left out.
METRICS = ("test_acc", "shift_consistency", "shifted_test_acc", "shift_consistency_crop", "shifted_test_acc_crop")
#: The metrics tested between variants (one Holm family per metric and train size), with their headings.
TESTED = {
    "test_acc": "final test accuracy",
    "shift_consistency": "shift consistency, circular shifts",
    "shift_consistency_crop": "shift consistency, crops of a longer canvas (no wrap-around)",
}


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
        config = _io.read_json(folder / "config.json")
        result = error = None
        if (folder / "result.json").exists():
            result, status = _io.read_json(folder / "result.json"), "ok"
        elif (folder / "failed.json").exists():
            error = _io.read_json(folder / "failed.json")["error"]
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
    check_one_study(runs)
    return runs


#: Fields a sweep sets per run (``sweep.grid``); every other result field must agree across the runs of a summary.
GRID_FIELDS = ("model.downsample", "data.train_size", "seed")


def check_one_study(runs: list[dict[str, Any]]) -> None:
    """Refuse to summarize finished runs trained under different configs (folders merged from sweeps that
    differ); failed and incomplete runs report no number and are not compared.

    Runs may differ in the grid fields (:data:`GRID_FIELDS`) and in the fields that do not change a result
    (``config.result_fields`` leaves out paths, progress bars, the distributed set-up).

    Raises:
      ValueError: naming two runs that disagree and every differing field with both values.
    """

    def comparable(run: dict[str, Any]) -> dict[str, Any]:
        return drop_fields(result_fields(ml_collections.ConfigDict(run["config"])), GRID_FIELDS)

    finished = [r for r in runs if r["status"] == "ok"]  # the runs whose numbers the summary reports
    if not finished:
        return
    first = comparable(finished[0])
    for run in finished[1:]:
        diff = differing_fields(first, comparable(run))
        if diff:
            raise ValueError(
                f"runs {finished[0]['name']} and {run['name']} were trained with different configs ("
                + ", ".join(f"config.{d}" for d in diff)
                + "); a summary compares runs of one config (only the grid fields model.downsample, "
                "data.train_size and seed may differ)"
            )


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


def per_seed(runs: list[dict[str, Any]], key: str) -> dict[tuple[str, int], dict[int, float]]:
    """The finished runs' ``result[key]`` per cell and seed: ``{(variant, train_size): {seed: value}}``.

    Runs whose result.json lacks ``key`` (older runs, before that figure existed) are left out.
    """
    out: dict[tuple[str, int], dict[int, float]] = {}
    for run in runs:
        if run["status"] != "ok":
            continue
        value = run["result"]["final"][key] if key in ("test_acc", "train_acc") else run["result"].get(key)
        if value is not None:
            out.setdefault((run["variant"], run["train_size"]), {})[run["seed"]] = float(value)
    return out


def summarize(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (variant, train size): mean, sample std (ddof=1), 95 % t-interval and per-seed values.

    Args:
      runs: as returned by ``load_runs``.

    Returns:
      Rows ordered by train size, then variant (in ``variant_order`` order), with keys
      ``variant``, ``train_size``, ``seeds_ok``, ``seeds_failed``, ``seeds_incomplete``, for each of
      ``METRICS`` ``<metric>_mean``/``_std``/``_ci_low``/``_ci_high`` (NaN when no run has the figure) and
      ``<metric>_per_seed`` (text ``"s0=78.10 s1=..."``), ``paper_test_acc``, ``diff_vs_paper``,
      ``train_acc_mean``, ``num_params``, ``flops_per_example``, ``receptive_field`` (from result.json,
      None when absent) and ``examples_per_s``.
    """
    cells: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for run in runs:
        cells.setdefault((run["variant"], run["train_size"]), []).append(run)
    order = {v: i for i, v in enumerate(variant_order(runs))}
    values = {key: per_seed(runs, key) for key in (*METRICS, "train_acc")}
    rows = []
    for (variant, size), group in sorted(cells.items(), key=lambda kv: (kv[0][1], order.get(kv[0][0], 99))):
        ok = [r["result"] for r in group if r["status"] == "ok"]
        row: dict[str, Any] = {
            "variant": variant,
            "train_size": size,
            "seeds_ok": len(ok),
            "seeds_failed": sum(r["status"] == "failed" for r in group),
            "seeds_incomplete": sum(r["status"] == "incomplete" for r in group),
        }
        for key in METRICS:
            seeds = values[key].get((variant, size), {})
            mean, low, high = _stats_module.t_interval(list(seeds.values()))
            row[f"{key}_mean"], row[f"{key}_std"] = mean, _stats(list(seeds.values()))[1]
            row[f"{key}_ci_low"], row[f"{key}_ci_high"] = low, high
            row[f"{key}_per_seed"] = " ".join(f"s{s}={v:.2f}" for s, v in sorted(seeds.items()))
        row["paper_test_acc"] = reference_value(group[0]["config"], variant, size)
        row["diff_vs_paper"] = row["test_acc_mean"] - row["paper_test_acc"]
        row["train_acc_mean"] = _stats(list(values["train_acc"].get((variant, size), {}).values()))[0]
        row["num_params"] = ok[0]["num_params"] if ok else float("nan")
        row["flops_per_example"] = ok[0]["flops_per_example"] if ok else float("nan")
        row["receptive_field"] = ok[0].get("receptive_field") if ok else None
        row["examples_per_s"] = _stats([r["timing"]["train_examples_per_s"] for r in ok])[0]
        rows.append(row)
    return rows


def _pm(mean: float, std: float) -> str:
    return "-" if math.isnan(mean) else f"{mean:.1f} ± {std:.1f}"


def _ci(row: dict[str, Any], key: str) -> str:
    """``mean [low, high]`` of ``key`` in a row, "-" when no run has the figure."""
    mean, low, high = row[f"{key}_mean"], row[f"{key}_ci_low"], row[f"{key}_ci_high"]
    if math.isnan(mean):
        return "-"
    return f"{mean:.1f}" if math.isnan(low) else f"{mean:.1f} [{low:.1f}, {high:.1f}]"


def _num(value: Any, fmt: str = "{:.1f}") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return fmt.format(value)


def _rf(value: Any) -> str:
    """A receptive field as written in result.json (an int, or a list per spatial axis), "-" when absent."""
    if value is None:
        return "-"
    return "x".join(str(v) for v in value) if isinstance(value, (list, tuple)) else str(value)


def accuracy_table(rows: list[dict[str, Any]]) -> str:
    """Markdown table: variants x train sizes, "mean [95 % CI] {paper}" of the final test accuracy (%), with
    parameters, kFLOPs per example and receptive field per variant."""
    sizes = sorted({r["train_size"] for r in rows})
    variants = list(dict.fromkeys(r["variant"] for r in rows))  # rows come in ``variant_order``
    cell = {(r["variant"], r["train_size"]): r for r in rows}
    head = "| variant | params | kFLOPs/example | receptive field | " + " | ".join(f"n={s}" for s in sizes) + " |"
    lines = [head, "|" + "---|" * (4 + len(sizes))]
    for v in variants:
        any_row = next(r for r in rows if r["variant"] == v)
        cols = []
        for s in sizes:
            r = cell.get((v, s))
            if r is None:
                cols.append("")
                continue
            text = _ci(r, "test_acc")
            if not math.isnan(r["paper_test_acc"]):
                text += f" {{{r['paper_test_acc']:.1f}}}"
            if r["seeds_failed"] or r["seeds_incomplete"]:
                text += f" ({r['seeds_ok']} ok, {r['seeds_failed']} failed)"
            cols.append(text)
        lines.append(
            f"| {v} | {_num(any_row['num_params'], '{:.0f}')} | {_num(any_row['flops_per_example'] / 1e3)} | "
            f"{_rf(any_row['receptive_field'])} | " + " | ".join(cols) + " |"
        )
    return "\n".join(lines)


def shift_table(rows: list[dict[str, Any]]) -> str:
    """Markdown table per cell: seeds, accuracy, both shift consistencies and both accuracies under shift
    (mean [95 % CI]), and throughput."""
    lines = [
        "| variant | n | seeds | test acc | shift consistency (circular) | shift consistency (crop) "
        "| acc under shift (circular) | acc under shift (crop) | train examples/s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['variant']} | {r['train_size']} | {r['seeds_ok']} | {_ci(r, 'test_acc')} | "
            f"{_ci(r, 'shift_consistency')} | {_ci(r, 'shift_consistency_crop')} | "
            f"{_ci(r, 'shifted_test_acc')} | {_ci(r, 'shifted_test_acc_crop')} | "
            f"{_num(r['examples_per_s'], '{:.0f}')} |"
        )
    return "\n".join(lines)


def seed_table(rows: list[dict[str, Any]]) -> str:
    """Markdown table of the per-seed final test accuracies (%) of every cell."""
    lines = ["| variant | n | per-seed test accuracy |", "|---|---|---|"]
    lines += [f"| {r['variant']} | {r['train_size']} | {r['test_acc_per_seed'] or '-'} |" for r in rows]
    return "\n".join(lines)


def checks(rows: list[dict[str, Any]], runs: list[dict[str, Any]]) -> list[str]:
    """Plain-language checks against the reference: the largest |ours - paper| per train size, after a caveat
    when ``runs`` trained for another number of steps than the reference's ``reference.num_steps``."""
    out = []
    ref_steps = (runs[0]["config"].get("reference") or {}).get("num_steps")
    steps = sorted({r["config"].get("num_steps") for r in runs if r["config"].get("num_steps") is not None})
    if ref_steps is not None and steps and steps != [ref_steps]:
        out.append(f"these runs trained for {', '.join(map(str, steps))} steps, the reference for {ref_steps}: "
                   "the differences below are not a reproduction check")
    for size in sorted({r["train_size"] for r in rows}):
        diffs = [abs(r["diff_vs_paper"]) for r in rows if r["train_size"] == size]
        diffs = [d for d in diffs if not math.isnan(d)]
        if diffs:
            out.append(f"n={size}: largest |ours - paper| = {max(diffs):.1f} points over {len(diffs)} cells")
    return out


def write_report(workdir: str | Path) -> str:
    """Write summary.csv, summary.md and the plots into ``workdir``; return the table the sweep prints.

    Args:
      workdir: a sweep folder (holding ``runs/``).

    Returns:
      The accuracy table (mean and 95 % CI) and the shift table (both shift tests), as markdown text.

    Raises:
      ValueError: no run folder under ``workdir/runs`` (naming the path), or runs of different configs.
    """
    from experiments.common import plots

    workdir = Path(workdir)
    runs = load_runs(workdir)
    if not runs:
        raise ValueError(f"no run folders under {workdir / 'runs'} (--workdir is a sweep folder: the one holding "
                         "runs/<name>/)")
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
        "Final test accuracy (%), mean [95 % t-interval over seeds]" + (f"; {{reference: {ref}}}" if ref else ""),
        "",
        table,
        "",
        "## Shift consistency and throughput",
        "",
        "mean [95 % t-interval]; circular: np.roll by up to max_shift (content wraps around); crop: windows of a "
        "longer test canvas at the same offsets (nothing wraps; '-' when the run has no canvas).",
        "",
        shift_table(rows),
        "",
        "## Per-seed values",
        "",
        seed_table(rows),
        "",
        "## Paired tests",
        "",
        _stats_module.STATS_NOTE,
        "",
    ]
    for key, title in TESTED.items():
        tests = _stats_module.contrast_rows(per_seed(runs, key), variant_order(runs), key)
        if tests:
            md += [f"### {title[0].upper()}{title[1:]}", "", _stats_module.contrast_table(tests), ""]
    md += ["## Checks", ""] + [f"- {c}" for c in checks(rows, runs)] + [""]
    if failed:
        md += ["## Failed runs", ""] + failed + [""]
    md += ["## Plots", ""] + [f"![{name}]({name})" for name in plots.write_plots(workdir, runs, rows)]
    _io.atomic_write_text(workdir / "summary.md", "\n".join(md) + "\n")
    return (
        "Final test accuracy (%), mean [95 % CI over seeds] {paper}\n" + table
        + "\n\nShift consistency (%), circular and crop (no wrap-around), and throughput\n" + shift_table(rows)
    )


def main(argv: list[str]) -> None:
    """CLI: rebuild the summary and plots of ``--workdir`` and print the accuracy table.

    A folder without run folders, runs of different configs and I/O errors end the process with one line,
    ``error: ...``, and exit status 1."""
    from absl import app, flags

    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    try:
        print(write_report(flags.FLAGS.workdir))
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        sys.exit(1)


if __name__ == "__main__":
    from absl import app, flags

    flags.DEFINE_string("workdir", None, "sweep folder holding runs/")
    flags.mark_flags_as_required(["workdir"])
    app.run(main)
