"""The sweep plots, checked on the matplotlib objects (no screenshots): x ticks at the measured train sizes
only, a distinct (colour, marker) pair per variant for 16+ variants, every variant in the legends, y-limits
zoomed to the data's band (hand-computed), and variants with identical numbers kept apart."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.colors import to_hex

from experiments.common import plots, replot, styles

SIZES = [1000, 2000, 5000, 50000]
KNOWN = ["max_pool", "avg_pool", "lp_pool", "blur_pool", "strided_conv", "subsample", "none", "learned_conv",
         "convpool", "blur_only", "none_dilated", "none_same_head"]  # variants the studies name (styles.KNOWN)
VARIANTS = KNOWN + ["zeta_pool", "alpha_pool", "gamma_conv", "beta_only"]  # 16, four of them unknown


def _rows(variants: list[str] = VARIANTS, sizes: list[int] = SIZES) -> list[dict[str, Any]]:
    """Rows with hand-chosen numbers: variant i at size s has mean 60 + i + 10 * log10(s / 1000), std 1 + i / 10;
    subsample copies strided_conv's numbers exactly."""
    rows = []
    for s in sizes:
        for i, v in enumerate(variants):
            j = variants.index("strided_conv") if v == "subsample" else i
            mean = 60.0 + j + 10.0 * float(np.log10(s / 1000))
            rows.append({
                "variant": v, "train_size": s, "seeds_ok": 3, "test_acc_mean": mean, "test_acc_std": 1.0 + j / 10,
                "paper_test_acc": float("nan") if j else mean + 3.0, "shift_consistency_mean": 40.0 + j,
                "shift_consistency_std": 0.5, "flops_per_example": 1000.0 * (30 + j),
            })
    return rows


def _marker_lines(ax: Any) -> dict[str, Any]:
    return {line.get_gid(): line for line in ax.lines if line.get_gid()}


def _pairs(lines: dict[str, Any]) -> set[tuple[str, str]]:
    return {(to_hex(line.get_color()), line.get_marker()) for line in lines.values()}


def _legend_texts(ax: Any) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_styles_give_16_and_more_variants_distinct_pairs_and_keep_known_ones() -> None:
    extra = [f"variant_{k}" for k in range(50)]
    st = styles.styles(VARIANTS + extra)
    assert len({(s.color, s.marker) for s in st.values()}) == len(VARIANTS) + 50
    assert all(s.color in styles.COLORS and s.marker in styles.MARKERS for s in st.values())
    assert set(KNOWN) < set(styles.KNOWN)
    assert len({(s.color, s.marker) for s in styles.KNOWN.values()}) == len(styles.KNOWN)
    # Known variants look the same whatever else is plotted; an unknown one never takes a known one's pair.
    assert styles.styles(["subsample"])["subsample"] == st["subsample"] == styles.KNOWN["subsample"]
    assert styles.styles(["zeta_pool"])["zeta_pool"] == styles.Style("#000000", "o")  # pair k=0 is no known one's
    assert styles.styles(["zeta_pool"])["zeta_pool"] not in styles.KNOWN.values()
    assert st["strided_conv"].linestyle == "--" and not st["strided_conv"].filled
    assert st["max_pool"].linestyle == "-" and st["max_pool"].filled
    assert styles.styles(VARIANTS + extra) == st  # deterministic
    free = 72 - len(styles.KNOWN)
    assert len(styles.styles([f"v{k}" for k in range(free)])) == free
    with pytest.raises(ValueError, match=f"variants: {free + 1} variants"):
        styles.styles([f"v{k}" for k in range(free + 1)])


def test_accuracy_vs_size_ticks_styles_legend_and_zoom() -> None:
    rows = _rows()
    fig = plots.draw_accuracy_vs_size(rows)
    ax = fig.axes[0]
    np.testing.assert_array_equal(ax.get_xticks(), SIZES)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1,000", "2,000", "5,000", "50,000"]
    assert len(ax.xaxis.get_minorticklocs()) == 0
    lines = _marker_lines(ax)
    assert list(lines) == VARIANTS
    assert len(_pairs(lines)) == len(VARIANTS)
    assert all(line.get_linestyle() == "None" for line in lines.values())  # the markers are the measurements
    assert set(VARIANTS) <= set(_legend_texts(ax))
    assert any("paper" in t for t in _legend_texts(ax)) and any("dotted" in t for t in _legend_texts(ax))
    # Identical numbers, yet apart: strided_conv (index 4) and subsample (index 5) sit 2.3 % apart in x.
    n = len(VARIANTS)
    x_sc, x_ss = (lines[v].get_xdata() for v in ("strided_conv", "subsample"))
    np.testing.assert_allclose(x_sc, np.array(SIZES) * 10 ** ((4 - (n - 1) / 2) * 0.01))
    np.testing.assert_allclose(x_ss / x_sc, 10**0.01)
    np.testing.assert_array_equal(lines["strided_conv"].get_ydata(), lines["subsample"].get_ydata())
    # y band: lowest mean - std = 60 - 1 = 59 (max_pool at 1000); highest mean + std = 60 + 15 + 17 + 2.5.
    lo, hi = 59.0, 60.0 + 15 + 10 * np.log10(50) + 2.5
    pad = 0.08 * (hi - lo)
    np.testing.assert_allclose(ax.get_ylim(), (lo - pad, hi + pad))
    plt.close(fig)


def test_one_train_size_gets_one_tick() -> None:
    fig = plots.draw_accuracy_vs_size(_rows(KNOWN[:3], [1000]))
    ax = fig.axes[0]
    np.testing.assert_array_equal(ax.get_xticks(), [1000])
    assert ax.get_xscale() == "linear"
    # band 59 (max_pool: 60 - 1) .. 63.2 (lp_pool: 62 + 1.2, above max_pool's paper point 63): pad 0.5 (floor).
    np.testing.assert_allclose(ax.get_ylim(), (58.5, 63.7))
    plt.close(fig)


def test_shift_consistency_legend_colours_belong_to_variants_only() -> None:
    fig = plots.draw_shift_consistency(_rows())
    ax = fig.axes[0]
    np.testing.assert_array_equal(ax.get_xticks(), SIZES)
    st = styles.styles(VARIANTS)
    legend = ax.get_legend()
    for text, handle in zip(legend.get_texts(), legend.legend_handles, strict=True):
        color = to_hex(handle.get_color())
        if text.get_text() in st:
            assert (color, handle.get_marker()) == (st[text.get_text()].color, st[text.get_text()].marker)
        else:  # an explanation entry: grey, no variant's colour
            assert color == to_hex("0.4") and color not in styles.COLORS
    # band: 40 - 0.5 .. 40 + 15 + 0.5, pad 8 % of 16
    np.testing.assert_allclose(ax.get_ylim(), (39.5 - 1.28, 55.5 + 1.28))
    plt.close(fig)


def test_accuracy_vs_flops_one_panel_per_size_every_variant_distinct() -> None:
    fig = plots.draw_accuracy_vs_flops(_rows())
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == [f"{s:,} training examples" for s in SIZES]
    for k, ax in enumerate(panels):
        lines = _marker_lines(ax)
        assert list(lines) == VARIANTS and len(_pairs(lines)) == len(VARIANTS)
        assert lines["gamma_conv"].get_xdata()[0] == 30 + VARIANTS.index("gamma_conv")
        lo = 60 + 10 * np.log10(SIZES[k] / 1000) - 1.0
        np.testing.assert_allclose(ax.get_ylim(), (lo - 0.08 * 18.5, lo + 18.5 + 0.08 * 18.5))
    (with_legend,) = [ax for ax in panels if ax.get_legend()]  # one legend for all panels
    assert set(VARIANTS) <= set(_legend_texts(with_legend))
    plt.close(fig)


def _runs(variants: list[str]) -> list[dict[str, Any]]:
    """Two seeds per cell; accuracy 10 % at step 0, then 88 + i / 2 + seed (n=5000) from step 100 on."""
    runs = []
    for i, v in enumerate(variants):
        for seed in (0, 1):
            metrics = [{"step": 0, "test_acc": 10.0, "train_loss": 2.3}]
            metrics += [{"step": st, "test_acc": 88.0 + i / 2 + seed + st / 1000} for st in range(100, 1001, 100)]
            runs.append({"variant": v, "train_size": 5000, "status": "ok", "metrics": metrics})
    failed = [{"step": 0, "test_acc": 0.0}]
    runs.append({"variant": "max_pool", "train_size": 5000, "status": "failed", "metrics": failed})
    return runs


def test_training_curves_zoom_to_the_second_half_and_explain_line_styles() -> None:
    variants = KNOWN + ["zeta_pool", "alpha_pool", "gamma_conv", "beta_only"]
    rows = _rows(variants, [5000])
    fig = plots.draw_training_curves(_runs(variants), rows)
    ax = fig.axes[0]
    lines = _marker_lines(ax)
    assert list(lines) == variants and len(_pairs(lines)) == len(variants)
    assert lines["strided_conv"].get_linestyle() == "--" and lines["max_pool"].get_linestyle() == "-"
    # mean over the two ok seeds (the failed run is left out): 88.5 + i / 2 + step / 1000
    expected = [10.0] + [89.0 + st / 1000 for st in range(100, 1001, 100)]
    np.testing.assert_allclose(lines["avg_pool"].get_ydata(), expected)
    # second half (steps 500..1000): from 88.5 + 0.5 = 89.0 (max_pool) to 88.5 + 7.5 + 1.0 = 97.0 (beta_only)
    np.testing.assert_allclose(ax.get_ylim(), (89.0 - 0.64, 97.0 + 0.64))
    texts = _legend_texts(ax)
    assert set(variants) <= set(texts)
    assert "solid: pooling layer" in texts and "dashed: no pooling layer" in texts
    plt.close(fig)


def test_write_plots_saves_four_pngs(tmp_path: Path) -> None:
    names = plots.write_plots(tmp_path, _runs(KNOWN), _rows(KNOWN, [5000]))
    assert names == list(plots.NAMES)
    for name in names:
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob("*.tmp*"))
    assert plt.get_fignums() == []  # every figure closed


ROOT = Path(__file__).resolve().parents[3]
FULL = ROOT / "experiments/results/mnist1d_full/summary.csv"


def test_committed_summary_reads_back_typed_and_replots(tmp_path: Path) -> None:
    rows = replot.read_summary(FULL, (1000, 5000))
    # The 10-seed full grid, rows in the config's variant order (configs/mnist1d_pooling.VARIANTS).
    assert [r["variant"] for r in rows[:12]] == ["max_pool", "avg_pool", "lp_pool", "blur_pool", "convpool",
                                                 "learned_conv", "blur_only", "strided_conv", "subsample", "none",
                                                 "none_dilated", "none_same_head"]
    assert {r["train_size"] for r in rows} == {1000, 5000}
    max_1000 = rows[0]
    assert (max_1000["seeds_ok"], max_1000["num_params"], round(max_1000["test_acc_mean"], 1)) == (10, 3310, 77.5)
    assert np.isnan(rows[3]["paper_test_acc"])  # blur_pool: not in the paper
    fig = plots.draw_accuracy_vs_size(replot.read_summary(FULL))
    np.testing.assert_array_equal(fig.axes[0].get_xticks(), [1000, 2000, 5000, 10000, 20000, 50000])
    plt.close(fig)
    assert replot.replot(FULL, tmp_path, (5000,)) == [plots.NAMES[0], plots.NAMES[2], plots.NAMES[3]]
    with pytest.raises(ValueError, match=re.escape(f"{FULL}: no rows for train sizes [3000]")):
        replot.read_summary(FULL, (1000, 3000))
    bad = tmp_path / "bad.csv"
    bad.write_text("variant,train_size,test_acc_per_seed\nmax_pool,1000,s0=78.10 s1=77.90\nmax_pool,many,\n")
    message = f"{bad}, line 3: not a summary row (variant 'max_pool', train_size 'many')"
    with pytest.raises(ValueError, match=re.escape(message)):
        replot.read_summary(bad)
    bad.write_text("variant,train_size,test_acc_per_seed,num_params\nmax_pool,1000,s0=78.10 s1=77.90,nan\n")
    (row,) = replot.read_summary(bad)  # text columns stay text (the summary of the statistics branch has them)
    assert row["test_acc_per_seed"] == "s0=78.10 s1=77.90" and row["train_size"] == 1000 and np.isnan(row["num_params"])
