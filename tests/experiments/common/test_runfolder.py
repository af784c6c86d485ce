"""A run folder's identity and ownership, with real processes and real files: a changed config is refused
before compute naming the differing fields, grid fields overridden on a sweep's command line are refused,
``--overwrite`` is the way on, a finished folder is not rewritten, and one folder has one writer at a time."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import ml_collections
import pytest
from tiny_flags import tiny_flags

from experiments.common import io as _io
from experiments.common import runfolder
from experiments.downsampling.configs import mnist1d_pooling

ROOT = Path(__file__).resolve().parents[3]
CONFIG = "experiments/downsampling/configs/mnist1d_pooling.py"
GRID = ["--config.sweep.downsample=('strided_conv',)", "--config.sweep.seed=(0,)", "--config.sweep.train_size=(200,)"]


def _sweep(work: Path, cache: Path, *extra: str, seeds: str = "(0,)") -> list[str]:
    grid = [*GRID[:1], f"--config.sweep.seed={seeds}", *GRID[2:]]
    return [sys.executable, "-m", "experiments.downsampling.main", "--sweep", f"--config={CONFIG}", f"--workdir={work}",
            *grid, *tiny_flags(cache, sweep=True), *extra]  # fmt: skip


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_fingerprint_ignores_display_fields_and_diff_names_the_fields() -> None:
    a, b = mnist1d_pooling.get_config(), mnist1d_pooling.get_config()
    b.progress_bar = not a.progress_bar
    b.data.cache_dir = "/elsewhere"
    assert runfolder.fingerprint(a) == runfolder.fingerprint(b)
    b.num_steps, b.optimizer.learning_rate = 7, 0.5
    assert runfolder.fingerprint(a) != runfolder.fingerprint(b)
    diff = runfolder.differing_fields({"num_steps": 6000, "optimizer": {"learning_rate": 0.01}},
                                      {"num_steps": 7, "optimizer": {"learning_rate": 0.5}})  # fmt: skip
    assert diff == ["num_steps: 6000 -> 7", "optimizer.learning_rate: 0.01 -> 0.5"]


@pytest.mark.slow
def test_a_changed_config_is_refused_naming_the_fields_and_overwrite_is_the_way_on(
    tmp_path: Path, data_cache: Path
) -> None:
    proc = _run(_sweep(tmp_path, data_cache))
    assert proc.returncode == 0, proc.stderr[-3000:]
    folder = tmp_path / "runs" / "strided_conv-n200-s0"
    recorded = {p.name: p.stat().st_mtime_ns for p in folder.iterdir() if p.is_file()}
    assert (folder / "config.sha256").read_text().strip() == runfolder.fingerprint(
        ml_collections.ConfigDict(json.loads((folder / "config.json").read_text()))
    )

    # The same command again, and the report alone: the finished run is reused, and nothing in the workdir is
    # rewritten (summary, plots and config.json keep their inode and mtime; only the sweep's lock file is new).
    def snapshot() -> dict[str, tuple[int, int]]:
        return {str(p.relative_to(tmp_path)): (p.stat().st_ino, p.stat().st_mtime_ns)
                for p in tmp_path.rglob("*") if p.is_file() and not p.name.endswith(".lock")}  # fmt: skip

    before = snapshot()
    assert "summary.csv" in before and "accuracy_vs_train_size.png" in before
    proc = _run(_sweep(tmp_path, data_cache))
    assert proc.returncode == 0 and "'skipped': 1" in proc.stdout, proc.stderr[-3000:]
    assert "Shift consistency (%)" in proc.stdout  # the terminal summary has shift consistency too
    report = _run([sys.executable, "-m", "experiments.common.report", f"--workdir={tmp_path}"])
    assert report.returncode == 0, report.stderr[-3000:]
    assert snapshot() == before

    # A changed config: refused before compute, naming the field (old -> new) and the folder.
    proc = _run(_sweep(tmp_path, data_cache, "--config.num_steps=30", "--config.optimizer.learning_rate=0.02"))
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: run folder") and str(folder) in last, proc.stderr[-3000:]
    assert "config.num_steps: 20 -> 30" in last and "config.optimizer.learning_rate: 0.01 -> 0.02" in last
    assert "--overwrite" in last and "Traceback" not in proc.stderr
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir() if p.is_file()} == recorded

    # One run into that folder with another config: refused the same way.
    single = [sys.executable, "-m", "experiments.downsampling.main", f"--config={CONFIG}", f"--workdir={folder}",
              *tiny_flags(data_cache, steps=30), "--config.model.downsample=strided_conv"]  # fmt: skip
    proc = _run(single)
    assert proc.returncode == 1 and "config.num_steps: 20 -> 30" in proc.stderr, proc.stderr[-3000:]

    # --overwrite: the folder is cleared and the new config runs.
    proc = _run(_sweep(tmp_path, data_cache, "--config.num_steps=30", "--overwrite"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "'done': 1" in proc.stdout
    assert [r["step"] for r in _io.read_jsonl(folder / "metrics.jsonl")] == [0, 10, 20, 30]


@pytest.mark.parametrize(
    "override,field,entry",
    [
        ("--config.model.downsample=maxpool", "config.model.downsample", "config.sweep.downsample"),
        ("--config.seed=4", "config.seed", "config.sweep.seed"),
        ("--config.data.train_size=300", "config.data.train_size", "config.sweep.train_size"),
    ],
)
def test_a_sweep_refuses_overrides_the_grid_replaces(override: str, field: str, entry: str, tmp_path: Path) -> None:
    proc = _run([sys.executable, "-m", "experiments.downsampling.main", "--sweep", f"--config={CONFIG}",
                 f"--workdir={tmp_path}", override])  # fmt: skip
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert field in last and entry in last, proc.stderr[-3000:]
    assert not (tmp_path / "runs").exists()  # refused before any run started


def _wait_for(cond, proc: subprocess.Popen, what: str) -> None:  # noqa: ANN001
    deadline = time.monotonic() + 300
    while not cond():
        assert proc.poll() is None, f"the first process ended (rc {proc.returncode}) before {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.mark.slow
def test_a_second_sweep_on_a_busy_workdir_refuses_naming_the_holder(tmp_path: Path, data_cache: Path) -> None:
    """Two real processes on one workdir: the second refuses at once naming the first's pid (a whole sweep, and
    one run into a run folder the first is writing); the first finishes with every step logged once."""
    first = subprocess.Popen(_sweep(tmp_path, data_cache, "--config.num_steps=200", seeds="(0, 1)"), cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    folder = tmp_path / "runs" / "strided_conv-n200-s0"
    try:
        _wait_for(lambda: (folder / "metrics.jsonl").exists(), first, "its first metrics line")
        second = _run(_sweep(tmp_path, data_cache, "--config.num_steps=200", seeds="(0, 1)"))
        assert second.returncode == 1
        last = second.stderr.strip().splitlines()[-1]
        assert f"pid {first.pid}" in last and "in use by another process" in last, second.stderr[-3000:]
        single = [sys.executable, "-m", "experiments.downsampling.main", f"--config={CONFIG}", f"--workdir={folder}",
                  *tiny_flags(data_cache, steps=200), "--config.model.downsample=strided_conv"]  # fmt: skip
        if first.poll() is None and not (folder / "result.json").exists():
            proc = _run(single)
            assert proc.returncode == 1
            assert f"pid {first.pid}" in proc.stderr or (folder / "result.json").exists(), proc.stderr[-3000:]
        out, err = first.communicate(timeout=600)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 0, err[-3000:]
    assert "'done': 2" in out
    for run in (tmp_path / "runs").iterdir():
        assert [r["step"] for r in _io.read_jsonl(run / "metrics.jsonl")] == list(range(0, 201, 10))
