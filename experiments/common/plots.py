"""The sweep's PNG plots: accuracy vs train size, training curves, accuracy vs FLOPs, shift consistency.

Called by ``report.write_report`` (``write_plots``); every figure is saved atomically into the sweep folder.
Each variant keeps one look in the four plots (``styles.styles``: a colour-blind-safe colour and a marker,
no two variants alike; hollow markers and dashed lines for the variants without a pooling layer). Measured
points are markers with ±1 sample-std bars over seeds; lines between train sizes are thin dotted connectors,
not measurements. Axes tick at the measured train sizes only, and y-ranges are zoomed to the data. Points
of different variants at one train size are offset sideways by a few percent (said in the plot) so that
variants with equal numbers (strided_conv and subsample) stay visible. The ``draw_*`` functions return the
matplotlib ``Figure`` (tests inspect it); ``write_plots`` saves and closes them.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import NullLocator  # noqa: E402

from experiments.common import io as _io  # noqa: E402
from experiments.common.styles import PAPER_MARKER, Style, styles  # noqa: E402

#: Sideways offset between neighbouring variants at one train size, in decades of the log axis (2.3 %).
JITTER_DECADES = 0.01
NAMES = ("accuracy_vs_train_size.png", "training_curves.png", "accuracy_vs_flops.png", "shift_consistency.png")


def _variants(rows: list[dict[str, Any]]) -> list[str]:
    """The variants of ``rows`` in their order (``report.summarize`` sorts rows by the sweep's variant order)."""
    return list(dict.fromkeys(r["variant"] for r in rows))


def _ok(rows: list[dict[str, Any]], variant: str) -> list[dict[str, Any]]:
    return sorted((r for r in rows if r["variant"] == variant and r["seeds_ok"]), key=lambda r: r["train_size"])


def _point_kw(style: Style) -> dict[str, Any]:
    return dict(color=style.color, marker=style.marker, mfc=style.facecolor, mec=style.color, mew=1.4, ms=6)


def _handles(st: dict[str, Style], line: bool = False) -> list[Line2D]:
    """One legend entry per variant: its marker (and its line style when ``line``)."""
    return [
        Line2D([], [], linestyle=s.linestyle if line else "none", label=v, **_point_kw(s)) for v, s in st.items()
    ]


def _note(label: str, **kw: Any) -> Line2D:
    """A legend entry that explains an encoding (drawn in grey)."""
    return Line2D([], [], color="0.4", label=label, **({"linestyle": "none"} | kw))


def _zoom(ax: Any, lo: float, hi: float) -> None:
    """y-limits of the data's band ``[lo, hi]`` plus 8 % of its width (at least 0.5 points) each side."""
    pad = max(0.08 * (hi - lo), 0.5)
    ax.set_ylim(lo - pad, hi + pad)


def _size_axis(ax: Any, sizes: list[int]) -> None:
    """A log x-axis (linear for one size) whose only ticks are the measured train sizes."""
    if len(sizes) > 1:
        ax.set_xscale("log")
    ax.set_xticks(sizes, [f"{s:,}" for s in sizes])
    ax.xaxis.set_minor_locator(NullLocator())
    lo, hi = min(sizes), max(sizes)
    ax.set_xlim(lo / 1.25, hi * 1.25)


def _offsets(n: int) -> list[float]:
    """Multiplicative x-offsets that spread ``n`` variants symmetrically around each train size."""
    return [10 ** ((j - (n - 1) / 2) * JITTER_DECADES) for j in range(n)]


def _vs_size(rows: list[dict[str, Any]], key: str, ylabel: str, title: str, paper_key: str = "") -> Figure:
    """Mean ± std of ``key`` against train size: markers per variant, dotted connectors, paper bars."""
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    st, sizes = styles(_variants(rows)), sorted({r["train_size"] for r in rows})
    band, has_paper = [], False
    for (v, s), shift in zip(st.items(), _offsets(len(st)), strict=True):
        rs = _ok(rows, v)
        if not rs:
            continue
        x = np.array([r["train_size"] for r in rs], np.float64) * shift
        y, e = [r[f"{key}_mean"] for r in rs], [r[f"{key}_std"] for r in rs]
        bars = ax.errorbar(x, y, e, linestyle="none", capsize=3, elinewidth=1, zorder=3, label=v, **_point_kw(s))
        bars.lines[0].set_gid(v)
        band += [m - d for m, d in zip(y, e, strict=True)] + [m + d for m, d in zip(y, e, strict=True)]
        if len(x) > 1:
            ax.plot(x, y, color=s.color, linestyle=":", linewidth=0.8, alpha=0.7, zorder=2)
        paper = [(xi, r[paper_key]) for xi, r in zip(x, rs, strict=True) if paper_key and not math.isnan(r[paper_key])]
        if paper:
            has_paper = True
            ax.plot(*zip(*paper, strict=True), linestyle="none", marker=PAPER_MARKER, ms=13, mew=2.2, color=s.color)
            band += [p for _, p in paper]
    _size_axis(ax, sizes)
    if band:
        _zoom(ax, min(band), max(band))
    spread = 100 * (_offsets(len(st))[-1] - 1)
    notes = [_note("mean over seeds,\nbar: ±1 sample std", marker="o", mfc="0.4")]
    notes += [_note("dotted: joins measured\nsizes (not data)", linestyle=":")] if len(sizes) > 1 else []
    notes += [_note("paper (one run)", marker=PAPER_MARKER, ms=13, mew=2.2)] if has_paper else []
    notes += [_note("hollow: no pooling layer", marker="o", mfc="white")]
    ax.legend(handles=_handles(st) + notes, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_xlabel(f"training examples (variants offset by up to ±{spread:.0f} % in x to stay visible)")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    return fig


def draw_accuracy_vs_size(rows: list[dict[str, Any]]) -> Figure:
    """Test accuracy (mean ± sample std over seeds) against training-set size, with the paper's points.

    Args:
      rows: ``report.summarize`` rows (``variant``, ``train_size``, ``seeds_ok``, ``test_acc_mean``/``_std``,
        ``paper_test_acc``).

    Returns:
      The figure: x ticks at the train sizes only; one marker line (gid = variant) per variant.
    """
    return _vs_size(rows, "test_acc", "test accuracy (%)", "Test accuracy vs training-set size", "paper_test_acc")


def draw_shift_consistency(rows: list[dict[str, Any]]) -> Figure:
    """Shift consistency (mean ± sample std over seeds) against training-set size, one marker per variant.

    Args:
      rows: ``report.summarize`` rows (``shift_consistency_mean``/``_std``).

    Returns:
      The figure, laid out as ``draw_accuracy_vs_size``'s.
    """
    return _vs_size(
        rows, "shift_consistency", "shift consistency (%)",
        "Same prediction under two random circular shifts (Zhang 2019)",
    )


def draw_training_curves(runs: list[dict[str, Any]], rows: list[dict[str, Any]]) -> Figure:
    """Test accuracy against step, mean over a cell's finished seeds, one panel per training-set size.

    Each panel's y-range is the band the curves span over the second half of training (plus a margin), so
    the final differences show; the early steps leave the panel at the bottom.

    Args:
      runs: ``report.load_runs`` dicts (``variant``, ``train_size``, ``status``, ``metrics``).
      rows: ``report.summarize`` rows; they fix the variants' order and styles.

    Returns:
      The figure; each curve's gid is its variant.
    """
    sizes = sorted({r["train_size"] for r in runs})
    st = styles(_variants(rows) + sorted({r["variant"] for r in runs} - set(_variants(rows))))
    fig, axes = plt.subplots(1, len(sizes), figsize=(4.2 * len(sizes), 3.6), squeeze=False)
    for ax, size in zip(axes[0], sizes, strict=True):
        band = []
        for j, (v, s) in enumerate(st.items()):
            curves = [r["metrics"] for r in runs if (r["variant"], r["train_size"], r["status"]) == (v, size, "ok")]
            curves = [[rec for rec in c if "test_acc" in rec] for c in curves if c]
            if not curves:
                continue
            n = min(len(c) for c in curves)
            steps = np.array([rec["step"] for rec in curves[0][:n]])
            acc = np.mean([[rec["test_acc"] for rec in c[:n]] for c in curves], axis=0)
            every = max(1, n // 6)
            (line,) = ax.plot(
                steps, acc, linestyle=s.linestyle, linewidth=1.2, markevery=(j % every, every), **_point_kw(s)
            )
            line.set_gid(v)
            band += list(acc[steps >= steps[-1] / 2])
        if band:
            _zoom(ax, min(band), max(band))
        ax.set_title(f"{size:,} training examples", fontsize=10)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("test accuracy (%), mean over seeds\n(y zoomed to the 2nd half of training)", fontsize=8)
    notes = [_note("solid: pooling layer", linestyle="-"), _note("dashed: no pooling layer", linestyle="--")]
    notes += [_note("markers: variant, at every\nfew evaluations (staggered)", marker="o", mfc="0.4")]
    axes[0][-1].legend(handles=_handles(st, line=True) + notes, fontsize=7, loc="upper left",
                       bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return fig


def draw_accuracy_vs_flops(rows: list[dict[str, Any]]) -> Figure:
    """Test accuracy (mean ± sample std over seeds) against forward FLOPs per example, one panel per train size.

    Args:
      rows: ``report.summarize`` rows (``flops_per_example``, ``test_acc_mean``/``_std``).

    Returns:
      The figure; in each panel one marker per variant (gid = variant), in the variant's style.
    """
    st, sizes = styles(_variants(rows)), sorted({r["train_size"] for r in rows})
    cols = min(3, len(sizes))
    nrows = math.ceil(len(sizes) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(max(3.6 * cols, 6.0), max(3.2 * nrows, 3.8)), squeeze=False)
    for ax, size in zip(axes.flat, sizes, strict=False):
        band = []
        for v, s in st.items():
            r = next((r for r in rows if (r["variant"], r["train_size"]) == (v, size) and r["seeds_ok"]), None)
            if r is None:
                continue
            bars = ax.errorbar(
                [r["flops_per_example"] / 1e3], [r["test_acc_mean"]], [r["test_acc_std"]], linestyle="none",
                capsize=3, elinewidth=1, **_point_kw(s),
            )
            bars.lines[0].set_gid(v)
            band += [r["test_acc_mean"] - r["test_acc_std"], r["test_acc_mean"] + r["test_acc_std"]]
        if band:
            _zoom(ax, min(band), max(band))
        ax.set_title(f"{size:,} training examples", fontsize=9)
        ax.set_xlabel("forward kFLOPs per example (XLA)", fontsize=8)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(sizes):]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel("test accuracy (%)")
    notes = [_note("mean over seeds,\nbar: ±1 sample std", marker="o", mfc="0.4")]
    notes += [_note("hollow: no pooling layer", marker="o", mfc="white")]
    axes[0][-1].legend(handles=_handles(st) + notes, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.suptitle("Accuracy vs compute (marker and colour: variant)", fontsize=10)
    fig.tight_layout()
    return fig


def save_figure(fig: Figure, path: Path) -> None:
    """Save ``fig`` as a PNG at ``path`` atomically (110 dpi, tight bounding box), then close it."""
    try:
        _io.atomic_save(path, lambda tmp: fig.savefig(tmp, dpi=110, bbox_inches="tight"))
    finally:
        plt.close(fig)


def write_row_plots(rows: list[dict[str, Any]], folder: Path) -> list[str]:
    """Draw the three plots that need only the summary rows into ``folder``; return their file names
    (accuracy vs train size, accuracy vs FLOPs, shift consistency)."""
    save_figure(draw_accuracy_vs_size(rows), folder / NAMES[0])
    save_figure(draw_accuracy_vs_flops(rows), folder / NAMES[2])
    save_figure(draw_shift_consistency(rows), folder / NAMES[3])
    return [NAMES[0], NAMES[2], NAMES[3]]


def write_plots(workdir: Path, runs: list[dict[str, Any]], rows: list[dict[str, Any]]) -> list[str]:
    """Draw the four plots into ``workdir``.

    Args:
      workdir: the sweep folder.
      runs: ``report.load_runs`` dicts (for the training curves).
      rows: ``report.summarize`` rows.

    Returns:
      The four file names, in ``NAMES`` order.
    """
    write_row_plots(rows, Path(workdir))
    save_figure(draw_training_curves(runs, rows), Path(workdir) / NAMES[1])
    return list(NAMES)
