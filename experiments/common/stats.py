r"""Statistics of a sweep: t-intervals over seeds, paired t-tests matched by seed, Holm's correction, the
list of contrasts the study's text discusses, and their table in summary.md.

Every variant of a sweep trains on the same seeds, and a seed fixes the data draw and the batch order for every
variant (``input_pipeline.train_draw`` and ``steps.batch_indices`` take the seed, never the variant), so two
variants' runs with the same seed differ only in the model: the paired t-test on the per-seed differences
(``scipy.stats.ttest_rel``) is the matching test. Its effect sizes are the mean difference with its 95 %
t-interval and Cohen's d_z (mean difference / sample std of the differences). Holm's step-down correction
(Holm 1979) controls the family-wise error over all contrasts of one train size and one metric; each metric
(accuracy, each shift consistency) is its own family. The distributions come from ``scipy.stats``; only Holm's
arithmetic (sort, multiply, running maximum) is written here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

#: Fixed downsampling (the "pooling" side of the contrasts).
POOLING = ("max_pool", "avg_pool", "lp_pool", "blur_pool")
#: Controls without pooling; any variant named ``none_*`` present in a sweep is a control too.
CONTROLS = ("strided_conv", "subsample", "none")
#: Named contrasts beyond pooling-vs-control, (a, b) meaning "a minus b".
EXTRA = (
    ("learned_conv", "max_pool"),
    ("convpool", "learned_conv"),
    ("blur_pool", "max_pool"),
    ("blur_only", "blur_pool"),
)
#: The same model twice (relu(conv_stride2(x)) == subsample(relu(conv(x))) for kernel 3, padding 1): the
#: measured noise floor, shown but never counted as a finding nor put in a Holm family.
NOISE_FLOOR = ("strided_conv", "subsample")


def t_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """Mean and two-sided Student-t confidence interval of the mean over seeds.

    ``mean ± t_{(1+level)/2, n-1} * s / sqrt(n)`` with ``s`` the sample std (ddof=1).

    Args:
      values: the per-seed values (floats).
      level: the confidence level, in (0, 1).

    Returns:
      ``(mean, low, high)`` as floats; all NaN for no values, the interval NaN for one value.

    Raises:
      ValueError: if ``level`` is not in (0, 1).
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level={level} must be in (0, 1)")
    arr = np.asarray(values, np.float64)
    if arr.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(arr.mean())
    if arr.size == 1:
        return mean, math.nan, math.nan
    import scipy.stats  # on first use: its import (~0.5 s) is not paid by CLI calls that stop early

    half = float(scipy.stats.t.ppf(0.5 + level / 2, arr.size - 1) * arr.std(ddof=1) / math.sqrt(arr.size))
    return mean, mean - half, mean + half


def paired_test(a: Mapping[int, float], b: Mapping[int, float], level: float = 0.95) -> dict[str, float]:
    """Paired t-test of ``a - b`` over the seeds both have (``scipy.stats.ttest_rel``, two-sided).

    Args:
      a: seed -> value of the first variant (e.g. final test accuracy, %).
      b: seed -> value of the second variant.
      level: confidence level of the interval of the mean difference.

    Returns:
      ``n`` (common seeds), ``mean_diff``, ``ci_low``/``ci_high`` (t-interval of the mean difference),
      ``sd_diff`` (ddof=1), ``t``, ``p`` and ``d_z`` (mean_diff / sd_diff). With fewer than two common seeds
      every statistic but ``n`` and ``mean_diff`` is NaN; when every difference is the same, ``sd_diff`` is 0,
      ``t`` and ``d_z`` are NaN and ``p`` is 1 if the differences are 0 (no difference at all) and 0 otherwise.
    """
    seeds = sorted(set(a) & set(b))
    diffs = np.asarray([a[s] - b[s] for s in seeds], np.float64)
    out = {"n": len(seeds), "mean_diff": float(diffs.mean()) if seeds else math.nan}
    nan = dict.fromkeys(("ci_low", "ci_high", "sd_diff", "t", "p", "d_z"), math.nan)
    if len(seeds) < 2:
        return {**out, **nan}
    _, low, high = t_interval(diffs, level)
    sd = float(diffs.std(ddof=1))
    if sd == 0.0:
        p = 1.0 if diffs[0] == 0.0 else 0.0
        return {**out, **nan, "ci_low": low, "ci_high": high, "sd_diff": 0.0, "p": p}
    import scipy.stats

    res = scipy.stats.ttest_rel(np.asarray([a[s] for s in seeds]), np.asarray([b[s] for s in seeds]))
    return {**out, "ci_low": low, "ci_high": high, "sd_diff": sd, "t": float(res.statistic),
            "p": float(res.pvalue), "d_z": out["mean_diff"] / sd}  # fmt: skip


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the input order.

    Sort the m p-values ascending, ``p_(1) <= ... <= p_(m)``; the adjusted value of the k-th is
    ``max_{j <= k} min(1, (m - j + 1) * p_(j))``. A hypothesis is rejected at family-wise level alpha when its
    adjusted p-value is below alpha. NaN entries (untestable contrasts) stay NaN and do not count in m.

    Args:
      pvalues: the family's raw p-values.

    Returns:
      The adjusted p-values, a list of floats as long as ``pvalues``.
    """
    p = np.asarray(pvalues, np.float64)
    out = np.full(p.shape, np.nan)
    idx = np.flatnonzero(~np.isnan(p))
    order = idx[np.argsort(p[idx], kind="stable")]
    m, running = len(order), 0.0
    for k, i in enumerate(order):
        running = max(running, min(1.0, (m - k) * p[i]))
        out[i] = running
    return [float(v) for v in out]


def contrasts(variants: Sequence[str]) -> list[tuple[str, str]]:
    """The contrasts the study's text discusses, among ``variants`` (those with both sides present).

    Each pooling variant (``POOLING``) minus each control (``CONTROLS`` and any ``none_*`` variant, in the
    order of ``variants``), then ``EXTRA`` in its order. The noise floor (``NOISE_FLOOR``) is not included.

    Args:
      variants: the variants a sweep holds (any order; the order of controls follows it).

    Returns:
      ``(a, b)`` pairs, meaning "a minus b", without duplicates.
    """
    have = list(dict.fromkeys(variants))
    controls = [v for v in have if v in CONTROLS] + [v for v in have if v.startswith("none_")]
    controls = sorted(controls, key=lambda v: (CONTROLS.index(v) if v in CONTROLS else len(CONTROLS), have.index(v)))
    pairs = [(p, c) for p in POOLING if p in have for c in controls]
    pairs += [(a, b) for a, b in EXTRA if a in have and b in have]
    return list(dict.fromkeys(pairs))


def compare(
    per_seed: Mapping[str, Mapping[int, float]], pairs: Sequence[tuple[str, str]], alpha: float = 0.05
) -> list[dict[str, object]]:
    """Paired tests of ``pairs`` with Holm's correction over them (one family).

    Args:
      per_seed: variant -> (seed -> value).
      pairs: ``(a, b)`` contrasts, "a minus b"; both must be keys of ``per_seed``.
      alpha: family-wise level.

    Returns:
      One dict per pair, in order: ``a``, ``b``, the ``paired_test`` fields, ``p_holm`` and ``holds``
      (True when ``p_holm < alpha``).
    """
    rows = [{"a": a, "b": b, **paired_test(per_seed[a], per_seed[b])} for a, b in pairs]
    for row, adjusted in zip(rows, holm([r["p"] for r in rows]), strict=True):
        row["p_holm"] = adjusted
        row["holds"] = bool(adjusted < alpha)
    return rows


def _fmt(value: float, fmt: str) -> str:
    return "-" if value is None or math.isnan(value) else fmt.format(value)


def contrast_rows(
    values: Mapping[tuple[str, int], Mapping[int, float]], variants: Sequence[str], metric: str
) -> list[dict[str, Any]]:
    """Paired tests of one metric for every train size: the study's contrasts (``contrasts``; one Holm family
    per train size) and the noise floor (``NOISE_FLOOR``, outside the family).

    Args:
      values: ``{(variant, train_size): {seed: value}}`` of the metric (``report.per_seed``).
      variants: the sweep's variants in table order.
      metric: the metric's name, copied into the rows.

    Returns:
      ``compare`` rows with ``train_size``, ``metric`` and ``noise_floor`` (True for the noise-floor line)
      added; empty when ``values`` is.
    """
    out = []
    for size in sorted({size for _, size in values}):
        cell = {v: values[(v, size)] for v in variants if (v, size) in values}
        floor = [NOISE_FLOOR] if all(v in cell for v in NOISE_FLOOR) else []
        for rows, is_floor in ((compare(cell, contrasts(list(cell))), False), (compare(cell, floor), True)):
            out += [{**r, "train_size": size, "metric": metric, "noise_floor": is_floor} for r in rows]
    return out


def contrast_table(rows: list[dict[str, Any]]) -> str:
    """Markdown table of ``contrast_rows`` for summary.md: difference (a - b) with its 95 % CI, d_z, p,
    Holm-adjusted p and whether it holds at p < 0.05 after Holm; a difference that does not hold reads "no
    measurable difference"."""
    lines = [
        "| n | contrast (a - b) | seeds | mean diff [95 % CI] | d_z | p | p (Holm) | holds (Holm) | reading |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        diff = "-" if math.isnan(r["ci_low"]) else f"{r['mean_diff']:+.2f} [{r['ci_low']:+.2f}, {r['ci_high']:+.2f}]"
        if r["noise_floor"]:
            holds, reading = "(noise floor)", "the same model twice: the spread of seeds alone"
        elif math.isnan(r["p_holm"]):
            holds, reading = "-", "not testable (fewer than 2 paired seeds)"
        elif r["holds"]:
            holds, reading = "yes", f"{r['a']} {'above' if r['mean_diff'] > 0 else 'below'} {r['b']}"
        else:
            holds, reading = "no", "no measurable difference"
        lines.append(
            f"| {r['train_size']} | {r['a']} - {r['b']} | {r['n']} | {diff} | {_fmt(r['d_z'], '{:+.2f}')} | "
            f"{_fmt(r['p'], '{:.3g}')} | {_fmt(r['p_holm'], '{:.3g}')} | {holds} | {reading} |"
        )
    return "\n".join(lines)


#: The paragraph summary.md puts above the tables of paired tests.
STATS_NOTE = (
    "Paired t-tests (scipy.stats.ttest_rel, two-sided) on the per-seed values, matched by seed: a seed fixes "
    "the data draw and the batch order for every variant. Effect sizes: the mean difference with its 95 % "
    "t-interval and Cohen's d_z (mean / sd of the differences). Holm's step-down correction runs over all "
    "contrasts of one train size and one metric (each metric a separate family); 'holds (Holm)' = adjusted "
    "p < 0.05. strided_conv - subsample is the same model twice and is shown as the measured noise floor, "
    "outside the family and never counted as a finding."
)
