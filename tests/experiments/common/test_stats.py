"""The sweep statistics (experiments/common/stats.py) against hand-computed numbers, and their rendering in
summary.md on a tiny fake sweep folder."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from experiments.common import report, stats


def test_t_interval_matches_the_hand_value() -> None:
    # values 1, 2, 3: mean 2, sample sd 1, n 3; t_{0.975, 2} = 4.302653 (t table), half width
    # 4.302653 * 1 / sqrt(3) = 2.484138.
    mean, low, high = stats.t_interval([1.0, 2.0, 3.0])
    assert mean == 2.0
    assert low == pytest.approx(2.0 - 2.484138, abs=1e-6) and high == pytest.approx(2.0 + 2.484138, abs=1e-6)
    # one value: a mean but no interval; none: nothing.
    assert stats.t_interval([5.0])[0] == 5.0 and math.isnan(stats.t_interval([5.0])[1])
    assert all(math.isnan(v) for v in stats.t_interval([]))
    with pytest.raises(ValueError, match="level=1.5"):
        stats.t_interval([1.0, 2.0], level=1.5)


def test_paired_t_test_matches_the_hand_computation() -> None:
    # Seeds 0, 1, 2 in both (seed 3 only in a: dropped; b listed in another order: matched by seed, not place).
    a = {0: 81.0, 1: 77.0, 2: 85.0, 3: 99.0}
    b = {2: 82.0, 0: 80.0, 1: 75.0}
    # differences a - b: 1, 2, 3.  mean = 2.  deviations -1, 0, 1 -> sum of squares 2, sd = sqrt(2 / 2) = 1.
    # standard error = 1 / sqrt(3) = 0.577350; t = 2 / 0.577350 = 2 sqrt(3) = 3.464102 with 2 degrees of freedom.
    # Two-sided p for 2 degrees of freedom has a closed form: p = 1 - t / sqrt(2 + t^2) = 1 - sqrt(12 / 14)
    # = 1 - 0.925820 = 0.074180.  95 % CI of the mean difference: 2 -+ 4.302653 / sqrt(3) = [-0.484138,
    # 4.484138].  Cohen's d_z = mean / sd = 2.
    res = stats.paired_test(a, b)
    assert res["n"] == 3 and res["mean_diff"] == 2.0 and res["sd_diff"] == pytest.approx(1.0)
    assert res["t"] == pytest.approx(3.464102, abs=1e-6)
    assert res["p"] == pytest.approx(0.074180, abs=1e-6)
    assert res["ci_low"] == pytest.approx(-0.484138, abs=1e-6)
    assert res["ci_high"] == pytest.approx(4.484138, abs=1e-6)
    assert res["d_z"] == pytest.approx(2.0)
    # The sign follows "a minus b".
    assert stats.paired_test(b, a)["t"] == pytest.approx(-3.464102, abs=1e-6)


def test_paired_test_degenerate_cases() -> None:
    same = {0: 80.0, 1: 70.0}
    assert stats.paired_test(same, same)["p"] == 1.0  # identical per seed: no difference at all
    shifted = {0: 81.0, 1: 71.0}
    res = stats.paired_test(shifted, same)  # every difference exactly +1: sd 0
    assert res["p"] == 0.0 and res["sd_diff"] == 0.0 and math.isnan(res["t"])
    one = stats.paired_test({0: 1.0}, {0: 0.0, 1: 3.0})
    assert one["n"] == 1 and one["mean_diff"] == 1.0 and math.isnan(one["p"])


def test_holm_matches_the_hand_computation() -> None:
    # p = 0.01, 0.04, 0.03 (m = 3).  Sorted: 0.01, 0.03, 0.04.
    #   k=1: 3 * 0.01 = 0.03
    #   k=2: 2 * 0.03 = 0.06, running max 0.06
    #   k=3: 1 * 0.04 = 0.04, running max keeps 0.06
    # In input order: 0.03, 0.06, 0.06; at alpha 0.05 only the first holds.
    assert stats.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    # Capped at 1: 0.6 * 2 = 1.2 -> 1, then max(1, 0.9) = 1.
    assert stats.holm([0.9, 0.6]) == [1.0, 1.0]
    # NaN (untestable) stays NaN and is not counted: m = 2 for the other two.
    adjusted = stats.holm([0.02, float("nan"), 0.5])
    assert adjusted[0] == pytest.approx(0.04) and math.isnan(adjusted[1]) and adjusted[2] == 0.5


def test_contrast_list() -> None:
    every = ("max_pool", "avg_pool", "lp_pool", "blur_pool", "strided_conv", "subsample", "none",
             "learned_conv", "convpool", "blur_only", "none_dilated", "none_same_head")  # fmt: skip
    got = stats.contrasts(every)
    controls = ("strided_conv", "subsample", "none", "none_dilated", "none_same_head")
    expected = [(p, c) for p in ("max_pool", "avg_pool", "lp_pool", "blur_pool") for c in controls]
    expected += [("learned_conv", "max_pool"), ("convpool", "learned_conv"), ("blur_pool", "max_pool"),
                 ("blur_only", "blur_pool")]  # fmt: skip
    assert got == expected and len(got) == 24
    assert stats.NOISE_FLOOR not in got
    # Today's seven variants: 4 x 3 pooling-vs-control contrasts and blur_pool vs max_pool.
    seven = ("max_pool", "avg_pool", "lp_pool", "blur_pool", "strided_conv", "subsample", "none")
    assert len(stats.contrasts(seven)) == 13 and stats.contrasts(seven)[-1] == ("blur_pool", "max_pool")
    assert stats.contrasts(("max_pool", "learned_conv")) == [("learned_conv", "max_pool")]


def test_compare_applies_holm_over_the_family() -> None:
    per_seed = {
        "x": {0: 81.0, 1: 77.0, 2: 85.0},
        "y": {0: 80.0, 1: 75.0, 2: 82.0},  # x - y = 1, 2, 3: p = 0.074180 (above)
        "z": {0: 80.0, 1: 76.0, 2: 84.0},  # x - z = 1, 1, 1: sd 0, p = 0
    }
    rows = stats.compare(per_seed, [("x", "y"), ("x", "z")])
    # Holm: sorted 0, 0.074180 -> 2 * 0 = 0; 1 * 0.074180.
    assert [r["p_holm"] for r in rows] == pytest.approx([0.074180, 0.0], abs=1e-6)
    assert [r["holds"] for r in rows] == [False, True]


def _fake_run(root: Path, variant: str, seed: int, acc: float, shift: float, crop: float | None) -> None:
    folder = root / "runs" / f"{variant}-n1000-s{seed}"
    folder.mkdir(parents=True)
    config = {"seed": seed, "data": {"train_size": 1000}, "model": {"downsample": variant},
              "sweep": {"downsample": ["max_pool", "strided_conv", "subsample"]}}  # fmt: skip
    result = {"final": {"test_acc": acc, "train_acc": 100.0}, "shift_consistency": shift, "shifted_test_acc": 60.0,
              "num_params": 3310, "flops_per_example": 1e4, "timing": {"train_examples_per_s": 1e5}}  # fmt: skip
    if crop is not None:  # runs made before the crop test have neither key nor receptive field
        result.update(shift_consistency_crop=crop, shifted_test_acc_crop=70.0, receptive_field=15)
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "result.json").write_text(json.dumps(result))


def test_summary_md_renders_intervals_tests_and_old_runs(tmp_path: Path, monkeypatch) -> None:
    from experiments.common import plots

    monkeypatch.setattr(plots, "write_plots", lambda workdir, runs, rows: [])
    # max_pool - strided_conv = 1, 2, 3 (p = 0.074180), max_pool - subsample = 1, 1, 1 (p = 0); the noise floor
    # strided_conv - subsample = 0, -1, -2 (t = -sqrt(3), p = 1 - sqrt(3 / 5) = 0.225403).
    # subsample's runs are old: no crop figures, no receptive field.
    for seed, (m, s, u) in enumerate([(81.0, 80.0, 80.0), (77.0, 75.0, 76.0), (85.0, 82.0, 84.0)]):
        _fake_run(tmp_path, "max_pool", seed, m, 90.0 + seed, 95.0)
        _fake_run(tmp_path, "strided_conv", seed, s, 80.0, 85.0 + seed)
        _fake_run(tmp_path, "subsample", seed, u, 80.0, None)
    printed = report.write_report(tmp_path)
    md = (tmp_path / "summary.md").read_text(encoding="utf-8")
    # max_pool: 81, 77, 85 -> mean 81, sd 4, half width 4.302653 * 4 / sqrt(3) = 9.936553: [71.1, 90.9].
    assert "| max_pool | 3310 | 10.0 | 15 | 81.0 [71.1, 90.9] |" in md
    assert "| subsample | 3310 | 10.0 | - | 80.0 [70.1, 89.9] |" in md  # 80, 76, 84: sd 4 as well
    assert "| max_pool | 1000 | s0=81.00 s1=77.00 s2=85.00 |" in md
    # Holm over the two contrasts: adjusted 0.0742 and 0; one holds, one reads "no measurable difference".
    assert ("| 1000 | max_pool - strided_conv | 3 | +2.00 [-0.48, +4.48] | +2.00 | 0.0742 | 0.0742 | no | "
            "no measurable difference |") in md  # fmt: skip
    assert "| max_pool - subsample | 3 | +1.00 [+1.00, +1.00] | - | 0 | 0 | yes | max_pool above subsample |" in md
    assert "| strided_conv - subsample | 3 | -1.00 [-3.48, +1.48] | -1.00 | 0.225 | 0.225 | (noise floor) |" in md
    assert "Holm" in md and "separate family" in md
    # Circular shift consistency: its own family; crop: only the pair with crop figures on both sides.
    assert "### Shift consistency, circular shifts" in md
    crop = md.split("### Shift consistency, crops")[1].split("##")[0]
    assert "max_pool - strided_conv | 3 | +9.00 [+6.52, +11.48]" in crop and "subsample" not in crop
    # The printed table has the interval and both shift consistencies; old runs show "-".
    assert "81.0 [71.1, 90.9]" in printed and "| max_pool | 1000 | 3 | 81.0 [71.1, 90.9] | 91.0 [88.5, 93.5] | " \
        "95.0 [95.0, 95.0] |" in printed
    assert "| subsample | 1000 | 3 | 80.0 [70.1, 89.9] | 80.0 [80.0, 80.0] | - |" in printed
    csv_text = (tmp_path / "summary.csv").read_text()
    assert "test_acc_ci_low" in csv_text and "shift_consistency_crop_mean" in csv_text


def test_contrast_rows_one_holm_family_per_train_size() -> None:
    # n=1000: max_pool - none = 1, 2, 3 (p = 0.074180) is the only contrast -> Holm leaves it as is.
    # n=5000: one seed each -> not testable.
    values = {
        ("max_pool", 1000): {0: 81.0, 1: 77.0, 2: 85.0},
        ("none", 1000): {0: 80.0, 1: 75.0, 2: 82.0},
        ("max_pool", 5000): {0: 90.0},
        ("none", 5000): {0: 89.0},
    }
    rows = stats.contrast_rows(values, ["max_pool", "none"], "test_acc")
    assert [(r["train_size"], r["a"], r["b"], r["noise_floor"]) for r in rows] == [
        (1000, "max_pool", "none", False),
        (5000, "max_pool", "none", False),
    ]
    assert rows[0]["p_holm"] == pytest.approx(0.074180, abs=1e-6) and math.isnan(rows[1]["p_holm"])
    table = stats.contrast_table(rows)
    assert "| 5000 | max_pool - none | 1 | - | - | - | - | - | not testable (fewer than 2 paired seeds) |" in table
