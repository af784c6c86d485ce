r"""Redraw a sweep's plots from its ``summary.csv`` (committed results keep the summary, not the run folders).

    python -m experiments.common.replot --summary experiments/results/mnist1d_full/summary.csv \
        --out experiments/results/mnist1d_full
    python -m experiments.common.replot --summary S --out DIR --train_sizes 1000,5000 --runs WORKDIR

Draws accuracy vs train size, accuracy vs FLOPs and shift consistency from the summary rows (optionally only
some train sizes) into ``--out``; with ``--runs`` (a sweep folder holding ``runs/``) also the training curves
of those run folders. Nothing else is written.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

#: Integer columns of ``summary.csv``; ``variant`` stays a string, every other column is a float.
INT_COLUMNS = ("train_size", "seeds_ok", "seeds_failed", "seeds_incomplete", "num_params")


def _value(key: str, text: str | None) -> Any:
    """A CSV cell typed: ``variant`` and text columns (per-seed lists) as read, numbers as float, the
    finite numbers of ``INT_COLUMNS`` as int."""
    if key == "variant" or text is None:
        return text
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if key in INT_COLUMNS and math.isfinite(number) else number


def read_summary(path: str | Path, train_sizes: tuple[int, ...] = ()) -> list[dict[str, Any]]:
    """The rows of a ``summary.csv`` written by ``report.write_report``, typed as ``report.summarize`` returns.

    Args:
      path: the CSV file.
      train_sizes: keep only these train sizes (all when empty).

    Returns:
      Rows in file order; ints for the finite ``INT_COLUMNS``, floats (NaN for "nan") for the other numeric
      columns, text columns (such as per-seed lists) as strings.

    Raises:
      ValueError: naming ``path`` and the line when a row has no variant or no integer train size, or naming
        ``path`` when a requested train size has no row.
    """
    path = Path(path)
    rows = []
    with open(path, newline="", encoding="utf-8") as f:
        for line, raw in enumerate(csv.DictReader(f), start=2):
            row = {k: _value(k, v) for k, v in raw.items()}
            if not isinstance(row.get("variant"), str) or not isinstance(row.get("train_size"), int):
                raise ValueError(
                    f"{path}, line {line}: not a summary row (variant {row.get('variant')!r}, "
                    f"train_size {row.get('train_size')!r})"
                )
            if not train_sizes or row["train_size"] in train_sizes:
                rows.append(row)
    missing = set(train_sizes) - {r["train_size"] for r in rows}
    if missing:
        raise ValueError(f"{path}: no rows for train sizes {sorted(missing)}")
    return rows


def replot(summary: str | Path, out: str | Path, train_sizes: tuple[int, ...] = (), runs: str | Path = "") -> list[str]:
    """Draw the plots of ``summary`` (and of the run folders under ``runs``) into ``out``.

    Args:
      summary: a ``summary.csv``.
      out: the folder for the PNGs (it must exist).
      train_sizes: draw only these train sizes (all when empty).
      runs: a sweep folder with ``runs/``, for the training curves; empty to skip them.

    Returns:
      The file names written.

    Raises:
      ValueError: as ``read_summary``; or when ``runs`` holds no run folder of the requested sizes.
    """
    from experiments.common import plots, report

    rows = read_summary(summary, train_sizes)
    names = plots.write_row_plots(rows, Path(out))
    if runs:
        loaded = [r for r in report.load_runs(runs) if not train_sizes or r["train_size"] in train_sizes]
        if not loaded:
            raise ValueError(f"{runs}: no run folders under runs/ for train sizes {list(train_sizes) or 'any'}")
        fig = plots.draw_training_curves(loaded, rows)
        plots.save_figure(fig, Path(out) / plots.NAMES[1])
        names.append(plots.NAMES[1])
    return names


if __name__ == "__main__":
    from absl import app, flags

    flags.DEFINE_string("summary", None, "summary.csv of a sweep")
    flags.DEFINE_string("out", None, "folder for the PNGs")
    flags.DEFINE_list("train_sizes", [], "only these train sizes (comma-separated)")
    flags.DEFINE_string("runs", "", "sweep folder holding runs/ (for the training curves)")
    flags.mark_flags_as_required(["summary", "out"])

    def _main(argv: list[str]) -> None:
        if len(argv) > 1:
            raise app.UsageError(f"unexpected arguments: {argv[1:]}")
        f = flags.FLAGS
        print(replot(f.summary, f.out, tuple(int(s) for s in f.train_sizes), f.runs))

    app.run(_main)
