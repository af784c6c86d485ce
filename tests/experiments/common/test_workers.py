"""A sweep's worker processes die with their parent: SIGKILL of a ``--workers 2`` parent leaves no process of
the sweep running (a real sweep, real processes, found through /proc)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tiny_flags import tiny_flags

ROOT = Path(__file__).resolve().parents[3]
CONFIG = "experiments/downsampling/configs/mnist1d_pooling.py"


def _children(pid: int) -> set[int]:
    """Live (not zombie) processes whose parent is ``pid``."""
    out = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            out.add(int(entry.name))
    return out


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").exists(), reason="needs /proc (Linux)")
def test_sigkill_of_a_two_worker_sweep_parent_leaves_no_process(tmp_path: Path, data_cache: Path) -> None:
    command = [sys.executable, "-m", "experiments.downsampling.main", "--sweep", f"--config={CONFIG}",
               f"--workdir={tmp_path}", "--workers=2", "--config.sweep.downsample=('strided_conv',)",
               "--config.sweep.seed=(0, 1)", "--config.sweep.train_size=(200,)",
               *tiny_flags(data_cache, steps=2000, sweep=True)]  # fmt: skip
    parent = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runs = [tmp_path / "runs" / f"strided_conv-n200-s{s}" / "metrics.jsonl" for s in (0, 1)]
    try:
        deadline = time.monotonic() + 300
        while not all(p.exists() for p in runs):  # both workers are training
            assert parent.poll() is None and time.monotonic() < deadline, "the workers never started"
            time.sleep(0.05)
        sweep = _children(parent.pid)
        sweep |= {g for c in sweep for g in _children(c)}
        assert len(sweep) >= 2
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 15
        while any(_alive(p) for p in sweep) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = sorted(p for p in sweep if _alive(p))
        assert not left, f"processes of the killed sweep still running after 15 s: {left}"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
