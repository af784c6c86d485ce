"""The sweep's PNG plots: accuracy vs train size, training curves, accuracy vs FLOPs, shift
consistency.

Called by ``report.write_report``; every figure is saved atomically into the sweep folder. Colours
follow the variants' table order, the same in the four plots.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from experiments.common import io as _io  # noqa: E402

#: Line colours, given to the variants in table order (the first seven match the downsampling study's
#: variants as before: max red, avg green, Lp blue, blur purple, strided black, subsample orange, none gray).
PALETTE = ("tab:red", "tab:green", "tab:blue", "tab:purple", "black", "tab:orange", "tab:gray", "tab:brown",
           "tab:olive", "tab:pink")


def _save(fig: Any, path: Path) -> None:
    _io.atomic_save(path, lambda tmp: fig.savefig(tmp, dpi=110, bbox_inches="tight"))
    plt.close(fig)


def _variants(rows: list[dict[str, Any]]) -> list[str]:
    """The variants of ``rows`` in their order (``report.summarize`` sorts rows by the sweep's variant order)."""
    return list(dict.fromkeys(r["variant"] for r in rows))


def _colors(rows: list[dict[str, Any]]) -> dict[str, str]:
    return {v: PALETTE[i % len(PALETTE)] for i, v in enumerate(_variants(rows))}


def accuracy_vs_size(rows: list[dict[str, Any]], path: Path) -> None:
    """Test accuracy (mean ± std over seeds) against training-set size, with the paper's points
    hollow."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for v in _variants(rows):
        rs = sorted(
            (r for r in rows if r["variant"] == v and r["seeds_ok"]), key=lambda r: r["train_size"]
        )
        if not rs:
            continue
        x = [r["train_size"] for r in rs]
        ax.errorbar(
            x,
            [r["test_acc_mean"] for r in rs],
            [r["test_acc_std"] for r in rs],
            marker="o",
            capsize=3,
            color=_colors(rows)[v],
            label=v,
        )
        paper = [
            (r["train_size"], r["paper_test_acc"])
            for r in rs
            if not math.isnan(r["paper_test_acc"])
        ]
        if paper:
            ax.plot(
                *zip(*paper, strict=True), linestyle="none", marker="s", mfc="none", color=_colors(rows)[v]
            )
    ax.set_xscale("log")
    ax.set_xlabel("training examples")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("Test accuracy vs training-set size (hollow squares: paper)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    _save(fig, path)


def training_curves(runs: list[dict[str, Any]], rows: list[dict[str, Any]], path: Path) -> None:
    """Test accuracy against step, mean over seeds, one panel per training-set size."""
    sizes = sorted({r["train_size"] for r in runs})
    fig, axes = plt.subplots(1, len(sizes), figsize=(4.5 * len(sizes), 3.6), squeeze=False)
    for ax, size in zip(axes[0], sizes, strict=True):
        for v in _variants(rows):
            curves = [
                r["metrics"]
                for r in runs
                if r["variant"] == v
                and r["train_size"] == size
                and r["status"] == "ok"
                and r["metrics"]
            ]
            if not curves:
                continue
            n = min(len(c) for c in curves)
            steps = [rec["step"] for rec in curves[0][:n]]
            acc = np.mean([[rec["test_acc"] for rec in c[:n]] for c in curves], axis=0)
            ax.plot(steps, acc, color=_colors(rows)[v], label=v)
        ax.set_title(f"{size} training examples")
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("test accuracy (%)")
    axes[0][0].legend(fontsize=7)
    _save(fig, path)


def accuracy_vs_flops(rows: list[dict[str, Any]], path: Path) -> None:
    """Test accuracy against forward FLOPs per example; one marker per (variant, train size)."""
    fig, ax = plt.subplots(figsize=(6, 4))
    markers = "ovs^D*"
    sizes = sorted({r["train_size"] for r in rows})
    for r in rows:
        if not r["seeds_ok"]:
            continue
        ax.errorbar(
            r["flops_per_example"] / 1e3,
            r["test_acc_mean"],
            r["test_acc_std"],
            capsize=2,
            marker=markers[sizes.index(r["train_size"]) % len(markers)],
            color=_colors(rows)[r["variant"]],
            label=r["variant"] if r["train_size"] == sizes[0] else None,
        )
    ax.set_xlabel("forward kFLOPs per example (XLA cost analysis)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(
        "Accuracy vs compute (marker shape: train size " + ", ".join(map(str, sizes)) + ")",
        fontsize=9,
    )
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    _save(fig, path)


def shift_consistency(rows: list[dict[str, Any]], path: Path) -> None:
    """Bars of shift consistency (mean ± std) per variant, one group per training-set size."""
    sizes = sorted({r["train_size"] for r in rows})
    variants = _variants(rows)
    cell = {(r["variant"], r["train_size"]): r for r in rows}
    fig, ax = plt.subplots(figsize=(1.0 + 1.1 * len(variants) * max(1, len(sizes)) / 2, 3.8))
    width = 0.8 / max(1, len(sizes))
    for j, size in enumerate(sizes):
        x = np.arange(len(variants)) + j * width
        mean = [
            cell[(v, size)]["shift_consistency_mean"] if (v, size) in cell else np.nan
            for v in variants
        ]
        std = [
            cell[(v, size)]["shift_consistency_std"] if (v, size) in cell else np.nan
            for v in variants
        ]
        ax.bar(
            x,
            mean,
            width,
            yerr=std,
            capsize=2,
            label=f"n={size}",
            alpha=0.6 + 0.4 * j / len(sizes),
            color=[_colors(rows)[v] for v in variants],
        )
    ax.set_xticks(
        np.arange(len(variants)) + width * (len(sizes) - 1) / 2, variants, rotation=30, fontsize=8
    )
    ax.set_ylabel("shift consistency (%)")
    ax.set_title("Same prediction under two random circular shifts (Zhang 2019)", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3, axis="y")
    _save(fig, path)


def write_plots(workdir: Path, runs: list[dict[str, Any]], rows: list[dict[str, Any]]) -> list[str]:
    """Draw the four plots into ``workdir``; return their file names."""
    names = [
        "accuracy_vs_train_size.png",
        "training_curves.png",
        "accuracy_vs_flops.png",
        "shift_consistency.png",
    ]
    accuracy_vs_size(rows, workdir / names[0])
    training_curves(runs, rows, workdir / names[1])
    accuracy_vs_flops(rows, workdir / names[2])
    shift_consistency(rows, workdir / names[3])
    return names
