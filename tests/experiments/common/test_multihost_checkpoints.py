"""Verified checkpoints in a two-process job (two real processes on localhost, gloo CPU collectives): with one
byte flipped in the latest checkpoint, both processes verify the manifests, fall back to the same earlier
step and end with parameters bit-identical to the uninterrupted run's; only process 0 says so and removes
the damaged step."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import ml_collections
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[3]
WORKER = Path(__file__).parents[1] / "_multiprocess_worker.py"


def _two_processes(config: ml_collections.ConfigDict, work: Path, out: Path, tag: str) -> list[str]:
    """Run the two processes of ``config`` in ``work``; return their combined stdout/stderr, after both exit 0."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    procs, logs = [], []
    for pid in range(2):
        config.distributed.enabled = True
        config.distributed.coordinator_address = f"127.0.0.1:{port}"
        config.distributed.num_processes, config.distributed.process_id = 2, pid
        path = out / f"{tag}_config{pid}.json"
        path.write_text(config.to_json())
        logs.append(out / f"{tag}_log{pid}.txt")
        with open(logs[-1], "w") as log:
            procs.append(subprocess.Popen(
                [sys.executable, str(WORKER), str(path), str(work), str(out / f"{tag}{pid}")],
                cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=log, stderr=subprocess.STDOUT,
            ))  # fmt: skip
    try:
        codes = [p.wait(timeout=300) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    texts = [log.read_text() for log in logs]
    assert codes == [0, 0], [t[-2000:] for t in texts]
    return texts


def _params(prefix: Path) -> dict[str, np.ndarray]:
    with np.load(f"{prefix}.npz") as f:
        return {k: f[k] for k in f.files}


@pytest.mark.slow
def test_two_processes_fall_back_to_the_same_verified_checkpoint(tiny_config, tmp_path: Path) -> None:  # noqa: ANN001
    tiny_config.model.downsample = "strided_conv"  # 40 steps, checkpoints at 20 and 40
    work = tmp_path / "run"
    _two_processes(tiny_config, work, tmp_path, "first")
    reference = _params(tmp_path / "first0")

    # As if killed after its last checkpoint: no result; then one byte of the latest checkpoint flips.
    (work / "result.json").unlink()
    step_dir = work / "checkpoints" / "40"
    largest = max((p for p in step_dir.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    data = bytearray(largest.read_bytes())
    data[len(data) // 2] ^= 0x01
    largest.write_bytes(bytes(data))

    logs = _two_processes(tiny_config, work, tmp_path, "again")
    assert f"checkpoint {step_dir} is damaged" in logs[0]
    assert "falling back to the verified checkpoint of step 20" in logs[0]
    assert "falling back" not in logs[1]  # process 1 verified on its own, and stayed quiet
    for pid in range(2):
        again = _params(tmp_path / f"again{pid}")
        assert sorted(again) == sorted(reference) and len(again) == 6
        for key, value in reference.items():
            assert np.array_equal(again[key], value), (pid, key)  # retrained 20 -> 40, bit-identical
    infos = [json.loads((tmp_path / f"again{pid}.json").read_text()) for pid in range(2)]
    assert infos[0]["final"] == infos[1]["final"] == json.loads((work / "result.json").read_text())["final"]
    assert sorted(int(p.stem) for p in (work / "checkpoint_manifests").glob("*.json")) == [20, 40]
