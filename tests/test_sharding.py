"""Every op under every way JAX shards a program, on 8 virtual CPU devices (issue 12, docs/semantics.md §7).

The matrix: ops (``sharding_cases.OPS``: every public function family, indices, unpooling, adaptive, global,
blur, a Linen and an NNX module) x transforms (values, ``grad``, ``jvp``, Hessian-vector product, in one
program per cell) x modes (explicit mesh with the batch / the features sharded, ``shard_map`` with
``check_vma=True``, auto mesh with the batch / the features sharded, and spatially sharded inputs under both
mesh kinds). The cells run in one subprocess with 8 CPU devices (``sharding_cases.py``); this process keeps
one device and computes the single-device result that every cell must equal. The single-device results are
themselves checked against the brute-force NumPy reference where one exists.

Also asserted per cell: the output sharding is the natural one (batch-sharded in -> batch-sharded out,
likewise features), and for batch- or feature-sharded inputs the compiled program holds no collective
(pooling is per sample and per channel, so any communication would be a defect).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import fake_devices
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sharding_cases
from reference import fractional_reference, pool_reference, pool_reference_vjp, pool_reference_winners

import jaxpool

ROOT = Path(__file__).resolve().parent.parent
LOCAL_MODES = ("explicit_batch", "explicit_feature", "shard_map", "auto_batch", "auto_feature")


def _start_worker(out: Path, slow: bool) -> None:
    """Start the 8-device subprocess in the background; it writes ``out/done.json`` when it ends."""
    env = dict(os.environ, XLA_FLAGS=fake_devices.xla_flags(8), JAX_PLATFORMS="cpu",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    cmd = [sys.executable, str(ROOT / "tests" / "sharding_cases.py"), str(out)] + (["--slow"] if slow else [])
    subprocess.Popen([sys.executable, str(ROOT / "tests" / "fake_devices.py"), str(out / "done.json"), *cmd],
                     cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _shared_dir(basetemp: Path) -> Path:
    """The folder common to every xdist worker of this run (their basetemps are its children); without xdist
    the basetemp itself (its parent holds every earlier run's directory, whose results would be stale)."""
    return basetemp.parent if os.environ.get("PYTEST_XDIST_WORKER") else basetemp


def _start_once(shared: Path, slow: bool) -> Path:
    """The results folder of this run's subprocess, started here unless a worker of this run already did."""
    out = shared / ("sharding_slow" if slow else "sharding")
    with _lock(shared / (out.name + ".lock")):
        if not out.exists():
            out.mkdir()
            _start_worker(out, slow)
    return out


def start_in_background(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Called by conftest.py after collection on each xdist worker: starts the subprocess(es) the selected
    tests need, so that it runs beside the other tests (these run last) instead of holding a worker."""
    if not os.environ.get("PYTEST_XDIST_WORKER") or not config.option.basetemp:
        return
    shared = _shared_dir(Path(config.option.basetemp).resolve())  # what tmp_path_factory.getbasetemp() gives
    runslow = config.getoption("--runslow")
    for slow, fixture in ((False, "sharded"), (True, "sharded_slow")):
        if any(fixture in getattr(item, "fixturenames", ()) and (runslow or not item.get_closest_marker("slow"))
               for item in items):
            _start_once(shared, slow)


@contextlib.contextmanager
def _lock(path: Path):
    """An exclusive file lock, so that xdist workers run the subprocess once and share its results."""
    try:
        import fcntl
    except ImportError:  # no fcntl (Windows): each worker runs its own subprocess
        yield
        return
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _results(factory: pytest.TempPathFactory, slow: bool) -> tuple[dict, dict]:
    out = _start_once(_shared_dir(factory.getbasetemp()), slow)
    done = out / "done.json"
    deadline = time.monotonic() + 1800
    while not done.exists():
        assert time.monotonic() < deadline, "the sharding subprocess did not end within 30 minutes"
        time.sleep(0.5)
    result = json.loads(done.read_text())
    assert result["returncode"] == 0, result["stderr"][-4000:]
    meta = json.loads((out / "meta.json").read_text())
    with np.load(out / "arrays.npz") as z:
        arrays = {k: z[k] for k in z.files}
    return meta, arrays


@pytest.fixture(scope="session")
def sharded(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict]:
    return _results(tmp_path_factory, slow=False)


@pytest.fixture(scope="session")
def sharded_slow(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict]:
    return _results(tmp_path_factory, slow=True)


_SINGLE: dict[str, list[np.ndarray]] = {}


def single_device(name: str) -> list[np.ndarray]:
    """The cell's program on one CPU device (this process), cached per op: ``[*outputs, grad, jvp, hvp]``."""
    if name not in _SINGLE:
        f = {**sharding_cases.OPS, **sharding_cases.SLOW_OPS}[name]
        x, t = sharding_cases.inputs()
        with jax.default_device(jax.devices("cpu")[0]):  # the cells run on CPU devices too
            _SINGLE[name] = [np.asarray(o) for o in jax.jit(sharding_cases.program(f))(x, t)]
    return _SINGLE[name]


#: Cases whose outputs are channels-first (N, C, ...): the feature-sharded axis is axis 1 there.
CHANNELS_FIRST_OUTPUTS = {"max_channels_first_dilated"}


def _check_cell(name: str, mode: str, meta: dict, arrays: dict) -> None:
    cell = meta[f"{name}/{mode}"]
    assert "error" not in cell, cell.get("error")
    want = single_device(name)
    assert len(cell["specs"]) == len(want)
    labels = [f"output {i}" for i in range(len(want) - 3)] + ["grad", "jvp", "hvp"]
    for i, (w, label) in enumerate(zip(want, labels)):
        got = arrays[f"{name}/{mode}/{i}"]
        assert got.shape == w.shape and got.dtype == w.dtype, (label, got.shape, w.shape, got.dtype, w.dtype)
        if np.issubdtype(w.dtype, np.integer):
            np.testing.assert_array_equal(got, w, err_msg=label)
        else:
            np.testing.assert_allclose(got, w, rtol=2e-6, atol=2e-6, err_msg=label)
    if mode in LOCAL_MODES:
        assert cell["collectives"] == [], cell["collectives"]
    if mode.endswith("batch") or mode == "shard_map":
        for spec in cell["specs"]:
            assert spec[:1] == ["b"] and all(s is None for s in spec[1:]), cell["specs"]
    elif mode.endswith("feature"):
        for spec, label in zip(cell["specs"], labels):
            # channels-first outputs (and their jvp) keep the features on axis 1; grads follow the NHWC input
            axis = 1 if name in CHANNELS_FIRST_OUTPUTS and label not in ("grad", "hvp") else len(spec) - 1
            assert spec == [None] * axis + ["b"] + [None] * (len(spec) - 1 - axis), (label, cell["specs"])


def _cells(slow: bool) -> list[tuple[str, str]]:
    return [(name, mode) for mode in sharding_cases.MODES for name in sharding_cases.plan(mode, slow)]


@pytest.mark.parametrize("name,mode", _cells(slow=False))
def test_sharded_equals_single_device(sharded, name, mode):
    _check_cell(name, mode, *sharded)


@pytest.mark.slow
@pytest.mark.parametrize("name,mode", _cells(slow=True))
def test_more_cells_sharded_equal_single_device(sharded_slow, name, mode):
    _check_cell(name, mode, *sharded_slow)


def test_default_run_covers_every_op_under_every_batch_or_feature_mode():
    cells = set(_cells(slow=False))
    assert {(n, m) for n in sharding_cases.OPS for m in LOCAL_MODES} <= cells
    assert {m for _, m in cells} == set(sharding_cases.MODES)


@pytest.mark.parametrize(
    "name,op,kw",
    [("max", "max", dict(window_shape=(3, 3), strides=(2, 2), padding="SAME")),
     ("max_with_indices", "max", dict(window_shape=(3, 3), strides=(2, 2), padding="SAME")),
     ("min_with_indices", "min", dict(window_shape=(2, 2), strides=(1, 1), dilation=2)),
     ("min", "min", dict(window_shape=(2, 2), strides=(2, 2))),
     ("avg", "avg", dict(window_shape=(3, 3), strides=(2, 2), padding="SAME", count_include_pad=False)),
     ("sum", "sum", dict(window_shape=(2, 2), strides=(2, 2))),
     ("lp", "lp", dict(window_shape=(3, 3), strides=(1, 1), padding="SAME", norm_type=2.0))],
)
def test_single_device_results_match_numpy(name, op, kw):
    # Anchors the chain: sharded == single device (above) and single device == brute-force NumPy here.
    x, _ = sharding_cases.inputs()
    outs = single_device(name)
    y = pool_reference(x, op, **kw)
    np.testing.assert_allclose(outs[0], y, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(outs[-3], pool_reference_vjp(x, 2 * y, op, **kw), rtol=1e-4, atol=1e-4)
    if name.endswith("with_indices"):
        np.testing.assert_array_equal(outs[1], pool_reference_winners(x, op, **kw))


def test_single_device_unpool_and_global_values():
    x, _ = sharding_cases.inputs()
    # Unpooling the 2x2/2 maxima puts each block's maximum back in place, zeros elsewhere.
    blocks = x.reshape(8, 4, 2, 4, 2, 8)
    keep = blocks == blocks.max(axis=(2, 4), keepdims=True)
    np.testing.assert_array_equal(single_device("max_unpool")[0], np.where(keep, blocks, 0).reshape(x.shape))
    np.testing.assert_allclose(single_device("global_avg")[0], x.mean(axis=(1, 2)), rtol=1e-6)
    np.testing.assert_array_equal(single_device("global_max")[0], x.max(axis=(1, 2)))


def test_single_device_fractional_matches_numpy():
    x, _ = sharding_cases.inputs()
    u = np.moveaxis((x[:, 0, :2, :] + 4.0) / 8.0, 1, 2)  # fractional_samples, in NumPy
    assert u.shape == (8, 8, 2) and u.min() >= 0 and u.max() < 1
    values, indices = fractional_reference(x, (2, 2), (5, 6), samples=u, return_indices=True)
    outs = single_device("fractional_max")
    np.testing.assert_array_equal(outs[0], values)
    np.testing.assert_array_equal(outs[1], indices)
    # d sum(y^2) / dx: 2 y at each output's winner (distinct starts: no two outputs share a winner).
    grad = np.zeros((8, 64, 8), np.float32)
    b, c = np.meshgrid(np.arange(8), np.arange(8), indexing="ij")
    for i in range(5):
        for j in range(6):
            grad[b, indices[:, i, j, :], c] += 2 * values[:, i, j, :]
    np.testing.assert_allclose(outs[-3], grad.reshape(x.shape), rtol=1e-6)


def test_fusion_barrier_reads_no_data_and_survives_vmap():
    # The barrier's predicate is a constant XLA cannot fold, so the conditional stays in the compiled gradient
    # on CPU, under vmap too (a predicate read from the data is batched there, turning the cond into a select).
    # Other backends run without a barrier (``_fence.materialize``).
    x = jnp.asarray(sharding_cases.inputs()[0][:2])
    f = jax.grad(lambda a: jnp.sum(jaxpool.max_pool(a, (3, 3), (2, 2), "SAME") ** 2))
    for fn in (f, jax.vmap(f)):
        hlo = jax.jit(fn).lower(x).compile().as_text()
        assert (" conditional(" in hlo) == (jax.default_backend() == "cpu")
