"""Verified checkpoints, with real processes and real files: a run killed mid-way whose latest checkpoint has
one flipped byte falls back to the previous verified checkpoint, says so, and ends bit-identical to an
uninterrupted run; with every checkpoint damaged it stops with one line naming the checkpoint and
``--restart_run``, which then ends bit-identical too."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import ml_collections
import pytest
from tiny_flags import tiny_flags

from experiments.downsampling.train import train_and_evaluate

ROOT = Path(__file__).resolve().parents[3]
CONFIG = "experiments/downsampling/configs/mnist1d_pooling.py"


def _flip_a_byte(step_dir: Path) -> Path:
    """Flip one byte in the middle of the largest file of a checkpoint folder; return the file."""
    largest = max((p for p in step_dir.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    data = bytearray(largest.read_bytes())
    data[len(data) // 2] ^= 0x01
    largest.write_bytes(bytes(data))
    return largest


def _without_timing(path: Path) -> dict:
    return {k: v for k, v in json.loads(path.read_text()).items() if k != "timing"}


@pytest.mark.slow
def test_a_flipped_byte_falls_back_to_the_previous_checkpoint_or_stops(tmp_path: Path, data_cache: Path) -> None:
    work = tmp_path / "run"
    command = [sys.executable, "-m", "experiments.downsampling.main", f"--config={CONFIG}", f"--workdir={work}",
               *tiny_flags(data_cache, steps=200, checkpoint_every=20),
               "--config.model.downsample=strided_conv"]  # fmt: skip
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    manifests = work / "checkpoint_manifests"
    deadline = time.monotonic() + 300
    while not (manifests / "40.json").exists():  # two verified checkpoints (20 and 40)
        assert proc.poll() is None and time.monotonic() < deadline, "the run ended before its second checkpoint"
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    steps = sorted(int(p.stem) for p in manifests.glob("*.json"))
    assert len(steps) == 2 and not (work / "result.json").exists(), steps
    flipped = _flip_a_byte(work / "checkpoints" / str(steps[-1]))

    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"checkpoint {work / 'checkpoints' / str(steps[-1])} is damaged" in done.stderr
    assert flipped.relative_to(work / "checkpoints" / str(steps[-1])).as_posix() in done.stderr
    assert f"falling back to the verified checkpoint of step {steps[0]}" in done.stderr

    full = tmp_path / "full"
    train_and_evaluate(ml_collections.ConfigDict(json.loads((work / "config.json").read_text())), full)
    assert (work / "metrics.jsonl").read_bytes() == (full / "metrics.jsonl").read_bytes()
    assert _without_timing(work / "result.json") == _without_timing(full / "result.json")

    # Every kept checkpoint damaged: one line naming the checkpoint and the way out; never a different result.
    (work / "result.json").unlink()
    for step_dir in (work / "checkpoints").iterdir():
        if step_dir.name.isdigit():
            _flip_a_byte(step_dir)
    stopped = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert stopped.returncode == 1
    last = stopped.stderr.strip().splitlines()[-1]
    assert last.startswith("error: checkpoint ") and "is damaged" in last and "--restart_run" in last, last
    assert "Traceback" not in stopped.stderr and not (work / "result.json").exists()

    again = subprocess.run([*command, "--restart_run"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert (work / "metrics.jsonl").read_bytes() == (full / "metrics.jsonl").read_bytes()
    assert _without_timing(work / "result.json") == _without_timing(full / "result.json")
