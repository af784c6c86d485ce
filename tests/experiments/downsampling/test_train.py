"""Training runs end to end on a tiny config: determinism, resume after a crash, divergence, config
validation, and the sweep runner with its summary."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import numpy as np
import pytest

from experiments.common import io as _io
from experiments.common import report
from experiments.common import steps as _steps
from experiments.common import sweep as ablate
from experiments.downsampling.train import STUDY, train_and_evaluate
from experiments.downsampling.validation import validate_config


def _without_timing(result: dict) -> dict:
    return {k: v for k, v in result.items() if k != "timing"}


def test_same_seed_same_config_gives_identical_metrics(tiny_config, tmp_path: Path) -> None:
    tiny_config.model.downsample = "strided_conv"
    a = train_and_evaluate(tiny_config, tmp_path / "a")
    _steps._CACHE.clear()  # recompile: identical numbers must not depend on a shared executable
    b = train_and_evaluate(tiny_config, tmp_path / "b")
    assert _without_timing(a) == _without_timing(b)
    lines_a = (tmp_path / "a" / "metrics.jsonl").read_text()
    assert lines_a == (tmp_path / "b" / "metrics.jsonl").read_text()
    assert [r["step"] for r in _io.read_jsonl(tmp_path / "a" / "metrics.jsonl")] == [0, 20, 40]
    assert a["num_params"] == 3310 and a["final"]["step"] == 40
    assert 0 <= a["shift_consistency"] <= 100 and a["flops_per_example"] > 0
    assert 0 <= a["shift_consistency_crop"] <= 100 and 0 <= a["shifted_test_acc_crop"] <= 100
    assert list((tmp_path / "a" / "tensorboard").glob("events.out.tfevents.*"))
    saved = json.loads((tmp_path / "a" / "config.json").read_text())
    assert saved["model"]["downsample"] == "strided_conv"
    c = train_and_evaluate(tiny_config, tmp_path / "a")  # finished: returned, not retrained
    assert c == a


def test_without_shift_both_shift_tests_see_the_test_set(tiny_config, tmp_path: Path) -> None:
    """With shift.max_shift = 0 the canvas has no margin and both shift tests feed the unshifted test set:
    consistency 100 % and accuracy under shift equal to the final test accuracy."""
    tiny_config.shift.max_shift = 0
    result = train_and_evaluate(tiny_config, tmp_path / "run")
    assert result["shift_consistency"] == result["shift_consistency_crop"] == 100.0
    assert result["shifted_test_acc_crop"] == pytest.approx(result["final"]["test_acc"], abs=1e-9)
    assert result["shifted_test_acc"] == pytest.approx(result["final"]["test_acc"], abs=1e-9)


def test_resume_after_a_crash_matches_an_uninterrupted_run(tiny_config, tmp_path: Path) -> None:
    tiny_config.model.downsample = "none"
    tiny_config.num_steps = 60
    full = train_and_evaluate(tiny_config, tmp_path / "full")
    fns = _steps.compiled_functions(STUDY, tiny_config, 10, (40, 1), jax.devices())
    real_chunk, calls = fns.train_chunk, []

    def crash_on_third_chunk(*args):  # noqa: ANN002, ANN202
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt("killed")
        return real_chunk(*args)

    fns.train_chunk = crash_on_third_chunk
    try:
        with pytest.raises(KeyboardInterrupt, match="killed"):
            train_and_evaluate(tiny_config, tmp_path / "resumed")
    finally:
        fns.train_chunk = real_chunk
    log = tmp_path / "resumed" / "metrics.jsonl"
    with open(log, "a") as f:
        f.write('{"step": 60, "test_ac')  # a line cut by the kill
    resumed = train_and_evaluate(tiny_config, tmp_path / "resumed")
    assert _without_timing(resumed) == _without_timing(full)
    assert log.read_text() == (tmp_path / "full" / "metrics.jsonl").read_text()


def test_divergence_names_the_step(tiny_config, tmp_path: Path) -> None:
    tiny_config.model.downsample = "strided_conv"
    tiny_config.optimizer.name = "sgd"
    tiny_config.optimizer.learning_rate = 1e30
    with pytest.raises(FloatingPointError, match=r"non-finite training loss .* at step \d+"):
        train_and_evaluate(tiny_config, tmp_path / "run")


def test_a_workdir_holding_another_config_is_refused(tiny_config, tmp_path: Path) -> None:
    tiny_config.model.downsample = "strided_conv"
    tiny_config.num_steps = 20
    train_and_evaluate(tiny_config, tmp_path)
    tiny_config.seed = 1
    with pytest.raises(ValueError, match="different config"):
        train_and_evaluate(tiny_config, tmp_path)


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("model.downsample", "maxpool", r"model.downsample='maxpool'.*one of \['max_pool'"),
        ("model.num_stages", 6, r"model.num_stages=6 is too many.*at most 5 stages"),
        ("data.name", "cifar", "data.name='cifar'"),
        ("checkpoint_every", 30, "checkpoint_every=30 is not a multiple of config.eval_every=20.*"
         "e.g. checkpoint_every=40 with eval_every=20"),
        ("eval_every", 15, "checkpoint_every=20 is not a multiple of config.eval_every=15.*"
         "e.g. checkpoint_every=30 with eval_every=15"),
        ("data.train_size", 501, r"data.train_size=501 \+ data.test_size=100 exceeds data.pool_size=600.*"
         "allowed: train_size <= 500"),
        ("shift.max_shift", 40, "shift.max_shift=40.*less than the input's size 40"),
        ("optimizer.name", "lamb", "optimizer.name='lamb'"),
        ("model.kernel_size", 4, "model.kernel_size=4.*odd"),
        ("data.train_draw", "shuffle", r"data.train_draw='shuffle'.*\['seed', 'first'\]"),
    ],
)
def test_invalid_configs_fail_before_compute(tiny_config, field: str, value, message: str) -> None:  # noqa: ANN001
    tiny_config.update_from_flattened_dict({field: value})
    with pytest.raises(ValueError, match=message):
        validate_config(tiny_config)


def test_batch_must_divide_over_devices(tiny_config) -> None:  # noqa: ANN001
    tiny_config.batch_size = 50
    with pytest.raises(ValueError, match="batch_size=50 does not divide over the 4 devices"):
        validate_config(tiny_config, num_devices=4)


def test_sweep_runs_skips_records_failures_and_summarises(tiny_config, tmp_path: Path) -> None:
    tiny_config.sweep.downsample = ("strided_conv", "none")
    tiny_config.sweep.seed = (0, 1)
    tiny_config.sweep.train_size = (100,)
    runs = ablate.grid(STUDY, tiny_config)
    assert [r.name for r in runs] == [
        "strided_conv-n100-s0",
        "strided_conv-n100-s1",
        "none-n100-s0",
        "none-n100-s1",
    ]
    shards = [ablate.grid(STUDY, tiny_config)[i::3] for i in range(3)]
    assert sorted(r.name for s in shards for r in s) == sorted(r.name for r in runs)
    assert ablate.parse_shard("1/3") == (1, 3)
    with pytest.raises(ValueError, match="--shard"):
        ablate.parse_shard("3/3")
    # One grid point diverges: it is recorded as failed and the sweep goes on.
    bad = runs[3].config
    bad.optimizer.name, bad.optimizer.learning_rate = "sgd", 1e30
    original_grid = ablate.grid
    ablate.grid = lambda study, config: runs  # noqa: ARG005
    try:
        status = ablate.run_sweep(STUDY, tiny_config, tmp_path)
        again = ablate.run_sweep(STUDY, tiny_config, tmp_path)
    finally:
        ablate.grid = original_grid
    assert status == {
        "strided_conv-n100-s0": "done",
        "strided_conv-n100-s1": "done",
        "none-n100-s0": "done",
        "none-n100-s1": "failed",
    }
    assert set(again.values()) == {"skipped", "failed before"}
    assert (
        "non-finite"
        in json.loads((tmp_path / "runs" / "none-n100-s1" / "failed.json").read_text())["error"]
    )
    table = report.write_report(tmp_path)
    assert "| strided_conv | 3310 |" in table and "| none | 9310 |" in table
    assert "(1 ok, 1 failed)" in table
    # short runs are no reproduction of the paper's 6000-step figures: the Checks section says so first
    checks = (tmp_path / "summary.md").read_text().split("## Checks\n\n")[1]
    assert checks.startswith("- these runs trained for 40 steps, the reference for 6000: the differences below")
    for name in (
        "summary.csv",
        "summary.md",
        "accuracy_vs_train_size.png",
        "training_curves.png",
        "accuracy_vs_flops.png",
        "shift_consistency.png",
    ):
        assert (tmp_path / name).stat().st_size > 0
    assert "none-n100-s1: FloatingPointError" in (tmp_path / "summary.md").read_text()


def test_summary_statistics_are_mean_and_sample_std() -> None:
    ref = {"reference": {"train_sizes": [1000], "test_acc": {"max_pool": [78.2]}}}
    runs = [
        {
            "name": f"r{s}",
            "variant": "max_pool",
            "train_size": 1000,
            "seed": s,
            "status": "ok",
            "config": ref,
            "metrics": [],
            "error": None,
            "result": {
                "final": {"test_acc": acc, "train_acc": 100.0},
                "shift_consistency": 90.0 + s,
                "shifted_test_acc": 50.0,
                "num_params": 3310,
                "flops_per_example": 1e4,
                "timing": {"train_examples_per_s": 1e5},
            },
        }
        for s, acc in enumerate([70.0, 72.0, 74.0])
    ]
    (row,) = report.summarize(runs)
    assert row["test_acc_mean"] == 72.0 and row["test_acc_std"] == 2.0
    assert row["shift_consistency_mean"] == 91.0 and row["shift_consistency_std"] == 1.0
    assert row["paper_test_acc"] == 78.2 and row["diff_vs_paper"] == pytest.approx(-6.2)
    # 95 % t-interval: 72 -+ t_{0.975, 2} * 2 / sqrt(3) = 72 -+ 4.302653 * 1.154701 = 72 -+ 4.968275.
    assert row["test_acc_ci_low"] == pytest.approx(67.031725) and row["test_acc_ci_high"] == pytest.approx(76.968275)
    assert row["test_acc_per_seed"] == "s0=70.00 s1=72.00 s2=74.00"
    assert row["receptive_field"] is None and np.isnan(row["shift_consistency_crop_mean"])  # an older result.json
    assert (
        report.accuracy_table([row]).splitlines()[-1]
        == "| max_pool | 3310 | 10.0 | - | 72.0 [67.0, 77.0] {78.2} |"
    )
    assert np.isnan(report.reference_value(ref, "none", 1000))
