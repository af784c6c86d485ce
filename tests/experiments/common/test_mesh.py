"""The experiments' training step under both ways JAX shards a data-parallel program: on 8 fake CPU devices, a
``data`` mesh of ``AxisType.Auto`` (the default) and of ``AxisType.Explicit`` (``config.distributed.mesh =
"explicit"``) give the losses and parameters of the 1-device step, the batch-sharded outputs stay batch-sharded,
and the compiled forward pass holds no collective (pooling is per sample: any communication would be a defect).

The devices need ``XLA_FLAGS`` before JAX starts, so the runs are a subprocess (``tests/experiments/_mesh_worker.py``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import fake_devices
import pytest
from tiny_flags import tiny_flags

from experiments.downsampling.configs.mnist1d_pooling import VARIANTS

ROOT = Path(__file__).resolve().parents[3]
WORKER = Path(__file__).parents[1] / "_mesh_worker.py"
#: The default run's variants: jaxpool pooling and a strided convolution (``--runslow`` runs every variant).
QUICK = ("max_pool", "strided_conv")


def _run(variants: tuple[str, ...]) -> list[dict]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "XLA_FLAGS": fake_devices.xla_flags(8)}
    proc = fake_devices.run([sys.executable, str(WORKER), *variants], cwd=ROOT, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def _check(rows: list[dict], variants: tuple[str, ...]) -> None:
    assert sorted((r["variant"], r["mesh"]) for r in rows) == sorted((v, m) for v in variants
                                                                     for m in ("auto", "explicit"))
    for r in rows:
        where = (r["variant"], r["mesh"])
        assert r["devices"] == 8, where
        # Same numbers as one device, up to float reduction order over the split batch.
        assert r["loss_diff"] <= 1e-5 and r["param_diff"] <= 1e-5 and r["logit_diff"] <= 1e-5, (where, r)
        assert len(set(r["ref_losses"])) == 3, where  # three different steps: the parameters did move
        assert r["forward_collectives"] == [], where
        assert r["logits_spec"] in ("P('data',)", "P('data', None)"), where  # batch-sharded in -> batch-sharded out


def test_training_step_on_auto_and_explicit_meshes_matches_one_device() -> None:
    _check(_run(QUICK), QUICK)


@pytest.mark.slow
def test_every_variant_on_auto_and_explicit_meshes_matches_one_device() -> None:
    _check(_run(tuple(VARIANTS)), tuple(VARIANTS))


def test_unknown_mesh_type_is_a_config_error_naming_the_field() -> None:
    from experiments.common import distributed
    from experiments.downsampling.configs import mnist1d_pooling

    config = mnist1d_pooling.get_config()
    assert distributed.mesh_type(config) == "auto"
    config.distributed.mesh = "explicit"
    distributed.validate(config)
    assert distributed.mesh_type(config) == "explicit"
    config.distributed.mesh = "Explicit"
    with pytest.raises(ValueError, match=r"config\.distributed\.mesh='Explicit' is invalid; allowed: one of"):
        distributed.validate(config)


def test_whole_run_on_an_explicit_mesh_writes_the_same_result_as_auto(tmp_path: Path, data_cache: Path) -> None:
    """The CLI end to end on 4 fake devices, both mesh types: training, evaluation and every metric (the
    receptive field's gradient once failed on the Explicit mesh after training, leaving no result.json)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "XLA_FLAGS": fake_devices.xla_flags(4)}
    results = {}
    for mesh in ("auto", "explicit"):
        work = tmp_path / mesh
        proc = subprocess.run(
            [sys.executable, "-m", "experiments.downsampling.main",
             "--config", "experiments/downsampling/configs/mnist1d_pooling.py", f"--workdir={work}",
             *tiny_flags(data_cache), "--config.batch_size=52", "--config.eval_batch_size=100",
             f"--config.distributed.mesh={mesh}"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-3000:]
        results[mesh] = json.loads((work / "result.json").read_text())
    auto, explicit = results["auto"], results["explicit"]
    assert auto["num_devices"] == explicit["num_devices"] == 4
    # two stages of (3-tap convolution, max pool 2): 3 -> 3 + 1 = 4 (jump 2) -> 4 + 2 * 2 = 8 -> 8 + 2 = 10
    assert auto["receptive_field"] == explicit["receptive_field"] == 10
    assert abs(auto["final"]["test_acc"] - explicit["final"]["test_acc"]) <= 1.0
