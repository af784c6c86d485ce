"""Data parallelism with JAX's runtime: 8 (fake) CPU devices train like 1, two processes on localhost (gloo CPU
collectives) train like one process and hold identical parameters, only process 0 writes files, and a global
batch that does not divide over the devices is a config error naming both numbers.

XLA_FLAGS must be set before JAX starts, and ``jax.distributed`` needs a process of its own, so the multi-device
runs are subprocesses; the 1-device references run in this process.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
from fake_devices import xla_flags

from experiments.common import io as _io
from experiments.downsampling.train import train_and_evaluate

ROOT = Path(__file__).resolve().parents[3]
CONFIG = "experiments/downsampling/configs/mnist1d_pooling.py"
WORKER = Path(__file__).parents[1] / "_multiprocess_worker.py"


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), **extra}


@pytest.mark.slow  # by default, test_mesh.py checks a training step on meshes of 8 fake devices against one
def test_eight_devices_give_the_per_step_losses_of_one(tiny_config, tmp_path: Path, data_cache: Path) -> None:  # noqa: ANN001
    """SGD, batch 40 split 5 per device; ``eval_every=1`` makes every metrics line one step (its batch_loss is
    that step's training loss)."""
    tiny_config.model.downsample = "max_pool"
    tiny_config.optimizer.name, tiny_config.optimizer.learning_rate = "sgd", 0.1
    tiny_config.batch_size, tiny_config.eval_batch_size = 40, 200
    tiny_config.num_steps, tiny_config.eval_every, tiny_config.checkpoint_every = 12, 1, 6
    overrides = [
        f"--config.data.cache_dir={data_cache}",
        "--config.data.pool_size=600",
        "--config.data.train_size=200",
        "--config.data.test_size=100",
        "--config.model.downsample=max_pool",
        "--config.optimizer.name=sgd",
        "--config.optimizer.learning_rate=0.1",
        "--config.batch_size=40",
        "--config.eval_batch_size=200",
        "--config.num_steps=12",
        "--config.eval_every=1",
        "--config.checkpoint_every=6",
        "--config.shift.passes=2",
        "--config.progress_bar=False",
    ]
    eight = tmp_path / "eight"
    env = _env(XLA_FLAGS=xla_flags(8))
    cmd = [sys.executable, "-m", "experiments.downsampling.main", f"--config={CONFIG}", *overrides]
    proc = subprocess.run([*cmd, f"--workdir={eight}"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((eight / "result.json").read_text())
    assert result["num_devices"] == 8

    one = train_and_evaluate(tiny_config, tmp_path / "one")
    assert one["num_devices"] == len(jax.devices()) == 1
    many, single = _io.read_jsonl(eight / "metrics.jsonl"), _io.read_jsonl(tmp_path / "one" / "metrics.jsonl")
    assert [r["step"] for r in many] == [r["step"] for r in single] == list(range(13))
    for a, b in zip(many, single, strict=True):
        for key in ("batch_loss", "train_loss", "test_loss"):
            if key in b:
                assert abs(a[key] - b[key]) <= 1e-5, (a["step"], key, a[key], b[key])
    assert single[-1]["train_loss"] < single[0]["train_loss"] - 0.1  # it did learn: the comparison has teeth

    # A global batch that does not divide over the 8 devices: a config error naming both, before any compute.
    bad = tmp_path / "bad"
    proc = subprocess.run(
        [*cmd, "--config.batch_size=50", f"--workdir={bad}"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert proc.returncode != 0
    assert "config.batch_size=50 does not divide over the 8 devices; allowed: a multiple of 8" in proc.stderr
    assert not bad.exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_train_like_one_and_hold_identical_parameters(tiny_config, tmp_path: Path) -> None:  # noqa: ANN001
    """Two processes with one CPU device each (a 2-device mesh, 25 rows of each batch of 50 per process), on the
    default variant (max_pool: its config check traces a jaxpool layer, which must come after
    ``jax.distributed.initialize``)."""
    tiny_config.model.downsample = "max_pool"
    port = _free_port()
    work, procs, logs = tmp_path / "run", [], []
    for pid in range(2):
        tiny_config.distributed.enabled = True
        tiny_config.distributed.coordinator_address = f"127.0.0.1:{port}"
        tiny_config.distributed.num_processes = 2
        tiny_config.distributed.process_id = pid
        config_path = tmp_path / f"config{pid}.json"
        config_path.write_text(tiny_config.to_json())
        logs.append(open(tmp_path / f"stderr{pid}.txt", "w"))  # noqa: SIM115
        procs.append(
            subprocess.Popen(
                [sys.executable, str(WORKER), str(config_path), str(work), str(tmp_path / f"out{pid}")],
                cwd=ROOT,
                env=_env(),
                stdout=logs[-1],
                stderr=subprocess.STDOUT,
            )
        )
    try:
        codes = [p.wait(timeout=300) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for f in logs:
            f.close()
    assert codes == [0, 0], [(tmp_path / f"stderr{i}.txt").read_text()[-2000:] for i in range(2)]

    infos = [json.loads((tmp_path / f"out{pid}.json").read_text()) for pid in range(2)]
    assert [(i["process_index"], i["process_count"], i["device_count"]) for i in infos] == [(0, 2, 2), (1, 2, 2)]
    params = [np.load(tmp_path / f"out{pid}.npz") for pid in range(2)]
    assert sorted(params[0].files) == sorted(params[1].files) and len(params[0].files) == 6
    for key in params[0].files:
        assert np.array_equal(params[0][key], params[1][key]), key  # bit-identical replicas
    assert infos[0]["final"] == infos[1]["final"]
    # Only process 0 wrote files (config, metrics, TensorBoard, result); process 1 none.
    assert infos[1]["writes"] == []
    assert {Path(p).name for p in infos[0]["writes"]} == {
        "config.json", "config.sha256", "metrics.jsonl", "tensorboard", "result.json", "20.json", "40.json"
    }  # 20.json, 40.json: the checkpoint manifests

    tiny_config.distributed.enabled = False
    one = train_and_evaluate(tiny_config, tmp_path / "one")
    two_logged = _io.read_jsonl(work / "metrics.jsonl")
    one_logged = _io.read_jsonl(tmp_path / "one" / "metrics.jsonl")
    assert [r["step"] for r in two_logged] == [r["step"] for r in one_logged] == [0, 20, 40]
    for a, b in zip(two_logged, one_logged, strict=True):
        for key in ("batch_loss", "train_loss", "test_loss"):
            if key in b:
                assert abs(a[key] - b[key]) <= 1e-5, (a["step"], key, a[key], b[key])
    assert one["final"]["test_acc"] == infos[0]["final"]["test_acc"]


@pytest.mark.parametrize("num_processes,process_id", [(2, 0), (0, -1)])
def test_distributed_initialize_gets_the_config_fields(
    tiny_config, monkeypatch: pytest.MonkeyPatch, num_processes: int, process_id: int
) -> None:  # noqa: ANN001
    """The config's fields reach ``jax.distributed.initialize``; unset ones (0, -1, "") go as None so JAX
    detects them from the cluster (SLURM, Open MPI, TPU pods)."""
    from experiments.common import distributed as _distributed

    seen = []
    monkeypatch.setattr(jax.distributed, "is_initialized", lambda: False)
    monkeypatch.setattr(jax.distributed, "initialize", lambda **kwargs: seen.append(kwargs))
    monkeypatch.setattr(jax.config, "update", lambda *args: seen.append(args))
    _distributed.initialize(tiny_config)  # disabled: nothing happens
    assert seen == []
    tiny_config.distributed.enabled = True
    tiny_config.distributed.coordinator_address = "10.0.0.1:1234" if num_processes else ""
    tiny_config.distributed.num_processes = num_processes
    tiny_config.distributed.process_id = process_id
    _distributed.initialize(tiny_config)
    expected = (
        {"coordinator_address": "10.0.0.1:1234", "num_processes": 2, "process_id": 0}
        if num_processes
        else {"coordinator_address": None, "num_processes": None, "process_id": None}
    )
    assert seen == [("jax_cpu_collectives_implementation", "gloo"), expected]
