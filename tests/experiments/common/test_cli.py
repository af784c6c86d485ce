"""The command lines, as the Flax examples: config-file flags with overrides, unknown keys and wrong
types rejected by the parser, invalid values rejected before compute, sweeps split into shards."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from fake_devices import xla_flags
from tiny_flags import tiny_flags

CONFIG = "experiments/downsampling/configs/mnist1d_pooling.py"
ROOT = Path(__file__).resolve().parents[3]


def _run(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, f"--config={CONFIG}", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize(
    "override,message",
    [
        ("--config.model.downsampel=max_pool", "downsampel"),  # unknown key
        pytest.param("--config.seed=abc", "seed", marks=pytest.mark.slow),  # wrong type
        ("--config.num_steps=1.5", "num_steps"),  # float for an int field
    ],
)
def test_parser_rejects_unknown_keys_and_wrong_types(override: str, message: str, tmp_path: Path) -> None:
    proc = _run("experiments.downsampling.main", f"--workdir={tmp_path}", override)
    assert proc.returncode != 0
    assert message in proc.stderr
    assert not (tmp_path / "config.json").exists()  # nothing ran


def test_invalid_value_fails_before_compute(tmp_path: Path) -> None:
    proc = _run("experiments.downsampling.main", f"--workdir={tmp_path}", "--config.model.downsample=maxpool")
    assert proc.returncode != 0
    assert "config.model.downsample='maxpool' is invalid; allowed: one of ['max_pool'" in proc.stderr
    assert not (tmp_path / "config.json").exists()


def test_train_cli_overrides_and_outputs(tmp_path: Path, data_cache: Path) -> None:
    work = tmp_path / "run"
    proc = _run(
        "experiments.downsampling.main",
        f"--workdir={work}",
        "--config.model.downsample=strided_conv",
        "--config.seed=3",
        *tiny_flags(data_cache),
    )
    assert proc.returncode == 0, proc.stderr
    assert "test_acc" in proc.stdout and "params 3310" in proc.stdout
    saved = json.loads((work / "config.json").read_text())
    assert saved["seed"] == 3 and saved["model"]["downsample"] == "strided_conv"
    assert json.loads((work / "result.json").read_text())["final"]["step"] == 20


@pytest.mark.slow
def test_ablate_shards_merge_into_one_summary(tmp_path: Path, data_cache: Path) -> None:
    grid = [
        "--config.sweep.downsample=('strided_conv',)",
        "--config.sweep.seed=(0, 1)",
        "--config.sweep.train_size=(200,)",
    ]
    for shard in ("0/2", "1/2"):
        proc = _run(
            "experiments.downsampling.main", "--sweep", f"--workdir={tmp_path}", f"--shard={shard}", *grid,
            *tiny_flags(data_cache, sweep=True),
        )
        assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == [
        "strided_conv-n200-s0",
        "strided_conv-n200-s1",
    ]
    assert "| strided_conv | 3310 |" in proc.stdout  # the last shard's summary holds both runs
    assert (tmp_path / "summary.csv").read_text().count("\n") == 2


@pytest.mark.slow
def test_two_fake_devices_train_like_one(tmp_path: Path, data_cache: Path) -> None:
    """The batch sharded over 2 CPU devices (XLA's host-platform device count) gives the per-eval
    losses of a 1-device run up to float reduction order."""
    import os

    records = []
    for devices in (1, 2):
        env = {**os.environ, "XLA_FLAGS": xla_flags(devices)}
        work = tmp_path / f"d{devices}"
        proc = subprocess.run(
            [sys.executable, "-m", "experiments.downsampling.main", f"--config={CONFIG}", f"--workdir={work}",
             "--config.model.downsample=max_pool", *tiny_flags(data_cache)],
            cwd=ROOT, capture_output=True, text=True, timeout=300, env=env,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        lines = (work / "metrics.jsonl").read_text().splitlines()
        records.append([json.loads(line) for line in lines])
    for one, two in zip(*records, strict=True):
        assert one["step"] == two["step"]
        for key in ("train_loss", "test_loss"):
            assert abs(one[key] - two[key]) <= 1e-5 * max(1.0, abs(one[key]))


@pytest.mark.parametrize(
    "override,message",
    [
        ("--config.optimizer.learning_rate=inf", "error: config.optimizer.learning_rate=inf is invalid"),
        # each case is a process of its own (about 3 s); these two with --runslow
        pytest.param("--config.optimizer.momentum=nan", "error: config.optimizer.momentum=nan is invalid",
                     marks=pytest.mark.slow),
        pytest.param("--config.model.lp_norm=inf", "error: config.model.lp_norm=inf is invalid",
                     marks=pytest.mark.slow),
        ("--config.optimizer.momentum=1.5", "error: config.optimizer.momentum=1.5 is invalid; allowed: a float in"),
        pytest.param("--config.learning_rate=inf", "did you mean config.optimizer.learning_rate?",
                     marks=pytest.mark.slow),
        ("--config.model.lp_nrom=3", "did you mean config.model.lp_norm?"),
    ],
)
def test_bad_numbers_and_unknown_fields_fail_naming_the_field_before_any_compile(
    override: str, message: str, tmp_path: Path
) -> None:
    """One line naming the config field; JAX's compile log (JAX_LOG_COMPILES) shows that nothing was compiled."""
    import os

    proc = subprocess.run(
        [sys.executable, "-m", "experiments.downsampling.main", f"--config={CONFIG}", f"--workdir={tmp_path}",
         override],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, "JAX_LOG_COMPILES": "1"},
    )  # fmt: skip
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and message in last, proc.stderr[-3000:]
    assert "Compiling" not in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "config.json").exists()


def test_disk_full_ends_with_one_line_naming_the_path(tmp_path: Path) -> None:
    """A real process whose atomic writer gets ENOSPC (mocked: os.replace raises it) ends with one line."""
    script = (
        "import errno, os, sys\n"
        "from experiments.common import cli, io\n"
        "from experiments.downsampling.train import STUDY\n"
        "def full(src, dst, *a, **k):\n"
        "    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dst))\n"
        "io.os.replace = full\n"
        "cli.run(STUDY)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, f"--config={CONFIG}", f"--workdir={tmp_path}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last == f"error: I/O error on {tmp_path / 'config.json'}: No space left on device", proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr


def test_sweep_with_a_failed_run_writes_its_summary_and_exits_1(tmp_path: Path, data_cache: Path) -> None:
    # sgd at learning rate 1e30 diverges at once: the run is recorded as failed, the summary is still written,
    # and the exit status tells a job array or script that the sweep did not produce every result.
    proc = _run(
        "experiments.downsampling.main", "--sweep", f"--workdir={tmp_path}",
        "--config.sweep.downsample=('strided_conv',)", "--config.sweep.seed=(0,)", "--config.sweep.train_size=(200,)",
        "--config.optimizer.name=sgd", "--config.optimizer.learning_rate=1e30", *tiny_flags(data_cache, sweep=True),
    )  # fmt: skip
    assert proc.returncode == 1
    assert "error: 1 of 1 runs failed (strided_conv-n200-s0); each folder holds failed.json" in proc.stderr
    assert "non-finite" in json.loads((tmp_path / "runs" / "strided_conv-n200-s0" / "failed.json").read_text())[
        "error"]
    assert "## Failed runs" in (tmp_path / "summary.md").read_text()


def test_report_of_a_folder_without_runs_exits_1(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "experiments.common.report", f"--workdir={tmp_path / 'typo'}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        f"error: no run folders under {tmp_path / 'typo' / 'runs'} (--workdir is a sweep folder: the one holding "
        "runs/<name>/)")
