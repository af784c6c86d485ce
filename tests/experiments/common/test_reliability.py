"""Reliability of the experiment side: runs killed with SIGKILL and restarted end bit-identical to uninterrupted
runs, sweeps resume after a kill, every results file is written atomically, divergence keeps the last good
checkpoint, impossible configs fail before any compute, and sweep shards merge into one summary."""

from __future__ import annotations

import ast
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import jax
import ml_collections
import numpy as np
import orbax.checkpoint as ocp
import pytest
from tiny_flags import tiny_flags

from experiments.common import io as _io
from experiments.common import report
from experiments.common import steps as _steps
from experiments.common import sweep as ablate
from experiments.common import trainer as train_module
from experiments.downsampling import train as downsampling_train
from experiments.downsampling.train import STUDY, train_and_evaluate

ROOT = Path(__file__).resolve().parents[3]
CONFIG = "experiments/downsampling/configs/mnist1d_pooling.py"


def _flags(cache: Path, steps: int, sweep: bool = False) -> list[str]:
    """A tiny strided_conv run of ``steps`` steps, checkpointed every 20 (for ``--sweep``: without the fields
    the grid sets)."""
    flags = tiny_flags(cache, steps=steps, checkpoint_every=20, sweep=sweep)
    return [f"--config={CONFIG}", *flags, *([] if sweep else ["--config.model.downsample=strided_conv"])]


def _run_to_end(args: list[str]) -> None:
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]


def _run_and_kill(args: list[str], when: Callable[[], bool]) -> None:
    """Start ``args`` and SIGKILL it as soon as ``when()`` holds (polled every 2 ms)."""
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    killed, deadline = False, time.monotonic() + 300
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            if when():
                proc.send_signal(signal.SIGKILL)
                killed = True
                break
            time.sleep(0.002)
    finally:
        if proc.poll() is None and not killed:
            proc.kill()
        proc.wait()
    assert killed and proc.returncode == -signal.SIGKILL, f"the run ended (rc {proc.returncode}) before the kill"


def _steps_logged(path: Path) -> list[int]:
    """Steps in the run's metrics log; none while the log does not exist (a run restarted from scratch, before
    its first log line: polled in that window, the read raised FileNotFoundError once in CI)."""
    try:
        return [r["step"] for r in _io.read_jsonl(path)]
    except FileNotFoundError:
        return []


def _without_timing(path: Path) -> dict:
    return {k: v for k, v in json.loads(path.read_text()).items() if k != "timing"}


def test_sigkilled_run_restarted_with_the_same_command_is_bit_identical(tmp_path: Path, data_cache: Path) -> None:
    """Kill 1 lands while the first checkpoint is being written (no finished checkpoint: restart from scratch);
    kill 2 after the metrics log passed the checkpoint of step 100 (lines past the restored step are dropped).
    The uninterrupted reference runs the same config (read back from the run's config.json) in this process."""
    work = tmp_path / "killed"
    command = [sys.executable, "-m", "experiments.downsampling.main", *_flags(data_cache, 200), f"--workdir={work}"]
    checkpoints = work / "checkpoints"
    _run_and_kill(command, lambda: checkpoints.exists() and any(checkpoints.iterdir()))
    assert not (work / "result.json").exists()
    _run_and_kill(command, lambda: 110 in _steps_logged(work / "metrics.jsonl"))
    assert not (work / "result.json").exists()
    _run_to_end(command)

    full = tmp_path / "full"
    train_and_evaluate(ml_collections.ConfigDict(json.loads((work / "config.json").read_text())), full)
    assert (work / "metrics.jsonl").read_bytes() == (full / "metrics.jsonl").read_bytes()
    assert _steps_logged(work / "metrics.jsonl") == list(range(0, 201, 10))
    assert _without_timing(work / "result.json") == _without_timing(full / "result.json")


@pytest.mark.slow  # ~20 s; test_sweep_restarted_after_a_crash_... covers the same in-process in CI
def test_sweep_restarted_after_a_kill_skips_resumes_and_summarises(tmp_path: Path, data_cache: Path) -> None:
    grid = [
        "--config.sweep.downsample=('strided_conv',)",
        "--config.sweep.seed=(0, 1)",
        "--config.sweep.train_size=(200,)",
    ]
    command = [
        sys.executable,
        "-m",
        "experiments.downsampling.main",
        "--sweep",
        *_flags(data_cache, 100, sweep=True),
        *grid,
        f"--workdir={tmp_path}",
    ]
    second = tmp_path / "runs" / "strided_conv-n200-s1"
    _run_and_kill(command, lambda: 30 in _steps_logged(second / "metrics.jsonl"))
    assert (tmp_path / "runs" / "strided_conv-n200-s0" / "result.json").exists()
    assert not (second / "result.json").exists() and not (tmp_path / "summary.csv").exists()

    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "runs: {'done': 1, 'skipped': 1}" in proc.stdout
    assert _steps_logged(second / "metrics.jsonl") == list(range(0, 101, 10))
    summary = (tmp_path / "summary.csv").read_text().splitlines()
    assert len(summary) == 2 and summary[1].startswith("strided_conv,200,2,0,0,")  # seeds ok, failed, incomplete


def test_sweep_restarted_after_a_crash_skips_resumes_and_summarises(tiny_config, tmp_path: Path) -> None:  # noqa: ANN001
    """The sweep dies (an exception no grid point catches, as a kill) inside its second run after that run's
    first checkpoint; the same sweep again skips the finished run, resumes the partial one from step 20 and ends
    with the metrics of an uninterrupted run; the summary holds both."""
    tiny_config.model.downsample = "strided_conv"
    tiny_config.sweep.downsample = ("strided_conv",)
    tiny_config.sweep.seed = (0, 1)
    tiny_config.sweep.train_size = (200,)
    fns = _steps.compiled_functions(STUDY, tiny_config, 10, (40, 1), jax.devices())
    real, calls = fns.train_chunk, []

    def dies_in_the_second_run(*args):  # noqa: ANN002, ANN202
        calls.append(1)
        if len(calls) == 4:  # run 1 takes chunks 1-2, run 2 chunk 3 (checkpoint at step 20) then dies
            raise KeyboardInterrupt("killed")
        return real(*args)

    fns.train_chunk = dies_in_the_second_run
    try:
        with pytest.raises(KeyboardInterrupt, match="killed"):
            ablate.run_sweep(STUDY, tiny_config, tmp_path / "sweep")
    finally:
        fns.train_chunk = real
    runs = tmp_path / "sweep" / "runs"
    assert (runs / "strided_conv-n200-s0" / "result.json").exists()
    assert not (runs / "strided_conv-n200-s1" / "result.json").exists()
    assert ablate.run_sweep(STUDY, tiny_config, tmp_path / "sweep") == {
        "strided_conv-n200-s0": "skipped",
        "strided_conv-n200-s1": "done",
    }
    tiny_config.seed = 1
    train_and_evaluate(tiny_config, tmp_path / "uninterrupted")
    resumed = runs / "strided_conv-n200-s1"
    assert (resumed / "metrics.jsonl").read_bytes() == (tmp_path / "uninterrupted" / "metrics.jsonl").read_bytes()
    report.write_report(tmp_path / "sweep")
    (row,) = report.summarize(report.load_runs(tmp_path / "sweep"))
    assert (row["seeds_ok"], row["seeds_failed"], row["seeds_incomplete"]) == (2, 0, 0)


def test_a_process_killed_inside_an_atomic_write_leaves_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "summary.csv"
    target.write_text("old,complete\n")
    script = (
        "import os, signal, sys\n"
        "from experiments.common import io as _io\n"
        "with _io.atomic_path(sys.argv[1]) as tmp:\n"
        "    tmp.write_text('new,half')\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script, str(target)], cwd=ROOT, timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert target.read_text() == "old,complete\n"
    leftovers = [p.name for p in tmp_path.iterdir() if p != target]
    assert len(leftovers) == 1 and leftovers[0].startswith(".summary.csv.") and leftovers[0].endswith(".tmp.csv")


_WRITE_METHODS = {"savefig", "savez", "savez_compressed", "write_text", "write_bytes", "dump", "to_csv", "tofile"}


def _non_atomic_writes(source: str) -> list[str]:
    """Calls in ``source`` that write a file directly: ``open`` in a writing mode, a known writer method or
    ``np.save``, unless they sit in an argument of ``atomic_save`` (which hands them a temporary path)."""
    tree = ast.parse(source)
    inside_atomic: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "atomic_save":
            for arg in node.args:
                inside_atomic.update(id(n) for n in ast.walk(arg))
    bad = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or id(node) in inside_atomic:
            continue
        func = node.func
        name = getattr(func, "attr", getattr(func, "id", ""))
        mode = None
        if name == "open":
            mode = node.args[1] if len(node.args) > 1 else None
            mode = next((k.value for k in node.keywords if k.arg == "mode"), mode)
        writing_open = isinstance(mode, ast.Constant) and any(c in str(mode.value) for c in "wax+")
        np_save = (
            name == "save" and isinstance(func, ast.Attribute) and getattr(func.value, "id", "") in ("np", "numpy")
        )
        if writing_open or np_save or name in _WRITE_METHODS:
            bad.append(f"line {node.lineno}: {ast.unparse(node)[:80]}")
    return bad


def test_every_results_writer_in_experiments_is_atomic() -> None:
    """Only experiments/common/io.py touches result files directly (its atomic helpers and the append-only metrics
    log); everything else writes through it. Orbax checkpoints and TensorBoard event files are written by those
    libraries (Orbax renames a finished temporary folder; event files are append-only logs)."""
    snippet = (
        "open(p, 'w')\nopen(p, mode='ab')\nfig.savefig(p)\nnp.save(p, x)\nPath(p).write_text(t)\n"
        "_io.atomic_save(p, lambda tmp: fig.savefig(tmp))\nopen(p)\nopen(p, 'rb')\nmanager.save(1)\n"
    )
    assert [line.split(":")[0] for line in _non_atomic_writes(snippet)] == [f"line {i}" for i in range(1, 6)]
    files = sorted(p for p in (ROOT / "experiments").rglob("*.py") if p != ROOT / "experiments" / "common" / "io.py")
    assert len(files) > 10
    bad = {str(p.relative_to(ROOT)): _non_atomic_writes(p.read_text(encoding="utf-8")) for p in files}
    assert {name: lines for name, lines in bad.items() if lines} == {}


def _poisoned(real: Callable, at_call: int, in_losses: bool) -> Callable:
    """``train_chunk`` whose ``at_call``-th call diverges: NaN parameters, and NaN losses from index 3 on if
    ``in_losses`` (else the losses stay finite and only the final update is non-finite)."""
    calls = []

    def chunk(*args):  # noqa: ANN002, ANN202
        calls.append(1)
        state, losses = real(*args)
        if len(calls) != at_call:
            return state, losses
        state = {**state, "params": jax.tree_util.tree_map(lambda p: p * np.float32(np.nan), state["params"])}
        if in_losses:
            losses = losses.at[3:].set(np.float32(np.nan))
        return state, losses

    return chunk


@pytest.mark.parametrize(
    "in_losses,message",
    [
        (True, r"non-finite training loss nan at step 23 .*last good checkpoint: step 20"),
        (False, r"non-finite evaluation loss .* after step 30 .*last good checkpoint: step 20"),
    ],
)
def test_divergence_stops_naming_the_step_and_keeps_the_last_good_checkpoint(
    tiny_config, tmp_path: Path, in_losses: bool, message: str
) -> None:  # noqa: ANN001
    tiny_config.model.downsample = "strided_conv"
    tiny_config.num_steps, tiny_config.eval_every, tiny_config.checkpoint_every = 60, 10, 20
    fns = _steps.compiled_functions(STUDY, tiny_config, 10, (40, 1), jax.devices())
    real = fns.train_chunk
    fns.train_chunk = _poisoned(real, 3, in_losses)  # steps 20..29
    try:
        with pytest.raises(FloatingPointError, match=message):
            train_and_evaluate(tiny_config, tmp_path)
    finally:
        fns.train_chunk = real
    assert _steps_logged(tmp_path / "metrics.jsonl") == [0, 10, 20]
    assert not (tmp_path / "result.json").exists()
    manager = ocp.CheckpointManager(tmp_path / "checkpoints")
    assert manager.all_steps() == [20]
    restored = manager.restore(20, args=ocp.args.StandardRestore())
    leaves = jax.tree_util.tree_leaves(restored["params"])
    assert leaves and all(np.all(np.isfinite(np.asarray(leaf))) for leaf in leaves)


@pytest.mark.parametrize(
    "edit,message",
    [
        ({"model.downsample": "maxpool"}, r"config\.model\.downsample='maxpool' is invalid; allowed: one of \["),
        (
            {"model.num_stages": 6},
            r"num_stages=6 is too many.*\(1,\) before stage 6.*effective window 2.*at most 5 stages",
        ),
        (
            {"model.downsample": "blur_pool", "model.blur_filter_size": 5, "model.num_stages": 5},
            r"num_stages=5 is too many.*\(2,\) before stage 5.*reflect.*wider than the input allows.*at most 4",
        ),
        ({"model.name": "cnn2d"}, r"config\.model\.name='cnn2d' is invalid; allowed: cnn1d for 1-D data"),
        ({"distributed.process_id": 2, "distributed.num_processes": 2}, r"process_id=2 is invalid; allowed: 0 \.\. 1"),
        ({"distributed.coordinator_address": "localhost"}, r"coordinator_address='localhost' is invalid; allowed: 'h"),
        ({"distributed.num_processes": -2}, r"num_processes=-2 is invalid; allowed: a positive integer, or 0 to"),
        ({"seed": -1}, r"config\.seed=-1 is invalid; allowed: an integer >= 0"),
        ({"shift.seed": -3}, r"config\.shift\.seed=-3 is invalid; allowed: an integer >= 0"),
    ],
)
def test_impossible_configs_fail_before_any_compute(
    tiny_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, edit: dict, message: str
) -> None:  # noqa: ANN001
    def no_compute(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("compute started before the config was validated")

    monkeypatch.setattr(downsampling_train, "STUDY", dataclasses.replace(STUDY, load_data=no_compute,
                                                                        build_steps=no_compute))
    monkeypatch.setattr(train_module, "compiled_functions", no_compute)
    monkeypatch.setattr(jax.distributed, "initialize", no_compute)
    tiny_config.update_from_flattened_dict(edit)
    with pytest.raises(ValueError, match=message):
        train_and_evaluate(tiny_config, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_shards_run_on_different_machines_merge_into_one_summary(tiny_config, tmp_path: Path) -> None:
    tiny_config.num_steps = 20
    tiny_config.sweep.downsample = ("strided_conv",)
    tiny_config.sweep.seed = (0, 1)
    tiny_config.sweep.train_size = (200,)
    for i in range(2):  # machine i runs shard i/2 into its own folder
        assert ablate.run_sweep(STUDY, tiny_config, tmp_path / f"machine{i}", shard=(i, 2)) == {
            f"strided_conv-n200-s{i}": "done"
        }
    merged = tmp_path / "merged"
    for i in range(2):
        shutil.copytree(tmp_path / f"machine{i}" / "runs", merged / "runs", dirs_exist_ok=True)
    table = report.write_report(merged)
    (row,) = report.summarize(report.load_runs(merged))
    accs = [
        json.loads((merged / "runs" / f"strided_conv-n200-s{s}" / "result.json").read_text())["final"]["test_acc"]
        for s in (0, 1)
    ]
    assert row["seeds_ok"] == 2 and row["test_acc_mean"] == pytest.approx(np.mean(accs))
    assert row["test_acc_std"] == pytest.approx(np.std(accs, ddof=1))
    assert "| strided_conv | 3310 |" in table
    assert (merged / "summary.csv").read_text().count("\n") == 2
    assert os.path.getsize(merged / "summary.md") > 0


def test_a_damaged_result_file_is_named_not_reported(tmp_path: Path) -> None:
    """A result.json cut short outside the package's atomic writes: the report stops naming the file (no number
    from it); read_json round-trips what atomic_write_json wrote."""
    run = tmp_path / "runs" / "max_pool-n1000-s0"
    run.mkdir(parents=True)
    _io.atomic_write_json(run / "config.json", {"model": {"downsample": "max_pool"}, "data": {"train_size": 1000},
                                                "seed": 0})
    _io.atomic_write_json(run / "result.json", {"final": {"test_acc": 71.5}})
    assert _io.read_json(run / "result.json") == {"final": {"test_acc": 71.5}}
    (run / "result.json").write_text('{"final": {"test_a', encoding="utf-8")
    with pytest.raises(ValueError, match=rf"{run / 'result.json'} is not valid JSON .*damaged"):
        report.load_runs(tmp_path)


def test_runs_of_different_configs_are_not_summarized_together(tmp_path: Path) -> None:
    def put(name: str, downsample: str, seed: int, num_steps: int, cache: str) -> None:
        run = tmp_path / "runs" / name
        run.mkdir(parents=True)
        _io.atomic_write_json(run / "config.json", {"model": {"downsample": downsample}, "seed": seed,
                                                    "data": {"train_size": 1000, "cache_dir": cache},
                                                    "num_steps": num_steps})
        _io.atomic_write_json(run / "result.json", {"final": {"test_acc": 70.0}})

    # grid fields and non-result fields (the data cache's path) may differ
    put("max_pool-n1000-s0", "max_pool", 0, 1000, "/a")
    put("avg_pool-n1000-s1", "avg_pool", 1, 1000, "/b")
    assert [r["name"] for r in report.load_runs(tmp_path)] == ["avg_pool-n1000-s1", "max_pool-n1000-s0"]
    put("max_pool-n1000-s1", "max_pool", 1, 2000, "/a")  # copied in from a sweep of longer runs
    with pytest.raises(ValueError, match=r"runs avg_pool-n1000-s1 and max_pool-n1000-s1 were trained with "
                                         r"different configs \(config\.num_steps: 1000 -> 2000\)"):
        report.load_runs(tmp_path)
    # every differing field is named, not only the first
    config = _io.read_json(tmp_path / "runs" / "max_pool-n1000-s1" / "config.json")
    _io.atomic_write_json(tmp_path / "runs" / "max_pool-n1000-s1" / "config.json", {**config, "eval_every": 50})
    with pytest.raises(ValueError, match=r"different configs \(config\.eval_every: '<absent>' -> 50, "
                                         r"config\.num_steps: 1000 -> 2000\); a summary"):
        report.load_runs(tmp_path)
