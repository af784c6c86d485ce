"""The pooling benchmark script runs end to end on tiny shapes and writes well-formed results.

Timings are never asserted against each other (no timed assertions); the tests check that every
competitor produced a real, positive median, that ours and the baseline compute the same values,
that the JSON file holds what ``main`` returned, and the bookkeeping (interleaving, slow list).
"""

from __future__ import annotations

import json
import math

import jax
import jax.numpy as jnp
import pytest

from experiments.benchmarks import _report, _timing, pooling

JAX_COMPETITORS = ("ours_fwd", "base_fwd", "floor", "ours_grad", "base_grad")


def _torch_installed() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def test_run_case_tiny_max_nchw_has_positive_times_and_matching_values():
    (case,) = pooling.build_cases(("max",), (2,), ("k3s2_same",), ("float32",), ("NCHW",),
                                  shapes={2: (2, 9, 8, 3)})
    rec = pooling.run_case(case, repeats=2, warmup=1, min_sample_s=0.0)
    assert rec["shape"] == [2, 3, 9, 8]
    assert rec["baseline"] == "lax.reduce_window(max)"
    expected = JAX_COMPETITORS + (("torch_fwd", "torch_grad") if _torch_installed() else ())
    assert set(rec["times_ms"]) == set(expected)
    for name in expected:
        t = rec["times_ms"][name]
        assert math.isfinite(t) and t > 0, (name, t)
        assert rec["timing"][name]["samples"] == 2
    for v in rec["ratios"].values():
        assert math.isfinite(v) and v > 0
    # Max pooling picks input elements: ours and lax.reduce_window agree exactly.
    assert rec["fwd_max_abs_diff"] == 0.0
    if _torch_installed():
        assert rec["torch"]["padding"] == [1, 1]  # SAME (0, 1) on 8 and (1, 1) on 9, symmetric 1
        assert rec["torch"]["function"] == "torch.nn.functional.max_pool2d"
    grad_mem = rec["memory_bytes"]["ours_grad"]
    if grad_mem is not None:  # argument x (2*3*9*8 f32) + cotangent g (2*3*5*4 f32) = 2208 bytes
        assert grad_mem["argument"] == 4 * (2 * 3 * 9 * 8 + 2 * 3 * 5 * 4)
        assert grad_mem["output"] == 4 * 2 * 3 * 9 * 8


def test_torch_is_timed_in_its_own_block_after_the_jax_competitors(monkeypatch):
    # torch's OpenMP workers spin after each call; interleaved, they slowed the JAX program timed next
    import torch  # noqa: F401  (the test extra installs it)

    blocks: list[tuple[str, ...]] = []
    real = _timing.measure

    def spy(fns, **kwargs):  # noqa: ANN001, ANN003, ANN202
        blocks.append(tuple(fns))
        return real(fns, **kwargs)

    monkeypatch.setattr(pooling._timing, "measure", spy)
    (case,) = pooling.build_cases(("max",), (1,), ("k2s2_valid",), ("float32",), ("NHWC",),
                                  shapes={1: (2, 8, 3)})
    rec = pooling.run_case(case, repeats=1, warmup=1, min_sample_s=0.0)
    assert blocks == [JAX_COMPETITORS, ("torch_fwd", "torch_grad")]
    assert tuple(rec["times_ms"]) == pooling.COMPETITORS
    assert all(math.isfinite(t) and t > 0 for t in rec["times_ms"].values())


def test_main_writes_json_with_real_timings(tmp_path):
    path = tmp_path / "bench.json"
    result = pooling.main(["--ops", "avg", "--dims", "1", "--configs", "k2s2_valid",
                           "--dtypes", "bfloat16", "--layouts", "NHWC", "--batch", "1",
                           "--repeats", "2", "--warmup", "1", "--min-sample-ms", "0",
                           "--json", str(path)])
    data = json.loads(path.read_text())
    assert data["meta"]["repeats"] == 2
    assert data["meta"]["backend"] == result["meta"]["backend"]
    assert len(data["cases"]) == 1
    rec = data["cases"][0]
    assert (rec["op"], rec["dims"], rec["label"], rec["dtype"], rec["layout"]) == (
        "avg", 1, "2/2 VALID", "bfloat16", "NHWC")
    assert rec["shape"] == [1, 1024, 64]
    assert rec["baseline"] == "flax.linen.avg_pool"
    for name in JAX_COMPETITORS:
        assert rec["times_ms"][name] > 0 and rec["cpu_ms"][name] >= 0
    assert rec["times_ms"] == result["cases"][0]["times_ms"]
    assert data["headline"] == []  # not a headline case
    slow_keys = {(s["pass"], s["ratio"]) for s in data["slower"]}
    expected = {(k, rec["ratios"][f"{k}_speedup"]) for k in ("fwd", "grad")
                if rec["ratios"][f"{k}_speedup"] < 0.9}
    assert slow_keys == expected


def test_build_cases_rejects_unknown_values_naming_the_option():
    with pytest.raises(ValueError, match="dtypes"):
        pooling.build_cases(dtypes=("float16",))
    with pytest.raises(ValueError, match=r"shapes\[2\]"):
        pooling.build_cases(dims=(2,), shapes={2: (4, 4, 4)})
    assert len(pooling.build_cases()) == 3 * 3 * 3 * 2 * 2


def test_measure_interleaves_in_shuffled_order():
    calls: list[str] = []
    fns = {name: (lambda n=name: calls.append(n)) for name in ("a", "b", "c")}
    res = _timing.measure(fns, repeats=6, warmup=1, min_sample_s=0.0, settle_s=0.0, seed=3)
    assert calls[:3] == ["a", "b", "c"]  # warm-up
    reps = [calls[3 + 3 * i: 6 + 3 * i] for i in range(6)]
    assert all(sorted(r) == ["a", "b", "c"] for r in reps)  # every repetition times each once
    assert len({tuple(r) for r in reps}) > 1  # and the order changes between repetitions
    assert {r[0] for r in reps} != {"a"}  # so no competitor always goes first
    again: list[str] = []
    _timing.measure({n: (lambda n=n: again.append(n)) for n in ("a", "b", "c")}, repeats=6, warmup=1,
                    min_sample_s=0.0, settle_s=0.0, seed=3)
    assert again == calls  # the shuffle is seeded
    assert all(t.samples == 6 and t.calls_per_sample == 1 for t in res.values())
    assert all(0 <= t.wall_min_ms <= t.wall_ms for t in res.values())


def test_slower_cases_and_headline_use_the_stated_ratios():
    rec = {"op": "max", "dims": 2, "config": "k3s2_same", "label": "3x3/2 SAME",
           "dtype": "float32", "layout": "NHWC", "shape": [64, 32, 32, 64],
           "baseline": "flax.linen.max_pool",
           "times_ms": {"ours_fwd": 4.0, "base_fwd": 3.0, "ours_grad": 5.0, "base_grad": 60.0,
                        "floor": 2.0},
           "cpu_ms": {"ours_grad": 6.0, "floor": 2.0},
           "ratios": {"fwd_speedup": 0.75, "grad_speedup": 12.0, "cpu_fwd_speedup": 0.8,
                      "cpu_grad_speedup": 11.0, "grad_floor": 2.5, "fwd_floor": 2.0}}
    (slow,) = _report.slower_cases([rec])
    assert (slow["pass"], slow["ours_ms"], slow["base_ms"], slow["ratio"]) == ("fwd", 4.0, 3.0,
                                                                              0.75)
    (h,) = _report.headline([rec])
    assert (h["speedup"], h["floor_ratio"], h["cpu_floor_ratio"]) == (12.0, 2.5, 3.0)
    assert h["speedup_ok"] and h["floor_ok"]


def test_rerun_slower_reads_back_the_slow_cases_with_channels_last_shapes(tmp_path):
    def rec(op, layout, shape, fwd, grad):
        return {"op": op, "dims": 2, "config": "k3s1_same", "label": "3x3/1 SAME",
                "dtype": "bfloat16", "layout": layout, "shape": shape, "baseline": "b",
                "times_ms": {"ours_fwd": 1.0, "base_fwd": fwd, "ours_grad": 1.0, "base_grad": grad},
                "ratios": {"fwd_speedup": fwd, "grad_speedup": grad, "cpu_fwd_speedup": fwd,
                           "cpu_grad_speedup": grad}}
    data = {"cases": [rec("max", "NCHW", [4, 3, 8, 9], 0.5, 0.8),  # slow twice: listed once
                      rec("sum", "NHWC", [4, 8, 9, 3], 1.0, 2.0)]}  # not slow
    path = tmp_path / "old.json"
    path.write_text(json.dumps(data))
    (case,) = pooling.slower_from_json(str(path))
    assert case == pooling.Case("max", 2, "k3s1_same", "bfloat16", "NCHW", (4, 8, 9, 3))
    assert case.input_shape == (4, 3, 8, 9)


def test_program_fingerprint_ignores_names_and_metadata_only():
    x = jnp.ones((4, 6), jnp.float32)
    a = jax.jit(lambda v: jnp.sum(v * 2.0, axis=1)).lower(x).compile()
    b = jax.jit(lambda w: jnp.sum(2.0 * w, axis=1)).lower(x).compile()  # same program, other source
    c = jax.jit(lambda v: jnp.max(v * 2.0, axis=1)).lower(x).compile()  # another program
    fa, fb, fc = (_timing.program_fingerprint(f) for f in (a, b, c))
    assert fa is not None and "metadata" not in fa
    assert fa == fb
    assert fa != fc


def test_environment_records_options_without_machine_paths(tmp_path) -> None:  # noqa: ANN001
    existing = tmp_path / "cases.txt"
    existing.write_text("")
    argv = ["--windows", "--json", "/some/dir/windows_cpu.json", "--cases", str(existing), "--repeats", "3"]
    env = _timing.environment(argv)
    assert env["argv"] == ["--windows", "--json", "windows_cpu.json", "--cases", "cases.txt", "--repeats", "3"]
    assert env["backend"] == jax.default_backend() and env["device_count"] == jax.device_count()
    assert set(pooling.environment()) == set(env) | {"torch", "torch_threads"}


def test_endpoint_growth_times_each_sweeps_two_ends_side_by_side():
    from experiments.benchmarks import windows

    records = [{"sweep": "1d_s1", "op": op, "dims": 1, "window": w, "stride": 1, "shape": [1, 64, 2]}
               for op in ("sum", "max") for w in (2, 4, 8)]
    out = windows.endpoint_growth(records, repeats=2, rounds=3)
    assert [(g["sweep"], g["op"], g["smallest"], g["largest"]) for g in out] == [
        ("1d_s1", "sum", 2, 8), ("1d_s1", "max", 2, 8)]
    for g in out:
        assert len(g["ours_ms"]) == 3 and all(lo > 0 and hi > 0 for lo, hi in g["ours_ms"])
        ratios = sorted(hi / lo for lo, hi in g["ours_ms"])
        assert g["growth"] == pytest.approx(ratios[1]) and g["growth_range"] == [ratios[0], ratios[-1]]
