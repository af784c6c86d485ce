"""The training-throughput benchmark runs end to end on tiny settings and writes well-formed results.

Timings are never compared with each other (no timed assertions); the tests check that both
poolings produced positive, finite throughputs, that the ratio is their quotient, that the two
programs train the same function (equal losses), that the JSON file holds what ``main`` returned,
and the option checks.
"""

from __future__ import annotations

import json
import math

import pytest

from experiments.benchmarks import train_step


def test_main_times_jaxpool_and_flax_per_variant_and_writes_json(tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "steps.json"
    lines: list[str] = []
    result = train_step.run_benchmark(
        [("mnist1d", "max_pool"), ("mnist1d", "none")],  # lp_pool's jaxpool == flax: test_models' ablation test
        json_path=str(path), echo=lines.append, batch=10, steps=2, repeats=2, warmup=1,
    )
    assert json.loads(path.read_text()) == json.loads(json.dumps(result))
    assert [r["variant"] for r in result["results"]] == ["max_pool", "none"]
    for rec in result["results"]:
        per_s = rec["examples_per_s"]
        assert set(per_s) == {"jaxpool", "flax"}
        assert all(math.isfinite(v) and v > 0 for v in per_s.values())
        assert rec["ratio"] == pytest.approx(per_s["jaxpool"] / per_s["flax"])
        assert rec["timing"]["jaxpool"]["samples"] == 2 and rec["batch"] == 10 and rec["steps"] == 2
        assert rec["losses_finite"] and rec["loss_diff"] < 1e-5  # the same model, two pooling codes
    assert rec["loss_diff"] == 0.0  # ``none`` has no pooling: the two programs are identical
    assert lines[-1].startswith("ratios jaxpool/flax: mnist1d/max_pool ")
    assert result["meta"]["backend"] and result["meta"]["settings"]["batch"] == 10


@pytest.mark.slow  # the bfloat16 train step itself is checked by tests/experiments/downsampling/test_models.py
def test_allcnn_variant_runs_with_bfloat16() -> None:
    rec = train_step.run_variant("allcnn", "max_pool", dtype="bfloat16", batch=2, steps=1, repeats=1)
    assert rec["dtype"] == "bfloat16" and rec["losses_finite"]
    assert all(math.isfinite(v) and v > 0 for v in rec["examples_per_s"].values())
    assert rec["loss_diff"] < 1e-2  # bfloat16 compute; same initial parameters and batch


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--variants", "maxpool"], "--variants"),
        (["--studies", "mnist1d", "--variants", "allconv"], "--variants"),
        (["--batch", "0"], "--batch"),
        (["--repeats", "0"], "--repeats"),
    ],
)
def test_bad_options_are_refused(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        train_step.parse_args(argv)
    assert message in capsys.readouterr().err


def test_study_config_validates() -> None:
    config = train_step.study_config("allcnn", "allconv", "flax", "bfloat16", 4)
    assert (config.model.pooling, config.model.dtype, config.batch_size) == ("flax", "bfloat16", 4)
    with pytest.raises(ValueError, match="study='cifar'"):
        train_step.study_config("cifar", "max_pool", "flax", "float32", None)
